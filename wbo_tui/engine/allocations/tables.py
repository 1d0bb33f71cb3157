"""Tables for fund allocation: rules, allocations, and the triggers that were decided
(migration 0004_allocations)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from ..schema import metadata
from ..types import Amount, UtcDateTime

TRIGGER_KINDS = ("schedule", "event")
SCHEDULE_KINDS = ("daily", "hk_trading_day", "weekly")
EVENT_KINDS = (
    "position.below_blocking",
    "withdrawal.submitted.principal",
    "withdrawal.submitted.fee",
    "withdrawal.failed.principal",
    "withdrawal.failed.fee",
    "deposit.successful",
)
AMOUNT_RULES = ("fixed", "top_up", "sweep", "event_amount")
STRATEGIES = ("automatic", "manual")
AUDIT_STRATEGIES = ("none", "work_order")
STATUSES = ("pending_approval", "processing", "succeeded", "failed", "rejected", "unknown")

allocation_rules = Table(
    "allocation_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False),
    Column("allocation_type", String(32), nullable=False),  # "settlement_transfer"
    Column("from_account_id", Integer, ForeignKey("channel_accounts.id"), nullable=False),
    Column("to_account_id", Integer, ForeignKey("channel_accounts.id"), nullable=False),
    Column("currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("scenario", String(32), nullable=False),
    Column("trigger_kind", String(8), nullable=False),
    Column("schedule_kind", String(16), nullable=True),
    Column("schedule_days", String(32), nullable=True),  # weekly: "MON,WED,FRI"
    Column("schedule_time", String(5), nullable=True),  # "HH:MM", Hong Kong time
    Column("event_kind", String(48), nullable=True),
    Column("amount_rule", String(16), nullable=False),
    Column("amount", Amount, nullable=True),  # fixed amount, top-up target or retained balance
    Column("strategy", String(10), nullable=False),
    Column("audit_strategy", String(10), nullable=False),
    Column("priority", Integer, nullable=False),  # 1 is the highest
    Column("enabled", Boolean, nullable=False),
    Column("schedule_cursor", UtcDateTime, nullable=True),  # fire times up to here are decided
    Column("version", Integer, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("from_account_id <> to_account_id", name="ck_allocation_rules_accounts"),
    CheckConstraint("priority >= 1", name="ck_allocation_rules_priority"),
    Index("ix_allocation_rules_trigger", "trigger_kind", "event_kind", "enabled"),
)

# Every allocation, manual or automatic.  ``trigger_key`` makes a trigger produce at most
# one allocation (unique; NULL for manual ones); ``attempt_key`` is the idempotency key
# of the current attempt at the channel (a retry after a definite failure gets a new one).
allocations = Table(
    "allocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_no", String(40), nullable=False, unique=True),
    Column("origin", String(10), nullable=False),  # automatic | manual
    Column("rule_id", Integer, ForeignKey("allocation_rules.id"), nullable=True),
    Column("trigger", String(120), nullable=False),  # what caused it, for people
    Column("trigger_key", String(120), nullable=True, unique=True),
    Column("from_account_id", Integer, ForeignKey("channel_accounts.id"), nullable=False),
    Column("to_account_id", Integer, ForeignKey("channel_accounts.id"), nullable=False),
    Column("currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("remarks", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("failure_reason", String(300), nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("attempt_key", String(128), nullable=False, unique=True),
    Column("transfer_ref", String(80), nullable=True),
    Column("claimed_by", String(80), nullable=True),
    Column("claim_until", UtcDateTime, nullable=True),  # nobody drives it before then (lease or back-off)
    # Consecutive steps of the current attempt that got no usable answer (the channel
    # unreachable, a lost or garbled answer, an internal error): drives the back-off of
    # ``claim_until``; any answer resets it (migration 0007_pass_errors).
    Column("step_failures", Integer, nullable=False, server_default=text("0")),
    Column("approval_id", Integer, ForeignKey("approvals.id"), nullable=True),
    Column("maker", String(64), nullable=False),
    Column("checker", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("from_account_id <> to_account_id", name="ck_allocations_accounts"),
    CheckConstraint(
        "status IN ('pending_approval', 'processing', 'succeeded', 'failed', 'rejected', 'unknown')",
        name="ck_allocations_status",
    ),
    Index("ix_allocations_status", "status", "id"),
    Index("ix_allocations_created", "created_at", "id"),
    # The records list's filters, paged by id from either end (migration 0011).
    Index("ix_allocations_origin", "origin", "id"),
    Index("ix_allocations_currency", "currency", "id"),
    # What is committed out of an account (positions.reservations; migration 0009).
    Index("ix_allocations_outflow", "from_account_id", "status", "updated_at"),
)

# One row per trigger that was decided (an event, or a schedule fire time for one
# account): which rules were considered, which was chosen and why the others were not.
# The unique key is what makes a trigger count once across processes and restarts.
allocation_triggers = Table(
    "allocation_triggers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trigger_key", String(120), nullable=False, unique=True),
    Column("trigger", String(120), nullable=False),
    Column("event_id", Integer, ForeignKey("domain_events.id"), nullable=True),
    Column("fire_at", UtcDateTime, nullable=True),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),  # allocated | skipped | no_rule | missed | error
    Column("allocation_id", Integer, ForeignKey("allocations.id"), nullable=True),
    Column("explanation", Text, nullable=False),  # JSON
    # Outcome "error" (migration 0007_pass_errors): deciding failed ``failures`` times in
    # a row; the pass tries again from ``retry_at`` (NULL on every decided row).
    Column("failures", Integer, nullable=False, server_default=text("0")),
    Column("retry_at", UtcDateTime, nullable=True),
    Index("ix_allocation_triggers_event", "event_id"),
    Index("ix_allocation_triggers_retry", "retry_at"),
)

# How far the event consumer has read domain_events (one row).
allocation_cursor = Table(
    "allocation_cursor",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("last_event_id", Integer, nullable=False),
)

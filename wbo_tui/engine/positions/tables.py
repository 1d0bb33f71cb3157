"""Tables for settlement channels, channel accounts, positions, withdrawals, deposits,
domain events and poll runs (migration 0003_positions)."""

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
    UniqueConstraint,
    text,
)

from ..schema import metadata
from ..types import Amount, UtcDateTime

SCENARIOS = ("deposit", "withdrawal_principal", "withdrawal_fee", "trading", "fund_pool")

settlement_channels = Table(
    "settlement_channels",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("gateway", Text, nullable=False),  # JSON: {"kind": "simulated", ...} or {"kind": "http", ...}
    Column("enabled", Boolean, nullable=False),
    # Polls of this channel that failed in a row, and when the next scheduled poll may ask
    # it again (back-off; a manual refresh always asks).  Migration 0007_pass_errors.
    Column("poll_failures", Integer, nullable=False, server_default=text("0")),
    Column("poll_retry_at", UtcDateTime, nullable=True),
)

channel_accounts = Table(
    "channel_accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(64), ForeignKey("settlement_channels.code"), nullable=False),
    Column("currency_type", String(8), nullable=False),
    Column("currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("account_no", String(64), nullable=False),
    Column("scenario", String(32), nullable=False),
    Column("remarks", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel", "account_no", "currency", name="uq_channel_accounts_account"),
    UniqueConstraint("channel", "currency", "scenario", name="uq_channel_accounts_scenario"),
    CheckConstraint("currency_type IN ('fiat', 'crypto')", name="ck_channel_accounts_currency_type"),
)

# One row per channel account: the last balance the upstream reported, its thresholds
# and the threshold level it is at (alerts fire on level changes, not on every poll).
positions = Table(
    "positions",
    metadata,
    Column("channel_account_id", Integer, ForeignKey("channel_accounts.id"), primary_key=True),
    Column("available", Amount, nullable=True),
    Column("in_transit", Amount, nullable=True),
    Column("total", Amount, nullable=True),
    Column("as_of", UtcDateTime, nullable=True),
    Column("polled_at", UtcDateTime, nullable=True),
    Column("poll_status", String(8), nullable=False),  # NEVER | OK | FAILED
    Column("poll_error", String(300), nullable=True),
    Column("threshold_alert", Amount, nullable=True),
    Column("threshold_blocking", Amount, nullable=True),
    Column("level", String(8), nullable=False),  # NORMAL | ALERT | BLOCKING
    Column("level_since", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_positions_polled_at", "polled_at"),
)

# Exactly one scheduled poll per interval slot, whichever console process gets there first.
poll_runs = Table(
    "poll_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slot", String(40), nullable=False, unique=True),  # "scheduled:<epoch of slot start>" or "manual:<ref>"
    Column("holder", String(80), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("accounts_ok", Integer, nullable=True),
    Column("accounts_failed", Integer, nullable=True),
)

withdrawals = Table(
    "withdrawals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(40), nullable=False, unique=True),
    Column("client_id", String(40), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("principal", Amount, nullable=False),
    Column("fee", Amount, nullable=False),
    Column("principal_account_id", Integer, ForeignKey("channel_accounts.id"), nullable=False),
    Column("fee_account_id", Integer, ForeignKey("channel_accounts.id"), nullable=False),
    Column("status", String(20), nullable=False),
    Column("approval_id", Integer, ForeignKey("approvals.id"), nullable=False),
    Column("submitted_by", Integer, ForeignKey("operators.id"), nullable=False),
    Column("submitted_at", UtcDateTime, nullable=False),
    Column("failed_part", String(10), nullable=True),
    Column("failure_reason", String(300), nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_withdrawals_status", "status", "id"),
    # What is committed out of an account (positions.reservations; migration 0009).
    Index("ix_withdrawals_principal_outflow", "principal_account_id", "status", "failed_part", "updated_at"),
    Index("ix_withdrawals_fee_outflow", "fee_account_id", "status", "failed_part", "updated_at"),
)

deposits = Table(
    "deposits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(40), nullable=False, unique=True),
    Column("client_id", String(40), nullable=False),
    Column("channel_account_id", Integer, ForeignKey("channel_accounts.id"), nullable=False),
    Column("currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("status", String(12), nullable=False),  # PENDING | SUCCESSFUL
    Column("recorded_by", Integer, ForeignKey("operators.id"), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("succeeded_by", Integer, ForeignKey("operators.id"), nullable=True),
    Column("succeeded_at", UtcDateTime, nullable=True),
    Index("ix_deposits_status", "status", "id"),
)

# Domain events, written in the transaction of the change that caused them; the
# allocation engine consumes them (each exactly once, by its own bookkeeping).
domain_events = Table(
    "domain_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(48), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("aggregate_type", String(32), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    Index("ix_domain_events_kind", "kind", "id"),
)

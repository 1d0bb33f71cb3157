"""Fund allocation: rules, allocations, decided triggers, the event cursor; approval
items may be submitted by the system (maker_id NULL) for work-order approval.

Revision ID: 0004_allocations
Revises: 0003_positions
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wbo_tui.engine.types import Amount, UtcDateTime

revision = "0004_allocations"
down_revision = "0003_positions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On SQLite batch mode rebuilds the table (see env.py for the foreign keys).
    with op.batch_alter_table("approvals") as batch:
        batch.alter_column("maker_id", existing_type=sa.Integer, nullable=True)
    op.create_table(
        "allocation_rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("allocation_type", sa.String(32), nullable=False),
        sa.Column("from_account_id", sa.Integer, sa.ForeignKey("channel_accounts.id"), nullable=False),
        sa.Column("to_account_id", sa.Integer, sa.ForeignKey("channel_accounts.id"), nullable=False),
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("scenario", sa.String(32), nullable=False),
        sa.Column("trigger_kind", sa.String(8), nullable=False),
        sa.Column("schedule_kind", sa.String(16), nullable=True),
        sa.Column("schedule_days", sa.String(32), nullable=True),
        sa.Column("schedule_time", sa.String(5), nullable=True),
        sa.Column("event_kind", sa.String(48), nullable=True),
        sa.Column("amount_rule", sa.String(16), nullable=False),
        sa.Column("amount", Amount, nullable=True),
        sa.Column("strategy", sa.String(10), nullable=False),
        sa.Column("audit_strategy", sa.String(10), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("schedule_cursor", UtcDateTime, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("from_account_id <> to_account_id", name="ck_allocation_rules_accounts"),
        sa.CheckConstraint("priority >= 1", name="ck_allocation_rules_priority"),
    )
    op.create_index("ix_allocation_rules_trigger", "allocation_rules", ["trigger_kind", "event_kind", "enabled"])
    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_no", sa.String(40), nullable=False, unique=True),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("rule_id", sa.Integer, sa.ForeignKey("allocation_rules.id"), nullable=True),
        sa.Column("trigger", sa.String(120), nullable=False),
        sa.Column("trigger_key", sa.String(120), nullable=True, unique=True),
        sa.Column("from_account_id", sa.Integer, sa.ForeignKey("channel_accounts.id"), nullable=False),
        sa.Column("to_account_id", sa.Integer, sa.ForeignKey("channel_accounts.id"), nullable=False),
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("remarks", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("failure_reason", sa.String(300), nullable=True),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("attempt_key", sa.String(128), nullable=False, unique=True),
        sa.Column("transfer_ref", sa.String(80), nullable=True),
        sa.Column("claimed_by", sa.String(80), nullable=True),
        sa.Column("claim_until", UtcDateTime, nullable=True),
        sa.Column("approval_id", sa.Integer, sa.ForeignKey("approvals.id"), nullable=True),
        sa.Column("maker", sa.String(64), nullable=False),
        sa.Column("checker", sa.String(64), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("from_account_id <> to_account_id", name="ck_allocations_accounts"),
        sa.CheckConstraint(
            "status IN ('pending_approval', 'processing', 'succeeded', 'failed', 'rejected', 'unknown')",
            name="ck_allocations_status",
        ),
    )
    op.create_index("ix_allocations_status", "allocations", ["status", "id"])
    op.create_index("ix_allocations_created", "allocations", ["created_at", "id"])
    op.create_table(
        "allocation_triggers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trigger_key", sa.String(120), nullable=False, unique=True),
        sa.Column("trigger", sa.String(120), nullable=False),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("domain_events.id"), nullable=True),
        sa.Column("fire_at", UtcDateTime, nullable=True),
        sa.Column("decided_at", UtcDateTime, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("allocation_id", sa.Integer, sa.ForeignKey("allocations.id"), nullable=True),
        sa.Column("explanation", sa.Text, nullable=False),
    )
    op.create_index("ix_allocation_triggers_event", "allocation_triggers", ["event_id"])
    op.create_table(
        "allocation_cursor",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_event_id", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("allocation_cursor")
    op.drop_index("ix_allocation_triggers_event", table_name="allocation_triggers")
    op.drop_table("allocation_triggers")
    op.drop_index("ix_allocations_created", table_name="allocations")
    op.drop_index("ix_allocations_status", table_name="allocations")
    op.drop_table("allocations")
    op.drop_index("ix_allocation_rules_trigger", table_name="allocation_rules")
    op.drop_table("allocation_rules")
    with op.batch_alter_table("approvals") as batch:
        batch.alter_column("maker_id", existing_type=sa.Integer, nullable=False)

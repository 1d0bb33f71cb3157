"""Positions: settlement channels, channel accounts, positions and thresholds, poll runs,
withdrawal applications, deposit records, domain events.

Revision ID: 0003_positions
Revises: 0002_notifications
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wbo_tui.engine.types import Amount, UtcDateTime

revision = "0003_positions"
down_revision = "0002_notifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settlement_channels",
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("gateway", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "channel_accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(64), sa.ForeignKey("settlement_channels.code"), nullable=False),
        sa.Column("currency_type", sa.String(8), nullable=False),
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("account_no", sa.String(64), nullable=False),
        sa.Column("scenario", sa.String(32), nullable=False),
        sa.Column("remarks", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("channel", "account_no", "currency", name="uq_channel_accounts_account"),
        sa.UniqueConstraint("channel", "currency", "scenario", name="uq_channel_accounts_scenario"),
        sa.CheckConstraint("currency_type IN ('fiat', 'crypto')", name="ck_channel_accounts_currency_type"),
    )
    op.create_table(
        "positions",
        sa.Column("channel_account_id", sa.Integer, sa.ForeignKey("channel_accounts.id"), primary_key=True),
        sa.Column("available", Amount, nullable=True),
        sa.Column("in_transit", Amount, nullable=True),
        sa.Column("total", Amount, nullable=True),
        sa.Column("as_of", UtcDateTime, nullable=True),
        sa.Column("polled_at", UtcDateTime, nullable=True),
        sa.Column("poll_status", sa.String(8), nullable=False),
        sa.Column("poll_error", sa.String(300), nullable=True),
        sa.Column("threshold_alert", Amount, nullable=True),
        sa.Column("threshold_blocking", Amount, nullable=True),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("level_since", UtcDateTime, nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_positions_polled_at", "positions", ["polled_at"])
    op.create_table(
        "poll_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("slot", sa.String(40), nullable=False, unique=True),
        sa.Column("holder", sa.String(80), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime, nullable=True),
        sa.Column("accounts_ok", sa.Integer, nullable=True),
        sa.Column("accounts_failed", sa.Integer, nullable=True),
    )
    op.create_table(
        "withdrawals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(40), nullable=False, unique=True),
        sa.Column("client_id", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("principal", Amount, nullable=False),
        sa.Column("fee", Amount, nullable=False),
        sa.Column("principal_account_id", sa.Integer, sa.ForeignKey("channel_accounts.id"), nullable=False),
        sa.Column("fee_account_id", sa.Integer, sa.ForeignKey("channel_accounts.id"), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("approval_id", sa.Integer, sa.ForeignKey("approvals.id"), nullable=False),
        sa.Column("submitted_by", sa.Integer, sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("submitted_at", UtcDateTime, nullable=False),
        sa.Column("failed_part", sa.String(10), nullable=True),
        sa.Column("failure_reason", sa.String(300), nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_withdrawals_status", "withdrawals", ["status", "id"])
    op.create_table(
        "deposits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(40), nullable=False, unique=True),
        sa.Column("client_id", sa.String(40), nullable=False),
        sa.Column("channel_account_id", sa.Integer, sa.ForeignKey("channel_accounts.id"), nullable=False),
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("recorded_by", sa.Integer, sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("recorded_at", UtcDateTime, nullable=False),
        sa.Column("succeeded_by", sa.Integer, sa.ForeignKey("operators.id"), nullable=True),
        sa.Column("succeeded_at", UtcDateTime, nullable=True),
    )
    op.create_index("ix_deposits_status", "deposits", ["status", "id"])
    op.create_table(
        "domain_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("aggregate_type", sa.String(32), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_domain_events_kind", "domain_events", ["kind", "id"])


def downgrade() -> None:
    for index, table in (("ix_domain_events_kind", "domain_events"), ("ix_deposits_status", "deposits"),
                         ("ix_withdrawals_status", "withdrawals"), ("ix_positions_polled_at", "positions")):
        op.drop_index(index, table)
    for table in ("domain_events", "deposits", "withdrawals", "poll_runs", "positions", "channel_accounts",
                  "settlement_channels"):
        op.drop_table(table)

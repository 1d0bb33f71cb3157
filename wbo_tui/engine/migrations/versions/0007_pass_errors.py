"""Scheduled passes: per-item errors and back-off.

An allocation counts the steps of its current attempt that got no usable answer (its
failure reason says why, ``claim_until`` when it is tried again); a trigger whose decision
failed keeps an "error" row with its failure count and retry time; a settlement channel
counts the scheduled polls that failed in a row and when the next one may ask it.

Revision ID: 0007_pass_errors
Revises: 0006_amount_limits
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wbo_tui.engine.types import UtcDateTime

revision = "0007_pass_errors"
down_revision = "0006_amount_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding columns needs no table rebuild on SQLite (batch mode uses ALTER TABLE ADD).
    with op.batch_alter_table("allocations") as batch:
        batch.add_column(sa.Column("step_failures", sa.Integer, nullable=False, server_default=sa.text("0")))
    with op.batch_alter_table("allocation_triggers") as batch:
        batch.add_column(sa.Column("failures", sa.Integer, nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("retry_at", UtcDateTime, nullable=True))
    op.create_index("ix_allocation_triggers_retry", "allocation_triggers", ["retry_at"])
    with op.batch_alter_table("settlement_channels") as batch:
        batch.add_column(sa.Column("poll_failures", sa.Integer, nullable=False, server_default=sa.text("0")))
        batch.add_column(sa.Column("poll_retry_at", UtcDateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("settlement_channels") as batch:
        batch.drop_column("poll_retry_at")
        batch.drop_column("poll_failures")
    op.drop_index("ix_allocation_triggers_retry", table_name="allocation_triggers")
    with op.batch_alter_table("allocation_triggers") as batch:
        batch.drop_column("retry_at")
        batch.drop_column("failures")
    with op.batch_alter_table("allocations") as batch:
        batch.drop_column("step_failures")

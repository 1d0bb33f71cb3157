"""Reservations against channel accounts: indexes for what is committed out of an account.

An approval that commits money out of a channel account sums what is already committed out
of it and not yet settled (``positions.reservations``): allocations out of it by status and
settlement time, withdrawals drawing principal or fee on it by status, failed part and
settlement time.  Each index turns one branch of that statement into a range of the
account's open commitments, however much history the tables hold.

Revision ID: 0009_reservations
Revises: 0008_audit_anchor
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = "0009_reservations"
down_revision = "0008_audit_anchor"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_allocations_outflow", "allocations", ["from_account_id", "status", "updated_at"]),
    ("ix_withdrawals_principal_outflow", "withdrawals",
     ["principal_account_id", "status", "failed_part", "updated_at"]),
    ("ix_withdrawals_fee_outflow", "withdrawals", ["fee_account_id", "status", "failed_part", "updated_at"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)

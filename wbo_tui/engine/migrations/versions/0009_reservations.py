"""Reservations against channel accounts.

Revision ID: 0009_reservations
Revises: 0008_audit_anchor
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0009_reservations"
down_revision = "0008_audit_anchor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

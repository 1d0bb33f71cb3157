"""A maximum amount per currency.

Revision ID: 0006_amount_limits
Revises: 0005_sessions
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0006_amount_limits"
down_revision = "0005_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

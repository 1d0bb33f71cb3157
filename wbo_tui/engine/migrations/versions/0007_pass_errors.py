"""Scheduled passes: per-item errors and back-off.

Revision ID: 0007_pass_errors
Revises: 0006_amount_limits
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0007_pass_errors"
down_revision = "0006_amount_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

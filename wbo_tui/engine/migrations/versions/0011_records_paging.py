"""Paging big allocation-record lists (filled in by the records benchmark work, or removed).

Revision ID: 0011_records_paging
Revises: 0010_change_feed
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0011_records_paging"
down_revision = "0010_change_feed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

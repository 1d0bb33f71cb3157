"""The change feed: what each console watches to show other consoles' changes within 2 s (filled in by the live-lists work).

Revision ID: 0010_change_feed
Revises: 0009_reservations
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0010_change_feed"
down_revision = "0009_reservations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

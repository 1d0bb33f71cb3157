"""Server-side operator sessions; operators who must change their password.

Revision ID: 0005_sessions
Revises: 0004_allocations
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0005_sessions"
down_revision = "0004_allocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

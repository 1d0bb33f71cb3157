"""Audit chain anchored outside the database.

Revision ID: 0008_audit_anchor
Revises: 0007_pass_errors
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0008_audit_anchor"
down_revision = "0007_pass_errors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

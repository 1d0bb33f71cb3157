"""A maximum amount per currency.

Every currency gets ``max_amount``, the largest amount the engine accepts in it (before,
10^30 was accepted and stored in every amount field).  The currencies present are given
their kind's default explicitly, so the limit in force is visible in the table and can be
changed per currency; a currency added later without one (NULL) gets the same default
when it is read (``money.default_max_amount``).

Revision ID: 0006_amount_limits
Revises: 0005_sessions
Create Date: 2026-11-28
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from wbo_tui.engine.types import Amount

revision = "0006_amount_limits"
down_revision = "0005_sessions"
branch_labels = None
depends_on = None

# Frozen copy of money.DEFAULT_MAX_UNITS as of this revision: amounts below 10^12 whole
# units for fiat, 10^9 for crypto; the maximum is one quantum below (999,999,999,999.99 HKD).
_MAX_UNITS = {"fiat": Decimal(10) ** 12, "crypto": Decimal(10) ** 9}


def upgrade() -> None:
    with op.batch_alter_table("currencies") as batch:
        batch.add_column(sa.Column("max_amount", Amount, nullable=True))
    currencies = sa.table(
        "currencies", sa.column("code", sa.String), sa.column("kind", sa.String),
        sa.column("amount_precision", sa.Integer), sa.column("max_amount", Amount),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(currencies.c.code, currencies.c.kind, currencies.c.amount_precision)).all()
    for code, kind, places in rows:
        limit = _MAX_UNITS.get(kind, _MAX_UNITS["crypto"]) - Decimal(1).scaleb(-places)
        conn.execute(sa.update(currencies).where(currencies.c.code == code).values(max_amount=limit))


def downgrade() -> None:
    with op.batch_alter_table("currencies") as batch:
        batch.drop_column("max_amount")

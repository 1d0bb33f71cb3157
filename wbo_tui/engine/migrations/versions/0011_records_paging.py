"""Paging big allocation-record lists: an index per filter of the records list.

The records list (Allocations › Allocations) pages by id from either end
(``engine.paging``) and filters by status, origin, currency and order number.  Status
already has ``ix_allocations_status`` (status, id) and the order number its unique index;
origin and currency had none, so at a million records a filtered page scanned the table
by id until it found a page of matches (all of it for a currency that has none).  With
(origin, id) and (currency, id) each filter is one index range read in id order, from
either end.  A combination of filters uses the most selective of these indexes and checks
the others on the rows it reads.

Revision ID: 0011_records_paging
Revises: 0010_change_feed
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = "0011_records_paging"
down_revision = "0010_change_feed"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_allocations_origin", "allocations", ["origin", "id"]),
    ("ix_allocations_currency", "allocations", ["currency", "id"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)

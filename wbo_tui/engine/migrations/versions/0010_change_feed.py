"""The change feed: what each console watches to show other consoles' changes within 2 s.

Every table a work list shows gets triggers that say, in the writing transaction, that
the table changed; the topic is the table's name.

- SQLite: a counter row per table in ``change_feed``, bumped by an AFTER INSERT, UPDATE
  and DELETE trigger (SQLite has row triggers only: a batch of a thousand rows bumps the
  counter a thousand times, a few microseconds each).  A watcher notices a commit with
  ``PRAGMA data_version`` and reads the counters to know which tables moved.
- PostgreSQL: a statement trigger calls ``pg_notify('wbo_changes', <table>)``; the
  notification is delivered to listeners at commit (never for a rolled-back
  transaction) and PostgreSQL folds identical ones within a transaction.  No row is
  written, so concurrent writers do not queue on a counter.

Triggers rather than hooks in the engine's write path: statements the engine sends to the
SQLite driver directly (``Prepared``, ``bulk.insert_many``), set-up tools and any other
writer are all seen, and the write path stays as it is.  A later migration that rebuilds
one of these tables (Alembic batch mode on SQLite copies it into a new table) must create
its triggers again (``sqlite_triggers`` below); ``tests/engine/test_change_feed.py``
checks every watched table has them at the head revision.

Revision ID: 0010_change_feed
Revises: 0009_reservations
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = "0010_change_feed"
down_revision = "0009_reservations"
branch_labels = None
depends_on = None

# The tables whose changes a console shows (wbo_tui.engine.changes.WATCHED_TABLES, as
# of this revision).  Not watched: the audit log and its head (every write unit appends
# to them), sessions, and the engine's internal cursors and event queue.
WATCHED = (
    "currencies", "roles", "role_permissions", "operators", "operator_roles", "operator_permissions",
    "approvals", "notifications", "inbox_messages", "message_subscriptions", "deliveries",
    "settlement_channels", "channel_accounts", "positions", "poll_runs", "withdrawals", "deposits",
    "allocation_rules", "allocations", "allocation_triggers",
)
_EVENTS = (("ins", "INSERT"), ("upd", "UPDATE"), ("del", "DELETE"))


def sqlite_triggers(table: str) -> list[str]:
    """The statements that make ``table``'s commits visible in ``change_feed``."""
    return [
        f"CREATE TRIGGER IF NOT EXISTS wbo_change_{table}_{suffix} AFTER {event} ON {table} "
        f"BEGIN UPDATE change_feed SET version = version + 1 WHERE topic = '{table}'; END"
        for suffix, event in _EVENTS
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION wbo_change_notify() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN PERFORM pg_notify('wbo_changes', TG_TABLE_NAME); RETURN NULL; END $$"
        )
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER wbo_change_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION wbo_change_notify()"
            )
        return
    op.execute("CREATE TABLE change_feed (topic VARCHAR(64) NOT NULL PRIMARY KEY, "
                "version INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID")
    for table in WATCHED:
        op.execute(f"INSERT INTO change_feed (topic, version) VALUES ('{table}', 0)")
        for statement in sqlite_triggers(table):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS wbo_change_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS wbo_change_notify()")
        return
    for table in WATCHED:
        for suffix, _ in _EVENTS:
            op.execute(f"DROP TRIGGER IF EXISTS wbo_change_{table}_{suffix}")
    op.execute("DROP TABLE IF EXISTS change_feed")

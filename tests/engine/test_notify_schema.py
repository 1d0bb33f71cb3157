"""Migration 0002 creates exactly the notification tables the engine's Core definitions
describe, and its downgrade removes them again."""

from __future__ import annotations

import pytest
from alembic import command
from engine_support import run_in_thread
from sqlalchemy import inspect

from wbo_tui.engine import Engine, migrate
from wbo_tui.engine.db import create_engine
from wbo_tui.engine.notify.tables import deliveries, inbox_messages, message_subscriptions, notifications

TABLES = (message_subscriptions, notifications, inbox_messages, deliveries)
pytestmark = pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")


def _describe(sync_conn) -> dict:  # noqa: ANN001
    inspector = inspect(sync_conn)
    names = set(inspector.get_table_names())
    out = {}
    for table in TABLES:
        if table.name not in names:
            continue
        out[table.name] = {
            "columns": {c["name"]: c["nullable"] for c in inspector.get_columns(table.name)},
            "indexes": {i["name"] for i in inspector.get_indexes(table.name)} - {"uq_message_subscriptions_recipient"},
            "unique": {u["name"] for u in inspector.get_unique_constraints(table.name)},
            "foreign_keys": {(f["constrained_columns"][0], f["referred_table"], (f.get("options") or {}).get("ondelete"))
                             for f in inspector.get_foreign_keys(table.name)},
        }
    return out


# The COALESCE unique index on subscriptions is expression-based: SQLite's reflection
# skips it, so the duplicate-subscription test proves it by behaviour instead.
INDEXES = {
    "message_subscriptions": {"ix_message_subscriptions_topic"},
    "notifications": {"ix_notifications_topic_id", "ix_notifications_source"},
    "inbox_messages": {"ix_inbox_messages_operator_read"},
    "deliveries": {"ix_deliveries_status_next_attempt", "ix_deliveries_notification"},
}
UNIQUE = {
    "message_subscriptions": set(),
    "notifications": set(),
    "inbox_messages": {"uq_inbox_messages_operator_id_notification_id"},
    "deliveries": {"uq_deliveries_ref", "uq_deliveries_notification_id_channel_address"},
}


def _expected() -> dict:
    return {
        table.name: {
            "columns": {c.name: c.nullable for c in table.columns},
            "indexes": {i.name for i in table.indexes} - {"uq_message_subscriptions_recipient"},
            "foreign_keys": {(fk.parent.name, fk.column.table.name, fk.ondelete) for fk in table.foreign_keys},
        }
        for table in TABLES
    }


async def _schema(url: str) -> dict:
    db = create_engine(url)
    try:
        async with db.connect() as conn:
            return await conn.run_sync(_describe)
    finally:
        await db.dispose()


async def test_migration_matches_the_table_definitions(engine: Engine, db_url: str) -> None:
    found = await _schema(db_url)
    expected = _expected()
    for name, want in expected.items():
        got = found[name]
        assert got["columns"] == want["columns"], name
        assert want["indexes"] == INDEXES[name]
        # PostgreSQL reports a unique constraint's backing index among the indexes too.
        assert got["indexes"] - UNIQUE[name] == INDEXES[name], (name, got["indexes"])
        assert got["unique"] == UNIQUE[name], (name, got["unique"])
        assert {(c, t, (d or "").upper() or None) for c, t, d in got["foreign_keys"]} == {
            (c, t, (d or "").upper() or None) for c, t, d in want["foreign_keys"]
        }, name


async def test_downgrade_removes_the_notification_tables(blank_url: str) -> None:
    run_in_thread(migrate.upgrade, blank_url, "0002_notifications")
    assert set(await _schema(blank_url)) == {t.name for t in TABLES}
    run_in_thread(command.downgrade, migrate.alembic_config(blank_url), "0001_foundation")
    assert await _schema(blank_url) == {}
    run_in_thread(migrate.upgrade, blank_url, "0002_notifications")  # and up again
    assert set(await _schema(blank_url)) == {t.name for t in TABLES}

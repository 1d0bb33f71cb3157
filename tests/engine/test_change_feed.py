"""The change feed (``engine.changes``): every console learns which tables other
connections committed to, without re-reading anything on a timer.

A change committed by another OS process is reported; a rolled-back one is not; every
watched table carries its triggers at the head revision; on PostgreSQL a lost listening
connection is made again and reported as "everything may have changed"."""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing

import asyncpg
import change_feed_workers
import pytest
from engine_support import login, pg_admin_url
from sqlalchemy import text

from wbo_tui.engine import ApproveItem, Engine, MakerCheckerViolation, RequestPermission
from wbo_tui.engine.changes import ALL, EVERYTHING, WATCHED_TABLES, ChangeFeed, touches
from wbo_tui.engine.notify import CreateSubscription

# A guard against a hang, never a measure: the feed reports within a fraction of a second.
GIVE_UP_S = 60


async def collect_until(feed: ChangeFeed, wanted: str) -> set[str]:
    """Every topic reported until ``wanted`` is (inclusive)."""
    seen: set[str] = set()

    async def gather() -> None:
        while wanted not in seen:
            seen.update(await feed.__anext__())

    await asyncio.wait_for(gather(), GIVE_UP_S)
    return seen


def test_the_watched_tables_are_those_migrations_0010_0012_0013_and_0014_watch() -> None:
    watched = set()
    for name in ("0010_change_feed", "0012_fx_foundation", "0013_fx_exchanges", "0014_margin"):
        watched |= set(importlib.import_module(f"wbo_tui.engine.migrations.versions.{name}").WATCHED)
    assert watched == WATCHED_TABLES


def test_touches_names_the_lists_a_report_concerns() -> None:
    assert touches(frozenset({"allocations", "approvals"}), frozenset({"approvals"}))
    assert not touches(frozenset({"allocations"}), frozenset({"deposits", "operators"}))
    assert touches(frozenset({"allocations"}), EVERYTHING) and ALL in EVERYTHING


async def test_every_watched_table_has_its_triggers_at_the_head_revision(engine: Engine, is_pg: bool) -> None:
    async with engine.db.connect() as conn:
        if is_pg:
            rows = await conn.execute(text("SELECT t.tgname, c.relname FROM pg_trigger t "
                                           "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"))
            found = {(name, table) for name, table in rows}
            assert {(f"wbo_change_{t}", t) for t in WATCHED_TABLES} <= found
        else:
            rows = await conn.execute(text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"))
            found = {(name, table) for name, table in rows}
            expected = {(f"wbo_change_{t}_{s}", t) for t in WATCHED_TABLES for s in ("ins", "upd", "del")}
            assert expected <= found
            counters = {r[0] for r in await conn.execute(text("SELECT topic FROM change_feed"))}
            assert counters == WATCHED_TABLES


async def test_a_change_committed_by_another_process_is_reported(engine: Engine, db_url: str) -> None:
    maker = await login(engine, "maker")
    async with engine.watch_changes() as feed:
        ctx = multiprocessing.get_context("spawn")
        process = ctx.Process(target=change_feed_workers.request_permission,
                              args=(db_url, maker.model_dump_json(), "fx.customer_exchange_approval"), daemon=True)
        process.start()
        try:
            seen = await collect_until(feed, "approvals")
        finally:
            await asyncio.to_thread(process.join, GIVE_UP_S)
        assert process.exitcode == 0
    # The other process's request is the approval item reported.
    assert "approvals" in seen and seen <= WATCHED_TABLES | {"operators"}


async def test_a_rolled_back_change_is_not_reported(engine: Engine) -> None:
    admin = await login(engine, "admin")
    item = await engine.execute(admin, RequestPermission(permission_code="fx.customer_exchange_approval", reason="x"))
    async with engine.watch_changes() as feed:
        # Nobody decides their own item: the decision rolls back (only the refusal's audit
        # record commits, and the audit log is not watched).
        with pytest.raises(MakerCheckerViolation):
            await engine.execute(admin, ApproveItem(approval_id=item.id))
        await engine.execute(admin, CreateSubscription(topic="position.alert", channel="inbox", operator="maker"))
        seen = await collect_until(feed, "message_subscriptions")
    assert "approvals" not in seen and "audit_log" not in seen


async def test_catch_up_reports_the_commits_made_before_it_at_once(engine: Engine) -> None:
    """``catch_up`` checks the database now: a commit made before it is in what it returns,
    though the feed's own poll (SQLite) would come only a minute later."""
    admin = await login(engine, "admin")
    async with engine.watch_changes(interval_s=GIVE_UP_S, health_s=GIVE_UP_S) as feed:
        assert await feed.catch_up() == frozenset()  # nothing committed since the feed began
        await engine.execute(admin, CreateSubscription(topic="position.alert", channel="inbox", operator="maker"))
        caught = await feed.catch_up()
        assert "message_subscriptions" in caught and caught <= WATCHED_TABLES
        assert await feed.catch_up() == frozenset()  # taken: not reported again
        await engine.execute(admin, RequestPermission(permission_code="fx.customer_exchange_approval", reason="x"))
        caught = await feed.catch_up()
        assert "approvals" in caught and "message_subscriptions" not in caught


async def test_what_catch_up_takes_the_iterator_does_not_yield(engine: Engine) -> None:
    """Each change is reported once, by ``catch_up`` or by iterating, whichever takes it
    first, and an iterator woken by a change ``catch_up`` took waits on for the next."""
    admin = await login(engine, "admin")
    async with engine.watch_changes() as feed:
        iterating = asyncio.create_task(feed.__anext__())
        await engine.execute(admin, CreateSubscription(topic="position.alert", channel="inbox", operator="maker"))
        caught = await feed.catch_up()
        await engine.execute(admin, RequestPermission(permission_code="fx.customer_exchange_approval", reason="x"))
        yielded = await asyncio.wait_for(iterating, GIVE_UP_S)
        assert yielded  # never an empty report
        assert ("message_subscriptions" in caught) != ("message_subscriptions" in yielded)


async def test_reports_stop_when_the_feed_is_left(engine: Engine) -> None:
    async with engine.watch_changes() as feed:
        pass
    with pytest.raises(StopAsyncIteration):
        await feed.__anext__()


@pytest.mark.pg
async def test_postgresql_listener_lost_is_made_again_and_reports_everything(engine: Engine, is_pg: bool) -> None:
    if not is_pg:
        pytest.skip("the listening connection is PostgreSQL's")
    admin = await login(engine, "admin")
    async with engine.watch_changes(health_s=GIVE_UP_S) as feed:
        pid = feed._pg.get_server_pid()
        killer = await asyncpg.connect(pg_admin_url())
        try:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await killer.close()
        assert await asyncio.wait_for(feed.__anext__(), GIVE_UP_S) == EVERYTHING
        assert feed._pg.get_server_pid() != pid
        # And it listens again.
        await engine.execute(admin, CreateSubscription(topic="position.alert", channel="inbox", operator="maker"))
        assert "message_subscriptions" in await collect_until(feed, "message_subscriptions")

"""Write units on SQLite run inline (``engine.sqlite_inline``): what that must not break.

* Waiting for another writer's lock happens on the event loop, not in SQLite's busy
  handler: the loop keeps running (the console keeps drawing) while a command waits, and
  the command goes through once the lock is free.
* Write connections never checkpoint in a commit; a worker thread does, once the log
  reaches about SQLite's threshold (``sqlite_inline.BackgroundCheckpoint``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from engine_support import login
from sqlalchemy.engine import make_url

from wbo_tui.engine import CreateRole, Engine
from wbo_tui.engine.db import background_checkpoint, writer_for


@pytest.fixture
def sqlite_path(engine: Engine, is_pg: bool) -> str:
    if is_pg:
        pytest.skip("SQLite only: PostgreSQL write units are asyncpg's")
    database = make_url(engine.url).database
    assert database is not None
    return database


async def test_waiting_for_another_writer_keeps_the_loop_running(engine: Engine, sqlite_path: str) -> None:
    admin = await login(engine, "admin")
    blocker = sqlite3.connect(sqlite_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another console holding the write lock
    try:
        command = asyncio.create_task(engine.execute(admin, CreateRole(name="waits", permissions=[])))
        ticks, started = 0, time.monotonic()
        while time.monotonic() - started < 0.5:  # the loop turns while the command waits (a busy
            # handler on the loop would allow one turn, at most)
            await asyncio.sleep(0.01)
            ticks += 1
        assert not command.done()
        assert ticks >= 5, f"the event loop stalled while waiting for the lock ({ticks} turns in 0.5 s)"
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    role = await asyncio.wait_for(command, timeout=10)
    assert role.name == "waits"


async def test_write_units_checkpoint_on_a_worker_thread(engine: Engine, sqlite_path: str) -> None:
    async with writer_for(engine.db).connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
    checkpoint = background_checkpoint(engine.db)
    assert checkpoint is not None
    checkpoint.every = 1  # by default after fifty-odd commits
    admin = await login(engine, "admin")
    await engine.execute(admin, CreateRole(name="checkpointed", permissions=[]))
    await checkpoint.wait()
    assert checkpoint.done >= 1
    with sqlite3.connect(sqlite_path) as raw:  # nothing left in the log that is not in the file
        busy, log_pages, done = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        assert busy == 0 and log_pages == done

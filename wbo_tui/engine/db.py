"""Database connection setup for SQLite (aiosqlite) and PostgreSQL (asyncpg).

On SQLite, write units run on a second engine over the same file whose statements run
on the calling thread (``sqlite_inline``, ``writer_for``); reads keep aiosqlite.  In a
console that thread is the engine's own (``engine_loop``), never the one that draws.

SQLite runs in WAL mode with ``synchronous=FULL``, foreign keys on and a busy timeout.
pysqlite's own transaction handling is switched off (``isolation_level = None``) and we
emit BEGIN ourselves: ``BEGIN IMMEDIATE`` for every write transaction, so a writer takes
the write lock up front and waits for it (up to the busy timeout; a write unit waits on
its event loop, see ``sqlite_inline``) instead of failing later with "database is
locked" when a deferred read-then-write transaction tries to upgrade.
"""

from __future__ import annotations

import sqlite3
import weakref
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from . import sqlite_inline

WRITE_OPTION = "wbo_write"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalise_url(url: str) -> str:
    """Accept ``sqlite:///x.db`` and ``postgresql://…`` and pick the async drivers."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def describe_url(url: str) -> str:
    """What the header shows: the database without its password."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return f"sqlite:{u.database}"
    return f"postgresql:{u.host or 'local'}/{u.database}"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = normalise_url(url)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return _create_sqlite_engine(url, **kwargs)
    if backend == "postgresql":
        return create_async_engine(url, pool_pre_ping=True, **kwargs)
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, AsyncEngine] = weakref.WeakKeyDictionary()
_CHECKPOINTS: weakref.WeakKeyDictionary[AsyncEngine, sqlite_inline.BackgroundCheckpoint] = (
    weakref.WeakKeyDictionary())


def writer_for(db: AsyncEngine) -> AsyncEngine:
    """The engine write units use: on SQLite the inline one over the same file (made on
    first use), elsewhere ``db`` itself."""
    if db.dialect.name != "sqlite":
        return db
    writer = _WRITERS.get(db)
    if writer is None:
        database = db.url.database
        assert database is not None
        writer = create_async_engine(
            db.url, async_creator=sqlite_inline.connector(database), pool_size=2, max_overflow=8)
        _configure_sqlite(writer)
        checkpoint = _CHECKPOINTS[writer] = sqlite_inline.BackgroundCheckpoint(database)
        event.listen(writer.sync_engine, "commit", lambda _conn: checkpoint.after_commit())
        _WRITERS[db] = writer
    return writer


def background_checkpoint(db: AsyncEngine) -> sqlite_inline.BackgroundCheckpoint | None:
    """The write-ahead-log checkpointer of ``db``'s write units (SQLite, once they ran)."""
    writer = _WRITERS.get(db)
    return _CHECKPOINTS.get(writer) if writer is not None else None


async def dispose(db: AsyncEngine) -> None:
    """Close ``db``'s connections and those of its write engine."""
    writer = _WRITERS.pop(db, None)
    if writer is not None:
        checkpoint = _CHECKPOINTS.pop(writer, None)
        if checkpoint is not None:
            await checkpoint.wait()
        await writer.dispose()
    await db.dispose()


def _create_sqlite_engine(url: str, **kwargs: Any) -> AsyncEngine:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("WBO needs a SQLite file, not an in-memory database (several processes share it)")
    engine = create_async_engine(url, **kwargs)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        inline = isinstance(dbapi_connection.driver_connection, sqlite_inline.InlineConnection)
        if not inline:  # the inline adapter connects with isolation_level None already
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        if inline:
            # The checkpoint runs on a worker thread instead (sqlite_inline.BackgroundCheckpoint).
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION)
        driver = conn.connection.driver_connection
        if write and isinstance(driver, sqlite_inline.InlineConnection):
            try:
                driver.begin_immediate(SQLITE_BUSY_TIMEOUT_MS)
            except sqlite3.OperationalError as error:
                raise exc.OperationalError("BEGIN IMMEDIATE", None, error) from error
            return
        conn.exec_driver_sql(f"BEGIN {'IMMEDIATE' if write else 'DEFERRED'}")

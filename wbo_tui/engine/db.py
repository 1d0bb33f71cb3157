"""Database connection setup for SQLite (aiosqlite) and PostgreSQL (asyncpg).

SQLite runs in WAL mode with ``synchronous=FULL``, foreign keys on and a busy timeout.
pysqlite's own transaction handling is switched off (``isolation_level = None``) and we
emit BEGIN ourselves: ``BEGIN IMMEDIATE`` for every write transaction, so a writer takes
the write lock up front and waits on the busy timeout instead of failing later with
"database is locked" when a deferred read-then-write transaction tries to upgrade.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def _create_sqlite_engine(url: str, **kwargs: Any) -> AsyncEngine:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("WBO needs a SQLite file, not an in-memory database (several processes share it)")
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE_OPTION) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine

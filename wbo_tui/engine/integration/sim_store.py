"""The SQLite file a built-in simulator keeps its state in, shared by every process that
opens it: several consoles, a test arranging faults, an HTTP server in front of it.

Every call is one ``BEGIN IMMEDIATE`` transaction.  That serialises writers across
processes, so a check and the write it guards (is this order id known? is there money
enough?) can never interleave with another process's, and a one-shot injected fault is
consumed once.  A deferred read-then-write transaction would instead fail with "database
is locked" despite the busy timeout.

A simulator's store subclasses ``SqliteSimStore``, names its ``SCHEMA`` and ``NAME``, and
runs each call as ``await self._run(fn, *args)``: ``fn(conn, *args)`` inside one write
transaction, off the event loop.  Two conventions are shared by the stores that want
them: a ``settings (name, value)`` table (``_setting``, ``_put_setting``) and a
``faults`` table whose rows start ``id INTEGER PRIMARY KEY, …, remaining INTEGER``
(``_consume_fault``).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..clock import Clock, Seconds, SystemClock

_T = TypeVar("_T")


def ts(moment: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order in SQL."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class SqliteSimStore:
    """Connection and transaction plumbing of a simulator's store.

    One connection per instance, used by one thread at a time (a lock), each call run off
    the event loop.  Other processes open their own instance on the same file.  The file
    and its schema are created on the first call, or by ``open()``.
    """

    #: The ``CREATE … IF NOT EXISTS`` statements of the store, ``;``-separated.
    SCHEMA: ClassVar[str] = ""
    #: What the simulator is, for the error of a call after ``close_store()``.
    NAME: ClassVar[str] = "the simulator"

    def __init__(
        self, store_path: str | os.PathLike[str], *, clock: Clock | None = None, busy_timeout_s: Seconds = 30.0
    ) -> None:
        self.store_path = Path(store_path)
        self.clock: Clock = clock or SystemClock()
        self._busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    # --- connection and transactions -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError(f"{self.NAME} is closed")
        if self._conn is None:
            conn = sqlite3.connect(
                self.store_path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_s
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            with self._write(conn):
                for statement in self.SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                self._on_open(conn)
            self._conn = conn
        return self._conn

    def _on_open(self, conn: sqlite3.Connection) -> None:
        """Called once per connection, in the transaction that created the schema: where a
        store writes what its constructor was given (a setting), atomically with it."""

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[None]:
        # BEGIN IMMEDIATE takes the write lock up front: a deferred read-then-write
        # transaction would fail with "database is locked" despite the busy timeout.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _locked(self, fn: Callable[..., _T], *args: Any) -> _T:
        with self._lock:
            conn = self._connect()
            with self._write(conn):
                return fn(conn, *args)

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(conn, *args)`` in one write transaction, off the event loop (SQLite blocks,
        on the busy timeout and on fsync)."""
        return await asyncio.to_thread(self._locked, fn, *args)

    def _now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is None:
            raise ValueError("the clock must give timezone-aware times")
        return now.astimezone(UTC)

    # --- the shared conventions: settings and one-shot faults -------------------------------

    @staticmethod
    def _setting(conn: sqlite3.Connection, name: str, default: str) -> str:
        row = conn.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return row[0] if row else default

    @staticmethod
    def _put_setting(conn: sqlite3.Connection, name: str, value: str) -> None:
        conn.execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    @staticmethod
    def _consume_fault(conn: sqlite3.Connection, columns: str, where: str, params: tuple[Any, ...]) -> tuple | None:
        """Consume one use of the oldest injected fault matching ``where``: its ``columns``,
        or None when there is none.  ``columns`` and ``where`` are the store's own SQL,
        never outside input; the values go in ``params``."""
        row = conn.execute(
            f"SELECT id, remaining, {columns} FROM faults WHERE {where} ORDER BY id LIMIT 1", params
        ).fetchone()
        if row is None:
            return None
        fault_id, remaining = row[0], row[1]
        if remaining <= 1:
            conn.execute("DELETE FROM faults WHERE id = ?", (fault_id,))
        else:
            conn.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (fault_id,))
        return tuple(row[2:])

    # --- lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """Create or open the store now rather than on the first call (fails fast on a
        bad path; a server opens its store before it starts listening)."""
        with self._lock:
            self._connect()

    def close_store(self) -> None:
        """Close the store connection (for owners without an event loop); later calls fail."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def _close_store_off_loop(self) -> None:
        """``close_store`` for owners on an event loop: the gateway's own close names it."""
        await asyncio.to_thread(self.close_store)

"""The simulated bank exchange channel's store: one SQLite file shared by every process
that opens it (several consoles, and an HTTP server in front of it).

Every call is one ``BEGIN IMMEDIATE`` transaction.  That serialises writers across
processes, so "is this order id known? if not, book it" can never interleave with a
second submission of the same id: one order id converts once, whoever sends it.

The settings that drive the simulated bank (rates, fill delay, injected faults, the
channel being down) live in the same file, so a test or the demo in one process arranges
what a console in another will meet.  This module holds the schema and the plumbing;
``simulator`` holds the bank's behaviour.
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
from typing import Any, Literal, TypeVar

from ...clock import Clock, Seconds, SystemClock

_T = TypeVar("_T")

GatewayCall = Literal["submit", "query"]
GATEWAY_CALLS: tuple[str, ...] = ("submit", "query")

# Money and rates are stored as decimal text (format(d, "f")): SQLite has no decimal
# type and a REAL column would turn them into binary fractions.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS channel_rates (
    channel_name TEXT NOT NULL,
    from_currency TEXT NOT NULL,
    to_currency TEXT NOT NULL,
    rate TEXT NOT NULL,
    to_places INTEGER NOT NULL CHECK (to_places BETWEEN 0 AND 18),
    rounding TEXT NOT NULL,
    PRIMARY KEY (channel_name, from_currency, to_currency)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call TEXT NOT NULL CHECK (call IN ('submit', 'query')),
    action TEXT NOT NULL CHECK (action IN ('fail', 'timeout')),
    remaining INTEGER NOT NULL CHECK (remaining > 0),
    reason TEXT
);
CREATE TABLE IF NOT EXISTS exchange_orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL UNIQUE,
    channel_name TEXT NOT NULL,
    from_currency TEXT NOT NULL,
    from_amount TEXT NOT NULL,
    to_currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('PROCESSING', 'SUCCEEDED', 'FAILED')),
    booked_rate TEXT,
    booked_to_amount TEXT,
    reason TEXT,
    created_at TEXT NOT NULL,
    fill_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS exchange_orders_due ON exchange_orders (status, fill_at);
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    call TEXT NOT NULL,
    order_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    answer_lost INTEGER NOT NULL DEFAULT 0,
    pid INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS request_log_order ON request_log (order_id, call);
"""


def ts(moment: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order in SQL."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class BankChannelStore:
    """Connection and transaction plumbing of ``SimulatedBankChannel`` (see there).

    One connection per instance, used by one thread at a time (a lock), each call run
    off the event loop.  Other processes open their own instance on the same file."""

    def __init__(
        self, store_path: str | os.PathLike[str], *, clock: Clock | None = None, busy_timeout_s: Seconds = 30.0
    ) -> None:
        self.store_path = Path(store_path)
        self.clock: Clock = clock or SystemClock()
        self._busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the simulated bank exchange channel is closed")
        if self._conn is None:
            conn = sqlite3.connect(
                self.store_path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_s
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            with self._write(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            self._conn = conn
        return self._conn

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
        """``fn(conn, *args)`` in one write transaction, off the event loop."""
        return await asyncio.to_thread(self._locked, fn, *args)

    def _now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is None:
            raise ValueError("the clock must give timezone-aware times")
        return now.astimezone(UTC)

    # --- settings, faults, request log ------------------------------------------------------

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
    def _take_fault(conn: sqlite3.Connection, call: str, action: str) -> tuple[bool, str | None]:
        """Consume one injected fault of this kind: ``(found, reason)``."""
        row = conn.execute(
            "SELECT id, remaining, reason FROM faults WHERE call = ? AND action = ? ORDER BY id LIMIT 1",
            (call, action),
        ).fetchone()
        if row is None:
            return False, None
        fault_id, remaining, reason = row
        if remaining <= 1:
            conn.execute("DELETE FROM faults WHERE id = ?", (fault_id,))
        else:
            conn.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (fault_id,))
        return True, reason

    @staticmethod
    def _log(
        conn: sqlite3.Connection, call: str, order_id: str, outcome: str, now: datetime, *, answer_lost: bool = False
    ) -> None:
        conn.execute(
            "INSERT INTO request_log (call, order_id, outcome, answer_lost, pid, at) VALUES (?, ?, ?, ?, ?, ?)",
            (call, order_id, outcome, int(answer_lost), os.getpid(), ts(now)),
        )

    # --- lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """Create or open the store now rather than on the first call (fails fast on a
        bad path; a server opens its store before it starts listening)."""
        with self._lock:
            self._connect()

    def close_store(self) -> None:
        """Close the store connection (for owners without an event loop)."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def close(self) -> None:
        await asyncio.to_thread(self.close_store)

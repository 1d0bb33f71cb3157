"""The simulated rate source's store: one SQLite file shared by every process that opens
it, so a test (or the demo) publishes rates and injects faults in one process and a
console, or an HTTP server in front of the simulator, meets them in another.

Every call is one ``BEGIN IMMEDIATE`` transaction.  A fetch consumes injected faults and
writes the request log, so it is a write; taking the write lock up front keeps two
processes from consuming the same one-shot fault (a deferred read-then-write transaction
would also fail with "database is locked" despite the busy timeout).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ...clock import Clock, Seconds, SystemClock
from ...upstream.sim_store import ts

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS publications (
    channel_name TEXT NOT NULL,
    rate_type TEXT NOT NULL,
    hourly INTEGER NOT NULL CHECK (hourly IN (0, 1)),
    published_at TEXT NOT NULL,
    PRIMARY KEY (channel_name, rate_type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS published_rates (
    channel_name TEXT NOT NULL,
    rate_type TEXT NOT NULL,
    other_currency TEXT NOT NULL,
    base_currency TEXT NOT NULL,
    bid_rate TEXT NOT NULL,
    offer_rate TEXT NOT NULL,
    average_rate TEXT NOT NULL,
    PRIMARY KEY (channel_name, rate_type, other_currency),
    FOREIGN KEY (channel_name, rate_type) REFERENCES publications (channel_name, rate_type) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS drifts (
    channel_name TEXT NOT NULL,
    rate_type TEXT NOT NULL,
    seed TEXT NOT NULL,
    step_bp INTEGER NOT NULL CHECK (step_bp >= 0),
    PRIMARY KEY (channel_name, rate_type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS down_channels (
    channel_name TEXT PRIMARY KEY
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL CHECK (action IN ('timeout', 'malformed')),
    remaining INTEGER NOT NULL CHECK (remaining > 0),
    how TEXT,
    hang_s REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_name TEXT NOT NULL,
    rate_type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    pid INTEGER NOT NULL,
    at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Fault:
    how: str | None
    hang_s: Seconds


class RateStore:
    """Connection and transaction plumbing of ``SimulatedRateSource`` (see there)."""

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
            raise RuntimeError("the simulated rate source is closed")
        if self._conn is None:
            conn = sqlite3.connect(
                self.store_path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_s
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            with self._write(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            self._conn = conn
        return self._conn

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[None]:
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
        # SQLite blocks (on the busy timeout, on fsync): keep it off the event loop.
        return await asyncio.to_thread(self._locked, fn, *args)

    def _now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is None:
            raise ValueError("the clock must give timezone-aware times")
        return now.astimezone(UTC)

    @staticmethod
    def _log(conn: sqlite3.Connection, channel_name: str, rate_type: str, outcome: str, now: datetime) -> None:
        conn.execute(
            "INSERT INTO request_log (channel_name, rate_type, outcome, pid, at) VALUES (?, ?, ?, ?, ?)",
            (channel_name, rate_type, outcome, os.getpid(), ts(now)),
        )

    @staticmethod
    def _take_fault(conn: sqlite3.Connection, action: str) -> Fault | None:
        row = conn.execute(
            "SELECT id, remaining, how, hang_s FROM faults WHERE action = ? ORDER BY id LIMIT 1", (action,)
        ).fetchone()
        if row is None:
            return None
        fault_id, remaining, how, hang_s = row
        if remaining <= 1:
            conn.execute("DELETE FROM faults WHERE id = ?", (fault_id,))
        else:
            conn.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (fault_id,))
        return Fault(how, float(hang_s))  # seconds, not money

    @staticmethod
    def _is_down(conn: sqlite3.Connection, channel_name: str) -> bool:
        return conn.execute("SELECT 1 FROM down_channels WHERE channel_name = ?", (channel_name,)).fetchone() is not None

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

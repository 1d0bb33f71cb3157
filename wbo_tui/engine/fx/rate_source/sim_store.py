"""The simulated rate source's store: one SQLite file shared by every process that opens
it, so a test (or the demo) publishes rates and injects faults in one process and a
console, or an HTTP server in front of the simulator, meets them in another.

Every call is one ``BEGIN IMMEDIATE`` transaction.  A fetch consumes injected faults and
writes the request log, so it is a write; taking the write lock up front keeps two
processes from consuming the same one-shot fault (a deferred read-then-write transaction
would also fail with "database is locked" despite the busy timeout).  That plumbing is
every simulator's (``integration.sim_store``); this module holds the schema and the
fault and request-log primitives.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from ...clock import Seconds
from ...integration.sim_store import SqliteSimStore, ts

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


class RateStore(SqliteSimStore):
    """The schema and the fault and request-log primitives of ``SimulatedRateSource``
    (see there); the connection and transaction plumbing is ``SqliteSimStore``'s."""

    SCHEMA = _SCHEMA
    NAME = "the simulated rate source"

    @staticmethod
    def _log(conn: sqlite3.Connection, channel_name: str, rate_type: str, outcome: str, now: datetime) -> None:
        conn.execute(
            "INSERT INTO request_log (channel_name, rate_type, outcome, pid, at) VALUES (?, ?, ?, ?, ?)",
            (channel_name, rate_type, outcome, os.getpid(), ts(now)),
        )

    @staticmethod
    def _take_fault(conn: sqlite3.Connection, action: str) -> Fault | None:
        taken = SqliteSimStore._consume_fault(conn, "how, hang_s", "action = ?", (action,))
        if taken is None:
            return None
        how, hang_s = taken
        return Fault(how, float(hang_s))  # seconds, not money

    @staticmethod
    def _is_down(conn: sqlite3.Connection, channel_name: str) -> bool:
        return conn.execute("SELECT 1 FROM down_channels WHERE channel_name = ?", (channel_name,)).fetchone() is not None

    async def close(self) -> None:
        await self._close_store_off_loop()

"""The simulated bank exchange channel's store: one SQLite file shared by every process
that opens it (several consoles, and an HTTP server in front of it).

Every call is one ``BEGIN IMMEDIATE`` transaction.  That serialises writers across
processes, so "is this order id known? if not, book it" can never interleave with a
second submission of the same id: one order id converts once, whoever sends it.

The settings that drive the simulated bank (rates, fill delay, injected faults, the
channel being down) live in the same file, so a test or the demo in one process arranges
what a console in another will meet.  This module holds the schema, the fault and request
log tables' primitives; the plumbing is every simulator's (``integration.sim_store``) and
``simulator`` holds the bank's behaviour.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from typing import Literal

from ...integration.sim_store import SqliteSimStore, ts

__all__ = ["GATEWAY_CALLS", "BankChannelStore", "GatewayCall", "ts"]

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


class BankChannelStore(SqliteSimStore):
    """The schema and the fault and request-log primitives of ``SimulatedBankChannel``
    (see there); the connection and transaction plumbing is ``SqliteSimStore``'s.

    One connection per instance, used by one thread at a time (a lock), each call run
    off the event loop.  Other processes open their own instance on the same file."""

    SCHEMA = _SCHEMA
    NAME = "the simulated bank exchange channel"

    # --- faults, request log ------------------------------------------------------

    @staticmethod
    def _take_fault(conn: sqlite3.Connection, call: str, action: str) -> tuple[bool, str | None]:
        """Consume one injected fault of this kind: ``(found, reason)``."""
        taken = SqliteSimStore._consume_fault(conn, "reason", "call = ? AND action = ?", (call, action))
        return (False, None) if taken is None else (True, taken[0])

    @staticmethod
    def _log(
        conn: sqlite3.Connection, call: str, order_id: str, outcome: str, now: datetime, *, answer_lost: bool = False
    ) -> None:
        conn.execute(
            "INSERT INTO request_log (call, order_id, outcome, answer_lost, pid, at) VALUES (?, ?, ?, ?, ?, ?)",
            (call, order_id, outcome, int(answer_lost), os.getpid(), ts(now)),
        )

    async def close(self) -> None:
        await self._close_store_off_loop()

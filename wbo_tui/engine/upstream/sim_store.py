"""The simulated bank's store: one SQLite file shared by every process that opens it.

Every call is one ``BEGIN IMMEDIATE`` transaction, which serialises writers across
processes: a balance check and the debit it guards can never interleave with another
transfer, so an account is never overdrawn.  The connection and transaction plumbing is
the one every simulator shares (``integration.sim_store``); this module holds the schema
and the ledger primitives (balances, settlement, faults, the request log) that the
gateway side (``simulator``) and the bank's side (``sim_bank``) build on.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from ..clock import Clock, Seconds
from ..integration.sim_store import SqliteSimStore, ts
from .gateway import ACCOUNT_NO, CURRENCY_CODE, EXACT, ReasonCode, TransferState, TransferStatus

__all__ = ["Fault", "SimulatorStore", "check_account", "check_amount", "check_currency", "json_list", "ts"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    account_no TEXT PRIMARY KEY,
    rejected_reason TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS balances (
    account_no TEXT NOT NULL REFERENCES accounts(account_no),
    currency TEXT NOT NULL,
    available TEXT NOT NULL,
    in_transit TEXT NOT NULL,
    PRIMARY KEY (account_no, currency)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transfers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    from_account TEXT NOT NULL,
    to_account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    reason TEXT,
    reason_code TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    settle_at TEXT
);
CREATE INDEX IF NOT EXISTS transfers_due ON transfers (state, settle_at);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('timeout', 'reject')),
    remaining INTEGER NOT NULL CHECK (remaining > 0),
    reason TEXT,
    executed INTEGER NOT NULL DEFAULT 0,
    hang_s REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    timed_out INTEGER NOT NULL DEFAULT 0,
    pid INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS request_log_kind ON request_log (kind, outcome);
"""


def check_account(account_no: str) -> None:
    if not isinstance(account_no, str) or not ACCOUNT_NO.fullmatch(account_no):
        raise ValueError(f"account_no must be 1-64 of [A-Za-z0-9._:/-], got {account_no!r}")


def check_currency(currency: str) -> None:
    if not isinstance(currency, str) or not CURRENCY_CODE.fullmatch(currency):
        raise ValueError(f"currency must be an upper-case code, got {currency!r}")


def check_amount(amount: Decimal, *, positive: bool) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise TypeError(f"amount must be a finite Decimal, got {type(amount).__name__} {amount!r}")
    if amount < 0 or (positive and amount == 0):
        raise ValueError(f"amount must be {'positive' if positive else 'zero or more'}, got {amount}")


@dataclass(frozen=True, slots=True)
class Fault:
    reason: str | None
    executed: bool
    hang_s: Seconds


class SimulatorStore(SqliteSimStore):
    """The schema and ledger primitives of ``SimulatedUpstream`` (see there); the
    connection and transaction plumbing is ``SqliteSimStore``'s."""

    SCHEMA = _SCHEMA
    NAME = "the simulated upstream"

    def __init__(
        self,
        store: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        settle_delay_s: Seconds | None = None,
        busy_timeout_s: Seconds = 30.0,
    ) -> None:
        super().__init__(store, clock=clock, busy_timeout_s=busy_timeout_s)
        self._initial_settle_delay_s = settle_delay_s

    @property
    def store(self) -> Path:
        """The store's file (``store_path``)."""
        return self.store_path

    def _on_open(self, conn: sqlite3.Connection) -> None:
        if self._initial_settle_delay_s is not None:
            self._put_setting(conn, "settle_delay_s", repr(float(self._initial_settle_delay_s)))  # seconds, not money

    @staticmethod
    def _log(conn: sqlite3.Connection, kind: str, outcome: str, detail: str, now: datetime, timed_out: bool = False) -> None:
        conn.execute(
            "INSERT INTO request_log (kind, outcome, detail, timed_out, pid, at) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, outcome, detail, int(timed_out), os.getpid(), ts(now)),
        )

    @staticmethod
    def _take_fault(conn: sqlite3.Connection, kind: str, action: str) -> Fault | None:
        taken = SqliteSimStore._consume_fault(
            conn, "reason, executed, hang_s", "kind = ? AND action = ?", (kind, action)
        )
        if taken is None:
            return None
        reason, executed, hang_s = taken
        return Fault(reason, bool(executed), float(hang_s))  # seconds, not money

    @staticmethod
    def _is_down(conn: sqlite3.Connection) -> bool:
        return SimulatorStore._setting(conn, "channel_down", "0") == "1"

    @staticmethod
    def _ensure_account(conn: sqlite3.Connection, account_no: str) -> None:
        conn.execute("INSERT OR IGNORE INTO accounts (account_no) VALUES (?)", (account_no,))

    @staticmethod
    def _adjust(
        conn: sqlite3.Connection,
        account_no: str,
        currency: str,
        *,
        available: Decimal = Decimal(0),
        in_transit: Decimal = Decimal(0),
    ) -> None:
        """Add the deltas to one balance row (creating it at zero)."""
        row = conn.execute(
            "SELECT available, in_transit FROM balances WHERE account_no = ? AND currency = ?", (account_no, currency)
        ).fetchone()
        old_available, old_in_transit = (Decimal(row[0]), Decimal(row[1])) if row else (Decimal(0), Decimal(0))
        new_available = EXACT.add(old_available, available)
        new_in_transit = EXACT.add(old_in_transit, in_transit)
        # Invariant, not an operating error: callers check funds before moving them.
        assert new_available >= 0 and new_in_transit >= 0, (account_no, currency, new_available, new_in_transit)
        conn.execute(
            "INSERT INTO balances (account_no, currency, available, in_transit) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (account_no, currency) DO UPDATE SET available = excluded.available, "
            "in_transit = excluded.in_transit",
            (account_no, currency, format(new_available, "f"), format(new_in_transit, "f")),
        )

    def _settle_due(self, conn: sqlite3.Connection, now: datetime) -> int:
        rows = conn.execute(
            "SELECT seq, from_account, to_account, currency, amount, settle_at FROM transfers "
            "WHERE state = 'PENDING' AND settle_at <= ? ORDER BY settle_at, seq",
            (ts(now),),
        ).fetchall()
        for seq, source, destination, currency, amount_text, settle_at in rows:
            amount = Decimal(amount_text)
            self._adjust(conn, source, currency, in_transit=-amount)
            self._adjust(conn, destination, currency, available=amount)
            # Settled at its due time, not whenever somebody next looked.
            conn.execute(
                "UPDATE transfers SET state = 'SUCCEEDED', updated_at = ? WHERE seq = ? AND state = 'PENDING'",
                (settle_at, seq),
            )
        return len(rows)

    @staticmethod
    def _status_of(row: sqlite3.Row | tuple) -> TransferStatus:
        seq, key, state, reason, reason_code, updated_at = row
        return TransferStatus(
            idempotency_key=key,
            state=TransferState(state),
            reason=reason,
            transfer_ref=f"SIM-{seq:08d}",
            updated_at=datetime.fromisoformat(updated_at),
            reason_code=ReasonCode(reason_code) if reason_code else None,
        )

    @staticmethod
    def _find(conn: sqlite3.Connection, key: str) -> tuple | None:
        return conn.execute(
            "SELECT seq, idempotency_key, state, reason, reason_code, updated_at, from_account, to_account, "
            "currency, amount FROM transfers WHERE idempotency_key = ?",
            (key,),
        ).fetchone()

    @staticmethod
    def _unknown(key: str, now: datetime) -> TransferStatus:
        return TransferStatus(
            idempotency_key=key,
            state=TransferState.UNKNOWN,
            reason="The settlement channel did not answer in time (simulated timeout); query the transfer's status.",
            transfer_ref=None,
            updated_at=now,
            reason_code=ReasonCode.TIMEOUT,
        )

    def close(self) -> None:
        """Close the store connection (for owners without an event loop)."""
        self.close_store()

    async def aclose(self) -> None:
        await self._close_store_off_loop()


def json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))

"""A simulated settlement channel: the default upstream for the demo and the tests.

The simulated bank lives in its own SQLite file, so several console processes (and an
HTTP server in front of it) share one bank.  Every call is one ``BEGIN IMMEDIATE``
transaction, which serialises writers across processes: a balance check and the debit it
guards can never interleave with another transfer, so an account is never overdrawn.

Time comes from the injected clock.  A transfer settles at once, or after the store's
settle delay; until then its amount sits in the source account's ``in_transit``.
Settlement is lazy: every call first settles whatever has fallen due by ``clock.now()``.

Failures are injected through the store (so one process can arrange what another will
meet): channel down, rejection of the next transfers or of one account, and timeouts of
the next calls of a kind, with the transfer executed or not before the answer is lost.
Every call the gateway receives is written to ``request_log``; the test harness methods
(seeding, injecting, reading) are not.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..clock import Clock, Seconds, SystemClock
from .gateway import (
    ACCOUNT_NO,
    CURRENCY_CODE,
    EXACT,
    IDEMPOTENCY_KEY,
    IdempotencyConflict,
    ReasonCode,
    TransferRequest,
    TransferState,
    TransferStatus,
    UnknownAccounts,
    UpstreamBalance,
    UpstreamTimeout,
    UpstreamUnavailable,
)

CallKind = Literal["balances", "submit", "status"]
CALL_KINDS: tuple[str, ...] = ("balances", "submit", "status")
_T = TypeVar("_T")

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


def _ts(moment: datetime) -> str:
    """Fixed-width UTC text, so that text order is time order in SQL."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _check_account(account_no: str) -> None:
    if not isinstance(account_no, str) or not ACCOUNT_NO.fullmatch(account_no):
        raise ValueError(f"account_no must be 1-64 of [A-Za-z0-9._:/-], got {account_no!r}")


def _check_currency(currency: str) -> None:
    if not isinstance(currency, str) or not CURRENCY_CODE.fullmatch(currency):
        raise ValueError(f"currency must be an upper-case code, got {currency!r}")


def _check_amount(amount: Decimal, *, positive: bool) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise TypeError(f"amount must be a finite Decimal, got {type(amount).__name__} {amount!r}")
    if amount < 0 or (positive and amount == 0):
        raise ValueError(f"amount must be {'positive' if positive else 'zero or more'}, got {amount}")


@dataclass(frozen=True, slots=True)
class RequestLogEntry:
    """One call the simulated upstream received (``pid`` is the calling process's)."""

    seq: int
    kind: str  # balances | submit | status
    outcome: str  # see ``SimulatedUpstream.request_log``
    detail: str  # the idempotency key, or the number of accounts asked for
    timed_out: bool  # the caller got no answer (injected timeout)
    pid: int
    at: datetime


@dataclass(frozen=True, slots=True)
class SimulatedTransfer:
    """A transfer as the simulated bank recorded it."""

    request: TransferRequest
    status: TransferStatus
    settle_at: datetime | None


@dataclass(frozen=True, slots=True)
class _Fault:
    reason: str | None
    executed: bool
    hang_s: Seconds


class SimulatedUpstream:
    """The built-in settlement channel (implements ``UpstreamGateway``).

    ``store`` is the SQLite file (created on first use).  ``settle_delay_s``, when given,
    is written to the store on first use; otherwise the store's setting stands (0: settle
    at once).  Safe to share between tasks and threads of one process; other processes
    open their own instance on the same file.
    """

    def __init__(
        self,
        store: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        settle_delay_s: Seconds | None = None,
        busy_timeout_s: Seconds = 30.0,
    ) -> None:
        self.store = Path(store)
        self.clock: Clock = clock or SystemClock()
        self._initial_settle_delay_s = settle_delay_s
        self._busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    # --- plumbing -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("the simulated upstream is closed")
        if self._conn is None:
            conn = sqlite3.connect(
                self.store, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout_s
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            with self._write(conn):
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                if self._initial_settle_delay_s is not None:
                    self._put_setting(conn, "settle_delay_s", repr(float(self._initial_settle_delay_s)))  # seconds, not money
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
        return await asyncio.to_thread(self._locked, fn, *args)

    def _now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is None:
            raise ValueError("the clock must give timezone-aware times")
        return now.astimezone(UTC)

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
    def _log(conn: sqlite3.Connection, kind: str, outcome: str, detail: str, now: datetime, timed_out: bool = False) -> None:
        conn.execute(
            "INSERT INTO request_log (kind, outcome, detail, timed_out, pid, at) VALUES (?, ?, ?, ?, ?, ?)",
            (kind, outcome, detail, int(timed_out), os.getpid(), _ts(now)),
        )

    @staticmethod
    def _take_fault(conn: sqlite3.Connection, kind: str, action: str) -> _Fault | None:
        row = conn.execute(
            "SELECT id, remaining, reason, executed, hang_s FROM faults WHERE kind = ? AND action = ? ORDER BY id LIMIT 1",
            (kind, action),
        ).fetchone()
        if row is None:
            return None
        fault_id, remaining, reason, executed, hang_s = row
        if remaining <= 1:
            conn.execute("DELETE FROM faults WHERE id = ?", (fault_id,))
        else:
            conn.execute("UPDATE faults SET remaining = remaining - 1 WHERE id = ?", (fault_id,))
        return _Fault(reason, bool(executed), float(hang_s))  # seconds, not money

    @staticmethod
    def _is_down(conn: sqlite3.Connection) -> bool:
        return SimulatedUpstream._setting(conn, "channel_down", "0") == "1"

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
            (_ts(now),),
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

    # --- the gateway ----------------------------------------------------------------------

    async def fetch_balances(self, account_nos: Sequence[str]) -> list[UpstreamBalance]:
        if isinstance(account_nos, str):
            raise TypeError("fetch_balances takes a sequence of account numbers, not one string")
        wanted = sorted(set(account_nos))
        outcome, balances, unknown, hang_s = await self._run(self._fetch_balances, wanted)
        if outcome == "timeout":
            await asyncio.sleep(hang_s)
            raise UpstreamTimeout("The settlement channel did not answer the balance query in time.")
        if outcome == "unavailable":
            raise UpstreamUnavailable("The settlement channel is unavailable.")
        if unknown:
            raise UnknownAccounts(unknown, balances)
        return balances

    def _fetch_balances(
        self, conn: sqlite3.Connection, wanted: list[str]
    ) -> tuple[str, list[UpstreamBalance], list[str], float]:
        now = self._now()
        self._settle_due(conn, now)
        detail = f"{len(wanted)} accounts"
        if self._is_down(conn):
            self._log(conn, "balances", "unavailable", detail, now)
            return "unavailable", [], [], 0.0
        fault = self._take_fault(conn, "balances", "timeout")
        if fault is not None:
            self._log(conn, "balances", "timeout", detail, now, timed_out=True)
            return "timeout", [], [], fault.hang_s
        # One statement for all accounts: a poll of 200 accounts x 20 currencies is one
        # indexed join, not 200 queries.
        wanted_json = _json_list(wanted)
        known = {
            r[0]
            for r in conn.execute(
                "SELECT a.account_no FROM accounts a JOIN json_each(?) j ON a.account_no = j.value", (wanted_json,)
            )
        }
        rows = conn.execute(
            "SELECT b.account_no, b.currency, b.available, b.in_transit FROM balances b "
            "JOIN json_each(?) j ON b.account_no = j.value ORDER BY b.account_no, b.currency",
            (wanted_json,),
        ).fetchall()
        balances = [UpstreamBalance.of(a, c, Decimal(av), Decimal(it), now) for a, c, av, it in rows]
        unknown = [a for a in wanted if a not in known]
        self._log(conn, "balances", "unknown_accounts" if unknown else "ok", detail, now)
        return "ok", balances, unknown, 0.0

    async def submit_transfer(self, request: TransferRequest) -> TransferStatus:
        if not isinstance(request, TransferRequest):
            raise TypeError(f"submit_transfer takes a TransferRequest, got {type(request).__name__}")
        outcome, status, hang_s = await self._run(self._submit, request)
        if outcome == "unavailable":
            raise UpstreamUnavailable("The settlement channel is unavailable; the transfer was not submitted.")
        if outcome == "conflict":
            raise IdempotencyConflict(request.idempotency_key, "the upstream holds a different body for it")
        if outcome == "timeout":
            # The answer is lost whether or not the transfer was made: the caller must
            # query the status to find out, exactly as over a real network.
            await asyncio.sleep(hang_s)
            return self._unknown(request.idempotency_key, self._now())
        assert status is not None
        return status

    def _submit(self, conn: sqlite3.Connection, request: TransferRequest) -> tuple[str, TransferStatus | None, float]:
        now = self._now()
        self._settle_due(conn, now)
        key = request.idempotency_key
        if self._is_down(conn):
            self._log(conn, "submit", "unavailable", key, now)
            return "unavailable", None, 0.0
        timeout = self._take_fault(conn, "submit", "timeout")
        if timeout is not None and not timeout.executed:
            # Lost on the way in: the upstream never acts on it.
            self._log(conn, "submit", "timeout_before", key, now, timed_out=True)
            return "timeout", None, timeout.hang_s
        existing = self._find(conn, key)
        if existing is not None:
            recorded = TransferRequest(key, existing[6], existing[7], existing[8], Decimal(existing[9]))
            if not recorded.same_body(request):
                self._log(conn, "submit", "conflict", key, now, timed_out=timeout is not None)
                return ("timeout" if timeout else "conflict"), None, timeout.hang_s if timeout else 0.0
            self._log(conn, "submit", "replayed", key, now, timed_out=timeout is not None)
            status = self._status_of(existing[:6])
        else:
            status = self._execute(conn, request, now)
            outcome = "failed" if status.state is TransferState.FAILED else "accepted"
            self._log(conn, "submit", outcome, key, now, timed_out=timeout is not None)
        if timeout is not None:
            return "timeout", None, timeout.hang_s
        return "ok", status, 0.0

    def _execute(self, conn: sqlite3.Connection, request: TransferRequest, now: datetime) -> TransferStatus:
        """Record a new transfer and move the money (or record why not)."""
        source, destination, currency, amount = (
            request.from_account,
            request.to_account,
            request.currency,
            request.amount,
        )
        accounts = dict(
            conn.execute(
                "SELECT account_no, rejected_reason FROM accounts WHERE account_no IN (?, ?)", (source, destination)
            ).fetchall()
        )
        failure: tuple[ReasonCode, str] | None = None
        missing = [a for a in (source, destination) if a not in accounts]
        if missing:
            failure = (ReasonCode.UNKNOWN_ACCOUNT, f"Unknown account {', '.join(missing)}.")
        elif accounts[source] or accounts[destination]:
            failure = (ReasonCode.REJECTED, accounts[source] or accounts[destination])
        else:
            reject = self._take_fault(conn, "submit", "reject")
            if reject is not None:
                failure = (ReasonCode.REJECTED, reject.reason or "Rejected by the settlement channel.")
        if failure is None:
            row = conn.execute(
                "SELECT available FROM balances WHERE account_no = ? AND currency = ?", (source, currency)
            ).fetchone()
            available = Decimal(row[0]) if row else Decimal(0)
            if available < amount:
                failure = (
                    ReasonCode.INSUFFICIENT_FUNDS,
                    f"Insufficient funds: {source} has {format(available, 'f')} {currency} available, "
                    f"the transfer needs {format(amount, 'f')}.",
                )
        delay_s = float(self._setting(conn, "settle_delay_s", "0"))  # seconds, not money
        settle_at = now + timedelta(seconds=delay_s) if failure is None and delay_s > 0 else None
        if failure is not None:
            state, code, reason = TransferState.FAILED, failure[0].value, failure[1]
        elif settle_at is not None:
            state, code, reason = TransferState.PENDING, None, None
            self._adjust(conn, source, currency, available=-amount, in_transit=amount)
        else:
            state, code, reason = TransferState.SUCCEEDED, None, None
            self._adjust(conn, source, currency, available=-amount)
            self._adjust(conn, destination, currency, available=amount)
        cursor = conn.execute(
            "INSERT INTO transfers (idempotency_key, from_account, to_account, currency, amount, state, reason, "
            "reason_code, created_at, updated_at, settle_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.idempotency_key,
                source,
                destination,
                currency,
                format(amount, "f"),
                state.value,
                reason,
                code,
                _ts(now),
                _ts(now),
                _ts(settle_at) if settle_at else None,
            ),
        )
        seq = cursor.lastrowid
        assert seq is not None
        return TransferStatus(
            request.idempotency_key, state, reason, f"SIM-{seq:08d}", now, ReasonCode(code) if code else None
        )

    async def transfer_status(self, idempotency_key: str) -> TransferStatus:
        if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise ValueError(f"not an idempotency key: {idempotency_key!r}")
        outcome, status, hang_s = await self._run(self._status, idempotency_key)
        if outcome == "unavailable":
            raise UpstreamUnavailable("The settlement channel is unavailable.")
        if outcome == "timeout":
            await asyncio.sleep(hang_s)
            raise UpstreamTimeout("The settlement channel did not answer the status query in time.")
        assert status is not None
        return status

    def _status(self, conn: sqlite3.Connection, key: str) -> tuple[str, TransferStatus | None, float]:
        now = self._now()
        self._settle_due(conn, now)
        if self._is_down(conn):
            self._log(conn, "status", "unavailable", key, now)
            return "unavailable", None, 0.0
        fault = self._take_fault(conn, "status", "timeout")
        if fault is not None:
            self._log(conn, "status", "timeout", key, now, timed_out=True)
            return "timeout", None, fault.hang_s
        row = self._find(conn, key)
        if row is None:
            self._log(conn, "status", "not_found", key, now)
            return "ok", TransferStatus(key, TransferState.NOT_FOUND, None, None, now), 0.0
        self._log(conn, "status", "ok", key, now)
        return "ok", self._status_of(row[:6]), 0.0

    def open(self) -> None:
        """Create or open the store now rather than on the first call (fails fast on a
        bad path; a server opens its store before it starts listening)."""
        with self._lock:
            self._connect()

    def close(self) -> None:
        """Close the store connection (for owners without an event loop)."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    async def __aenter__(self) -> SimulatedUpstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the bank's side: seeding -----------------------------------------------------------

    async def open_account(self, account_no: str) -> None:
        """Make ``account_no`` known (holding nothing yet)."""
        _check_account(account_no)
        await self._run(lambda conn: self._ensure_account(conn, account_no))

    async def set_balance(self, account_no: str, currency: str, available: Decimal) -> None:
        """Set the available amount (opening the account if need be); in transit is kept."""
        await self.set_balances([(account_no, currency, available)])

    async def set_balances(self, rows: Iterable[tuple[str, str, Decimal]]) -> None:
        """``set_balance`` for many rows in one transaction (seeding 4,000 rows is quick)."""
        rows = list(rows)
        for account_no, currency, available in rows:
            _check_account(account_no)
            _check_currency(currency)
            _check_amount(available, positive=False)

        def apply(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT OR IGNORE INTO accounts (account_no) VALUES (?)", [(r[0],) for r in rows])
            conn.executemany(
                "INSERT INTO balances (account_no, currency, available, in_transit) VALUES (?, ?, ?, '0') "
                "ON CONFLICT (account_no, currency) DO UPDATE SET available = excluded.available",
                [(a, c, format(v, "f")) for a, c, v in rows],
            )

        await self._run(apply)

    async def credit(self, account_no: str, currency: str, amount: Decimal) -> None:
        """A deposit arriving from outside: adds ``amount`` to the available balance."""
        _check_account(account_no)
        _check_currency(currency)
        _check_amount(amount, positive=True)

        def apply(conn: sqlite3.Connection) -> None:
            self._ensure_account(conn, account_no)
            self._adjust(conn, account_no, currency, available=amount)

        await self._run(apply)

    async def set_settle_delay(self, delay: Seconds | timedelta) -> None:
        """Transfers accepted from now on settle after ``delay`` (0: at once)."""
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)  # seconds, not money
        if seconds < 0:
            raise ValueError("the settle delay cannot be negative")
        await self._run(lambda conn: self._put_setting(conn, "settle_delay_s", repr(seconds)))

    # --- the bank's side: failures ------------------------------------------------------------

    async def set_channel_down(self, down: bool = True) -> None:
        """While down, every call raises ``UpstreamUnavailable`` (and nothing is executed)."""
        await self._run(lambda conn: self._put_setting(conn, "channel_down", "1" if down else "0"))

    async def reject_next(self, count: int = 1, reason: str = "Rejected by the settlement channel.") -> None:
        """The next ``count`` new transfers (those that reach the funds check) fail REJECTED."""
        await self._add_fault("submit", "reject", count, reason=reason)

    async def reject_account(self, account_no: str, reason: str | None = "Account blocked by the settlement channel.") -> None:
        """Every new transfer from or to ``account_no`` fails REJECTED with ``reason``;
        ``reason=None`` lifts the block."""
        _check_account(account_no)

        def apply(conn: sqlite3.Connection) -> None:
            self._ensure_account(conn, account_no)
            conn.execute("UPDATE accounts SET rejected_reason = ? WHERE account_no = ?", (reason, account_no))

        await self._run(apply)

    async def inject_timeout(
        self, kind: CallKind, count: int = 1, *, executed: bool = False, hang_s: Seconds = 0.0
    ) -> None:
        """The next ``count`` calls of ``kind`` lose their answer.

        ``balances``/``status`` calls raise ``UpstreamTimeout``.  A ``submit`` returns
        UNKNOWN; with ``executed=True`` the transfer is made first (the answer was lost
        on the way back), otherwise it is never made (lost on the way in).  ``hang_s``
        holds the call that long first, so a client in front of a served simulator
        times out for real."""
        if kind not in CALL_KINDS:
            raise ValueError(f"kind must be one of {CALL_KINDS}, got {kind!r}")
        if hang_s < 0:
            raise ValueError("hang_s cannot be negative")
        await self._add_fault(kind, "timeout", count, executed=executed, hang_s=hang_s)

    async def _add_fault(
        self, kind: str, action: str, count: int, *, reason: str | None = None, executed: bool = False, hang_s: Seconds = 0.0
    ) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO faults (kind, action, remaining, reason, executed, hang_s) VALUES (?, ?, ?, ?, ?, ?)",
                (kind, action, count, reason, int(executed), float(hang_s)),  # seconds, not money
            )
        )

    async def clear_faults(self) -> None:
        """Forget pending injected timeouts and rejections, lift account blocks, channel up."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM faults")
            conn.execute("UPDATE accounts SET rejected_reason = NULL")
            self._put_setting(conn, "channel_down", "0")

        await self._run(apply)

    async def fail_pending(self, idempotency_key: str, reason: str = "Returned by the settlement channel.") -> TransferStatus:
        """Fail a PENDING transfer: its amount goes back from in transit to available."""

        def apply(conn: sqlite3.Connection) -> TransferStatus:
            now = self._now()
            row = self._find(conn, idempotency_key)
            if row is None or row[2] != TransferState.PENDING.value:
                raise ValueError(f"no pending transfer {idempotency_key}")
            amount = Decimal(row[9])
            self._adjust(conn, row[6], row[8], available=amount, in_transit=-amount)
            conn.execute(
                "UPDATE transfers SET state = 'FAILED', reason = ?, reason_code = ?, updated_at = ? WHERE seq = ?",
                (reason, ReasonCode.REJECTED.value, _ts(now), row[0]),
            )
            return self._status_of(self._find(conn, idempotency_key)[:6])  # type: ignore[index]

        return await self._run(apply)

    async def settle_due(self) -> int:
        """Settle every pending transfer due by ``clock.now()``; returns how many."""
        return await self._run(lambda conn: self._settle_due(conn, self._now()))

    # --- the bank's side: reading (not logged as calls) -----------------------------------

    async def balance(self, account_no: str, currency: str) -> UpstreamBalance | None:
        """One balance (after settling what is due), or None if the row does not exist."""

        def read(conn: sqlite3.Connection) -> UpstreamBalance | None:
            now = self._now()
            self._settle_due(conn, now)
            row = conn.execute(
                "SELECT available, in_transit FROM balances WHERE account_no = ? AND currency = ?",
                (account_no, currency),
            ).fetchone()
            return UpstreamBalance.of(account_no, currency, Decimal(row[0]), Decimal(row[1]), now) if row else None

        return await self._run(read)

    async def totals(self) -> dict[str, Decimal]:
        """Per currency, the sum of available + in transit over all accounts: a transfer
        never changes it; only ``set_balance`` and ``credit`` do."""

        def read(conn: sqlite3.Connection) -> dict[str, Decimal]:
            self._settle_due(conn, self._now())
            sums: dict[str, Decimal] = {}
            for currency, available, in_transit in conn.execute("SELECT currency, available, in_transit FROM balances"):
                sums[currency] = EXACT.add(
                    sums.get(currency, Decimal(0)), EXACT.add(Decimal(available), Decimal(in_transit))
                )
            return sums

        return await self._run(read)

    async def transfers(self) -> list[SimulatedTransfer]:
        """Every transfer recorded, in the order received."""

        def read(conn: sqlite3.Connection) -> list[SimulatedTransfer]:
            self._settle_due(conn, self._now())
            rows = conn.execute(
                "SELECT seq, idempotency_key, state, reason, reason_code, updated_at, from_account, to_account, "
                "currency, amount, settle_at FROM transfers ORDER BY seq"
            ).fetchall()
            return [
                SimulatedTransfer(
                    TransferRequest(r[1], r[6], r[7], r[8], Decimal(r[9])),
                    self._status_of(r[:6]),
                    datetime.fromisoformat(r[10]) if r[10] else None,
                )
                for r in rows
            ]

        return await self._run(read)

    async def request_log(self, kind: str | None = None) -> list[RequestLogEntry]:
        """The calls received, oldest first, from every process sharing the store.

        Outcomes: balances ``ok`` / ``unknown_accounts`` / ``timeout`` / ``unavailable``;
        submit ``accepted`` / ``failed`` / ``replayed`` / ``conflict`` /
        ``timeout_before`` (never executed) / ``unavailable`` (``timed_out`` marks an
        executed submit whose answer was lost); status ``ok`` / ``not_found`` /
        ``timeout`` / ``unavailable``."""

        def read(conn: sqlite3.Connection) -> list[RequestLogEntry]:
            sql = "SELECT seq, kind, outcome, detail, timed_out, pid, at FROM request_log"
            params: tuple[Any, ...] = ()
            if kind is not None:
                sql, params = sql + " WHERE kind = ?", (kind,)
            return [
                RequestLogEntry(r[0], r[1], r[2], r[3], bool(r[4]), r[5], datetime.fromisoformat(r[6]))
                for r in conn.execute(sql + " ORDER BY seq", params)
            ]

        return await self._run(read)

    async def request_count(self, kind: str | None = None, *, outcome: str | None = None) -> int:
        """How many calls (of ``kind``, with ``outcome``) the upstream received."""

        def read(conn: sqlite3.Connection) -> int:
            sql = "SELECT count(*) FROM request_log WHERE 1 = 1"
            params: list[Any] = []
            if kind is not None:
                sql += " AND kind = ?"
                params.append(kind)
            if outcome is not None:
                sql += " AND outcome = ?"
                params.append(outcome)
            return int(conn.execute(sql, params).fetchone()[0])

        return await self._run(read)


def _json_list(values: Sequence[str]) -> str:
    return json.dumps(list(values))

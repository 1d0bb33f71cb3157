"""The simulated bank's own side: seeding accounts and balances, injecting failures,
and reading what it holds.  These harness calls are not written to the request log."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from ..clock import Seconds
from .gateway import EXACT, ReasonCode, TransferRequest, TransferState, TransferStatus, UpstreamBalance
from .sim_store import SimulatorStore, check_account, check_amount, check_currency, ts

CallKind = Literal["balances", "submit", "status"]
CALL_KINDS: tuple[str, ...] = ("balances", "submit", "status")


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


class BankSide(SimulatorStore):
    """Seeding, failure injection and inspection of the simulated bank (mixed into
    ``SimulatedUpstream``)."""

    # --- the bank's side: seeding -----------------------------------------------------------

    async def open_account(self, account_no: str) -> None:
        """Make ``account_no`` known (holding nothing yet)."""
        check_account(account_no)
        await self._run(lambda conn: self._ensure_account(conn, account_no))

    async def set_balance(self, account_no: str, currency: str, available: Decimal) -> None:
        """Set the available amount (opening the account if need be); in transit is kept."""
        await self.set_balances([(account_no, currency, available)])

    async def set_balances(self, rows: Iterable[tuple[str, str, Decimal]]) -> None:
        """``set_balance`` for many rows in one transaction (seeding 4,000 rows is quick)."""
        rows = list(rows)
        for account_no, currency, available in rows:
            check_account(account_no)
            check_currency(currency)
            check_amount(available, positive=False)

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
        check_account(account_no)
        check_currency(currency)
        check_amount(amount, positive=True)

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
        check_account(account_no)

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
                (reason, ReasonCode.REJECTED.value, ts(now), row[0]),
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


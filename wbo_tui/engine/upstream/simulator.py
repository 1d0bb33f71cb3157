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
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from .gateway import (
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
from .sim_bank import CALL_KINDS, BankSide, CallKind, RequestLogEntry, SimulatedTransfer
from .sim_store import json_list, ts

__all__ = ["CALL_KINDS", "CallKind", "RequestLogEntry", "SimulatedTransfer", "SimulatedUpstream"]


class SimulatedUpstream(BankSide):
    """The built-in settlement channel (implements ``UpstreamGateway``).

    ``store`` is the SQLite file (created on first use).  ``settle_delay_s``, when given,
    is written to the store on first use; otherwise the store's setting stands (0: settle
    at once).  Safe to share between tasks and threads of one process; other processes
    open their own instance on the same file.
    """

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
        wanted_json = json_list(wanted)
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
                ts(now),
                ts(now),
                ts(settle_at) if settle_at else None,
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

    async def __aenter__(self) -> SimulatedUpstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


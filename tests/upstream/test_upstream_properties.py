"""Money moves only as the model says: a hypothesis state machine drives the simulator
with random transfers (new, replayed, conflicting), settle delays, clock moves and
deposits, and checks every balance against a model after every step.  Transfers never
change the sum per currency; only deposits do."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from upstream_support import START
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.upstream import (
    IdempotencyConflict,
    ReasonCode,
    SimulatedUpstream,
    TransferRequest,
    TransferState,
)

ACCOUNTS = ("A", "B", "C")
CURRENCIES = ("HKD", "BTC")
accounts = st.sampled_from(ACCOUNTS)
currencies = st.sampled_from(CURRENCIES)
# Cents for HKD-like amounts and satoshis for BTC-like ones, as exact Decimals.
amounts = st.one_of(
    st.integers(1, 200_000).map(lambda n: Decimal(n).scaleb(-2)),
    st.integers(1, 10**9).map(lambda n: Decimal(n).scaleb(-8)),
)


@dataclass
class Expected:
    request: TransferRequest
    state: TransferState
    settle_at: datetime | None


class BankMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="upstream-prop-"))
        self.loop = asyncio.new_event_loop()
        self.clock = FixedClock(START)
        self.sim = SimulatedUpstream(self.dir / "bank.sqlite", clock=self.clock)
        self.available = {(a, c): Decimal(0) for a in ACCOUNTS for c in CURRENCIES}
        self.in_transit = {(a, c): Decimal(0) for a in ACCOUNTS for c in CURRENCIES}
        self.deposited = {c: Decimal(0) for c in CURRENCIES}
        self.transfers: dict[str, Expected] = {}
        self.delay_s = 0

    def run(self, coro):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.run(self.sim.aclose())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @initialize(seed=st.lists(st.integers(0, 10**6), min_size=len(ACCOUNTS) * len(CURRENCIES), max_size=len(ACCOUNTS) * len(CURRENCIES)))
    def open_bank(self, seed: list[int]) -> None:
        rows = []
        for (account, currency), units in zip(self.available, seed, strict=True):
            amount = Decimal(units).scaleb(-2)
            rows.append((account, currency, amount))
            self.available[(account, currency)] = amount
            self.deposited[currency] += amount
        self.run(self.sim.set_balances(rows))

    def _settle(self) -> None:
        now = self.clock.now()
        for expected in self.transfers.values():
            if expected.state is TransferState.PENDING and expected.settle_at and expected.settle_at <= now:
                r = expected.request
                self.in_transit[(r.from_account, r.currency)] -= r.amount
                self.available[(r.to_account, r.currency)] += r.amount
                expected.state = TransferState.SUCCEEDED

    @rule(source=accounts, destination=accounts, currency=currencies, amount=amounts)
    def submit_new(self, source: str, destination: str, currency: str, amount: Decimal) -> None:
        if source == destination:
            return
        self._settle()
        key = f"K-{len(self.transfers) + 1}"
        request = TransferRequest(key, source, destination, currency, amount)
        status = self.run(self.sim.submit_transfer(request))
        if self.available[(source, currency)] < amount:
            assert status.state is TransferState.FAILED
            assert status.reason_code is ReasonCode.INSUFFICIENT_FUNDS
            self.transfers[key] = Expected(request, TransferState.FAILED, None)
            return
        self.available[(source, currency)] -= amount
        if self.delay_s:
            assert status.state is TransferState.PENDING
            self.in_transit[(source, currency)] += amount
            settle_at = self.clock.now() + timedelta(seconds=self.delay_s)
            self.transfers[key] = Expected(request, TransferState.PENDING, settle_at)
        else:
            assert status.state is TransferState.SUCCEEDED
            self.available[(destination, currency)] += amount
            self.transfers[key] = Expected(request, TransferState.SUCCEEDED, None)

    @precondition(lambda self: self.transfers)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        expected = self.transfers[data.draw(st.sampled_from(sorted(self.transfers)))]
        self._settle()
        status = self.run(self.sim.submit_transfer(expected.request))
        assert status.state is expected.state

    @precondition(lambda self: self.transfers)
    @rule(data=st.data(), extra=amounts)
    def conflicting_replay(self, data: st.DataObject, extra: Decimal) -> None:
        r = self.transfers[data.draw(st.sampled_from(sorted(self.transfers)))].request
        other = TransferRequest(r.idempotency_key, r.from_account, r.to_account, r.currency, r.amount + extra)
        with pytest.raises(IdempotencyConflict):
            self.run(self.sim.submit_transfer(other))

    @rule(seconds=st.sampled_from([0, 30, 90]))
    def set_delay(self, seconds: int) -> None:
        self.delay_s = seconds
        self.run(self.sim.set_settle_delay(seconds))

    @rule(seconds=st.integers(1, 120))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)
        self._settle()

    @rule(account=accounts, currency=currencies, amount=amounts)
    def deposit(self, account: str, currency: str, amount: Decimal) -> None:
        self.run(self.sim.credit(account, currency, amount))
        self.available[(account, currency)] += amount
        self.deposited[currency] += amount

    @invariant()
    def balances_match_the_model(self) -> None:
        self._settle()
        balances = self.run(self.sim.fetch_balances(ACCOUNTS))
        seen = {(b.account_no, b.currency): (b.available, b.in_transit) for b in balances}
        assert seen == {k: (self.available[k], self.in_transit[k]) for k in self.available}
        assert all(b.available >= 0 and b.in_transit >= 0 for b in balances)

    @invariant()
    def transfers_conserve_money(self) -> None:
        assert self.run(self.sim.totals()) == self.deposited


BankMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestBankMachine = BankMachine.TestCase

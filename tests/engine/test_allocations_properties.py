"""A hypothesis state machine over the allocation engine: random sequences of deposits,
withdrawals, rule fires (events and a daily schedule), manual allocations, approvals,
rejections, retries and channel failures.  After every step: money per currency is
conserved at the bank (only the test's own deposits and withdrawals change the totals),
and every allocation executed at most once — checked against the bank's own ledger."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from allocations_support import (
    POOL_NO,
    account_numbers,
    allocation_rows,
    check_exactly_once,
    create_rule,
    open_allocation_desk,
)
from engine_support import DEMO_DATA, START, login
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from positions_support import CHANNEL

from wbo_tui.engine import ApproveItem, Engine, FixedClock, RejectItem, SessionInfo, seed
from wbo_tui.engine.allocations import CreateManualAllocation, RetryAllocation
from wbo_tui.engine.allocations.tables import STATUSES
from wbo_tui.engine.errors import WboError
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.positions import InsufficientOutgoingBalance, SubmitWithdrawal
from wbo_tui.engine.upstream.gateway import TransferState
from wbo_tui.engine.upstream.simulator import SimulatedUpstream

_T = TypeVar("_T")
HKD_ACCOUNTS = (POOL_NO, "HK-PRIN-001", "HK-FEE-001", "HK-DEP-001")
AMOUNTS = st.sampled_from([Decimal("0.01"), Decimal("25"), Decimal("480.50"), Decimal("5000"), Decimal("2000000")])
FAULTS = ("submit_lost_before", "submit_lost_after", "status_lost", "reject_next", "channel_down", "channel_up")
STEPS = st.sampled_from([1, 6, 31, 3 * 3600, 20 * 3600])  # seconds: recheck, lease, hours, a day


@dataclass(frozen=True)
class Prepared:
    """A seeded database and bank store with the desk and three rules, copied per example."""

    template: Path
    template_store: Path
    db: Path
    store: Path  # the path the channel's configuration names
    maker: SessionInfo
    checker: SessionInfo
    accounts: dict[str, int]


async def _prepare(root: Path, sqlite_template: Path) -> Prepared:
    template, db, store = root / "prepared.db", root / "example.db", root / "bank.sqlite"
    shutil.copyfile(sqlite_template, template)
    engine = await Engine.open(f"sqlite:///{template}", clock=FixedClock(START), hasher=fast_hasher())
    try:
        await seed.seed(engine, seed.load(DEMO_DATA))
        desk = await open_allocation_desk(engine, store)
        fee = desk.accounts["hkd_fee"]
        await create_rule(desk)  # withdrawal principal → top up from the pool, at once
        await create_rule(desk, name="Fee float (work order)", to_account_id=fee, scenario="withdrawal_fee",
                          event_kind="withdrawal.submitted.fee", audit_strategy="work_order")
        await create_rule(desk, name="Daily fee float", to_account_id=fee, scenario="withdrawal_fee",
                          trigger_kind="schedule", event_kind=None, schedule_kind="daily", schedule_time="09:00",
                          amount_rule="fixed", amount=Decimal("300"))
        maker, checker = (await login(engine, "maker")), (await login(engine, "checker"))
        await desk.bank.aclose()
    finally:
        await engine.close()
    template_store = root / "prepared_bank.sqlite"
    _restore(store, template_store)
    return Prepared(template, template_store, db, store, maker, checker, desk.accounts)


def _restore(source: Path, target: Path) -> None:
    """Copy a SQLite database with SQLite's backup API: consistent with its WAL, and safe
    while an earlier example's gateway still holds a connection to ``target``."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


class AllocationMachine(RuleBasedStateMachine):
    prepared: Prepared
    visited: Counter[str] = Counter()  # allocation statuses seen, over every example

    def __init__(self) -> None:
        super().__init__()
        p = self.prepared
        _restore(p.template, p.db)
        _restore(p.template_store, p.store)
        self.loop = asyncio.new_event_loop()
        self.clock = FixedClock(START)
        self.engine = self.run(Engine.open(f"sqlite:///{p.db}", clock=self.clock, hasher=fast_hasher()))
        self.bank = SimulatedUpstream(p.store, clock=self.clock)
        self.expected = self.run(self.bank.totals())
        self.accounts = self.run(account_numbers(self.engine))
        self.maker, self.checker = p.maker, p.checker
        self.outcomes: dict[str, TransferState] = {}  # idempotency key → its final state at the bank
        self.withdrawals = 0

    def run(self, work: Coroutine[Any, Any, _T]) -> _T:
        return self.loop.run_until_complete(work)

    async def _pick(self, status: str, index: int) -> Any | None:
        rows = [r for r in await allocation_rows(self.engine) if r.status == status]
        return rows[index % len(rows)] if rows else None

    # --- money arriving and leaving from outside ---------------------------------------

    @rule(account=st.sampled_from(HKD_ACCOUNTS), amount=AMOUNTS)
    def deposit(self, account: str, amount: Decimal) -> None:
        self.run(self.bank.credit(account, "HKD", amount))
        self.expected["HKD"] += amount

    @rule(account=st.sampled_from(HKD_ACCOUNTS), amount=AMOUNTS)
    def payout(self, account: str, amount: Decimal) -> None:
        """Money paid out of an account to the outside (a client's withdrawal paid)."""
        held = self.run(self.bank.balance(account, "HKD"))
        if held is not None and held.available >= amount:
            self.run(self.bank.set_balance(account, "HKD", held.available - amount))
            self.expected["HKD"] -= amount

    @rule(account=st.sampled_from(HKD_ACCOUNTS))
    def paid_out_in_full(self, account: str) -> None:
        """Everything in an account paid out at the bank since the last poll: an approval
        judged on the polled balance then fails at the channel (approvals count what this
        console committed, not what left the account behind its back)."""
        held = self.run(self.bank.balance(account, "HKD"))
        if held is not None and held.available > 0:
            self.run(self.bank.set_balance(account, "HKD", Decimal(0)))
            self.expected["HKD"] -= held.available

    @rule(principal=AMOUNTS, fee=st.sampled_from([Decimal(0), Decimal("12.50")]))
    def withdrawal_submitted(self, principal: Decimal, fee: Decimal) -> None:
        self.withdrawals += 1
        try:
            self.run(self.engine.execute(self.maker, SubmitWithdrawal(
                client_id=f"C-{self.withdrawals}", channel=CHANNEL, currency="HKD", principal=principal, fee=fee)))
        except WboError:
            pass  # refused (e.g. over the client's limits): nothing to allocate

    # --- the engine --------------------------------------------------------------------

    @rule()
    def allocation_pass(self) -> None:
        self.run(self.engine.run_allocations())

    @rule(seconds=STEPS)
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(seconds=seconds)
        if self.clock.now() >= self.maker.expires_at - timedelta(hours=1):
            # A new shift: sessions last twelve hours, this machine's days run longer.
            self.maker, self.checker = self.run(login(self.engine, "maker")), self.run(login(self.engine, "checker"))

    @rule(source=st.sampled_from(("hkd_pool", "hkd_principal", "hkd_fee")),
          receiver=st.sampled_from(("hkd_fee", "hkd_deposit", "hkd_principal")), amount=AMOUNTS)
    def manual_allocation(self, source: str, receiver: str, amount: Decimal) -> None:
        if source == receiver:
            return
        accounts = self.prepared.accounts
        self.run(self.engine.execute(self.maker, CreateManualAllocation(
            from_account_id=accounts[source], to_account_id=accounts[receiver], currency="HKD", amount=amount,
            remarks="state machine")))

    @rule(index=st.integers(0, 20), approve=st.booleans())
    def decide(self, index: int, approve: bool) -> None:
        row = self.run(self._pick("pending_approval", index))
        if row is None:
            return
        command = ApproveItem(approval_id=row.approval_id) if approve else RejectItem(
            approval_id=row.approval_id, reason="Not this one")
        try:
            self.run(self.engine.execute(self.checker, command))
            refused = False
        except InsufficientOutgoingBalance:  # not covered on top of what is committed: stays pending
            refused = True
        status = next(r.status for r in self.run(allocation_rows(self.engine)) if r.id == row.id)
        if refused:
            assert approve and status == "pending_approval", (row.order_no, status)
            return
        assert status != "pending_approval" and (approve or status == "rejected"), (row.order_no, status)

    @rule(index=st.integers(0, 20))
    def approve_while_the_channel_is_down(self, index: int) -> None:
        """An approval whose transfer cannot reach the channel: the allocation stays
        processing, with its error and back-off, until the channel answers again."""
        row = self.run(self._pick("pending_approval", index))
        if row is None:
            return
        self.run(self.bank.set_channel_down(True))
        try:
            self.run(self.engine.execute(self.checker, ApproveItem(approval_id=row.approval_id)))
        except InsufficientOutgoingBalance:
            return
        status = next(r.status for r in self.run(allocation_rows(self.engine)) if r.id == row.id)
        assert status == "processing", (row.order_no, status)

    @rule(index=st.integers(0, 20))
    def retry(self, index: int) -> None:
        row = self.run(self._pick("failed", index))
        if row is not None:
            try:
                self.run(self.engine.execute(self.maker, RetryAllocation(order_no=row.order_no)))
            except InsufficientOutgoingBalance:
                pass  # not covered on top of what is committed: it stays failed

    @rule(fault=st.sampled_from(FAULTS))
    def channel_fault(self, fault: str) -> None:
        bank = self.bank
        self.run({
            "submit_lost_before": lambda: bank.inject_timeout("submit", executed=False),
            "submit_lost_after": lambda: bank.inject_timeout("submit", executed=True),
            "status_lost": lambda: bank.inject_timeout("status"),
            "reject_next": lambda: bank.reject_next(),
            "channel_down": lambda: bank.set_channel_down(True),
            "channel_up": lambda: bank.set_channel_down(False),
        }[fault]())

    # --- what must hold after every step -----------------------------------------------

    @invariant()
    def money_is_conserved(self) -> None:
        assert self.run(self.bank.totals()) == self.expected

    @invariant()
    def nothing_executes_twice(self) -> None:
        self.check(settled=False)

    def check(self, *, settled: bool) -> None:
        transfers = self.run(self.bank.transfers())
        rows = self.run(allocation_rows(self.engine))
        check_exactly_once(rows, transfers, self.accounts, settled=settled)
        self.visited.update({r.status for r in rows})
        for transfer in transfers:
            key, state = transfer.request.idempotency_key, transfer.status.state
            assert self.outcomes.setdefault(key, state) == state, f"{key} changed its outcome to {state}"
        assert self.run(self.bank.request_count("submit", outcome="conflict")) == 0

    def teardown(self) -> None:
        """Faults end and time passes: every allocation ends succeeded or failed, once."""
        try:
            self.run(self.bank.clear_faults())
            for _ in range(10):
                self.clock.advance(seconds=31)
                self.run(self.engine.run_allocations())
            self.check(settled=True)
            assert self.run(self.bank.totals()) == self.expected
        finally:
            self.run(self.bank.aclose())
            self.run(self.engine.close())
            self.loop.close()


@pytest.mark.slow
def test_allocation_engine_conserves_money_and_executes_once(sqlite_template: Path, tmp_path: Path) -> None:
    AllocationMachine.prepared = asyncio.run(_prepare(tmp_path, sqlite_template))
    run_state_machine_as_test(AllocationMachine, settings=settings(
        max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow],
        # The same examples every run: the coverage check below must not depend on luck,
        # and a failure replays exactly.
        derandomize=True,
    ))
    # The runs went through every status, the lost answers (unknown) included.
    assert set(AllocationMachine.visited) == set(STATUSES), AllocationMachine.visited

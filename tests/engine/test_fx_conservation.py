"""A hypothesis state machine over the currency-exchange engine: random sequences of client
exchanges submitted (on the pool and at the bank channels; many are refused, which is
fine), reviews by two checkers (approve, reject, and review again), cancels, passes that
drive the bank channel orders, channel faults (a failed order, a lost answer to a submit
or to a status query, the channel down, fills that take a while), time passing (orders
stall into exceptions), and exception handling (mark successful at a rate, re-exchange on
a channel, mark failed) applied by the desk and reviewed by a checker, one by one or in
a batch.  The machine acts through ``Engine.execute`` / ``Engine.query`` and the engine's
own pass (``channel_execution.drive_due``) only; SQL is used to observe.

What is conserved, after every step (``check_books``), per currency ``c``:

    Σ client exchange movements in c           (exchange_out −from, exchange_in +to)
  + Σ pool ledger movements in c from exchanges (AUTO rows: EXCHANGE_IN +from, EXCHANGE_OUT −to)
  + Σ channel flows in c of the SUCCEEDED channel orders (+from_amount paid to the bank in
                                               the source currency, −to_amount the bank paid
                                               in the target currency)
  + Σ recorded profit and loss in c of the bank exchanges (fx_profit_loss.profit_loss, in
                                               the target currency: what the broker kept)
  = 0

i.e. a pool exchange's client −source +target mirrors the pool's +source −target, and a
bank exchange's client movements are the channel's amounts less the P&L the broker keeps
(client target = channel to_amount − profit_loss).  A pool exchange's P&L row (where the
engine writes one) values the markup against the reference rate; the money itself is in
the pool ledger, so that row is checked for consistency (client amount, channel amount −
client amount) but is not a flow in the sum.  Opening balances and manual pool
adjustments are outside exchanges and are not in the sum.  Per exchange, more precisely:

- exactly one hold on the client's source currency for the exchange's source amount,
  HELD while the exchange is submitted/processing/unknown, POSTED when it succeeded,
  VOIDED when it was rejected, cancelled or failed; once POSTED or VOIDED a hold never
  changes again (the machine remembers every hold's first settlement);
- a succeeded exchange has exactly one debit (exchange_out) and one credit (exchange_in),
  one ``fx.exchange.settle`` audit record, and (bank) exactly one SUCCEEDED channel order
  and one P&L row that match it; anything else has no movement, no settle record, no
  P&L and no succeeded channel order; an exchange once final never changes status;
- a pool exchange moves the pool (both sides) exactly when it succeeds and has no channel
  order; a bank exchange never moves the pool; a bank exchange still processing or
  unknown has exactly one live channel order (open, or failed awaiting exception
  handling): none is stranded, none is doubled;
- at most one review decision record per exchange;
- every client's balance follows its movements (``balance_after`` chain), and per client
  and currency the withdrawable balance (balance − HELD holds) is never negative; the
  pool ledger's before/after chain matches the quotas, never below zero;
- against the simulated bank: the bank holds only orders the engine wrote, each order id
  once, never a conflicting resubmission; an order the engine settled from the bank's
  answer matches the bank's executed amount, and an order the engine recorded FAILED
  from the bank's answer failed at the bank.

At the end of each example the faults stop, time passes, every exception is handled and
reviewed, and nothing is left processing or unknown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from engine_support import DEMO_DATA, REPO, login, new_operator
from hypothesis import HealthCheck, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from wbo_tui.engine import Engine, FixedClock, SequentialIds, SessionInfo, seed
from wbo_tui.engine.errors import Conflict, WboError
from wbo_tui.engine.fx import (
    ApplyExceptionHandling,
    CancelClientExchange,
    ListClients,
    ListExceptionRecords,
    ReviewClientExchange,
    ReviewExceptionHandling,
    SubmitClientExchange,
)
from wbo_tui.engine.fx.bank import SimulatedBankChannel
from wbo_tui.engine.fx.channel_execution import drive_due
from wbo_tui.engine.fx.channel_tables import fx_channel_orders, fx_profit_loss
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.fx.tables import (
    client_cash_holds,
    client_cash_movements,
    fx_exchanges,
    fx_pool_ledger,
    fx_pool_quotas,
)
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.schema import audit_log

_T = TypeVar("_T")
ZERO = Decimal(0)
MONDAY_10_HKT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # the pool, HSB and ICBCASIA all in service
BANK_STORE = "wbo-demo-fx-bank.sqlite"  # the name demo_fx.json gives the simulated bank's store
DESK = ("fx.customer_exchange_operation", "fx.customer_exchange_inquiry", "fx.client_inquiry",
        "lb_hk_conversion.exchange_pool_query", "fx.exchange_exception_operation")
CHECKER = ("fx.customer_exchange_approval", "fx.customer_exchange_inquiry")
ACCOUNTS = ("C-100001", "C-100002", "M-200001", "M-200002")

HOLD_STATUS = {"SUBMITTED": "HELD", "PROCESSING": "HELD", "UNKNOWN": "HELD", "SUCCEEDED": "POSTED",
               "FAILED": "VOIDED", "REJECTED": "VOIDED", "CANCELLED": "VOIDED"}
FINAL = ("SUCCEEDED", "FAILED", "REJECTED", "CANCELLED")
OPEN_ORDER = ("PENDING_SEND", "PROCESSING", "UNKNOWN")


# --- reading the books (shared with the process tests) ----------------------------------


@dataclass
class Books:
    exchanges: list[Any]
    movements: list[Any]
    holds: list[Any]
    pool: list[Any]
    quotas: list[Any]
    orders: list[Any]
    pnl: list[Any]
    audit: Counter[tuple[str, str]]  # (action, target_id) → records


async def read_books(engine: Engine) -> Books:
    """Every row the checks need, in one read transaction (consistent on both backends)."""
    async with engine.db.connect() as conn, conn.begin():
        async def rows(table: Any) -> list[Any]:  # noqa: ANN401
            return list(await conn.execute(select(table).order_by(*table.primary_key.columns)))

        audit = Counter((r.action, r.target_id) for r in await conn.execute(
            select(audit_log.c.action, audit_log.c.target_id).where(audit_log.c.action.like("fx.%"))))
        return Books(await rows(fx_exchanges), await rows(client_cash_movements), await rows(client_cash_holds),
                     await rows(fx_pool_ledger), await rows(fx_pool_quotas), await rows(fx_channel_orders),
                     await rows(fx_profit_loss), audit)


def _ledgers(b: Books) -> None:
    """Balances follow their movements; withdrawable never negative; pool chain intact."""
    balance: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for m in b.movements:
        key = (m.client_id, m.currency)
        balance[key] += m.amount
        assert m.balance_after == balance[key], f"movement {m.id}: balance_after {m.balance_after} ≠ {balance[key]}"
    held: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for h in b.holds:
        assert h.status in ("HELD", "POSTED", "VOIDED"), h
        if h.status == "HELD":
            held[(h.client_id, h.currency)] += h.amount
    for key in set(balance) | set(held):
        assert balance[key] >= 0, f"client {key}: balance {balance[key]} below zero"
        assert balance[key] - held[key] >= 0, f"client {key}: withdrawable {balance[key] - held[key]} below zero"
    remaining: dict[str, Decimal] = defaultdict(Decimal)
    for p in b.pool:
        assert p.before_occurred == remaining[p.currency], f"pool row {p.id}: before {p.before_occurred}"
        assert p.after_occurred == p.before_occurred + p.occurred_amount, f"pool row {p.id}"
        remaining[p.currency] = p.after_occurred
    for q in b.quotas:
        assert q.remaining_amount == remaining[q.currency] >= 0, (q.currency, q.remaining_amount, remaining)


def _exchange(e: Any, b: Books, holds: dict[str, list[Any]], moves: dict[str, list[Any]],  # noqa: ANN401
              pool: dict[str, list[Any]], orders: dict[str, list[Any]], pnl: dict[str, Any]) -> None:
    ref, settled = e.forex_id, e.forex_status == "SUCCEEDED"
    its_holds = holds.pop(ref, [])
    assert len(its_holds) == 1, f"{ref}: {len(its_holds)} holds"
    hold = its_holds[0]
    assert (hold.client_id, hold.currency, hold.amount) == (e.client_id, e.from_currency, e.from_amount), ref
    assert hold.status == HOLD_STATUS[e.forex_status], f"{ref} is {e.forex_status} but its hold is {hold.status}"
    assert (hold.settled_at is None) == (hold.status == "HELD"), ref
    got = sorted((m.kind, m.currency, m.amount) for m in moves.pop(ref, []))
    want = sorted([("exchange_out", e.from_currency, -e.from_amount),
                   ("exchange_in", e.to_currency, e.to_amount)]) if settled else []
    assert got == want, f"{ref} ({e.forex_status}): client movements {got}, expected {want}"
    assert b.audit[("fx.exchange.settle", ref)] == (1 if settled else 0), f"{ref}: settle records"
    decisions = b.audit[("fx.exchange.approve", ref)] + b.audit[("fx.exchange.reject", ref)]
    assert decisions == (1 if e.audit_status in ("APPROVED", "REJECTED") else 0), f"{ref}: {decisions} decisions"
    assert b.audit[("fx.exchange.cancel", ref)] == (1 if e.forex_status == "CANCELLED" else 0), ref
    its_pool = sorted((p.currency, p.change_type, p.occurred_amount) for p in pool.pop(ref, []))
    its_orders = orders.pop(ref, [])
    its_pnl = pnl.pop(ref, None)
    if e.service_strategy == "BATCH":
        want_pool = sorted([(e.from_currency, "EXCHANGE_IN", e.from_amount),
                            (e.to_currency, "EXCHANGE_OUT", -e.to_amount)]) if settled else []
        assert its_pool == want_pool, f"{ref}: pool movements {its_pool}, expected {want_pool}"
        assert not its_orders, f"{ref}: a pool exchange with channel orders"
        if its_pnl is not None:  # the pool's P&L measures the markup; the pool ledger holds the money
            assert settled, f"{ref}: P&L without settling"
            assert (its_pnl.client_ordid, its_pnl.currency, its_pnl.user_amount) == (None, e.to_currency,
                                                                                    e.to_amount), ref
            assert its_pnl.profit_loss == its_pnl.channel_amount - e.to_amount, ref
        return
    assert not its_pool, f"{ref}: a bank exchange moved the pool"
    succeeded = [o for o in its_orders if o.channel_status == "SUCCEEDED"]
    live = [o for o in its_orders if o.channel_status in OPEN_ORDER or (o.channel_status == "FAILED" and o.abnormal)]
    assert len(succeeded) == (1 if settled else 0), f"{ref} ({e.forex_status}): {len(succeeded)} succeeded orders"
    if e.forex_status in ("PROCESSING", "UNKNOWN"):
        assert len(live) == 1, f"{ref} ({e.forex_status}): live channel orders {[o.order_no for o in live]}"
    else:
        assert not live, f"{ref} ({e.forex_status}) still has live channel orders"
    if e.forex_status in ("SUBMITTED", "REJECTED", "CANCELLED"):
        assert not its_orders, f"{ref}: never executed, yet has channel orders"
    for o in its_orders:
        assert (o.from_currency, o.from_amount, o.to_currency) == (e.from_currency, e.from_amount, e.to_currency)
    if not settled:
        assert its_pnl is None, f"{ref}: P&L without settling"
        return
    order = succeeded[0]
    assert its_pnl is not None, f"{ref}: settled without P&L"
    assert (its_pnl.client_ordid, its_pnl.currency) == (order.order_no, e.to_currency), ref
    assert (its_pnl.user_amount, its_pnl.channel_amount) == (e.to_amount, order.to_amount), ref
    assert its_pnl.profit_loss == order.to_amount - e.to_amount, ref


def check_books(b: Books) -> dict[str, Decimal]:
    """Assert every invariant of the module docstring; the per-currency sums (all zero)."""
    _ledgers(b)
    holds: dict[str, list[Any]] = defaultdict(list)
    for h in b.holds:
        if h.purpose == "exchange":
            holds[h.ref].append(h)
    moves: dict[str, list[Any]] = defaultdict(list)
    for m in b.movements:
        if m.kind in ("exchange_out", "exchange_in"):
            moves[m.ref].append(m)
    pool: dict[str, list[Any]] = defaultdict(list)
    for p in b.pool:
        if p.occurred_from == "AUTO":
            pool[p.order_no].append(p)
    orders: dict[str, list[Any]] = defaultdict(list)
    for o in b.orders:
        orders[o.forex_id].append(o)
    pnl = {r.forex_id: r for r in b.pnl}
    for e in b.exchanges:
        _exchange(e, b, holds, moves, pool, orders, pnl)
    # Nothing left over that no exchange accounts for.
    assert not holds and not moves and not pool and not orders and not pnl, (holds, moves, pool, orders, pnl)

    total: dict[str, Decimal] = defaultdict(Decimal)
    for m in b.movements:
        if m.kind in ("exchange_out", "exchange_in"):
            total[m.currency] += m.amount
    for p in b.pool:
        if p.occurred_from == "AUTO":
            total[p.currency] += p.occurred_amount
    for o in b.orders:
        if o.channel_status == "SUCCEEDED":
            total[o.from_currency] += o.from_amount
            total[o.to_currency] -= o.to_amount
    for r in b.pnl:
        if r.client_ordid is not None:  # a bank exchange's: what the broker kept of the channel's amount
            total[r.currency] += r.profit_loss
    assert all(v == 0 for v in total.values()), f"money not conserved per currency: {dict(total)}"
    return dict(total)


async def check_against_bank(b: Books, bank: SimulatedBankChannel) -> Counter[str]:
    """The engine's channel orders against what the simulated bank holds; counts of how the
    bank's executed orders stand in the engine (for the report)."""
    held = {o.order.order_id: o for o in await bank.orders()}
    ours = {o.order_no: o for o in b.orders}
    assert set(held) <= set(ours), f"the bank holds orders the engine never wrote: {set(held) - set(ours)}"
    assert await bank.received(outcome="conflict") == 0, "an order id was reused with other fields"
    seen: Counter[str] = Counter()
    for order_no, o in ours.items():
        at_bank = held.get(order_no)
        manual = o.apply_status == "APPROVED"
        if o.channel_status == "SUCCEEDED" and not manual:
            assert at_bank is not None and at_bank.state.status == "SUCCEEDED", order_no
            assert (at_bank.state.to_amount, at_bank.state.channel_rate) == (o.to_amount, o.channel_rate), order_no
        if o.channel_status == "FAILED" and o.abnormal:
            assert at_bank is not None and at_bank.state.status == "FAILED", order_no
        if at_bank is not None and at_bank.state.status == "SUCCEEDED" and o.channel_status != "SUCCEEDED":
            # The bank executed it and the engine has not (yet) settled on that answer:
            # still in flight, or closed by a reviewed exception handling.
            assert o.channel_status in OPEN_ORDER or manual, (order_no, o.channel_status)
            seen["bank executed, engine in flight" if not manual else "bank executed, operator closed"] += 1
            if manual and o.apply_type != "SUCCESS_APPLY":
                seen[f"bank executed, operator applied {o.apply_type}"] += 1  # the xfail test below
    return seen


# --- the machine --------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    template: Path
    template_store: Path
    db: Path
    store: Path
    maker: SessionInfo
    checkers: tuple[SessionInfo, SessionInfo]
    clients: dict[str, int]


def _restore(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


async def _prepare(root: Path, sqlite_template: Path) -> Prepared:
    template, db, store = root / "prepared.db", root / "example.db", root / BANK_STORE
    shutil.copyfile(sqlite_template, template)
    clock = FixedClock(MONDAY_10_HKT)
    engine = await Engine.open(f"sqlite:///{template}", clock=clock, ids=SequentialIds(), hasher=fast_hasher())
    try:
        await seed.seed(engine, seed.load(DEMO_DATA))
        await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup", root)
        admin = await login(engine, "admin")
        maker = await new_operator(engine, admin, "fxdesk", DESK)
        checkers = (await new_operator(engine, admin, "fxcheck1", CHECKER),
                    await new_operator(engine, admin, "fxcheck2", CHECKER))
        clients = {a: (await engine.query(maker, ListClients(search=a)))[0].id for a in ACCOUNTS}
    finally:
        await engine.close()
    template_store = root / "prepared-bank.sqlite"
    _restore(store, template_store)
    return Prepared(template, template_store, db, store, maker, checkers, clients)


class _Errors(logging.Handler):
    """Errors the engine logged (an after-commit send or a pass item that blew up)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


PAIRS = st.sampled_from([("USD", "HKD"), ("HKD", "USD"), ("USD", "CNH"), ("CNH", "HKD"), ("HKD", "CNH"),
                         ("CNH", "USD"), ("EUR", "USD"), ("USD", "EUR"), ("EUR", "HKD")])
# Small (the pool, or HSB beyond it), reviewed at HSB's approval point, large (ICBCASIA,
# always reviewed), and more than anyone holds.
AMOUNTS = st.sampled_from(["50", "1000", "30000", "30000", "120000", "2000000"])
FAULTS = ("fail_next", "submit_answer_lost", "query_answer_lost", "down", "up", "slow_fills", "quick_fills")
STEPS_S = st.sampled_from([0, 6, 60, 1860])  # seconds: none, past a recheck, a minute, past stalling
INDEX = st.integers(0, 30)
# The examples are drawn from this seed (the same every run, so CI is stable and a failure
# replays); WBO_FX_SEED picks others.
DEFAULT_SEED = 20261123
SEED = int(os.environ.get("WBO_FX_SEED", DEFAULT_SEED))


@hypothesis_seed(SEED)
class ExchangeMachine(RuleBasedStateMachine):
    prepared: Prepared
    visited: Counter[str] = Counter()  # what the examples reached, over all of them

    def __init__(self) -> None:
        super().__init__()
        p = self.prepared
        _restore(p.template, p.db)
        _restore(p.template_store, p.store)
        self.loop = asyncio.new_event_loop()
        self.clock = FixedClock(MONDAY_10_HKT)
        self.engine = self.run(Engine.open(f"sqlite:///{p.db}", clock=self.clock, ids=SequentialIds(100),
                                           hasher=fast_hasher()))
        self.bank = SimulatedBankChannel(str(p.store), clock=self.clock)
        self.maker, self.checkers = p.maker, p.checkers
        self.settled_holds: dict[int, tuple[str, Any]] = {}  # hold id → its first POSTED/VOIDED and when
        self.final: dict[str, str] = {}  # forex id → its final status
        self.errors = _Errors()
        self.visited["examples"] += 1
        logging.getLogger("wbo_tui").addHandler(self.errors)

    def run(self, work: Coroutine[Any, Any, _T]) -> _T:
        return self.loop.run_until_complete(work)

    def execute(self, who: SessionInfo, command: Any) -> Any:  # noqa: ANN401
        return self.run(self.engine.execute(who, command))

    def exchanges(self) -> list[Any]:
        return self.run(read_books(self.engine)).exchanges

    # --- the desk -----------------------------------------------------------------------

    @rule(account=st.sampled_from(ACCOUNTS + ("M-200001", "M-200002")), pair=PAIRS, amount=AMOUNTS,
          side=st.sampled_from(["FROM", "TO"]))
    def submit(self, account: str, pair: tuple[str, str], amount: str, side: str) -> None:
        try:
            done = self.execute(self.maker, SubmitClientExchange(
                client_id=self.prepared.clients[account], from_currency=pair[0], to_currency=pair[1],
                amount=amount, fixed_side=side))
        except WboError as refused:  # the vendor's checks, or more than the client holds
            self.visited[f"submit refused: {type(refused).__name__}"] += 1
            return
        self.visited[f"submitted {done.service_strategy} {done.forex_status}"] += 1

    @rule(index=INDEX, approve=st.booleans(), second=st.booleans(), pending_only=st.booleans())
    def review(self, index: int, approve: bool, second: bool, pending_only: bool) -> None:
        rows = [e for e in self.exchanges() if e.audit_status == "PENDING" or not pending_only]
        if not rows:
            return
        e = rows[index % len(rows)]
        command = ReviewClientExchange(exchange_id=e.id, approve=approve, audit_remark="" if approve else "no")
        awaits = e.audit_status == "PENDING" and e.forex_status == "SUBMITTED"
        try:
            self.execute(self.checkers[second], command)
        except Conflict as refused:
            assert not awaits, f"{e.forex_id} awaited review but was refused: {refused}"
            assert "no longer awaits review" in str(refused)
            self.visited["review refused"] += 1
            return
        assert awaits, f"{e.forex_id} ({e.forex_status}, review {e.audit_status}) was reviewed again"
        self.visited["approved" if approve else "rejected"] += 1

    @rule(index=INDEX, submitted_only=st.booleans())
    def cancel(self, index: int, submitted_only: bool) -> None:
        rows = [e for e in self.exchanges() if e.forex_status == "SUBMITTED" or not submitted_only]
        if not rows:
            return
        e = rows[index % len(rows)]
        try:
            self.execute(self.maker, CancelClientExchange(exchange_id=e.id, reason="client changed their mind"))
        except Conflict as refused:
            assert e.forex_status != "SUBMITTED", f"{e.forex_id} could not be cancelled: {refused}"
            self.visited["cancel refused"] += 1
            return
        assert e.forex_status == "SUBMITTED", f"{e.forex_id} was cancelled from {e.forex_status}"
        self.visited["cancelled"] += 1

    # --- the channel, its faults and time ----------------------------------------------

    @rule(fault=st.sampled_from((None, *FAULTS)), seconds=STEPS_S)
    def channel_pass(self, fault: str | None, seconds: int) -> None:
        """A fault arranged at the bank (it meets the next send or query, this pass's or a
        later submission's), time passing, then a pass over the due channel orders."""
        bank = self.bank
        if fault is not None:
            self.visited[f"fault {fault}"] += 1
            self.run({
                "fail_next": lambda: bank.fail_next(1, "insufficient liquidity"),
                "submit_answer_lost": lambda: bank.timeout_next(1, "submit"),
                "query_answer_lost": lambda: bank.timeout_next(1, "query"),
                "down": lambda: bank.down(True),
                "up": lambda: bank.down(False),
                "slow_fills": lambda: bank.set_fill_delay(20),
                "quick_fills": lambda: bank.set_fill_delay(0),
            }[fault]())
        self.clock.advance(seconds=seconds)
        run = self.run(drive_due(self.engine))
        assert not run.failures, run.failures

    # --- exception exchange records -----------------------------------------------------

    @rule(index=INDEX, apply_type=st.sampled_from(["SUCCESS_APPLY", "FAILURE_APPLY", "RETRY_APPLY"]),
          rate=st.sampled_from(["7.8110", "0.1399", "1.0850"]),
          channel=st.sampled_from([None, "HSB", "ICBCASIA", "CIBC"]))
    def apply_handling(self, index: int, apply_type: str, rate: str, channel: str | None) -> None:
        records = self.run(self.engine.query(self.maker, ListExceptionRecords()))
        if not records:
            return
        if apply_type != "SUCCESS_APPLY" and index % 3:
            # A desk fails or re-sends what the bank failed; now and then it tries an unknown one.
            records = [r for r in records if r.channel_status == "FAILED"] or records
        r = records[index % len(records)]
        try:
            self.execute(self.maker, ApplyExceptionHandling(
                order_no=r.order_no, apply_type=apply_type,
                apply_channel_rate=rate if apply_type == "SUCCESS_APPLY" else None,
                apply_channel_name=channel if apply_type == "RETRY_APPLY" else None, apply_remark="state machine"))
        except Conflict as refused:
            if r.apply_status != "PENDING_REVIEW" and apply_type != "SUCCESS_APPLY" and r.channel_status != "FAILED":
                # Failing or re-sending an order the bank may have converted waits for its answer.
                assert "the bank may have converted it" in str(refused), f"{r.order_no}: {refused}"
                self.visited[f"{apply_type} refused before the bank answered"] += 1
                return
            assert r.apply_status == "PENDING_REVIEW", f"{r.order_no}: {refused}"
            self.visited["apply refused"] += 1
            return
        assert r.apply_status != "PENDING_REVIEW", f"{r.order_no} took a second handling while one awaited review"
        self.visited[f"applied {apply_type}"] += 1

    @rule(index=INDEX, batch=st.booleans(), approve=st.booleans(), second=st.booleans())
    def review_handling(self, index: int, batch: bool, approve: bool, second: bool) -> None:
        pending = [o for o in self.run(read_books(self.engine)).orders if o.apply_status == "PENDING_REVIEW"]
        if not pending:
            return
        chosen = pending if batch else [pending[index % len(pending)]]
        try:
            self.execute(self.checkers[second], ReviewExceptionHandling(
                order_nos=tuple(o.order_no for o in chosen),
                review_type="REVIEW_APPROVED" if approve else "REVIEW_REJECTED", review_remark="reviewed"))
        except Conflict as refused:
            # Only an approval of a record the channel settled meanwhile is refused, and
            # then nothing of the batch was decided.
            assert approve and any(o.channel_status not in ("FAILED", "UNKNOWN", "PROCESSING") for o in chosen), (
                refused, [(o.order_no, o.channel_status) for o in chosen])
            after = {o.order_no: o.apply_status for o in self.run(read_books(self.engine)).orders}
            assert all(after[o.order_no] == "PENDING_REVIEW" for o in chosen), "a refused batch decided something"
            self.visited["handling review refused"] += 1
            return
        self.visited[f"handling {'approved' if approve else 'rejected'}"] += 1

    # --- what must hold after every step ------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        self.visited["steps"] += 1
        books = self.run(read_books(self.engine))
        check_books(books)
        for h in books.holds:
            if h.status != "HELD":
                first = self.settled_holds.setdefault(h.id, (h.status, h.settled_at))
                assert first == (h.status, h.settled_at), f"hold {h.ref} settled twice: {first} then {h.status}"
            else:
                assert h.id not in self.settled_holds, f"hold {h.ref} went back to HELD"
        for e in books.exchanges:
            if e.forex_status in FINAL:
                assert self.final.setdefault(e.forex_id, e.forex_status) == e.forex_status, e.forex_id
            else:
                assert e.forex_id not in self.final, f"{e.forex_id} left its final status"
        self.visited.update(f"exchange {e.service_strategy} {e.forex_status}" for e in books.exchanges)
        self.visited.update(f"order {o.channel_status}" for o in books.orders)
        self.visited.update(self.run(check_against_bank(books, self.bank)))
        assert not self.errors.records, self.errors.records

    def teardown(self) -> None:
        """The faults end and time passes: every open order settles on the bank's answer,
        every exception is handled and reviewed, and nothing is left in flight."""
        try:
            self.run(self.bank.clear_faults())
            self.run(self.bank.down(False))
            for step in range(6):
                self.clock.advance(seconds=30)
                assert not self.run(drive_due(self.engine)).failures
                if step % 2:
                    self._handle_every_exception()
            books = self.run(read_books(self.engine))
            check_books(books)
            self.visited.update(self.run(check_against_bank(books, self.bank)))
            in_flight = [(e.forex_id, e.forex_status) for e in books.exchanges
                         if e.forex_status in ("PROCESSING", "UNKNOWN")]
            assert not in_flight, f"left in flight: {in_flight}"
            assert not self.errors.records, self.errors.records
        finally:
            logging.getLogger("wbo_tui").removeHandler(self.errors)
            for gateway in getattr(self.engine, "_fx_bank_gateways", {}).values():
                self.run(gateway.close())
            self.run(self.bank.close())
            self.run(self.engine.close())
            self.loop.close()

    def _handle_every_exception(self) -> None:
        """Mark every order the bank failed as failed (the pending handlings decided first);
        an unknown or stalled one is the pass's to settle on the bank's answer."""
        pending = [o.order_no for o in self.run(read_books(self.engine)).orders if o.apply_status == "PENDING_REVIEW"]
        for order_no in pending:
            self.execute(self.checkers[0], ReviewExceptionHandling(order_nos=(order_no,),
                                                                   review_type="REVIEW_REJECTED",
                                                                   review_remark="tidying up"))
        for r in self.run(self.engine.query(self.maker, ListExceptionRecords())):
            if r.channel_status != "FAILED":
                continue
            self.execute(self.maker, ApplyExceptionHandling(order_no=r.order_no, apply_type="FAILURE_APPLY",
                                                            apply_remark="end of day"))
            self.execute(self.checkers[1], ReviewExceptionHandling(order_nos=(r.order_no,),
                                                                   review_type="REVIEW_APPROVED"))


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_exchanges_conserve_money_and_settle_once(sqlite_template: Path, tmp_path: Path) -> None:
    ExchangeMachine.prepared = asyncio.run(_prepare(tmp_path, sqlite_template))
    ExchangeMachine.visited = Counter()
    print(f"hypothesis seed {SEED} (WBO_FX_SEED)")  # shown with a failure
    run_state_machine_as_test(ExchangeMachine, settings=settings(
        max_examples=30, stateful_step_count=50, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ), _min_steps=40)
    visited = ExchangeMachine.visited
    print(f"visited: {dict(sorted(visited.items()))}")  # measured (pytest -rP)
    if SEED == DEFAULT_SEED:  # what the CI's examples reach (other seeds reach other things)
        for reached in ("exchange BATCH SUCCEEDED", "exchange SINGLE SUCCEEDED", "exchange SINGLE UNKNOWN",
                        "exchange SINGLE CANCELLED", "exchange SINGLE REJECTED", "order FAILED", "approved",
                        "applied SUCCESS_APPLY", "handling approved",
                        "RETRY_APPLY refused before the bank answered",
                        "submit refused: ValidationFailed"):
            assert visited[reached], (reached, dict(visited))


# --- an unknown order is failed or re-sent only on the bank's word ------------------------


@pytest.mark.parametrize("apply_type", ["RETRY_APPLY", "FAILURE_APPLY"])
async def test_handling_an_unknown_order_matches_what_the_bank_did(
    engine: Engine, clock: FixedClock, tmp_path: Path, apply_type: str,
) -> None:
    clock.set(MONDAY_10_HKT)
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup", tmp_path)
    admin = await login(engine, "admin")
    desk = await new_operator(engine, admin, "fxdesk", DESK)
    client = (await engine.query(desk, ListClients(search="M-200002")))[0].id
    bank = SimulatedBankChannel(str(tmp_path / BANK_STORE), clock=clock)
    try:
        await bank.timeout_next(1, "submit")  # the bank executes the order; its answer is lost
        sent = await engine.execute(desk, SubmitClientExchange(client_id=client, from_currency="USD",
                                                               to_currency="CNH", amount="1000"))
        (record,) = await engine.query(desk, ListExceptionRecords())
        assert (record.forex_id, record.channel_status) == (sent.forex_id, "UNKNOWN")
        # The machine found these handlings approved on an order the bank had converted
        # (converted twice on a retry; failed with the money gone on a mark-failed): now the
        # handling is refused until the bank answers.
        with pytest.raises(Conflict, match="the bank may have converted it"):
            await engine.execute(desk, ApplyExceptionHandling(order_no=record.order_no, apply_type=apply_type,
                                                              apply_remark="no news from the bank"))
        clock.advance(seconds=30)
        await drive_due(engine)
        books = await read_books(engine)
        check_books(books)
        (exchange,) = [e for e in books.exchanges if e.forex_id == sent.forex_id]
        ours = {o.order_no for o in books.orders if o.forex_id == sent.forex_id}
        executed = [o for o in await bank.orders() if o.order.order_id in ours and o.state.status == "SUCCEEDED"]
        # The pass asked the bank, which had converted it once: the client is settled on that.
        assert exchange.forex_status == "SUCCEEDED"
        assert len(executed) == 1, [o.order.order_id for o in executed]
    finally:
        for gateway in getattr(engine, "_fx_bank_gateways", {}).values():
            await gateway.close()
        await bank.close()

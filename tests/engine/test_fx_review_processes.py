"""Two checkers reviewing one client exchange at once, from two OS processes, 100 rounds.

Every round the maker submits an exchange that awaits review (on the exchange pool in
even rounds, at the HSB bank channel in odd ones: both strategies' approval starting
point is lowered to 0.01 so that every exchange is reviewed), and two long-lived worker
processes, each a console holding a different checker's session, review it at the same
moment (a barrier): both approve, both reject, or one each, in both orders.  Per round:

- exactly one review succeeds; the other gets the engine's refusal (``Conflict``: the
  exchange "no longer awaits review"), never a traceback or a lock error, and that
  refusal is audited once;
- one decision record in the audit log (approve or reject), by the winner, who is the
  exchange's checker;
- money moved once: approved, one debit and one credit, the hold POSTED, the pool moved
  on both sides (pool) or one channel order executed once with its P&L (bank); rejected,
  no movement, the hold VOIDED, no pool movement, no channel order.

At the end the books balance (``test_fx_conservation.check_books``: conservation per
currency, every hold settled once), the simulated bank holds exactly one executed order
per approved bank exchange, and the audit chain verifies.  SQLite always; PostgreSQL
when ``WBO_TEST_PG_URL`` is set.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fx_review_workers
import pytest
from engine_support import REPO, login, new_operator, scalar
from test_fx_conservation import check_against_bank, check_books, read_books

from wbo_tui.engine import Engine, FixedClock, SessionInfo, VerifyAuditLog
from wbo_tui.engine.fx import ListClients, SubmitClientExchange
from wbo_tui.engine.fx.bank import SimulatedBankChannel
from wbo_tui.engine.fx.channel_execution import drive_due
from wbo_tui.engine.fx.exchanges import GetClientExchange
from wbo_tui.engine.fx.seed_data import seed_fx

ROUNDS = 100
TIMEOUT_S = 60
MONDAY_10_HKT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MAKER = ("fx.customer_exchange_operation", "fx.customer_exchange_inquiry", "fx.client_inquiry")
CHECKER = ("fx.customer_exchange_approval", "fx.customer_exchange_inquiry")
# Who does what in a round, cycling: both alike, and one each in both orders.
PLANS = [("approve", "approve"), ("approve", "reject"), ("reject", "approve"), ("reject", "reject")]
KINDS = {"pool": ("USD", "HKD"), "bank": ("USD", "CNH")}  # USD/CNH is not a pool pair: HSB serves it


async def _desk(engine: Engine, clock: FixedClock, tmp_path: Path) -> tuple[SessionInfo, SessionInfo, SessionInfo]:
    clock.set(MONDAY_10_HKT)
    data = json.loads((REPO / "data" / "demo_fx.json").read_text())
    for strategy in data["fx_strategies"]:
        if strategy.get("channel_name") in (None, "HSB"):  # the pool's strategy and HSB's
            strategy["approval_start_amount"] = "0.01"  # every exchange awaits review
    await seed_fx(engine, data, "test-setup", tmp_path)
    admin = await login(engine, "admin")
    maker = await new_operator(engine, admin, "fxmaker", MAKER)
    first = await new_operator(engine, admin, "fxchecker1", CHECKER)
    second = await new_operator(engine, admin, "fxchecker2", CHECKER)
    return maker, first, second


@asynccontextmanager
async def _reviewers(db_url: str, sessions: tuple[SessionInfo, SessionInfo]) -> AsyncIterator[Any]:
    """Two spawned reviewers; yields ``run_round(round, exchange_id, plan)``."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    tasks = [ctx.Queue(), ctx.Queue()]
    processes = [ctx.Process(target=fx_review_workers.run_reviewer,
                             args=(db_url, session.model_dump_json(), queue, results, barrier), daemon=True)
                 for session, queue in zip(sessions, tasks, strict=True)]
    for process in processes:
        process.start()

    async def next_result() -> tuple:
        return await asyncio.to_thread(results.get, True, TIMEOUT_S)

    async def run_round(round_no: int, exchange_id: int, plan: tuple[str, str]) -> list[tuple]:
        for queue, decision in zip(tasks, plan, strict=True):
            queue.put((round_no, exchange_id, decision))
        outcomes = [await next_result() for _ in tasks]
        for got in outcomes:
            assert got[0] == round_no, f"worker out of step or crashed: {got}"
        return outcomes

    try:
        ready = [await next_result() for _ in tasks]
        assert sorted(r[0] for r in ready) == ["ready", "ready"], ready
        yield run_round
    finally:
        for queue in tasks:
            queue.put(None)
        for process in processes:
            await asyncio.to_thread(process.join, TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]


async def _count(engine: Engine, sql: str, **params: Any) -> int:  # noqa: ANN401
    return int(await scalar(engine, sql, **params))


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_two_checkers_reviewing_one_exchange_at_once_decide_it_once(
    engine: Engine, clock: FixedClock, db_url: str, tmp_path: Path,
) -> None:
    maker, first, second = await _desk(engine, clock, tmp_path)
    client = (await engine.query(maker, ListClients(search="M-200002")))[0].id
    wins: Counter[str] = Counter()
    approved_bank = 0
    async with _reviewers(db_url, (first, second)) as run_round:
        for round_no in range(ROUNDS):
            kind = "pool" if round_no % 2 == 0 else "bank"
            plan = PLANS[(round_no // 2) % len(PLANS)]
            source, target = KINDS[kind]
            pending = await engine.execute(maker, SubmitClientExchange(
                client_id=client, from_currency=source, to_currency=target, amount="100",
                order_remark=f"race round {round_no}"))
            assert (pending.forex_status, pending.audit_status) == ("SUBMITTED", "PENDING"), pending
            assert pending.service_strategy == ("BATCH" if kind == "pool" else "SINGLE"), pending
            ref = pending.forex_id
            refusals_before = await _count(engine, "SELECT count(*) FROM audit_log WHERE action = 'request.refused' "
                                                   "AND target_id = 'ReviewClientExchange'")

            outcomes = await run_round(round_no, pending.id, plan)
            where = f"round {round_no} ({kind}, {plan}): {outcomes}"
            results = sorted(o[3][0] for o in outcomes)
            assert results == ["ok", "refused"], where
            (_, winner, decision, _), = [o for o in outcomes if o[3][0] == "ok"]
            (_, _, _, (_, refusal)), = [o for o in outcomes if o[3][0] == "refused"]
            assert "no longer awaits review" in refusal, where
            assert "locked" not in refusal, where
            wins[winner] += 1

            # The refusal is audited once; the decision once, by the winner.
            assert await _count(engine, "SELECT count(*) FROM audit_log WHERE action = 'request.refused' "
                                        "AND target_id = 'ReviewClientExchange'") == refusals_before + 1, where
            action = "fx.exchange.approve" if decision == "approve" else "fx.exchange.reject"
            assert await _count(engine, "SELECT count(*) FROM audit_log WHERE target_id = :ref AND action IN "
                                        "('fx.exchange.approve', 'fx.exchange.reject')", ref=ref) == 1, where
            assert await scalar(engine, "SELECT operator FROM audit_log WHERE target_id = :ref AND action = :a",
                                ref=ref, a=action) == winner, where

            done = await engine.query(maker, GetClientExchange(exchange_id=pending.id))
            if decision == "approve" and done.forex_status == "PROCESSING":
                await drive_due(engine)  # the approving console's send did not settle it: the pass does
                done = await engine.query(maker, GetClientExchange(exchange_id=pending.id))
            approved = decision == "approve"
            expected = ("SUCCEEDED", "APPROVED") if approved else ("REJECTED", "REJECTED")
            assert (done.forex_status, done.audit_status) == expected, where
            assert done.checker_id == (first if winner == first.username else second).operator_id, where

            # Money moved once, or not at all.
            moves = await _count(engine, "SELECT count(*) FROM client_cash_movements WHERE ref = :ref", ref=ref)
            assert moves == (2 if approved else 0), where
            assert await scalar(engine, "SELECT status FROM client_cash_holds WHERE ref = :ref",
                                ref=ref) == ("POSTED" if approved else "VOIDED"), where
            assert await _count(engine, "SELECT count(*) FROM client_cash_holds WHERE ref = :ref", ref=ref) == 1
            pool_moves = await _count(engine, "SELECT count(*) FROM fx_pool_ledger WHERE order_no = :ref", ref=ref)
            assert pool_moves == (2 if approved and kind == "pool" else 0), where
            orders = await _count(engine, "SELECT count(*) FROM fx_channel_orders WHERE forex_id = :ref", ref=ref)
            assert orders == (1 if approved and kind == "bank" else 0), where
            assert await _count(engine, "SELECT count(*) FROM audit_log WHERE target_id = :ref "
                                        "AND action = 'fx.exchange.settle'", ref=ref) == (1 if approved else 0)
            approved_bank += approved and kind == "bank"

    assert sum(wins.values()) == ROUNDS
    assert len(wins) == 2, f"one checker won every round: {wins}"  # the race really was a race
    books = await read_books(engine)
    check_books(books)
    bank = SimulatedBankChannel(str(tmp_path / "wbo-demo-fx-bank.sqlite"), clock=clock)
    try:
        await check_against_bank(books, bank)
        held = await bank.orders()
        assert len(held) == approved_bank and all(o.state.status == "SUCCEEDED" for o in held)
        assert await bank.received(call="submit", outcome="accepted") == approved_bank
    finally:
        await bank.close()
    report = await engine.query(await login(engine, "admin"), VerifyAuditLog())
    assert report.ok, report.sentence
    print(f"wins: {dict(wins)}; bank exchanges approved: {approved_bank}")  # measured (pytest -rP)

"""Two traders liquidating the same client at once, from two OS processes: one plan is
sent.  20 rounds on SQLite, and on PostgreSQL when ``WBO_TEST_PG_URL`` is set.

Two long-lived worker processes, each a console of its own holding a different trader's
session (the demo's ``trader`` and a second operator with RiskWarningFull), are given the
same call and the same lines (the plan both see on their screens, with a board lot of the
client's other holding added: a bulk liquidation of two securities) and send them at the
same moment (a barrier).  The venue is the simulated one, on its store shared by every
process; its market sits far below the plan's limits (the simulated market's opening
prices are halved after the quotes the plan is priced on were stored), so the orders rest
at the venue unfilled and the refusal is the in-progress one, never the call having
ended.  Per round:

- exactly one ``Liquidate`` succeeds; the other is refused with ``Conflict`` naming the
  winner and one of the winner's orders ("already has N liquidation order(s) in progress,
  sent by …"), never a lock error or a traceback, and that refusal is audited once;
- the database holds exactly one plan's orders for the round: one per line, one batch,
  the winner's, each sent (NEW at the venue);
- the venue received each client order id as a submission exactly once, and holds no
  order the engine did not write.

Between rounds the parent cancels the round's orders (CancelLiquidationOrder, sent to the
venue), so the call stands as it was for the next round.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import margin_workers
import pytest
from engine_support import REPO, login, new_operator, scalar
from sqlalchemy import select, update

from wbo_tui.engine import Engine, FixedClock, SessionInfo
from wbo_tui.engine import margin
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.margin.revaluation import price_pass
from wbo_tui.engine.margin.seed_data import seed_margin
from wbo_tui.engine.margin.tables import instruments, liquidation_orders
from wbo_tui.engine.margin.ticks import to_grid
from wbo_tui.engine.margin.venue import SimulatedVenue

ROUNDS = 20
TIMEOUT_S = 60
ACCOUNT = "M-300101"
VENUE_STORE = "wbo-race-venue.sqlite"


async def _desk(engine: Engine, tmp_path: Path) -> None:
    """The demo's margin desk; its venue's market then moved far below every quote stored."""
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup", tmp_path)
    await seed_margin(engine, json.loads((REPO / "data" / "demo_margin.json").read_text()), "test-setup", tmp_path)
    await price_pass(engine, "test")
    settings = await engine.setup_query(margin.GetMarginSettings())
    await engine.setup_execute(margin.ConfigureMarginFeeds(price_source=settings.price_source, venue={
        "kind": "simulator", "path": str(tmp_path / VENUE_STORE), "fill_step_s": 3600}), tool="test-setup")
    # The simulated market opens at each instrument's anchor and stays within 30 % of it:
    # at half the anchors every bid is far below the limits priced on the stored quotes.
    async with engine.db.connect() as conn:
        conn = await conn.execution_options(wbo_write=True)
        async with conn.begin():
            i = instruments.c
            for code, anchor in list(await conn.execute(select(i.code, i.anchor_price))):
                await conn.execute(update(instruments).where(i.code == code).values(
                    anchor_price=to_grid(anchor / 2, up=False)))


@asynccontextmanager
async def _traders(db_url: str, sessions: tuple[SessionInfo, SessionInfo]) -> AsyncIterator[Any]:
    """Two spawned traders; yields ``run_round(round, call_id, lines)``."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    tasks = [ctx.Queue(), ctx.Queue()]
    processes = [ctx.Process(target=margin_workers.run_trader,
                             args=(db_url, session.model_dump_json(), queue, results, barrier), daemon=True)
                 for session, queue in zip(sessions, tasks, strict=True)]
    for process in processes:
        process.start()

    async def next_result() -> tuple:
        return await asyncio.to_thread(results.get, True, TIMEOUT_S)

    async def run_round(round_no: int, call_id: int, lines: list[tuple[str, int]]) -> list[tuple]:
        for queue in tasks:
            queue.put((round_no, call_id, lines))
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


async def _orders(engine: Engine, after_id: int) -> list[Any]:
    o = liquidation_orders.c
    async with engine.db.connect() as conn:
        return list(await conn.execute(select(liquidation_orders).where(o.id > after_id).order_by(o.id)))


async def _refusals(engine: Engine) -> int:
    return int(await scalar(engine, "SELECT count(*) FROM audit_log WHERE action = 'request.refused' "
                                    "AND target_id = 'Liquidate'"))


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_two_traders_liquidating_one_client_at_once_send_one_plan(
    engine: Engine, clock: FixedClock, db_url: str, tmp_path: Path,
) -> None:
    await _desk(engine, tmp_path)
    admin = await login(engine, "admin")
    trader = await login(engine, "trader")
    second = await new_operator(engine, admin, "trader2", ("RiskWarningFull",))
    ids = {trader.username: trader.operator_id, second.username: second.operator_id}
    opened = {c.account_no: c for c in (await engine.setup_query(margin.ListMarginCalls())).rows}
    call = opened[ACCOUNT]
    plan = await engine.query(trader, margin.PlanLiquidation(call_id=call.id))
    assert plan.lines and plan.in_progress == 0, plan
    # The plan as a trader edits it for a bulk liquidation: its lines and a lot of every other holding.
    lines = [(line.code, line.quantity) for line in plan.lines]
    details = await engine.query(trader, margin.GetCallDetails(call_id=call.id))
    lines += [(p.code, p.lot_size) for p in details.positions
              if p.tradable and p.quantity > 0 and p.code not in {code for code, _ in lines}]
    assert len(lines) >= 2, lines
    venue = SimulatedVenue(tmp_path / VENUE_STORE, prices=lambda code: None, clock=clock)
    wins: Counter[str] = Counter()
    last_id = 0
    try:
        async with _traders(db_url, (trader, second)) as run_round:
            for round_no in range(ROUNDS):
                refused_before = await _refusals(engine)
                outcomes = await run_round(round_no, call.id, lines)
                where = f"round {round_no}: {outcomes}"
                assert sorted(o[2][0] for o in outcomes) == ["ok", "refused"], where
                (_, winner, _), = [o for o in outcomes if o[2][0] == "ok"]
                (_, loser, (_, refusal)), = [o for o in outcomes if o[2][0] == "refused"]
                wins[winner] += 1

                # One plan: one order per line, one batch, the winner's, each sent once.
                orders = await _orders(engine, last_id)
                assert sorted((o.code, o.quantity) for o in orders) == sorted(lines), where
                assert len({o.batch_ref for o in orders}) == 1, where
                assert {o.operator_id for o in orders} == {ids[winner]}, where
                assert all(o.call_id == call.id and o.force_type == "BULK" for o in orders), where
                assert [o.state for o in orders] == ["NEW"] * len(orders), (where, [o.state for o in orders])
                for o in orders:
                    assert await venue.received(o.cl_ord_id, "submit") == 1, (where, o.cl_ord_id)
                    assert await venue.received(o.cl_ord_id, "submit", "accepted") == 1, (where, o.cl_ord_id)

                # The loser was told whose orders are in progress; the refusal audited once.
                match = re.search(r"already has (\d+) liquidation order\(s\) in progress, sent by (\S+) \((\S+)\)",
                                  refusal)
                assert match is not None and ACCOUNT in refusal and "locked" not in refusal, where
                assert int(match[1]) == len(orders) and match[2] == winner != loser, where
                assert match[3] in {o.cl_ord_id for o in orders}, where
                assert await _refusals(engine) == refused_before + 1, where

                # Cancelled at the venue, so the next round finds the call as it was.
                for o in orders:
                    done = await engine.execute(trader, margin.CancelLiquidationOrder(order_id=o.id))
                    assert done.state == "CANCEL_REQUESTED", (where, done)
                await engine.after_commit_idle()
                after = await _orders(engine, last_id)
                assert [(o.state, o.filled_quantity) for o in after] == [("CANCELLED", 0)] * len(after), where
                last_id = after[-1].id

        # Every order the venue holds is one the engine wrote, once, and cancelled.
        held = await venue.orders()
        written = {o.cl_ord_id for o in await _orders(engine, 0)}
        assert len(held) == len(written) == ROUNDS * len(lines)
        assert {order.cl_ord_id for order, _ in held} == written
        assert all(status.state == "CANCELLED" and status.filled_quantity == 0 for _, status in held)
        assert await venue.received(call="submit") == len(written)
    finally:
        await venue.close()
    still = await engine.setup_query(margin.GetMarginCall(call_id=call.id))
    assert still.status == "OPEN" and still.margin_to_collect == call.margin_to_collect > Decimal(0)
    assert sum(wins.values()) == ROUNDS
    print(f"wins: {dict(wins)}; {len(lines)} order(s) a round")  # measured (pytest -rP)

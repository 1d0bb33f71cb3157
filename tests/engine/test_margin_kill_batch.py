"""``kill -9`` during a batch liquidation, 50 rounds (20 on PostgreSQL): no order sent twice, every order's
state settles, every fill applied once.  SQLite, and PostgreSQL when ``WBO_TEST_PG_URL``
is set.

The desk is the demo's margin book (``data/demo_margin.json``) with its venue the simulated
one, its store a SQLite file shared by every process, filling two board lots at a time
every two seconds of the test's clock (a scaled clock: 100× the wall clock, shared by every
process, so the 30 s lease of a claim passes in 0.3 s).  Each round a fresh worker process
(a console) batch-liquidates every open call (``BatchLiquidate``: each order sent after the
commit) and drives the orders (``drive_due``) until none is open; sometimes the venue loses
its answer to a submission or a status request (``timeout_after_accept``) or the request
itself (``timeout_before_accept``), or is down for a while as the batch is sent or as the
recovery starts (every call refused: ``VenueUnavailable``).  The parent SIGKILLs the
worker at a random moment (seeded: ``SEED``), then drives what is left from its own
engine, as the next console's pass would; a random while after the kill (5 to 40 s of the
test's clock) a trader cancels whatever is still open (the market may have moved below an
order's limit, or not yet filled it all).  After every round:

- every order of the round is final (FILLED, CANCELLED, REJECTED): none is left PENDING,
  SENDING, UNKNOWN or CANCEL_REQUESTED; the round made one batch at most, one order per
  client and security;
- nothing traded twice: the venue booked each client order id as a new order at most once
  (its request log: any further submission of the id was an idempotent replay, a request
  lost before it arrived or refused while the venue was down), exactly the orders it holds,
  and holds none the engine did not write; and nothing was resent blind: a submission of
  an id after its first came only once a status request had found no such order (or the
  venue had refused the one before while down);
- every fill the venue made is applied exactly once: an order's fills in the database are
  the venue's (exec id, quantity, price), its filled quantity and amount their sums, the
  venue's state its state; each fill made one cash movement, at its price;
- conservation per client: each position moved by exactly the shares filled, each
  currency's cash by exactly the fills' proceeds, and nothing else moved; every ledger
  row's running balance adds up;
- both SQLite files (the database, the venue's store) pass ``PRAGMA integrity_check``.

Between rounds the books are put back as they were before the first round (positions and
cash; the price pass and a re-valuation re-open the calls), so every round liquidates a
desk in call.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import margin_kill_workers
import pytest
from engine_support import REPO, login
from fx_kill_workers import ScaledClock
from sqlalchemy import func, select, update

from wbo_tui.engine import Conflict, Engine, FixedClock
from wbo_tui.engine import margin
from wbo_tui.engine.fx import ledger
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.fx.tables import client_cash_movements
from wbo_tui.engine.margin import orders as liquidation
from wbo_tui.engine.margin.orders import drive_due
from wbo_tui.engine.margin.settings import load_settings
from wbo_tui.engine.margin.revaluation import price_pass, revalue_everyone
from wbo_tui.engine.margin.seed_data import seed_margin
from wbo_tui.engine.margin.tables import (
    OPEN_ORDER_STATES,
    client_positions,
    instruments,
    liquidation_fills,
    liquidation_orders,
)
from wbo_tui.engine.margin.venue import SimulatedVenue
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.uow import Actor, read_unit, write_unit

ROUNDS = 50
PG_ROUNDS = 20  # PostgreSQL commits are slower here: the same proof, fewer rounds, within CI's time
SEED = int(os.environ.get("WBO_MARGIN_KILL_SEED", "20261120"))
SCALE = 100.0  # the test's clock runs 100× the wall clock
KILL_WINDOW_S = 0.8  # wall seconds after the worker is told to go: the batch commits and sends in 0.1-0.3 s
RECOVERY_LIMIT_S = 30  # wall seconds
CANCEL_AFTER_S = (5, 40)  # of the test's clock, from the kill: when a trader cancels what is still open
DOWN_CHANCE = 0.2  # of the venue being down as a round starts, and as the recovery does
DOWN_S = (0, 20)  # of the test's clock: how long into the recovery the venue stays down
VENUE_STORE = "wbo-kill-venue.sqlite"
VENUE = {"kind": "simulator", "max_lots_per_fill": 2, "fill_step_s": 2}
FINAL = ("FILLED", "CANCELLED", "REJECTED")
BOOKED = ("accepted", "rejected")  # the venue's outcomes of a submission it took as a new order
RESUBMITTED = ("replayed", "lost", "unavailable")  # what any further submission of the id may be


@dataclass(frozen=True)
class Books:
    positions: dict[tuple[int, str], int]
    cash: dict[tuple[int, str], Decimal]
    movements: int  # the id of the last cash movement


async def _books(engine: Engine) -> Books:
    """Every position and every cash balance; each movement's balance checked on the way."""
    p, m = client_positions.c, client_cash_movements.c
    async with engine.db.connect() as conn:
        positions = {(r.client_id, r.code): int(r.quantity) for r in await conn.execute(
            select(p.client_id, p.code, p.quantity))}
        cash: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
        last = 0
        for r in await conn.execute(select(m.id, m.client_id, m.currency, m.amount, m.balance_after).order_by(m.id)):
            cash[(r.client_id, r.currency)] += r.amount
            assert r.balance_after == cash[(r.client_id, r.currency)], f"movement {r.id}: a running balance is off"
            last = r.id
    return Books(positions, dict(cash), last)


async def _restore(engine: Engine, initial: Books, round_no: int) -> None:
    """Put every position and balance back as it was before the first round."""
    now = await _books(engine)
    p = client_positions.c
    async with write_unit(engine.db, Actor.system("test-reset"), engine.services) as uow:
        for (client_id, code), quantity in initial.positions.items():
            if now.positions[(client_id, code)] != quantity:
                await uow.conn.execute(update(client_positions).where(p.client_id == client_id, p.code == code).values(
                    quantity=quantity, version=p.version + 1, updated_at=uow.now))
        for (client_id, currency), amount in initial.cash.items():
            if now.cash[(client_id, currency)] != amount:
                await ledger.post(uow, client_id, currency, amount - now.cash[(client_id, currency)],
                                  kind="TEST_RESET", ref=f"RESET-{round_no}", allow_negative=True)


async def _open_orders(engine: Engine) -> list[Any]:
    o = liquidation_orders.c
    async with engine.db.connect() as conn:
        return list(await conn.execute(select(o.id, o.state).where(o.state.in_(OPEN_ORDER_STATES)).order_by(o.id)))


async def _recover(engine: Engine, trader: Any, venue: SimulatedVenue, cancel_after: timedelta,  # noqa: ANN401
                   up_after: timedelta | None) -> tuple[int, Counter[str]]:
    """Drive every open order to its end, as the next console's pass would; what the market
    left unfilled a while after the kill is cancelled, as a trader would.  A venue that is
    down comes back ``up_after`` into the recovery.  Returns how many orders were cancelled
    so, and the states found open at the kill."""
    at_kill = Counter(r.state for r in await _open_orders(engine))
    started, deadline, cancelled = engine.clock.now(), time.time() + RECOVERY_LIMIT_S, -1
    while True:
        if up_after is not None and engine.clock.now() - started > up_after:
            await venue.down(False)
            up_after = None
        run = await drive_due(engine, "recovery")
        assert not run.failures, run.failures
        still = await _open_orders(engine)
        if not still and up_after is None:
            return max(cancelled, 0), at_kill
        if cancelled < 0 and engine.clock.now() - started > cancel_after:
            cancelled = 0
            for row in still:
                if row.state == "CANCEL_REQUESTED":
                    continue
                try:
                    await engine.execute(trader, margin.CancelLiquidationOrder(order_id=row.id))
                    cancelled += 1
                except Conflict:
                    pass  # final meanwhile
        assert time.time() < deadline, f"orders still open after recovery: {still}"
        await asyncio.sleep(0.01)


def _integrity(db_url: str, store: Path) -> None:
    paths = [store] + ([Path(db_url.removeprefix("sqlite:///"))] if db_url.startswith("sqlite") else [])
    for path in paths:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path
        conn.close()


def _drain(receive: Any) -> list[tuple]:  # noqa: ANN401
    out = []
    try:
        while receive.poll():
            out.append(receive.recv())
    except (EOFError, OSError):
        pass
    return out


async def _check_round(engine: Engine, venue: SimulatedVenue, round_no: int, after_order: int, before: Books,
                       tally: Counter[str]) -> int:
    """The round's orders each settled, sent once, every fill applied once; the books
    moved by exactly the fills.  Returns how many orders the round made."""
    o, f, m = liquidation_orders.c, liquidation_fills.c, client_cash_movements.c
    async with engine.db.connect() as conn:
        orders = list(await conn.execute(select(liquidation_orders).where(o.id > after_order).order_by(o.id)))
        fills = list(await conn.execute(select(liquidation_fills).where(f.order_id > after_order).order_by(f.id)))
        moves = list(await conn.execute(select(client_cash_movements).where(m.id > before.movements)))
        currency = {r.code: r.currency for r in await conn.execute(select(instruments.c.code, instruments.c.currency))}
        written = set((await conn.execute(select(o.cl_ord_id))).scalars())
        assert (await conn.execute(select(func.count()).select_from(liquidation_orders).where(
            o.state.in_(OPEN_ORDER_STATES)))).scalar_one() == 0
    where = f"round {round_no}"
    held = {order.cl_ord_id: status for order, status in await venue.orders()}
    assert set(held) <= written, f"{where}: the venue holds orders the engine never wrote"
    log: dict[str, list[Any]] = defaultdict(list)
    for entry in await venue.request_log():
        log[entry.cl_ord_id].append(entry)

    assert len({r.batch_ref for r in orders}) <= 1 and all(r.force_type == "BATCH" for r in orders), where
    assert max(Counter((r.client_id, r.code) for r in orders).values(), default=1) == 1, f"{where}: two plans"
    by_order: dict[int, list[Any]] = defaultdict(list)
    for fill in fills:
        by_order[fill.order_id].append(fill)
    sold: Counter[tuple[int, str]] = Counter()
    proceeds: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for r in orders:
        what = f"{where}: {r.cl_ord_id} ({r.state})"
        assert r.state in FINAL, what
        mine = by_order[r.id]
        assert sum(x.quantity for x in mine) == r.filled_quantity, what
        assert sum((x.price * x.quantity for x in mine), Decimal(0)) == r.filled_amount, what
        submits = [e for e in log[r.cl_ord_id] if e.call == "submit"]
        booked = [e for e in submits if e.outcome in BOOKED]
        assert len(booked) <= 1, f"{what}: booked as a new order {len(booked)}×"
        assert all(e.outcome in BOOKED + RESUBMITTED for e in submits), (what, submits)
        # Never resent blind: a submission after the first follows a status request the venue
        # answered "no such order" (or a first one it refused while down).
        calls = log[r.cl_ord_id]
        for earlier, later in zip(submits, submits[1:]):
            between = [e for e in calls if earlier.seq < e.seq < later.seq]
            assert earlier.outcome == "unavailable" or any(
                e.call == "status" and e.outcome == "unknown" for e in between), (what, calls)
        tally["replayed"] += sum(e.outcome == "replayed" for e in submits)
        tally["submitted again"] += max(len(submits) - 1, 0)
        status = held.get(r.cl_ord_id)
        if status is None:  # never reached the venue: cancelled here, nothing traded
            assert not booked and r.state == "CANCELLED" and not mine, what
            tally["cancelled before the venue had it"] += 1
            continue
        assert len(booked) == 1, what
        assert status.state == r.state, f"{what}: the venue says {status.state}"
        assert sorted((x.exec_id, int(x.quantity), x.price) for x in mine) == sorted(
            (x.exec_id, x.quantity, x.price) for x in status.fills), f"{what}: fills differ from the venue's"
        tally[r.state] += 1
        tally["fills"] += len(mine)
        sign = -1 if r.side == "SELL" else 1
        sold[(r.client_id, r.code)] += sign * int(r.filled_quantity)
        for x in mine:
            [move] = [mv for mv in moves if mv.ref == f"LQF-{x.id}"]
            assert move.kind == "LIQUIDATION" and move.client_id == r.client_id, (what, move)
            assert move.currency == currency[r.code] and abs(move.amount + sign * x.price * x.quantity) < Decimal(
                "0.01"), (what, move, x)
            proceeds[(r.client_id, move.currency)] += move.amount
    # Conservation: the books moved by exactly the fills, and nothing else moved them.
    after = await _books(engine)
    assert len(moves) == len(fills), f"{where}: {len(moves)} cash movements for {len(fills)} fills"
    for key, quantity in after.positions.items():
        assert quantity == before.positions[key] + sold[key], (where, key, before.positions[key], sold[key], quantity)
    for key, amount in after.cash.items():
        assert amount == before.cash.get(key, Decimal(0)) + proceeds[key], (where, key)
    return len(orders)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_kill_9_during_a_batch_liquidation_sends_each_order_once_and_settles_it(
    engine: Engine, clock: FixedClock, db_url: str, tmp_path: Path,
) -> None:
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup", tmp_path)
    await seed_margin(engine, json.loads((REPO / "data" / "demo_margin.json").read_text()), "test-setup", tmp_path)
    settings = await engine.setup_query(margin.GetMarginSettings())
    await engine.setup_execute(margin.ConfigureMarginFeeds(price_source=settings.price_source, venue={
        **VENUE, "path": str(tmp_path / VENUE_STORE)}), tool="test-setup")
    initial = await _books(engine)
    origin, start = time.time(), clock.now()
    scaled = ScaledClock(start, origin, SCALE)
    desk = await Engine.open(db_url, clock=scaled, hasher=fast_hasher())
    venue = SimulatedVenue(tmp_path / VENUE_STORE, prices=lambda code: None, clock=scaled)
    trader = await login(desk, "trader")
    rng = random.Random(SEED)
    print(f"kill seed {SEED} (WBO_MARGIN_KILL_SEED)")  # shown with a failure
    # Workers fork from a server that has imported the engine, and each warms up while
    # the round before it runs: a round's time is its work.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(margin_kill_workers.PRELOAD)

    def start_worker() -> tuple[Any, Any, Any]:
        receive, send = ctx.Pipe(duplex=False)
        go_receive, go = ctx.Pipe(duplex=False)
        process = ctx.Process(target=margin_kill_workers.run_desk, args=(
            db_url, trader.model_dump_json(), start, origin, SCALE, go_receive, send), daemon=True)
        process.start()
        send.close()
        go_receive.close()
        return process, receive, go

    rounds = PG_ROUNDS if db_url.startswith("postgresql") else ROUNDS
    tally: Counter[str] = Counter()
    spare = None
    sent = 0
    try:
        for round_no in range(rounds):
            if round_no:
                await _restore(desk, initial, round_no)
            await price_pass(desk, "kill-test")
            await revalue_everyone(desk)
            calls = [c.id for c in (await desk.setup_query(margin.ListMarginCalls())).rows if c.status == "OPEN"]
            assert calls, f"round {round_no}: no call open"
            before = await _books(desk)
            async with desk.db.connect() as conn:
                after_order = (await conn.execute(select(func.coalesce(func.max(liquidation_orders.c.id), 0)))
                               ).scalar_one()
            await venue.clear_faults()
            for fault, call, chance in (("timeout_after_accept", "submit", 0.4), ("timeout_before_accept", "submit",
                                        0.2), ("timeout_after_accept", "status", 0.3)):
                if rng.random() < chance:
                    await venue.inject_fault(fault, call=call, count=rng.randint(1, 2))
                    tally[f"fault {fault} {call}"] += 1

            worker, receive, go = spare or start_worker()
            spare = start_worker() if round_no + 1 < rounds else None
            assert await asyncio.to_thread(receive.poll, 60), f"round {round_no}: the worker never started"
            assert receive.recv() == ("ready", ""), f"round {round_no}"
            kill_at = rng.uniform(0, KILL_WINDOW_S)
            down_for = rng.uniform(0, KILL_WINDOW_S) if rng.random() < DOWN_CHANCE else None
            if down_for is not None:  # the venue is down as the batch is sent, for a while
                await venue.down()
                tally["venue down at the start"] += 1
            go.send(calls)
            if down_for is not None and down_for < kill_at:
                await asyncio.sleep(down_for)
                await venue.down(False)
                await asyncio.sleep(kill_at - down_for)
                down_for = None
            else:
                await asyncio.sleep(kill_at)
            try:
                os.kill(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it finished the round first
            await asyncio.to_thread(worker.join, 10)
            reports = _drain(receive)
            receive.close()
            go.close()
            assert not [r for r in reports if r[0] in ("error", "refused")], f"round {round_no}: {reports}"
            if worker.exitcode == -signal.SIGKILL:
                tally["killed"] += 1
                tally["killed before the batch's orders were sent"] += not any(r[0] == "batch" for r in reports)
            else:
                assert worker.exitcode == 0, f"round {round_no}: exit {worker.exitcode}: {reports}"
                tally["finished before the kill"] += 1
            _integrity(db_url, tmp_path / VENUE_STORE)

            cancel_after = timedelta(seconds=rng.uniform(*CANCEL_AFTER_S))
            down = down_for is not None or rng.random() < DOWN_CHANCE  # down as the recovery starts
            if down:
                await venue.down()
                tally["venue down at the recovery"] += 1
            up_after = timedelta(seconds=rng.uniform(*DOWN_S)) if down else None
            cancelled, at_kill = await _recover(desk, trader, venue, cancel_after, up_after)
            tally["cancelled in recovery"] += cancelled
            tally.update({f"open at the kill: {state}": n for state, n in at_kill.items()})
            count = await _check_round(desk, venue, round_no, after_order, before, tally)
            batch = [r for r in reports if r[0] == "batch"]
            assert not batch or batch[0][2] == count, f"round {round_no}: reported {batch}, found {count}"
            sent += count
            tally["rounds killed before the batch committed"] += count == 0
        _integrity(db_url, tmp_path / VENUE_STORE)
    finally:
        if spare is not None:
            spare[0].kill()
            spare[0].join(10)
        await venue.close()
        await desk.close()
    assert sent > 0
    # The kills landed at different stages: some left orders open for the recovery.
    assert tally["killed"] > rounds // 2 and sum(v for k, v in tally.items() if k.startswith("open at")) > 0, tally
    print(f"kill -9: {sent} orders over {rounds} rounds; {dict(tally)}")  # measured (pytest -rP)


async def test_a_dead_consoles_claim_is_settled_by_asking_even_when_the_venue_was_down_at_first(
    engine: Engine, clock: FixedClock, tmp_path: Path,
) -> None:
    """The case a kill leaves behind, made deterministic: a console claimed an order and
    its submission reached the venue, then it died before recording the answer.  The next
    console's pass, once the claim's lease is over, asks the venue; when that request finds
    the venue down the order's fate is still unknown (UNKNOWN, asked again), never PENDING
    (which would send it again without asking: the venue would only replay it, but that is
    sending blind)."""
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup", tmp_path)
    await seed_margin(engine, json.loads((REPO / "data" / "demo_margin.json").read_text()), "test-setup", tmp_path)
    await price_pass(engine, "test")
    settings = await engine.setup_query(margin.GetMarginSettings())
    await engine.setup_execute(margin.ConfigureMarginFeeds(price_source=settings.price_source, venue={
        **VENUE, "path": str(tmp_path / VENUE_STORE), "fill_step_s": 3600}), tool="test-setup")
    venue = SimulatedVenue(tmp_path / VENUE_STORE, prices=lambda code: None, clock=clock)
    try:
        trader = await login(engine, "trader")
        lau = next(c for c in (await engine.setup_query(margin.ListMarginCalls())).rows if c.account_no == "M-300101")
        line = (await engine.query(trader, margin.PlanLiquidation(call_id=lau.id))).lines[0]
        await venue.down()  # the order is written, its first send refused: PENDING
        await engine.execute(trader, margin.Liquidate(call_id=lau.id, force_type="SINGLE", lines=(
            margin.LineInput(code=line.code, quantity=line.quantity),)))
        [order] = await engine.setup_query(margin.ListLiquidationOrders())
        assert order.state == "PENDING", order
        await venue.down(False)

        # A console claims it and submits; the venue books it; the console dies there.
        claimed = await liquidation._claim(engine, order.id, "dead-console:1")
        assert claimed is not None and claimed.state == "SENDING"
        async with read_unit(engine.db, Actor.system("test"), engine.services) as uow:
            sender = liquidation.venue_of(engine, await load_settings(uow),
                                          await liquidation.anchors_of(uow))
        booked = await sender.submit(liquidation._venue_order(claimed, lau.account_no))
        assert booked.state in ("NEW", "PARTIALLY_FILLED"), booked

        clock.advance(seconds=liquidation.LEASE.total_seconds() + 1)
        await venue.down()
        await drive_due(engine, "next-console")
        [after] = await engine.setup_query(margin.ListLiquidationOrders())
        assert after.state == "UNKNOWN", (after.state, after.reason)
        await venue.down(False)
        clock.advance(seconds=liquidation.RECHECK.total_seconds() + 1)
        await drive_due(engine, "next-console")
        [settled] = await engine.setup_query(margin.ListLiquidationOrders())
        assert (settled.state, settled.filled_quantity) == (booked.state, booked.filled_quantity), settled
        log = [(e.call, e.outcome) for e in await venue.request_log(order.cl_ord_id)]
        assert log == [("submit", "unavailable"), ("submit", "accepted"), ("status", "unavailable"),
                       ("status", "found")], log
    finally:
        await venue.close()

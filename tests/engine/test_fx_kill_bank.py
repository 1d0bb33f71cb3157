"""``kill -9`` during bank execution, 50 rounds: nothing settles twice, every order ends
settled.

Each round a fresh worker process (a console) submits a few client exchanges (four at the
HSB bank channel, USD→CNH and CNH→USD, and one on the exchange pool) and drives the open
channel orders to their end against the simulated bank (its store a SQLite file shared by
every process; fills delayed by a random few seconds of the test's clock, and sometimes
the answer to a submit or a status query lost, so there is a window in which orders are
sent but not settled).  The parent SIGKILLs the worker at a random moment of the round
(seeded: ``SEED``), then drives what is left to completion from its own engine, as the
next console's pass would.  After every round:

- every exchange the worker got committed has SUCCEEDED, once: one debit and one credit,
  its hold POSTED, one ``fx.exchange.settle`` audit record; a bank exchange has exactly
  one channel order, SUCCEEDED, one P&L row, and the bank holds exactly one order for it,
  executed, with the amount the engine settled on (the bank received the order id as a
  new order once; any resend after the kill was answered as a replay);
- the bank holds no order the engine did not write, and none is left open;
- the books balance (``test_fx_conservation.check_books``: money conserved per currency
  across client ledger, pool and channel with P&L, every hold settled once, nothing
  settled twice) and both SQLite files pass their integrity check.
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
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fx_kill_workers
import pytest
from engine_support import FRESH_PASSWORD, REPO, login, new_operator
from fx_kill_workers import ScaledClock, open_orders
from sqlalchemy import text
from test_fx_conservation import check_against_bank, check_books, read_books

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine.fx import ListClients
from wbo_tui.engine.fx.bank import SimulatedBankChannel
from wbo_tui.engine.fx.channel_execution import drive_due
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.passwords import fast_hasher

ROUNDS = 50
SEED = int(os.environ.get("WBO_FX_KILL_SEED", "20261123"))
SCALE = 20.0  # the test's clock runs 20× the wall clock: the 5 s recheck is 0.25 s
KILL_WINDOW_S = 0.6  # wall seconds after the round starts
MONDAY_10_HKT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DESK = ("fx.customer_exchange_operation", "fx.customer_exchange_inquiry", "fx.client_inquiry")
RECOVERY_LIMIT_S = 30
STORE = "wbo-demo-fx-bank.sqlite"


async def _bank_log(store: Path, clock: ScaledClock) -> list[Any]:
    bank = SimulatedBankChannel(str(store), clock=clock)
    try:
        return await bank.request_log()
    finally:
        await bank.close()


def _drain(receive: Any) -> list[tuple[str, str]]:  # noqa: ANN401
    out = []
    try:
        while receive.poll():
            out.append(receive.recv())
    except (EOFError, OSError):
        pass
    return out


def _integrity(db_url: str, store: Path) -> None:
    paths = [store] + ([Path(db_url.removeprefix("sqlite:///"))] if db_url.startswith("sqlite") else [])
    for path in paths:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path
        conn.close()


def _specs(rng: random.Random, client: int, round_no: int) -> list[dict[str, Any]]:
    """Four bank exchanges (HSB serves pairs beyond the pool) and one pool exchange."""
    specs = []
    for i in range(4):
        source, target, amount = (("USD", "CNH", rng.randint(10, 900)) if i % 2 == 0
                                  else ("CNH", "USD", rng.randint(100, 5000)))
        specs.append(dict(client_id=client, from_currency=source, to_currency=target, amount=str(amount),
                          order_remark=f"kill round {round_no} #{i}"))
    specs.append(dict(client_id=client, from_currency="USD", to_currency="HKD", amount=str(rng.randint(10, 500)),
                      order_remark=f"kill round {round_no} #4"))
    return specs


async def _in_flight(engine: Engine) -> Counter[str]:
    async with engine.db.connect() as conn:
        return Counter({f"order {r[0]}": r[1] for r in await conn.execute(text(
            "SELECT channel_status, count(*) FROM fx_channel_orders "
            "WHERE channel_status IN ('PENDING_SEND', 'PROCESSING', 'UNKNOWN') GROUP BY channel_status"))})


async def _recover(engine: Engine) -> None:
    """Drive every open channel order to its end, as the next console's pass would."""
    deadline = time.time() + RECOVERY_LIMIT_S
    while True:
        run = await drive_due(engine)
        assert not run.failures, run.failures
        if not await open_orders(engine):
            return
        assert time.time() < deadline, "channel orders still open after recovery"
        await asyncio.sleep(0.02)


def _check_round(round_no: int, books: Any, bank_orders: dict[str, Any], received: Counter[str]) -> int:  # noqa: ANN401
    """This round's exchanges each settled exactly once; how many there were."""
    mine = [e for e in books.exchanges if e.order_remark.startswith(f"kill round {round_no} #")]
    for e in mine:
        ref = e.forex_id
        assert e.forex_status == "SUCCEEDED", f"round {round_no}: {ref} ended {e.forex_status}"
        moves = [m for m in books.movements if m.ref == ref]
        assert sorted(m.kind for m in moves) == ["exchange_in", "exchange_out"], (ref, moves)
        (hold,) = [h for h in books.holds if h.ref == ref]
        assert hold.status == "POSTED", (ref, hold)
        assert books.audit[("fx.exchange.settle", ref)] == 1, ref
        orders = [o for o in books.orders if o.forex_id == ref]
        if e.service_strategy == "BATCH":
            assert not orders, ref
            continue
        assert [o.channel_status for o in orders] == ["SUCCEEDED"], (ref, orders)
        order = orders[0]
        at_bank = bank_orders.get(order.order_no)
        assert at_bank is not None and at_bank.state.status == "SUCCEEDED", (ref, order.order_no)
        assert at_bank.state.to_amount == order.to_amount, (ref, at_bank.state.to_amount, order.to_amount)
        assert received[order.order_no] == 1, f"{order.order_no} booked as a new order {received[order.order_no]}×"
        assert sum(1 for p in books.pnl if p.forex_id == ref) == 1, ref
    return len(mine)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_kill_9_during_bank_execution_settles_everything_once(
    engine: Engine, clock: FixedClock, db_url: str, tmp_path: Path,
) -> None:
    clock.set(MONDAY_10_HKT)
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup", tmp_path)
    admin = await login(engine, "admin")
    await new_operator(engine, admin, "fxkill", DESK)
    origin = time.time()
    scaled = ScaledClock(MONDAY_10_HKT, origin, SCALE)
    desk = await Engine.open(db_url, clock=scaled, hasher=fast_hasher())
    bank = SimulatedBankChannel(str(tmp_path / STORE), clock=scaled)
    session = await desk.login("fxkill", FRESH_PASSWORD)
    client = (await desk.query(session, ListClients(search="M-200002")))[0].id
    rng = random.Random(SEED)
    print(f"kill seed {SEED} (WBO_FX_KILL_SEED)")  # shown with a failure
    # Workers fork from a server that has imported the engine, and each warms up while
    # the round before it runs: a round's time is its work.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(fx_kill_workers.PRELOAD)

    def start_worker() -> tuple[Any, Any, Any]:
        receive, send = ctx.Pipe(duplex=False)
        go_receive, go = ctx.Pipe(duplex=False)
        process = ctx.Process(target=fx_kill_workers.run_desk, args=(
            db_url, session.model_dump_json(), MONDAY_10_HKT, origin, SCALE, client, go_receive, send), daemon=True)
        process.start()
        send.close()
        go_receive.close()
        return process, receive, go

    left: Counter[str] = Counter()
    settled = 0
    spare = None
    try:
        for round_no in range(ROUNDS):
            await bank.set_fill_delay(rng.choice([0, 2, 6]))  # seconds of the test's clock
            if rng.random() < 0.4:
                await bank.timeout_next(1, "submit")
            if rng.random() < 0.4:
                await bank.timeout_next(1, "query")
            worker, receive, go = spare or start_worker()
            spare = start_worker() if round_no + 1 < ROUNDS else None
            assert await asyncio.to_thread(receive.poll, 60), f"round {round_no}: the worker never started"
            assert receive.recv() == ("ready", ""), f"round {round_no}"
            go.send(_specs(rng, client, round_no))
            await asyncio.sleep(rng.uniform(0, KILL_WINDOW_S))
            try:
                os.kill(worker.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it finished the round first (and starting the spare reaped it)
            await asyncio.to_thread(worker.join, 10)
            reports = _drain(receive)
            receive.close()
            go.close()
            assert not [r for r in reports if r[0] in ("error", "refused")], f"round {round_no}: {reports}"
            if worker.exitcode == -signal.SIGKILL:
                left["killed"] += 1
                left.update(await _in_flight(desk))
                left["killed before settling its last exchange"] += ("done", "") not in reports
            else:
                assert worker.exitcode == 0, f"round {round_no}: exit {worker.exitcode}: {reports}"
                left["finished before the kill"] += 1

            _integrity(db_url, tmp_path / STORE)
            await bank.clear_faults()
            await _recover(desk)
            books = await read_books(desk)
            check_books(books)
            await check_against_bank(books, bank)
            bank_orders = {o.order.order_id: o for o in await bank.orders()}
            assert all(o.state.status == "SUCCEEDED" for o in bank_orders.values()), "an order left open at the bank"
            booked = Counter(r.order_id for r in await bank.request_log() if r.call == "submit"
                             and r.outcome in ("accepted", "failed"))
            submitted = [r[1] for r in reports if r[0] == "submitted"]
            count = _check_round(round_no, books, bank_orders, booked)
            assert count >= len(submitted), f"round {round_no}: reported {submitted}, found {count}"
            settled += count
            left[f"rounds with {count} exchanges committed"] += 1
    finally:
        if spare is not None:
            spare[0].kill()
            spare[0].join(10)
        await bank.close()
        for gateway in getattr(desk, "_fx_bank_gateways", {}).values():
            await gateway.close()
        await desk.close()
    assert settled > 0
    log = Counter((r.call, r.outcome) for r in await _bank_log(tmp_path / STORE, scaled))
    left.update({f"bank {call} {outcome}": n for (call, outcome), n in log.items()})
    # The kills landed at different stages: some left orders in flight for the recovery.
    in_flight = sum(v for k, v in left.items() if k.startswith("order "))
    assert left["killed"] > ROUNDS // 2 and in_flight > 0, left
    print(f"kill -9: {settled} exchanges settled; at the kills: {dict(left)}")  # measured (pytest -rP)

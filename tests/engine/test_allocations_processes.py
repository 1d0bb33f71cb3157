"""Allocations across OS processes: each event and each schedule fire time yields exactly
one allocation and one transfer at the channel, however many consoles decide at once,
however often the deciding process is killed; two checkers approving one allocation at
once execute it once; ``kill -9`` mid-execution leaves every allocation done once or not
at all (resolved by asking the channel)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import allocations_workers
import pytest
from allocations_support import (
    account_numbers,
    allocation_rows,
    check_exactly_once,
    create_rule,
    open_allocation_desk,
)
from allocations_workers import CATCH_UP_S, LEASE_S, RECHECK_S, SCALE, ScaledClock
from engine_support import START, new_operator, scalar
from positions_support import CHANNEL
from sqlalchemy import select, text
from test_engine_race import worker_pool

from wbo_tui.engine import Engine
from wbo_tui.engine.allocations import CreateManualAllocation, execution, schedule
from wbo_tui.engine.allocations.manual import APPROVAL
from wbo_tui.engine.allocations.schedule import Schedule
from wbo_tui.engine.allocations.tables import allocation_rules, allocation_triggers
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.positions import SubmitWithdrawal
from wbo_tui.engine.upstream.gateway import TransferState

CONSOLES = 3
WITHDRAWALS = 30
SCHEDULE_WINDOW_S = 120  # the two minutes: about 120 simulated days
KILL_EVERY_S = (2.0, 5.0)
APPROVAL_ROUNDS = 100
KILL_ROUNDS = 100
PER_ROUND = 4
KILL_LEASE_S = 0.2


@pytest.mark.slow
async def test_three_consoles_allocate_once_per_event(engine, db_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    desk = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    await create_rule(desk)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    go = [ctx.Queue() for _ in range(CONSOLES)]
    consoles = [ctx.Process(target=allocations_workers.run_console, args=(db_url, f"console{i}", results, go[i]),
                            daemon=True) for i in range(CONSOLES)]
    for process in consoles:
        process.start()
    ready = [results.get(timeout=120) for _ in consoles]
    assert [r[1] for r in ready] == ["ready"] * CONSOLES, ready
    stop_at = time.time() + 12
    for queue in go:
        queue.put(stop_at)
    # Withdrawals arrive while the three consoles are deciding.
    for i in range(WITHDRAWALS):
        await desk.engine.execute(desk.maker, SubmitWithdrawal(
            client_id=f"C-{i}", channel=CHANNEL, currency="HKD", principal=Decimal(10 + i), fee=Decimal(0)))
    outcomes = [results.get(timeout=stop_at - time.time() + 60) for _ in consoles]
    for process in consoles:
        process.join(timeout=30)
    assert [o[1] for o in outcomes] == ["ok"] * CONSOLES, outcomes

    rows = await allocation_rows(engine)
    assert len(rows) == WITHDRAWALS
    assert Counter(r.status for r in rows) == {"succeeded": WITHDRAWALS}
    assert sorted(r.amount for r in rows) == [Decimal(10 + i) for i in range(WITHDRAWALS)]
    assert await scalar(engine, "SELECT count(*) FROM allocation_triggers") == WITHDRAWALS
    transfers = await desk.bank.transfers()
    assert len(transfers) == WITHDRAWALS
    assert len({t.request.idempotency_key for t in transfers}) == WITHDRAWALS
    submits = await desk.bank.request_count("submit")
    assert submits == WITHDRAWALS  # no attempt was sent twice
    desk.bank.close()


# --- helpers ------------------------------------------------------------------------------


def _compress(monkeypatch: pytest.MonkeyPatch, scale: float, lease_s: float, recheck_s: float,
              catch_up_s: float | None = None) -> None:
    """The workers' compressed lease/recheck/catch-up, in this (the parent) process too."""
    monkeypatch.setattr(execution, "LEASE", timedelta(seconds=lease_s * scale))
    monkeypatch.setattr(execution, "RECHECK", timedelta(seconds=recheck_s * scale))
    if catch_up_s is not None:
        monkeypatch.setattr(schedule, "CATCH_UP", timedelta(seconds=catch_up_s * scale))


async def _unsettled(engine: Engine) -> int:
    return await scalar(engine, "SELECT count(*) FROM allocations WHERE status IN ('processing', 'unknown')")


async def _recover(engine: Engine, step: Any, pause_s: float, limit_s: float = 30) -> None:
    """Run ``step`` (a pass, or just driving) until nothing is processing or unknown."""
    deadline = time.time() + limit_s
    await step()
    while await _unsettled(engine):
        assert time.time() < deadline, "allocations still processing/unknown after recovery"
        await asyncio.sleep(pause_s)
        await step()


async def _check_ledger(engine: Engine, desk: Any) -> list[Any]:
    """Every allocation settled, and settled exactly once at the bank."""
    rows = await allocation_rows(engine)
    check_exactly_once(rows, await desk.bank.transfers(), await account_numbers(engine), settled=True)
    return rows


def _integrity(db_url: str, store: Path) -> None:
    """SQLite's own check of the database file (and of the bank's store)."""
    paths = [store] + ([Path(db_url.removeprefix("sqlite:///"))] if db_url.startswith("sqlite") else [])
    for path in paths:
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], path


def _drain(receive: Any) -> list[tuple[str, str, str]]:
    """Whatever a worker sent on its pipe before it ended (or was killed)."""
    out = []
    try:
        while receive.poll():
            out.append(receive.recv())
    except EOFError:
        pass
    return out


# --- a daily schedule on compressed time, its schedulers killed at random -----------------


@pytest.mark.slow
async def test_killed_schedulers_decide_each_fire_time_exactly_once(
    engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    desk = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    rule = await create_rule(desk, name="Daily fee float", to_account_id=desk.accounts["hkd_fee"],
                             scenario="withdrawal_fee", trigger_kind="schedule", event_kind=None,
                             schedule_kind="daily", schedule_time="09:00", amount_rule="fixed", amount=Decimal(1))
    pool_before = (await desk.bank.balance("HK-POOL-001", "HKD")).available
    ctx = multiprocessing.get_context("spawn")
    rng = random.Random(20261121)
    origin = time.time()  # the consoles' clocks read START at this wall time
    stop_at = origin + SCHEDULE_WINDOW_S
    consoles: dict[str, Any] = {}
    replies: list[Any] = []

    def start(name: str) -> None:
        receive, send = ctx.Pipe(duplex=False)
        replies.append(receive)
        consoles[name] = ctx.Process(target=allocations_workers.run_scheduled_console,
                                     args=(db_url, name, START, origin, stop_at, send), daemon=True)
        consoles[name].start()
        send.close()

    for i in range(CONSOLES):
        start(f"console{i}")
    kills = 0
    next_kill = time.time() + rng.uniform(*KILL_EVERY_S)
    while time.time() < stop_at - 3:
        await asyncio.sleep(0.1)
        if time.time() < next_kill:
            continue
        # The scheduling process: whoever submitted the latest transfer (else any).
        alive = {p.pid: name for name, p in consoles.items() if p.is_alive()}
        submits = await desk.bank.request_log("submit")
        latest = submits[-1].pid if submits else None
        victim = alive.get(latest) or rng.choice(sorted(alive.values()))
        os.kill(consoles[victim].pid, signal.SIGKILL)
        consoles[victim].join(timeout=10)
        kills += 1
        start(f"console{CONSOLES + kills - 1}")
        next_kill = time.time() + rng.uniform(*KILL_EVERY_S)
    for process in consoles.values():
        process.join(timeout=stop_at - time.time() + 30)
    reports = [message for receive in replies for message in _drain(receive)]
    assert not [r for r in reports if r[1] == "error"], reports
    assert kills >= SCHEDULE_WINDOW_S // KILL_EVERY_S[1] - 1

    # Claims held by killed consoles lapse; then every allocation is driven to its end.
    _compress(monkeypatch, SCALE, LEASE_S, RECHECK_S, CATCH_UP_S)
    recovery = await Engine.open(db_url, clock=ScaledClock(START, origin, SCALE), hasher=fast_hasher())
    try:
        await _recover(engine, lambda: execution.drive_due(recovery, "recovery"), RECHECK_S)
    finally:
        await recovery.close()
    async with engine.db.connect() as conn:
        cursor = (await conn.execute(select(allocation_rules.c.schedule_cursor).where(
            allocation_rules.c.id == rule.id))).scalar_one()
        triggers = list(await conn.execute(select(allocation_triggers).order_by(allocation_triggers.c.fire_at)))
    fires = Schedule.of("daily", "09:00", None).fire_times(START, cursor)
    assert len(fires) >= SCHEDULE_WINDOW_S - 5
    # Every fire time in the window was decided exactly once: allocated, or missed.
    assert [t.fire_at for t in triggers] == fires
    outcomes = Counter(t.outcome for t in triggers)
    assert set(outcomes) <= {"allocated", "missed"}, outcomes
    assert outcomes["allocated"] >= len(fires) // 2, outcomes
    rows = await _check_ledger(engine, desk)
    allocated = {t.allocation_id for t in triggers if t.outcome == "allocated"}
    assert {r.id for r in rows} == allocated  # one allocation per allocated fire time, no other
    assert Counter(r.status for r in rows) == {"succeeded": len(allocated)}
    transfers = await desk.bank.transfers()
    assert [t.status.state for t in transfers] == [TransferState.SUCCEEDED] * len(allocated)
    pool_after = (await desk.bank.balance("HK-POOL-001", "HKD")).available
    assert pool_before - pool_after == len(allocated)
    print(f"schedule: {len(fires)} fire times, {dict(outcomes)}, {kills} kills")  # measured (pytest -rP)
    desk.bank.close()


# --- two checkers approving one manual allocation at once -------------------------------


@pytest.mark.slow
async def test_two_checkers_approving_one_allocation_at_once_execute_it_once(
    engine, db_url: str, tmp_path: Path  # noqa: ANN001
) -> None:
    desk = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    second = await new_operator(engine, desk.admin, "checker2", [APPROVAL])
    async with worker_pool(db_url, desk.checker, second) as workers:
        for round_no in range(APPROVAL_ROUNDS):
            created = await engine.execute(desk.maker, CreateManualAllocation(
                from_account_id=desk.accounts["hkd_pool"], to_account_id=desk.accounts["hkd_fee"], currency="HKD",
                amount=Decimal(round_no + 1), remarks=f"race round {round_no}"))
            outcomes = await workers.run_round(round_no, "decide", (created.approval_id,) * 2, ("approve", "approve"))
            assert sorted(o[3][0] for o in outcomes) == ["already", "ok"], outcomes
            status = await scalar(engine, "SELECT status FROM allocations WHERE order_no = :o", o=created.order_no)
            assert status == "succeeded", f"round {round_no}: {created.order_no} is {status}"
    rows = await _check_ledger(engine, desk)
    assert Counter(r.status for r in rows) == {"succeeded": APPROVAL_ROUNDS}
    assert sorted(r.amount for r in rows) == [Decimal(n + 1) for n in range(APPROVAL_ROUNDS)]
    assert await desk.bank.request_count("submit") == APPROVAL_ROUNDS  # one submit each, no replay
    for action in ("allocation.processing", "allocation.succeeded"):  # one approval, one execution each
        assert await scalar(engine, "SELECT count(*) FROM audit_log WHERE action = :a", a=action) == APPROVAL_ROUNDS
    desk.bank.close()


# --- kill -9 in the middle of executing allocations -------------------------------------


@pytest.mark.slow
async def test_kill_9_mid_execution_leaves_every_allocation_done_once_or_not_at_all(
    engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: ANN001
) -> None:
    desk = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    await create_rule(desk)
    _compress(monkeypatch, 1.0, KILL_LEASE_S, KILL_LEASE_S / 2)
    # A worker starts in milliseconds from a fork server that has imported the engine.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["allocations_workers"])
    rng = random.Random(9)
    recovery = await Engine.open(db_url, hasher=fast_hasher())  # wall clock, as the workers
    recovery.holder = "recovery"
    killed_with: Counter[str] = Counter()
    try:
        for round_no in range(KILL_ROUNDS):
            for i in range(PER_ROUND):
                await engine.execute(desk.maker, SubmitWithdrawal(
                    client_id=f"C-{round_no}-{i}", channel=CHANNEL, currency="HKD",
                    principal=Decimal(rng.randint(1, 500)), fee=Decimal(0)))
            if round_no % 3:  # an answer lost in transit: the transfer made, or never made
                await desk.bank.inject_timeout("submit", executed=round_no % 3 == 1)
            receive, send = ctx.Pipe(duplex=False)
            worker = ctx.Process(target=allocations_workers.run_allocation_passes,
                                 args=(db_url, f"worker{round_no}", KILL_LEASE_S, send), daemon=True)
            worker.start()
            send.close()
            assert await asyncio.to_thread(receive.poll, 60), f"round {round_no}: the worker never started"
            ready = receive.recv()
            assert ready == (f"worker{round_no}", "ready", ""), ready
            await asyncio.sleep(rng.uniform(0, 0.2))
            os.kill(worker.pid, signal.SIGKILL)
            await asyncio.to_thread(worker.join, 10)
            assert worker.exitcode == -signal.SIGKILL, f"round {round_no}: {_drain(receive)}"
            receive.close()
            killed_with.update(await _statuses(engine))

            _integrity(db_url, tmp_path / "bank.sqlite")
            await _recover(engine, recovery.run_allocations, KILL_LEASE_S / 2)
            await desk.bank.clear_faults()
            expected = (round_no + 1) * PER_ROUND
            assert await scalar(engine, "SELECT count(*) FROM allocation_triggers") == expected
            rows = await _check_ledger(engine, desk)
            assert Counter(r.status for r in rows) == {"succeeded": expected}, f"round {round_no}"
    finally:
        await recovery.close()
    transfers = await desk.bank.transfers()
    assert len(transfers) == KILL_ROUNDS * PER_ROUND
    # The kills landed at different stages: some allocations were left mid-way.
    assert killed_with["processing"] + killed_with["unknown"] > 0, killed_with
    print(f"kill -9: left in flight by the kills: {dict(killed_with)}")  # measured (pytest -rP)
    desk.bank.close()


async def _statuses(engine: Engine) -> Counter[str]:
    """What the kill left behind (allocations still in flight count as such)."""
    async with engine.db.connect() as conn:
        return Counter({r[0]: r[1] for r in await conn.execute(text(
            "SELECT status, count(*) FROM allocations WHERE status IN ('processing', 'unknown') GROUP BY status"))})

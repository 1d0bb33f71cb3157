"""Position management across OS processes: one upstream poll per interval however many
consoles run, and one decision per withdrawal however many checkers click at once."""

from __future__ import annotations

import math
import multiprocessing
import time
from pathlib import Path

import pytest
import positions_workers
from engine_support import new_operator, scalar
from positions_support import CHANNEL, open_desk
from test_engine_race import worker_pool

from wbo_tui.engine.positions import ListWithdrawals, SubmitWithdrawal

CONSOLES = 3
INTERVALS = 20
INTERVAL_S = 1
ROUNDS = 20


@pytest.mark.slow
async def test_three_consoles_make_one_upstream_poll_per_interval(engine, db_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    desk = await open_desk(engine, tmp_path / "bank.sqlite")
    before = await desk.bank.request_count("balances")
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    go = [ctx.Queue() for _ in range(CONSOLES)]
    consoles = [
        ctx.Process(target=positions_workers.run_console,
                    args=(db_url, f"console{i}", INTERVAL_S, results, go[i]), daemon=True)
        for i in range(CONSOLES)
    ]
    for process in consoles:
        process.start()
    ready = [results.get(timeout=120) for _ in consoles]
    assert [r[1] for r in ready] == ["ready"] * CONSOLES, ready
    # Start every scheduler half an interval before a slot boundary, so each tick lands
    # mid-slot; stop them just before the 21st slot.
    boundary = math.ceil(time.time()) + 2
    start_at = boundary - INTERVAL_S / 2
    stop_at = boundary + INTERVALS * INTERVAL_S - 0.1
    for queue in go:
        queue.put((start_at, stop_at))
    outcomes = [results.get(timeout=stop_at - time.time() + 60) for _ in consoles]
    for process in consoles:
        process.join(timeout=30)
    assert [o[1] for o in outcomes] == ["ok"] * CONSOLES, outcomes

    polls = await desk.bank.request_count("balances") - before
    slots = await scalar(engine, "SELECT count(*) FROM poll_runs WHERE slot LIKE 'scheduled:%'")
    holders = await scalar(engine, "SELECT count(DISTINCT holder) FROM poll_runs WHERE slot LIKE 'scheduled:%'")
    assert (polls, slots) == (INTERVALS, INTERVALS)
    assert holders >= 1
    ok = await scalar(engine, "SELECT count(*) FROM positions WHERE poll_status = 'OK'")
    assert ok == len(desk.accounts)
    desk.bank.close()


@pytest.mark.slow
async def test_two_checkers_approving_one_withdrawal_at_once_approve_it_once(engine, db_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    desk = await open_desk(engine, tmp_path / "bank.sqlite")
    await desk.engine.poll_positions(slot="test:0", holder="tests")
    second = await new_operator(engine, desk.admin, "checker2", ["assets.withdrawal_application_approval"])
    async with worker_pool(db_url, desk.checker, second) as workers:
        for round_no in range(ROUNDS):
            wd = await engine.execute(desk.maker, SubmitWithdrawal(
                client_id=f"C-{round_no}", channel=CHANNEL, currency="HKD", principal="10.00", fee="1.00"))
            outcomes = await workers.run_round(round_no, "decide", (wd.approval_id, wd.approval_id),
                                               ("approve", "approve"))
            results = sorted(o[3][0] for o in outcomes)
            assert results == ["already", "ok"], outcomes
    approved = await engine.query(desk.checker, ListWithdrawals(status="APPROVED"))
    assert len(approved) == ROUNDS
    audits = await scalar(engine, "SELECT count(*) FROM audit_log WHERE action = 'withdrawal.approve'")
    assert audits == ROUNDS
    desk.bank.close()

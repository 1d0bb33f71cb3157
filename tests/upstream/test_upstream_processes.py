"""One simulated bank shared by several OS processes (several console processes): what
one does the others see, concurrent transfers never overdraw, and the request log counts
calls from all of them.  Also the bank served by its own process over HTTP."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import upstream_workers

from wbo_tui.engine.upstream import HttpGateway, SimulatedUpstream, TransferRequest, TransferState

D = Decimal
TIMEOUT_S = 60
pytestmark = pytest.mark.slow


async def run_processes(store: Path, jobs: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
    """Run each ``(job, args)`` in its own spawned process, all starting together;
    returns their values in job order (the jobs' names must differ, or their order
    must not matter)."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(jobs))
    results = ctx.Queue()
    processes = [
        ctx.Process(target=upstream_workers.run, args=(job, str(store), args, barrier, results), daemon=True)
        for job, args in jobs
    ]
    for process in processes:
        process.start()
    try:
        reports = [await asyncio.to_thread(results.get, True, TIMEOUT_S) for _ in processes]
    finally:
        for process in processes:
            await asyncio.to_thread(process.join, TIMEOUT_S)
    failures = [r[2] for r in reports if r[1] != "ok"]
    assert not failures, "\n".join(failures)
    return [r[2] for r in reports]


async def test_a_transfer_made_in_one_process_is_seen_in_another(store: Path) -> None:
    sim = SimulatedUpstream(store)
    await sim.set_balances([("HK-001", "HKD", D("100")), ("HK-002", "HKD", D("0"))])

    [state] = await run_processes(store, [("submit_one", ("K-1", "HK-001", "HK-002", "40"))])
    assert state == "SUCCEEDED"
    assert (await sim.transfer_status("K-1")).state is TransferState.SUCCEEDED
    assert (await sim.balance("HK-002", "HKD")).available == D("40")  # type: ignore[union-attr]

    # And back: another process sees this one's transfer, and a resubmit from yet
    # another process with the same key is a replay, not a second payment.
    await sim.submit_transfer(TransferRequest("K-2", "HK-002", "HK-001", "HKD", D("15")))
    status, replayed = await _status_then_replay(store)
    assert status == ["SUCCEEDED", "SIM-00000002"]
    assert replayed == "SUCCEEDED"
    assert len(await sim.transfers()) == 2
    assert (await sim.balance("HK-001", "HKD")).available == D("75")  # type: ignore[union-attr]
    assert len({e.pid for e in await sim.request_log()}) == 4  # this process and the three workers
    await sim.aclose()


async def _status_then_replay(store: Path) -> tuple[list[Any], str]:
    [status] = await run_processes(store, [("status", ("K-2",))])
    [replayed] = await run_processes(store, [("submit_one", ("K-1", "HK-001", "HK-002", "40"))])
    return list(status), replayed


async def test_concurrent_transfers_from_one_account_never_overdraw(store: Path) -> None:
    sim = SimulatedUpstream(store)
    workers, per_worker = 4, 15
    await sim.set_balances([("SRC", "HKD", D("100.00"))] + [(f"DST-{w}", "HKD", D("0")) for w in range(workers)])
    before = await sim.totals()

    outcomes = await run_processes(
        store, [("transfers", (f"W{w}", "SRC", f"DST-{w}", "3.00", per_worker)) for w in range(workers)]
    )

    states = [s for worker in outcomes for s in worker]
    # 100.00 covers exactly 33 transfers of 3.00; every one after that must fail.
    assert states.count("SUCCEEDED") == 33
    assert states.count("FAILED") == workers * per_worker - 33
    source = await sim.balance("SRC", "HKD")
    assert source is not None and source.available == D("1.00") and source.in_transit == 0
    received = [await sim.balance(f"DST-{w}", "HKD") for w in range(workers)]
    assert sum(b.available for b in received if b) == D("99.00")
    assert await sim.totals() == before
    assert await sim.request_count("submit") == workers * per_worker
    await sim.aclose()


async def test_request_log_counts_polls_from_every_process(store: Path) -> None:
    sim = SimulatedUpstream(store)
    accounts = [f"CH-{i:03d}" for i in range(200)]
    await sim.set_balances([(a, f"C{j:02d}", D("1")) for a in accounts for j in range(20)])

    rows = await run_processes(store, [("poll", (accounts, 10)), ("poll", (accounts, 10))])

    assert rows == [40_000, 40_000]
    assert await sim.request_count("balances") == 20  # exactly 20 polls, whoever made them
    assert len({e.pid for e in await sim.request_log("balances")}) == 2
    await sim.aclose()


async def test_bank_served_by_its_own_process(store: Path, tmp_path: Path) -> None:
    sim = SimulatedUpstream(store)
    await sim.set_balances([("HK-001", "HKD", D("10")), ("HK-002", "HKD", D("0"))])
    bank = subprocess.Popen(
        [sys.executable, "-m", "wbo_tui.engine.upstream.http_server", "--store", str(store), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(bank.stdout.readline), TIMEOUT_S)  # type: ignore[union-attr]
        assert line.startswith("listening on http://127.0.0.1:"), line
        async with HttpGateway(line.split()[-1], timeout_s=10) as client:
            status = await client.submit_transfer(TransferRequest("K-1", "HK-001", "HK-002", "HKD", D("2.5")))
            balances = await client.fetch_balances(["HK-001", "HK-002"])
        assert status.state is TransferState.SUCCEEDED
        assert [b.available for b in balances] == [D("7.5"), D("2.5")]
        assert {e.pid for e in await sim.request_log()} == {bank.pid}
    finally:
        bank.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(bank.wait, TIMEOUT_S) == 0
        await sim.aclose()

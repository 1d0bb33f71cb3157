"""Worker processes for the upstream concurrency tests: each is a separate OS process
(spawned) with its own ``SimulatedUpstream`` on the shared store, like another console."""

from __future__ import annotations

import asyncio
import traceback
from decimal import Decimal
from typing import Any

from wbo_tui.engine.upstream import SimulatedUpstream, TransferRequest


def run(job: str, store: str, args: tuple[Any, ...], barrier: Any, results: Any) -> None:
    """Process entry point: wait for the others at ``barrier``, do ``job``, report
    ``(job, "ok", value)`` or ``(job, "error", traceback)`` on ``results``."""
    try:
        value = asyncio.run(JOBS[job](SimulatedUpstream(store), barrier, *args))
        results.put((job, "ok", value))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put((job, "error", traceback.format_exc()))


async def _poll(sim: SimulatedUpstream, barrier: Any, accounts: list[str], times: int) -> int:
    barrier.wait()
    rows = 0
    for _ in range(times):
        rows += len(await sim.fetch_balances(accounts))
    await sim.aclose()
    return rows


async def _transfers(
    sim: SimulatedUpstream, barrier: Any, prefix: str, source: str, destination: str, amount: str, count: int
) -> list[str]:
    barrier.wait()
    states = []
    for i in range(count):
        status = await sim.submit_transfer(TransferRequest(f"{prefix}-{i}", source, destination, "HKD", Decimal(amount)))
        states.append(status.state.value)
    await sim.aclose()
    return states


async def _submit_one(sim: SimulatedUpstream, barrier: Any, key: str, source: str, destination: str, amount: str) -> str:
    barrier.wait()
    status = await sim.submit_transfer(TransferRequest(key, source, destination, "HKD", Decimal(amount)))
    await sim.aclose()
    return status.state.value


async def _status(sim: SimulatedUpstream, barrier: Any, key: str) -> tuple[str, str | None]:
    barrier.wait()
    status = await sim.transfer_status(key)
    await sim.aclose()
    return status.state.value, status.transfer_ref


JOBS = {"poll": _poll, "transfers": _transfers, "submit_one": _submit_one, "status": _status}

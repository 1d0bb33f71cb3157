"""Worker processes for the rate-source tests: each is a separate OS process (spawned, so
nothing is inherited but what is passed) with its own ``SimulatedRateSource`` on the
shared store and its own fixed clock, like another console refreshing rates."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import traceback
from datetime import datetime
from typing import Any

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.fx.rate_source import SimulatedRateSource

TIMEOUT_S = 120  # a spawned process imports the whole engine; generous, never reached when all is well


def fetch_rates(store: str, at_iso: str, channel_name: str, rate_type: str, barrier: Any, results: Any) -> None:
    """Wait for the others at ``barrier``, fetch once at ``at_iso``, and report
    ``("ok", pid, rows)`` or ``("error", pid, traceback)``; rows are strings so that the
    parent compares the exact digits."""
    try:
        rows = asyncio.run(_fetch(store, at_iso, channel_name, rate_type, barrier))
        results.put(("ok", os.getpid(), rows))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", os.getpid(), traceback.format_exc()))


async def _fetch(store: str, at_iso: str, channel_name: str, rate_type: str, barrier: Any) -> list[tuple[str, ...]]:
    source = SimulatedRateSource(store, clock=FixedClock(datetime.fromisoformat(at_iso)))
    barrier.wait()
    try:
        snapshot = await source.fetch(channel_name, rate_type)
    finally:
        await source.close()
    return [
        (r.other_currency, str(r.bid_rate), str(r.offer_rate), str(r.average_rate), r.record_date) for r in snapshot.rates
    ]


def run_fetchers(store: str, at_iso: str, channel_name: str, rate_type: str, count: int) -> list[tuple[str, int, Any]]:
    """Start ``count`` spawned processes that fetch together; their reports, in arrival
    order.  Blocking: call it from a thread."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(count), ctx.Queue()
    processes = [
        ctx.Process(target=fetch_rates, args=(store, at_iso, channel_name, rate_type, barrier, results), daemon=True)
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    try:
        return [results.get(True, TIMEOUT_S) for _ in processes]
    finally:
        for process in processes:
            process.join(TIMEOUT_S)

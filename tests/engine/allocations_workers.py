"""Console processes for the allocation process tests: the real allocation schedule
(APScheduler) deciding events and driving transfers; a console on a compressed clock
running a daily rule; and a bare pass loop that the parent kills with SIGKILL."""

from __future__ import annotations

import asyncio
import time
import traceback
from datetime import datetime, timedelta
from typing import Any

from wbo_tui.engine import Engine
from wbo_tui.engine.allocations import execution, schedule
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.scheduler import EngineScheduler


class ScaledClock:
    """A Clock on which time runs ``scale`` times faster than the wall clock, from
    ``start`` at the wall time ``origin`` (shared by every process of a test, so their
    clocks agree): with scale 86400 a daily schedule fires every real second."""

    def __init__(self, start: datetime, origin: float, scale: float) -> None:
        self.start, self.origin, self.scale = start, origin, scale

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.origin) * self.scale)


def compress_time(scale: float, *, lease_s: float, recheck_s: float, catch_up_s: float | None = None) -> None:
    """Set the allocation engine's lease, recheck delay (and catch-up window) to these
    *wall* durations on a clock running ``scale`` times fast (in the worker and in the parent)."""
    execution.LEASE = timedelta(seconds=lease_s * scale)
    execution.RECHECK = timedelta(seconds=recheck_s * scale)
    if catch_up_s is not None:
        schedule.CATCH_UP = timedelta(seconds=catch_up_s * scale)


async def _run(url: str, name: str, results: Any, go: Any) -> None:
    engine = await Engine.open(url, hasher=fast_hasher())
    engine.holder = name
    # Polling out of the way (an hour); allocation passes every 50 ms.
    scheduler = EngineScheduler(engine, poll_interval_s=3600, holder=name, allocation_interval_s=0.05)
    try:
        results.put((name, "ready", ""))
        stop_at = await asyncio.to_thread(go.get, True, 120)
        scheduler.start()
        await asyncio.sleep(max(0.0, stop_at - time.time()))
    finally:
        scheduler.shutdown()
        await asyncio.sleep(0.3)  # a pass in flight finishes its transaction
        await engine.close()


def run_console(url: str, name: str, results: Any, go: Any) -> None:
    try:
        asyncio.run(_run(url, name, results, go))
        results.put((name, "ok", ""))
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put((name, "error", traceback.format_exc()))


# --- a console on a compressed clock (one real second is one simulated day) ----------------

SCALE = 86400.0
LEASE_S = 2.0  # wall seconds a claim lasts (30 simulated seconds would be 0.3 ms here)
RECHECK_S = 0.2
CATCH_UP_S = 0.25  # wall seconds: six simulated hours


async def _run_scheduled(url: str, name: str, start: datetime, origin: float, stop_at: float, reply: Any) -> None:
    compress_time(SCALE, lease_s=LEASE_S, recheck_s=RECHECK_S, catch_up_s=CATCH_UP_S)
    engine = await Engine.open(url, clock=ScaledClock(start, origin, SCALE), hasher=fast_hasher())
    engine.holder = name
    scheduler = EngineScheduler(engine, poll_interval_s=3600, holder=name, allocation_interval_s=0.05)
    try:
        scheduler.start()
        reply.send((name, "ready", ""))
        await asyncio.sleep(max(0.0, stop_at - time.time()))
    finally:
        scheduler.shutdown()
        await asyncio.sleep(0.3)  # a pass in flight finishes its transaction
        await engine.close()


def run_scheduled_console(url: str, name: str, start: datetime, origin: float, stop_at: float, reply: Any) -> None:
    """Run the allocation schedule until ``stop_at`` (wall time) unless killed first.
    ``reply`` is this process's own pipe: a process killed while writing to a shared
    queue would leave its lock held and block every other writer."""
    try:
        asyncio.run(_run_scheduled(url, name, start, origin, stop_at, reply))
        reply.send((name, "ok", ""))
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the test
        reply.send((name, "error", traceback.format_exc()))


# --- a pass loop to be killed -------------------------------------------------------------


async def _drive(url: str, name: str, lease_s: float, reply: Any) -> None:
    compress_time(1.0, lease_s=lease_s, recheck_s=lease_s / 2)
    engine = await Engine.open(url, hasher=fast_hasher())
    engine.holder = name
    reply.send((name, "ready", ""))
    while True:  # until SIGKILL
        report = await engine.run_allocations()
        if not (report.events or report.allocations or report.driven):
            await asyncio.sleep(0.01)


def run_allocation_passes(url: str, name: str, lease_s: float, reply: Any) -> None:
    """Decide events and drive transfers in a loop until the parent kills this process
    (``reply``: this process's own pipe, as in ``run_scheduled_console``)."""
    try:
        asyncio.run(_drive(url, name, lease_s, reply))
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the test
        reply.send((name, "error", traceback.format_exc()))

"""A console process running the real allocation schedule (APScheduler) for the
exactly-once test: it decides events and drives transfers until told to stop."""

from __future__ import annotations

import asyncio
import time
import traceback
from typing import Any

from wbo_tui.engine import Engine
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.scheduler import EngineScheduler


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

"""A console process running the real poll schedule (APScheduler) for the polling test."""

from __future__ import annotations

import asyncio
import time
import traceback
from typing import Any

from wbo_tui.engine import Engine
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.scheduler import EngineScheduler


async def _run(url: str, name: str, interval_s: int, results: Any, go: Any) -> int:
    engine = await Engine.open(url, hasher=fast_hasher())
    scheduler = EngineScheduler(engine, poll_interval_s=interval_s, holder=name)
    try:
        # Tell the parent this console is up, then wait for the common start and stop
        # moments (chosen once every console is ready, so a slow start loses no slot).
        results.put((name, "ready", ""))
        start_at, stop_at = await asyncio.to_thread(go.get, True, 120)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        scheduler.start()
        await asyncio.sleep(max(0.0, stop_at - time.time()))
    finally:
        scheduler.shutdown()
        await asyncio.sleep(0.2)  # a tick in flight finishes its transaction
        await engine.close()
    return 0


def run_console(url: str, name: str, interval_s: int, results: Any, go: Any) -> None:
    """Process entry point: one console's scheduler between two wall-clock moments."""
    try:
        asyncio.run(_run(url, name, interval_s, results, go))
        results.put((name, "ok", ""))
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put((name, "error", traceback.format_exc()))

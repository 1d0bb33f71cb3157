"""Worker processes for the approval races: each is a console of its own (a spawned OS
process with its own ``Engine`` on the shared database) whose operator logs in there by
username and password and approves the item it is given when both workers reach the
barrier — the four-eyes race of two administrators, the reservations race of two
checkers."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from wbo_tui.engine import AlreadyDecided, ApproveItem, Engine, SessionInfo, WboError
from wbo_tui.engine.passwords import fast_hasher


async def _approve(engine: Engine, session: SessionInfo, approval_id: int) -> tuple[str, str]:
    try:
        decided = await engine.execute(session, ApproveItem(approval_id=approval_id))
    except AlreadyDecided as exc:
        return "already", str(exc)
    except WboError as exc:
        return type(exc).__name__, str(exc)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", decided.status


def run_approver(url: str, username: str, password: str, tasks: Any, results: Any, barrier: Any) -> None:
    """Process entry point.  Tasks: ``(round, approval_id)``, or None to stop.  Reports
    ``("ready", username, None)`` once logged in, then ``(round, username, (outcome, detail))``."""
    loop = asyncio.new_event_loop()
    engine = None
    try:
        engine = loop.run_until_complete(Engine.open(url, hasher=fast_hasher()))
        session = loop.run_until_complete(engine.login(username, password))
        results.put(("ready", username, None))
        while True:
            task = tasks.get()
            if task is None:
                break
            round_no, approval_id = task
            barrier.wait(timeout=60)
            results.put((round_no, username, loop.run_until_complete(_approve(engine, session, approval_id))))
    except BaseException:  # noqa: BLE001 - the parent must learn why a worker died
        results.put(("crashed", username, ("error", traceback.format_exc())))
        raise
    finally:
        if engine is not None:
            loop.run_until_complete(engine.close())
        loop.close()

"""Worker processes for the concurrency tests.

Each worker is a separate OS process (spawned, so nothing is inherited but what is
pickled) with its own ``Engine`` on the shared database, like a second console.  It
waits for tasks on its own queue, meets the other worker at a barrier, acts, and
reports what happened on the shared results queue.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from wbo_tui.engine import AlreadyDecided, ApproveItem, Engine, RejectItem, SetOperatorEnabled, WboError
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.uow import Actor


async def _decide(engine: Engine, actor: Actor, approval_id: int, decision: str) -> tuple[str, str]:
    command = (
        ApproveItem(approval_id=approval_id)
        if decision == "approve"
        else RejectItem(approval_id=approval_id, reason=f"rejected by {actor.username}")
    )
    try:
        result = await engine.execute(actor, command)
    except AlreadyDecided as exc:
        return "already", str(exc)
    except WboError as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", result.status


async def _append(engine: Engine, actor: Actor, count: int) -> tuple[str, str]:
    """``count`` audited writes in a row (a logout writes exactly one record)."""
    errors = []
    for _ in range(count):
        try:
            await engine.logout(actor)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}")
    return ("ok", str(count)) if not errors else ("error", "; ".join(errors[:3]))


async def _disable(engine: Engine, actor: Actor, username: str) -> tuple[str, str]:
    try:
        await engine.execute(actor, SetOperatorEnabled(username=username, enabled=False))
    except WboError as exc:
        return type(exc).__name__, str(exc)
    except Exception as exc:  # noqa: BLE001
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", username


def run_worker(url: str, name: str, operator_id: int, username: str, tasks: Any, results: Any, barrier: Any) -> None:
    """Process entry point.  Tasks: ``(round, "decide", approval_id, "approve"|"reject")``,
    ``(round, "append", count, None)``, ``(round, "disable", username, None)``, or None to stop."""
    loop = asyncio.new_event_loop()
    engine = None
    try:
        engine = loop.run_until_complete(Engine.open(url, hasher=fast_hasher()))
        actor = Actor(operator_id, username)
        results.put(("ready", name, None, None))
        while True:
            task = tasks.get()
            if task is None:
                break
            round_no, kind, arg, decision = task
            barrier.wait(timeout=60)
            if kind == "decide":
                outcome = loop.run_until_complete(_decide(engine, actor, arg, decision))
            elif kind == "disable":
                outcome = loop.run_until_complete(_disable(engine, actor, arg))
            else:
                outcome = loop.run_until_complete(_append(engine, actor, arg))
            results.put((round_no, name, decision, outcome))
    except BaseException:  # noqa: BLE001 - the parent must learn why a worker died
        results.put(("crashed", name, None, ("error", traceback.format_exc())))
        raise
    finally:
        if engine is not None:
            loop.run_until_complete(engine.close())
        loop.close()

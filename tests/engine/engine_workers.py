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

from wbo_tui.engine import (
    AlreadyDecided,
    ApproveItem,
    Engine,
    FixedClock,
    RejectItem,
    SessionInfo,
    SetOperatorEnabled,
    WboError,
)
from wbo_tui.engine.passwords import fast_hasher


async def _decide(engine: Engine, actor: SessionInfo, approval_id: int, decision: str) -> tuple[str, str]:
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


async def _append(engine: Engine, actor: SessionInfo, count: int) -> tuple[str, str]:
    """``count`` audited writes in a row (locking the session writes exactly one record,
    and a locked session may be locked again)."""
    errors = []
    for _ in range(count):
        try:
            await engine.lock_session(actor)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}")
    return ("ok", str(count)) if not errors else ("error", "; ".join(errors[:3]))


async def _disable(engine: Engine, actor: SessionInfo, username: str) -> tuple[str, str]:
    try:
        await engine.execute(actor, SetOperatorEnabled(username=username, enabled=False))
    except WboError as exc:
        return type(exc).__name__, str(exc)
    except Exception as exc:  # noqa: BLE001
        return "error", f"{type(exc).__name__}: {exc}"
    return "ok", username


def run_worker(url: str, name: str, session_json: str, tasks: Any, results: Any, barrier: Any) -> None:
    """Process entry point.  Tasks: ``(round, "decide", approval_id, "approve"|"reject")``,
    ``(round, "append", count, None)``, ``(round, "disable", username, None)``, or None to stop."""
    loop = asyncio.new_event_loop()
    engine = None
    try:
        # The operator's session, as the parent's login made it: a second console that
        # holds the same token (the engine checks it in every transaction), on the
        # parent's fixed clock, at which the session is live.
        actor = SessionInfo.model_validate_json(session_json)
        engine = loop.run_until_complete(Engine.open(url, hasher=fast_hasher(), clock=FixedClock(actor.login_at)))
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


def run_with_session(url: str, session_json: str, role: str) -> str:
    """In a process of its own: create ``role`` with the session the parent logged in
    (at the session's login time, as the parent's fixed clock has it)."""
    from wbo_tui.engine import CreateRole

    session = SessionInfo.model_validate_json(session_json)

    async def go() -> str:
        engine = await Engine.open(url, hasher=fast_hasher(), clock=FixedClock(session.login_at))
        try:
            await engine.execute(session, CreateRole(name=role))
        except WboError as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            await engine.close()
        return "ok"

    return asyncio.run(go())

"""Worker processes for ``test_margin_processes``: each is a console of its own (a spawned
OS process with its own ``Engine`` on the shared database) holding one trader's session,
which liquidates the call it is given when both workers reach the barrier."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from wbo_tui.engine import Conflict, Engine, FixedClock, SessionInfo, WboError
from wbo_tui.engine import margin
from wbo_tui.engine.passwords import fast_hasher


async def _liquidate(engine: Engine, session: SessionInfo, call_id: int,
                     lines: list[tuple[str, int]]) -> tuple[str, str]:
    command = margin.Liquidate(call_id=call_id, lines=tuple(
        margin.LineInput(code=code, quantity=quantity) for code, quantity in lines))
    try:
        sent = await engine.execute(session, command)
    except Conflict as exc:
        return "refused", str(exc)
    except WboError as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the test
        return "error", traceback.format_exc()
    return "ok", f"{sent.in_progress} order(s)"


def run_trader(url: str, session_json: str, tasks: Any, results: Any, barrier: Any) -> None:  # noqa: ANN401
    """Process entry point.  Tasks: ``(round, call_id, [(code, quantity), ...])``, or None
    to stop.  Reports ``("ready", username, None)`` once its engine is open, then
    ``(round, username, (outcome, detail))`` per task: ok, refused (a ``Conflict``) or
    error."""
    loop = asyncio.new_event_loop()
    engine = None
    session = SessionInfo.model_validate_json(session_json)
    try:
        # The parent's fixed clock stands at the session's login time: the session is live,
        # and the simulated market (hence the venue's) is the one the plan was priced on.
        engine = loop.run_until_complete(Engine.open(url, hasher=fast_hasher(), clock=FixedClock(session.login_at)))
        results.put(("ready", session.username, None))
        while True:
            task = tasks.get()
            if task is None:
                break
            round_no, call_id, lines = task
            barrier.wait(timeout=60)
            outcome = loop.run_until_complete(_liquidate(engine, session, call_id, lines))
            results.put((round_no, session.username, outcome))
    except BaseException:  # noqa: BLE001 - the parent must learn why a worker died
        results.put(("crashed", session.username, ("error", traceback.format_exc())))
        raise
    finally:
        if engine is not None:
            loop.run_until_complete(engine.close())
        loop.close()

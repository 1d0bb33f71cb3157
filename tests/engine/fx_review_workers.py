"""Worker processes for ``test_fx_review_processes``: each is a console of its own (a
spawned OS process with its own ``Engine`` on the shared database) holding one checker's
session, which reviews the client exchange it is given when both workers reach the
barrier."""

from __future__ import annotations

import asyncio
import traceback
from typing import Any

from wbo_tui.engine import Conflict, Engine, FixedClock, SessionInfo, WboError
from wbo_tui.engine.fx import ReviewClientExchange
from wbo_tui.engine.passwords import fast_hasher


async def _review(engine: Engine, session: SessionInfo, exchange_id: int, decision: str) -> tuple[str, str]:
    approve = decision == "approve"
    command = ReviewClientExchange(exchange_id=exchange_id, approve=approve,
                                   audit_remark="" if approve else f"rejected by {session.username}")
    try:
        reviewed = await engine.execute(session, command)
    except Conflict as exc:
        return "refused", str(exc)
    except WboError as exc:
        return "error", f"{type(exc).__name__}: {exc}"
    except Exception:  # noqa: BLE001 - reported to the parent, which fails the test
        return "error", traceback.format_exc()
    return "ok", f"{reviewed.forex_status}/{reviewed.audit_status}"


def run_reviewer(url: str, session_json: str, tasks: Any, results: Any, barrier: Any) -> None:  # noqa: ANN401
    """Process entry point.  Tasks: ``(round, exchange_id, "approve"|"reject")``, or None
    to stop.  Reports ``("ready", username, None, None)`` once its engine is open, then
    ``(round, username, decision, (outcome, detail))`` per task."""
    loop = asyncio.new_event_loop()
    engine = None
    session = SessionInfo.model_validate_json(session_json)
    try:
        # The parent's fixed clock stands at the session's login time: the session is live.
        engine = loop.run_until_complete(Engine.open(url, hasher=fast_hasher(), clock=FixedClock(session.login_at)))
        results.put(("ready", session.username, None, None))
        while True:
            task = tasks.get()
            if task is None:
                break
            round_no, exchange_id, decision = task
            barrier.wait(timeout=60)
            outcome = loop.run_until_complete(_review(engine, session, exchange_id, decision))
            results.put((round_no, session.username, decision, outcome))
    except BaseException:  # noqa: BLE001 - the parent must learn why a worker died
        results.put(("crashed", session.username, None, ("error", traceback.format_exc())))
        raise
    finally:
        if engine is not None:
            for gateway in getattr(engine, "_fx_bank_gateways", {}).values():
                loop.run_until_complete(gateway.close())
            loop.run_until_complete(engine.close())
        loop.close()

"""The other console of the change-feed tests: a spawned OS process with its own engine
that commits one change and exits."""

from __future__ import annotations

import asyncio

from engine_support import START

from wbo_tui.engine import Engine, FixedClock, RequestPermission, SessionInfo
from wbo_tui.engine.passwords import fast_hasher


async def _request(db_url: str, session_json: str, permission: str) -> None:
    engine = await Engine.open(db_url, clock=FixedClock(START), hasher=fast_hasher())
    try:
        session = SessionInfo.model_validate_json(session_json)
        await engine.execute(session, RequestPermission(permission_code=permission, reason="change feed test"))
    finally:
        await engine.close()


def request_permission(db_url: str, session_json: str, permission: str) -> None:
    """File a permission request as the session's operator: one committed approval item."""
    asyncio.run(_request(db_url, session_json, permission))

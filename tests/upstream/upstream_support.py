"""Constants and helpers shared by the upstream tests (imported by plain name: the
folder is on sys.path, see conftest.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

START = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
# Long enough for a loaded CI machine to answer a normal request, short enough to keep
# the timeout tests quick; injected delays are several times longer.
CLIENT_TIMEOUT_S = 0.5
HOLD_S = 5.0


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, limit_s: float = 20.0) -> None:
    """Wait for something another thread or process does (not a timing assertion: the
    limit only keeps a broken test from hanging)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.01)

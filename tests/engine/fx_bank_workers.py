"""A process driving the open bank exchange orders (``test_fx_bank_execution``)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine.fx.channel_execution import drive_due
from wbo_tui.engine.passwords import fast_hasher


def drive(db_url: str, moment: str) -> None:
    async def run() -> None:
        clock = FixedClock(datetime.fromisoformat(moment) + timedelta(seconds=10))
        engine = await Engine.open(db_url, hasher=fast_hasher(), clock=clock)
        try:
            await drive_due(engine)
        finally:
            await engine.close()

    asyncio.run(run())

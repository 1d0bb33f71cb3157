"""Worker processes for ``test_margin_kill_batch``: a console that batch-liquidates the
open margin calls and drives the liquidation orders to their end, killed with SIGKILL at a
random moment by the parent."""

from __future__ import annotations

import asyncio
import traceback
from datetime import datetime
from typing import Any

from fx_kill_workers import ScaledClock
from sqlalchemy import func, select

from wbo_tui.engine import Engine, SessionInfo, WboError, hk_calendar
from wbo_tui.engine import margin
from wbo_tui.engine.margin.orders import drive_due
from wbo_tui.engine.margin.tables import OPEN_ORDER_STATES, liquidation_orders
from wbo_tui.engine.passwords import fast_hasher


async def open_orders(engine: Engine) -> int:
    async with engine.db.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(liquidation_orders).where(
            liquidation_orders.c.state.in_(OPEN_ORDER_STATES)))).scalar_one()


async def _desk(url: str, session: SessionInfo, clock: ScaledClock, go: Any, send: Any) -> None:  # noqa: ANN401
    engine = await Engine.open(url, hasher=fast_hasher(), clock=clock)
    try:
        # Warm up (the trading-day calendar, the statements of a plan) before the round
        # starts: the kill window is the work itself.  Nothing is driven here: the spare
        # worker warms up while the round before it runs.
        await hk_calendar.hkex().load()
        for call in (await engine.setup_query(margin.ListMarginCalls())).rows:
            try:
                await engine.query(session, margin.PlanLiquidation(call_id=call.id))
            except WboError:
                pass
        send.send(("ready", ""))
        call_ids = await asyncio.to_thread(go.recv)
        try:
            result = await engine.execute(session, margin.BatchLiquidate(call_ids=tuple(call_ids)))
        except WboError as exc:
            send.send(("refused", f"{type(exc).__name__}: {exc}"))
            return
        send.send(("batch", result.batch_ref, sum(o.orders for o in result.outcomes)))
        while await open_orders(engine):
            run = await drive_due(engine, engine.holder)
            for failure in run.failures:
                send.send(("error", repr(failure)))
            await asyncio.sleep(0.005)
        send.send(("done", ""))
    finally:
        await engine.close()


def run_desk(url: str, session_json: str, start: datetime, origin: float, scale: float, go: Any,  # noqa: ANN401
             send: Any) -> None:  # noqa: ANN401
    """Process entry point: warm up, report ready, wait for the call ids on the pipe
    ``go``, batch-liquidate those calls as the session's trader (each order sent
    after the commit), then drive every open order until none is left.  Reports ``(what,
    detail, ...)`` on the pipe ``send``: ready, batch (its reference and how many orders),
    refused, error, done."""
    try:
        asyncio.run(_desk(url, SessionInfo.model_validate_json(session_json), ScaledClock(start, origin, scale), go,
                          send))
    except BaseException:  # noqa: BLE001 - the parent must learn why a worker died
        send.send(("error", traceback.format_exc()))
        raise


# What the fork server imports once, so that each worker starts in milliseconds (the fork
# server does not see the tests' folder on its path: these are the heavy imports).
PRELOAD = ["wbo_tui.engine", "wbo_tui.engine.margin", "wbo_tui.engine.margin.orders",
           "wbo_tui.engine.margin.venue.simulator", "wbo_tui.engine.margin.prices.simulator",
           "exchange_calendars", "exchange_calendars.exchange_calendar_xhkg", "pandas"]

"""Worker processes for ``test_fx_kill_bank``: a console that submits client exchanges
and drives the open bank channel orders to their end, killed with SIGKILL at a random
moment by the parent."""

from __future__ import annotations

import asyncio
import time
import traceback
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from wbo_tui.engine import Engine, SessionInfo, ValidationFailed, WboError, hk_calendar
from wbo_tui.engine.fx import SubmitClientExchange
from wbo_tui.engine.fx.routing import WhichStrategy
from wbo_tui.engine.fx.channel_execution import OPEN, drive_due
from wbo_tui.engine.fx.channel_tables import fx_channel_orders
from wbo_tui.engine.passwords import fast_hasher


class ScaledClock:
    """A Clock on which time runs ``scale`` times faster than the wall clock, from
    ``start`` at the wall time ``origin`` (shared by every process of a test, so their
    clocks agree): the channel's recheck delay and fill delays pass in a fraction of a
    second."""

    def __init__(self, start: datetime, origin: float, scale: float) -> None:
        self.start, self.origin, self.scale = start, origin, scale

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.origin) * self.scale)


async def open_orders(engine: Engine) -> int:
    async with engine.db.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(fx_channel_orders).where(
            fx_channel_orders.c.channel_status.in_(OPEN)))).scalar_one()


async def _desk(url: str, session: SessionInfo, clock: ScaledClock, client_id: int, go: Any,  # noqa: ANN401
                send: Any) -> None:  # noqa: ANN401
    engine = await Engine.open(url, hasher=fast_hasher(), clock=clock)
    try:
        # Warm up (the trading-day calendar, the statements) before the round starts: the
        # kill window is the work itself.
        await hk_calendar.hkex().load()
        for source, target in WARM_UP_PAIRS:
            await engine.query(session, WhichStrategy(from_currency=source, to_currency=target, from_amount="100",
                                                      to_amount="100"))
        try:  # a submission refused at the hold (far beyond the balance) runs most of its statements
            await engine.execute(session, SubmitClientExchange(client_id=client_id, from_currency="USD",
                                                               to_currency="CNH", amount="99999999"))
        except ValidationFailed:
            pass
        send.send(("ready", ""))
        specs = await asyncio.to_thread(go.recv)
        for spec in specs:
            try:
                done = await engine.execute(session, SubmitClientExchange(**spec))
            except WboError as exc:
                send.send(("refused", f"{type(exc).__name__}: {exc}"))
                continue
            send.send(("submitted", done.forex_id))
        while await open_orders(engine):
            run = await drive_due(engine)
            for failure in run.failures:
                send.send(("error", repr(failure)))
            await asyncio.sleep(0.005)
        send.send(("done", ""))
    finally:
        for gateway in getattr(engine, "_fx_bank_gateways", {}).values():
            await gateway.close()
        await engine.close()


def run_desk(url: str, session_json: str, start: datetime, origin: float, scale: float, client_id: int,
             go: Any, send: Any) -> None:  # noqa: ANN401
    """Process entry point: warm up, report ready, wait for the round's ``specs``
    (``SubmitClientExchange`` fields) on the pipe ``go``, submit them as the session's
    operator, then drive every open channel order until none is left.  Reports ``(what,
    detail)`` on the pipe ``send``: ready, submitted (forex id), refused, error, done."""
    try:
        asyncio.run(_desk(url, SessionInfo.model_validate_json(session_json), ScaledClock(start, origin, scale),
                          client_id, go, send))
    except BaseException:  # noqa: BLE001 - the parent must learn why a worker died
        send.send(("error", traceback.format_exc()))
        raise


WARM_UP_PAIRS = (("USD", "CNH"), ("CNH", "USD"), ("USD", "HKD"))


# What the fork server imports once, so that each worker starts in milliseconds (the fork
# server does not see the tests' folder on its path: these are the heavy imports).
PRELOAD = ["wbo_tui.engine", "wbo_tui.engine.fx.channel_execution", "exchange_calendars",
           "exchange_calendars.exchange_calendar_xhkg", "pandas"]

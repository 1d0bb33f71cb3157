"""Scheduled work inside a console process (APScheduler 3 as a clock).

Every console process runs this scheduler.  APScheduler only says *when*; the database
says *who*: each interval is a slot that exactly one process claims (a unique key, see
``positions.polling``), so N consoles make one upstream poll per interval.  Missed
intervals (the machine slept, no console was running) are not replayed: positions are a
snapshot, and the next interval polls the current balances.

APScheduler ticks on the console's loop; each tick's pass runs whole where the engine
runs its calls (``Engine.call``: the engine's own loop in a console), so a pass's disk
and network waits never hold up the console's frames.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from .api import process_name
from .clock import Seconds
from .positions.polling import slot_for

log = logging.getLogger(__name__)
MARGIN_INTERVAL_S: Seconds = 5.0  # the simulated market's step; a feed's interval, not money


class EngineScheduler:
    def __init__(self, engine: Any, *, poll_interval_s: int, holder: str | None = None,
                 senders: dict[str, Any] | None = None, delivery_interval_s: Seconds = 5.0,
                 allocation_interval_s: Seconds | None = None) -> None:
        if poll_interval_s < 1:
            raise ValueError("poll_interval_s must be at least 1 second")
        self.engine = engine
        self.poll_interval_s = poll_interval_s
        # Email and webhook senders for the notification delivery loop; None: no loop here.
        self.senders = senders
        self.delivery_interval_s = delivery_interval_s
        # The allocation engine's pass (events, schedules, transfers); None: not here.
        self.allocation_interval_s = allocation_interval_s
        self.holder = holder or process_name()
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._running: set[asyncio.Task[Any]] = set()
        self.last_report: Any = None

    def start(self) -> None:
        """Start ticking on the running event loop."""
        self._scheduler.add_job(
            self.poll_tick,
            IntervalTrigger(seconds=self.poll_interval_s),
            id="position-poll",
            # One run at a time, late runs merged into one, and a generous grace period:
            # a busy event loop must delay a poll, not drop it.
            max_instances=1,
            coalesce=True,
            misfire_grace_time=self.poll_interval_s,
        )
        if self.senders is not None:
            # Every process runs the loop; each delivery is claimed by one of them.
            self._scheduler.add_job(
                self.delivery_tick, IntervalTrigger(seconds=self.delivery_interval_s), id="notification-delivery",
                max_instances=1, coalesce=True, misfire_grace_time=max(1, int(self.delivery_interval_s)),
            )
        if self.allocation_interval_s is not None:
            # Every process runs passes; each trigger is decided once (see allocations.triggers).
            self._scheduler.add_job(
                self.allocation_tick, IntervalTrigger(seconds=self.allocation_interval_s), id="allocations",
                max_instances=1, coalesce=True, misfire_grace_time=max(1, int(self.allocation_interval_s)),
            )
            # Reference-rate refreshes that are due (one process per slot), then bank exchange
            # orders still open (sent, unanswered, unknown): every process asks; the bank's
            # idempotency and the guarded settlement make each settle once.
            self._scheduler.add_job(
                self.fx_tick, IntervalTrigger(seconds=self.allocation_interval_s), id="fx-channel-orders",
                max_instances=1, coalesce=True, misfire_grace_time=max(1, int(self.allocation_interval_s)),
            )
            # Market prices, margin calls and liquidation orders: one price request per interval
            # across consoles (a slot each), every open order followed by whoever is free.
            self._scheduler.add_job(
                self.margin_tick, IntervalTrigger(seconds=MARGIN_INTERVAL_S), id="margin",
                max_instances=1, coalesce=True, misfire_grace_time=int(MARGIN_INTERVAL_S),
            )
        self._scheduler.start()

    async def margin_tick(self) -> Any:
        from .margin.auto_liquidation import auto_liquidate_due
        from .margin.orders import drive_due
        from .margin.revaluation import price_pass

        async with self._in_flight():
            try:
                await self.engine.call(price_pass, self.engine, self.holder)
            except Exception:  # noqa: BLE001 - a failed pass must not stop the schedule
                log.exception("Margin price pass failed")
            try:
                await self.engine.call(auto_liquidate_due, self.engine, self.holder)
            except Exception:  # noqa: BLE001 - a failed pass must not stop the schedule
                log.exception("Auto-liquidation pass failed")
            try:
                return await self.engine.call(drive_due, self.engine, self.holder)
            except Exception:  # noqa: BLE001 - a failed pass must not stop the schedule
                log.exception("Liquidation order pass failed")
                return None

    async def allocation_tick(self) -> Any:
        async with self._in_flight():
            try:
                return await self.engine.run_allocations()
            except Exception:  # noqa: BLE001 - a failed pass must not stop the schedule
                log.exception("Allocation pass failed")
                return None

    async def fx_tick(self) -> Any:
        from .fx.channel_execution import drive_due
        from .fx.rate_refresh import refresh_due

        async with self._in_flight():
            try:
                await self.engine.call(refresh_due, self.engine, self.holder)
            except Exception:  # noqa: BLE001 - a failed pass must not stop the schedule
                log.exception("FX rate refresh pass failed")
            try:
                return await self.engine.call(drive_due, self.engine)
            except Exception:  # noqa: BLE001 - a failed pass must not stop the schedule
                log.exception("FX channel order pass failed")
                return None

    async def delivery_tick(self) -> Any:
        from .notify.delivery import deliver_due

        async with self._in_flight():
            try:
                return await self.engine.call(deliver_due, self.engine, worker_id=self.holder,
                                              senders=self.senders or {})
            except Exception:  # noqa: BLE001 - a failed pass must not stop the schedule
                log.exception("Notification delivery pass failed")
                return None

    async def poll_tick(self) -> Any:
        slot = slot_for(self.engine.clock.now(), self.poll_interval_s)
        async with self._in_flight():
            try:
                self.last_report = await self.engine.poll_positions(slot=slot, holder=self.holder)
            except Exception:  # noqa: BLE001 - a failed tick must not stop the schedule
                log.exception("Position poll for %s failed", slot)
                return None
        return self.last_report

    @asynccontextmanager
    async def _in_flight(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            yield
        finally:
            self._running.discard(task)  # type: ignore[arg-type]

    def shutdown(self) -> None:
        """Stop starting ticks (a tick in flight goes on: see ``aclose``)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def aclose(self, timeout: Seconds = 10.0) -> None:
        """Stop, then let the ticks in flight finish their transactions before the caller
        closes the engine: a database call cut off mid-way can leave the driver's
        connection waiting forever.  A tick still running after ``timeout`` is cancelled."""
        self.shutdown()
        running = set(self._running)
        if not running:
            return
        _, pending = await asyncio.wait(running, timeout=timeout)
        for task in pending:
            log.warning("Scheduled work still running after %.0f s at shutdown; cancelling it", timeout)
            task.cancel()

"""Auto-liquidation at the time a trader set (the list's Set Auto-Liquidation).

When a call's auto-liquidation time comes and the call is still open, the margin engine
liquidates it by its own plan, as a batch liquidation would: in the price pass, which one
console runs per interval, in a transaction that locks the client and finds no orders in
progress (one liquidation per client at a time).  The orders are the engine's own (no
operator; "auto-liquidation" in the lists).  The time is then cleared: it acts once.

It needs the desk's liquidation toggle, as batch liquidation does; with the toggle off, or
nothing the plan can sell, the time is cleared and the traders are told why.  A call that
is an Exception, or has ended, is left alone.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from ..fx import ledger
from ..notify.publish import publish
from ..passes import PassRun
from ..uow import Actor, read_unit, write_unit
from .liquidation import call_and_book, open_orders_of, plan_for, send_orders
from .orders import PROBLEM_TOPIC, drive
from .settings import load_settings
from .tables import margin_calls

log = logging.getLogger(__name__)
SYSTEM = Actor.system("margin-auto-liquidation")


async def auto_liquidate_due(engine: Any, holder: str) -> PassRun:  # noqa: ANN401
    """Liquidate every open call whose auto-liquidation time has come; each isolated."""
    run = PassRun("margin-auto-liquidation")
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        due = [row.id for row in await uow.conn.execute(select(margin_calls.c.id).where(
            margin_calls.c.status == "OPEN", margin_calls.c.auto_liquidate_at.is_not(None),
            margin_calls.c.auto_liquidate_at <= uow.now).order_by(margin_calls.c.auto_liquidate_at))]
    for call_id in due:
        sent = await run.item(f"call {call_id}", lambda c=call_id: _liquidate(engine, c))
        if isinstance(sent, list):
            for order_id in sent:
                await run.item(f"order {order_id}", lambda o=order_id: drive(engine, o, holder))
    return run


async def _liquidate(engine: Any, call_id: int) -> list[int]:  # noqa: ANN401
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        settings = await load_settings(uow)
        client_id = (await uow.conn.execute(select(margin_calls.c.client_id).where(
            margin_calls.c.id == call_id))).scalar_one()
        await ledger.lock_client(uow, client_id)
        # Read again under the client's lock: another console may have acted on it meanwhile.
        row = (await uow.conn.execute(select(margin_calls).where(margin_calls.c.id == call_id))).one()
        if row.status != "OPEN" or row.auto_liquidate_at is None or row.auto_liquidate_at > uow.now:
            return []
        if await open_orders_of(uow, client_id):
            return []  # a trader's liquidation is under way: the time stays, for when it settles
        call, book = await call_and_book(uow, call_id, settings)
        result = plan_for(book, settings) if settings.liquidation_enabled else None
        await uow.conn.execute(update(margin_calls).where(margin_calls.c.id == call_id).values(
            auto_liquidate_at=None, version=margin_calls.c.version + 1))
        if result is None or not result.lines:
            why = ("batch liquidation is switched off in the margin call configuration" if result is None else
                   "the plan found nothing to sell (" + ("; ".join(f"{c}: {r}" for c, r in result.skipped)
                                                         or "no tradable position") + ")")
            uow.record("margin.auto_liquidation.skipped", "margin_call", call_id, None, {"why": why})
            await publish(uow, PROBLEM_TOPIC, f"Auto-liquidation of {call.account_no} not done",
                          f"{call.account_no}'s auto-liquidation time came, but {why}. The time is cleared; set it "
                          "again or liquidate by hand.", source_type="margin_call", source_id=call_id)
            return []
        ids = await send_orders(uow, call, book, result, "AUTO", uow.ids.new_ref("LB"))
        uow.record("margin.auto_liquidation", "margin_call", call_id, None,
                   {"orders": len(ids), "cures": result.cures})
        return ids

"""Liquidation orders at the venue: sent once, followed until final, each fill applied once.

The transaction that decides a liquidation writes its orders PENDING; each is sent after
that commit (``uow.after_commit``) and every process's pass (``drive_due``) picks up what
is still open.  Exactly once rests on three things:

- **One sender.** Sending starts with a guarded claim, PENDING → SENDING, naming the
  process: of several consoles one wins and sends; the others leave it.  A claim older
  than ``LEASE`` (its process was killed mid-send) is settled by asking the venue, never
  by sending blind: the venue knows the order (use its state) or does not (only then it
  is sent, under the same client order id, which the venue deduplicates).
- **A lost answer is UNKNOWN** until a status request settles it.
- **Each execution once.** A fill is recorded under the venue's exec id (unique per
  order) in the transaction that moves the client's position and cash and re-values the
  call; of two processes with the same answer, the second finds the fill there.

A cancel requested by a trader is CANCEL_REQUESTED until the venue answers: cancelled
(what was unfilled), or too late (filled meanwhile: the fills count).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from ..currencies import load_currency
from ..fx import ledger
from ..fx.tables import clients
from ..notify.publish import publish
from ..passes import PassRun
from ..uow import Actor, UnitOfWork, read_unit, write_unit
from .books import load_books
from .calls import revalue
from .settings import load_settings
from .tables import OPEN_ORDER_STATES, client_positions, liquidation_fills, liquidation_orders, margin_calls
from .venue import (
    CancelRejected,
    UnknownVenueOrder,
    VenueError,
    VenueOrder,
    VenueOrderStatus,
    VenueTimeout,
    VenueUnavailable,
)

log = logging.getLogger(__name__)
SYSTEM = Actor.system("margin-liquidation")
LEASE = timedelta(seconds=30)
RECHECK = timedelta(seconds=2)
PROBLEM_TOPIC = "margin.order_problem"
CASH_KIND = "LIQUIDATION"
FINAL = ("FILLED", "CANCELLED", "REJECTED")


def send_after_commit(uow: UnitOfWork, order_ids: list[int]) -> None:
    async def send(engine: Any, holder: str) -> None:  # noqa: ANN401
        for order_id in order_ids:
            try:
                await drive(engine, order_id, holder)
            except Exception:  # noqa: BLE001 - the pass picks it up again
                log.exception("Liquidation order %s: first send failed; the pass tries again", order_id)

    uow.after_commit.append(send)


def venue_of(engine: Any, settings: Any, anchors: dict[str, str]) -> Any:  # noqa: ANN401
    """The venue the desk configured, from the engine's cache (``Engine.close`` closes it).
    The simulated venue fills against the simulated market the price pass reads: the same
    seed and opening prices, so a trader's limit at the bid meets the market it was set by."""
    config = dict(settings.venue)
    if config.get("kind") == "simulator":
        from .revaluation import gateway_config

        config["prices"] = gateway_config(settings, anchors)
    return engine.margin_venues("venue", config)


async def anchors_of(uow: UnitOfWork) -> dict[str, str]:
    from .tables import instruments

    return {r.code: str(r.anchor_price) for r in await uow.conn.execute(
        select(instruments.c.code, instruments.c.anchor_price))}


async def _claim(engine: Any, order_id: int, holder: str) -> Any | None:  # noqa: ANN401
    """PENDING → SENDING for this process, or a stale SENDING taken over; None if another
    process holds it."""
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        o = liquidation_orders.c
        taken = await uow.conn.execute(update(liquidation_orders).where(and_(o.id == order_id, or_(
            o.state == "PENDING", and_(o.state == "SENDING", o.claimed_at < uow.now - LEASE)))).values(
            state="SENDING", claimed_by=holder[:80], claimed_at=uow.now, updated_at=uow.now,
            version=o.version + 1).returning(o.id))
        if taken.first() is None:
            return None
        return (await uow.conn.execute(select(liquidation_orders).where(o.id == order_id))).one()


async def drive(engine: Any, order_id: int, holder: str) -> str:  # noqa: ANN401
    """One step of an open order; its state after the step."""
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        order = (await uow.conn.execute(select(liquidation_orders).where(liquidation_orders.c.id == order_id))).first()
        settings = await load_settings(uow)
        if order is None or order.state not in OPEN_ORDER_STATES:
            return "" if order is None else order.state
        account = (await uow.conn.execute(select(clients.c.account_no).where(
            clients.c.id == order.client_id))).scalar_one()
        anchors = await anchors_of(uow)
    if order.state == "CANCEL_REQUESTED" and order.sent_at is None and order.claimed_at is not None \
            and order.claimed_at >= engine.clock.now() - LEASE:
        return order.state  # cancelled while its sender is at it: the venue's answer to the send comes first
    venue = venue_of(engine, settings, anchors)
    first_send = order.state == "PENDING" or (order.state == "SENDING" and order.sent_at is None)
    was_stale = False  # a claim taken over from a process that died mid-send: the venue may hold it
    try:
        if first_send:
            claimed = await _claim(engine, order_id, holder)
            if claimed is None:
                return order.state
            was_stale = order.state == "SENDING"
            status = await (_status_or_submit(venue, claimed, account) if was_stale
                            else venue.submit(_venue_order(claimed, account)))
        elif order.state == "CANCEL_REQUESTED":
            try:
                status = await venue.cancel(order.cl_ord_id)
            except CancelRejected as rejected:
                status = await venue.status(order.cl_ord_id)
                await _note(engine, order_id, f"cancel refused by the venue: {rejected}")
            except UnknownVenueOrder:
                return await _cancel_unsent(engine, order_id)
        else:
            status = await _status_or_submit(venue, order, account)
    except (VenueTimeout, VenueError) as error:
        # Only an order nobody sent goes back to PENDING: one whose sender died may be at the
        # venue, and is asked about (UNKNOWN), never sent again blind.
        if isinstance(error, VenueUnavailable) and first_send and not was_stale:
            return await _release(engine, order_id, f"venue unavailable: {error}")
        return await _unknown(engine, order_id, f"no usable answer: {error}")
    return await apply_status(engine, order_id, status)


async def _status_or_submit(venue: Any, order: Any, account: str) -> VenueOrderStatus:  # noqa: ANN401
    try:
        return await venue.status(order.cl_ord_id)
    except UnknownVenueOrder:
        # The venue never received it: sending now is its first arrival; the client order
        # id keeps it single.
        return await venue.submit(_venue_order(order, account))


def _venue_order(order: Any, account: str) -> VenueOrder:  # noqa: ANN401
    return VenueOrder(cl_ord_id=order.cl_ord_id, account=account, code=order.code, side=order.side,
                      quantity=int(order.quantity), limit_price=order.limit_price, call_ref=f"MC-{order.call_id}")


async def _release(engine: Any, order_id: int, text: str) -> str:  # noqa: ANN401
    """Nothing reached the venue: the order is PENDING again, for the next pass."""
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        o = liquidation_orders.c
        await uow.conn.execute(update(liquidation_orders).where(and_(o.id == order_id, o.state == "SENDING")).values(
            state="PENDING", claimed_by=None, claimed_at=None, reason=text[:300], updated_at=uow.now,
            version=o.version + 1))
    return "PENDING"


async def _unknown(engine: Any, order_id: int, text: str) -> str:  # noqa: ANN401
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        o = liquidation_orders.c
        row = (await uow.conn.execute(select(liquidation_orders).where(o.id == order_id))).one()
        if row.state in FINAL:
            return row.state
        new_state = row.state if row.state == "CANCEL_REQUESTED" else "UNKNOWN"
        await uow.conn.execute(update(liquidation_orders).where(o.id == order_id).values(
            state=new_state, sent_at=row.sent_at or uow.now, reason=text[:300], updated_at=uow.now,
            version=o.version + 1))
        uow.record("margin.order.unknown", "liquidation_order", row.cl_ord_id, {"state": row.state},
                   {"state": new_state, "note": text[:200]})
        if row.state != "UNKNOWN" and new_state == "UNKNOWN":
            await publish(uow, PROBLEM_TOPIC, f"Liquidation order {row.cl_ord_id}: fate unknown",
                          f"{row.cl_ord_id} ({row.side} {row.quantity} {row.code}) got no usable answer: {text}. "
                          "A status request settles it; it is never sent again blind.",
                          source_type="liquidation_order", source_id=row.cl_ord_id)
    return new_state


async def _note(engine: Any, order_id: int, text: str) -> None:  # noqa: ANN401
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        o = liquidation_orders.c
        await uow.conn.execute(update(liquidation_orders).where(o.id == order_id).values(
            reason=text[:300], updated_at=uow.now, version=o.version + 1))


async def _cancel_unsent(engine: Any, order_id: int) -> str:  # noqa: ANN401
    """A cancel of an order the venue never received: cancelled here, nothing to undo."""
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        o = liquidation_orders.c
        await uow.conn.execute(update(liquidation_orders).where(and_(
            o.id == order_id, o.state == "CANCEL_REQUESTED")).values(
            state="CANCELLED", reason="cancelled before the venue received it", updated_at=uow.now,
            version=o.version + 1))
    return "CANCELLED"


async def apply_status(engine: Any, order_id: int, status: VenueOrderStatus) -> str:  # noqa: ANN401
    """Record the venue's answer: new fills (each once) move the client's position and
    cash and re-value the call, in one transaction."""
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        o = liquidation_orders.c
        await ledger.lock_client(uow, (await uow.conn.execute(
            select(o.client_id).where(o.id == order_id))).scalar_one())
        order = (await uow.conn.execute(select(liquidation_orders).where(o.id == order_id))).one()
        if order.state in FINAL:
            return order.state
        known = {r.exec_id for r in await uow.conn.execute(select(liquidation_fills.c.exec_id).where(
            liquidation_fills.c.order_id == order_id))}
        fresh = [f for f in status.fills if f.exec_id not in known]
        filled, amount = int(order.filled_quantity), order.filled_amount
        for fill in fresh:
            await _apply_fill(uow, order, fill.quantity, fill.price, fill.exec_id, fill.at)
            filled += fill.quantity
            amount += fill.price * fill.quantity
        state = status.state
        if order.state == "CANCEL_REQUESTED" and state in ("NEW", "PARTIALLY_FILLED"):
            state = "CANCEL_REQUESTED"  # asked again at the next pass until the venue says
        values = {"state": state, "filled_quantity": filled, "filled_amount": amount,
                  "venue_order_id": status.venue_order_id[:40], "reason": (status.reason or order.reason)[:300],
                  "sent_at": order.sent_at or uow.now}
        if any(getattr(order, k) != v for k, v in values.items()):
            # The same answer again writes nothing: no list re-reads for it in any console.
            await uow.conn.execute(update(liquidation_orders).where(o.id == order_id).values(
                **values, updated_at=uow.now, version=o.version + 1))
        if state != order.state or fresh:
            uow.record("margin.order.update", "liquidation_order", order.cl_ord_id,
                       {"state": order.state, "filled": int(order.filled_quantity)},
                       {"state": state, "filled": filled, "fills": [f.exec_id for f in fresh]})
        if state == "REJECTED" and order.state != "REJECTED":
            await publish(uow, PROBLEM_TOPIC, f"Liquidation order {order.cl_ord_id} rejected",
                          f"The venue rejected {order.side} {order.quantity} {order.code}: "
                          f"{status.reason or 'no reason given'}.",
                          source_type="liquidation_order", source_id=order.cl_ord_id)
        if fresh:
            settings = await load_settings(uow)
            books = await load_books(uow, [order.client_id], stale_after_s=settings.stale_price_s,
                                     suspended_days=settings.suspended_days)
            await revalue(uow, books[order.client_id], settings)
    return state


async def _apply_fill(uow: UnitOfWork, order: Any, quantity: int, price: Decimal, exec_id: str,  # noqa: ANN401
                      at: datetime) -> None:
    fill_id = (await uow.conn.execute(insert(liquidation_fills).values(
        order_id=order.id, exec_id=exec_id, quantity=quantity, price=price, executed_at=at,
        created_at=uow.now))).inserted_primary_key[0]
    p = client_positions.c
    signed = -quantity if order.side == "SELL" else quantity
    held = (await uow.conn.execute(select(client_positions).where(
        p.client_id == order.client_id, p.code == order.code))).one()
    await uow.conn.execute(update(client_positions).where(p.id == held.id).values(
        quantity=p.quantity + signed, version=p.version + 1, updated_at=uow.now))
    code = (await uow.conn.execute(_instrument_currency(order.code))).scalar_one()
    currency = await load_currency(uow, code)
    consideration = currency.quantize(price * quantity)  # settled in cents, the currency's rounding
    cash = consideration if order.side == "SELL" else -consideration
    await ledger.post(uow, order.client_id, code, cash, kind=CASH_KIND, ref=f"LQF-{fill_id}",
                      remarks=f"{order.side} {quantity} {order.code} @ {price}", allow_negative=True)
    await uow.conn.execute(update(margin_calls).where(margin_calls.c.id == order.call_id).values(
        last_liquidation_at=uow.now))


def _instrument_currency(code: str) -> Any:  # noqa: ANN401
    from .tables import instruments

    return select(instruments.c.currency).where(instruments.c.code == code)


async def drive_due(engine: Any, holder: str) -> PassRun:  # noqa: ANN401
    """Every open order: pending ones sent, stale claims settled, live ones asked about,
    requested cancels sent; each isolated."""
    run = PassRun("margin-liquidation-orders")
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        o = liquidation_orders.c
        rows = list(await uow.conn.execute(select(o.id, o.state, o.claimed_at, o.updated_at, o.cl_ord_id).where(
            o.state.in_(OPEN_ORDER_STATES)).order_by(o.id)))
        now = uow.now
    for row in rows:
        if row.state == "SENDING" and row.claimed_at is not None and row.claimed_at >= now - LEASE:
            continue  # its sender is at it
        if row.state in ("NEW", "PARTIALLY_FILLED", "UNKNOWN") and row.updated_at > now - RECHECK:
            continue
        await run.item(row.cl_ord_id, lambda i=row.id: drive(engine, i, holder))
    return run

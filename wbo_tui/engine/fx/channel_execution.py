"""Executing a Bank Exchange at its channel, and settling it exactly once.

The transaction that decides an exchange writes its channel order (PENDING_SEND, with an
order number the bank will know it by); the order is sent *after* that commit, outside
any transaction (``uow.after_commit``), and every process's pass (``drive_due``) picks up
what is still open.  Exactly once rests on two things:

- the bank is idempotent on the order number (``fx.bank.gateway``): sending one order
  twice, from two consoles or after a crash, converts once and answers the same state;
- settling is one guarded update from an open status, in the transaction that moves the
  client's cash: of two processes with the bank's answer, one settles, the other finds
  the order settled and changes nothing.

Answers: SUCCEEDED settles (the held source leaves, the target arrives at the executed
rate less the executed-rate markup, profit and loss recorded); FAILED marks the order
abnormal and the exchange stays held for exception handling; PROCESSING is asked again
later; a lost answer (timeout, a garbled reply) makes the order UNKNOWN, settled by
asking the bank (a status query), never by sending again blind; an unreachable bank is
tried again after ``RECHECK``.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update

from ..errors import Conflict
from ..passes import PassRun
from ..uow import Actor, UnitOfWork, read_unit, write_unit
from . import ledger, rate_math
from .bank import (
    BankChannelTimeout,
    BankChannelUnavailable,
    BankProtocolError,
    ChannelOrderState,
    ExchangeOrder,
    UnknownChannelOrder,
)
from .channel_tables import fx_bank_channels, fx_channel_orders, fx_profit_loss
from .currency_setup import get_setup
from .exchanges import HOLD_PURPOSE, ExchangeDTO, get_exchange
from .markups import apply, executed_markup
from .tables import fx_exchanges

log = logging.getLogger(__name__)
SYSTEM = Actor.system("fx-exchange-engine")
RECHECK = timedelta(seconds=5)
OPEN = ("PENDING_SEND", "PROCESSING", "UNKNOWN")


async def open_channel_order(uow: UnitOfWork, exchange: ExchangeDTO) -> None:
    """In the deciding transaction: the order to send, and its sending after the commit."""
    order_no = uow.ids.new_ref("CO")
    await uow.conn.execute(insert(fx_channel_orders).values(
        order_no=order_no, forex_id=exchange.forex_id, channel_name=exchange.channel_name,
        from_currency=exchange.from_currency, from_amount=exchange.from_amount, to_currency=exchange.to_currency,
        channel_status="PENDING_SEND", origin_status="", origin_text="", abnormal=False, attempts=0,
        next_check_at=uow.now, created_at=uow.now, updated_at=uow.now))

    async def send(engine: Any, holder: str) -> None:  # noqa: ANN401
        try:
            await drive(engine, order_no)
        except Exception:  # noqa: BLE001 - the pass picks it up again
            log.exception("Channel order %s: first send failed; the pass tries again", order_no)

    uow.after_commit.append(send)


def _gateway(engine: Any, channel_name: str, channel: Any) -> Any:  # noqa: ANN401
    """The gateway of ``channel`` (its ``fx_bank_channels`` row, read with the order), from
    the engine's cache, which ``Engine.close`` closes."""
    if channel is None or not channel.enabled:
        raise BankChannelUnavailable(f"bank exchange channel {channel_name} is not configured or is disabled")
    return engine.fx_bank_gateways(channel_name, json.loads(channel.gateway))


async def drive(engine: Any, order_no: str) -> str:  # noqa: ANN401
    """One step of an open order: send it (or, after a lost answer, ask about it) and
    record the answer; the order's status after the step."""
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        order = (await uow.conn.execute(select(fx_channel_orders).where(
            fx_channel_orders.c.order_no == order_no))).first()
        if order is None or order.channel_status not in OPEN:
            return "" if order is None else order.channel_status
        channel = (await uow.conn.execute(select(fx_bank_channels).where(
            fx_bank_channels.c.channel_name == order.channel_name))).first()
    try:
        gateway = _gateway(engine, order.channel_name, channel)
        if order.channel_status == "PENDING_SEND" and order.attempts == 0:
            state = await gateway.submit(ExchangeOrder(order.order_no, order.channel_name, order.from_currency,
                                                       order.from_amount, order.to_currency))
        else:
            try:
                state = await gateway.query(order.order_no)
            except UnknownChannelOrder:
                # The bank never received it (the earlier send was lost on the way in):
                # sending it now is its first arrival; the order number keeps it single.
                state = await gateway.submit(ExchangeOrder(order.order_no, order.channel_name, order.from_currency,
                                                           order.from_amount, order.to_currency))
    except (BankChannelTimeout, BankProtocolError) as error:
        return await _record(engine, order_no, "UNKNOWN", f"no usable answer: {error}")
    except BankChannelUnavailable as error:
        return await _record(engine, order_no, order.channel_status, f"channel unavailable: {error}")
    return await settle(engine, order_no, state)


async def _record(engine: Any, order_no: str, status: str, text: str) -> str:  # noqa: ANN401
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        c = fx_channel_orders.c
        await uow.conn.execute(update(fx_channel_orders).where(and_(c.order_no == order_no,
                                                                    c.channel_status.in_(OPEN))).values(
            channel_status=status, origin_text=text[:300], attempts=c.attempts + 1,
            next_check_at=uow.now + RECHECK, updated_at=uow.now))
        if status == "UNKNOWN":
            row = (await uow.conn.execute(select(c.forex_id).where(c.order_no == order_no))).one()
            await uow.conn.execute(update(fx_exchanges).where(and_(
                fx_exchanges.c.forex_id == row.forex_id, fx_exchanges.c.forex_status == "PROCESSING")).values(
                forex_status="UNKNOWN", updated_at=uow.now, version=fx_exchanges.c.version + 1))
        uow.record("fx.channel_order.step", "channel_order", order_no, None, {"status": status, "note": text[:200]})
    return status


async def settle(engine: Any, order_no: str, state: ChannelOrderState) -> str:  # noqa: ANN401
    """Record the bank's answer; a final one settles the exchange, once."""
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        c = fx_channel_orders.c
        order = (await uow.conn.execute(select(fx_channel_orders).where(c.order_no == order_no))).one()
        if order.channel_status not in OPEN:
            return order.channel_status  # another process settled it first
        status = {"PROCESSING": "PROCESSING", "SUCCEEDED": "SUCCEEDED", "FAILED": "FAILED"}[state.status]
        moved = await uow.conn.execute(update(fx_channel_orders).where(and_(
            c.order_no == order_no, c.channel_status == order.channel_status)).values(
            channel_status=status, origin_status=state.raw_status[:32],
            origin_text=(state.reason or state.message or "")[:300],
            serial_no=state.serial_no, channel_rate=state.channel_rate, to_amount=state.to_amount,
            abnormal=status == "FAILED", attempts=c.attempts + 1, next_check_at=uow.now + RECHECK,
            success_time=uow.now if status == "SUCCEEDED" else None, updated_at=uow.now))
        if moved.rowcount != 1:
            raise Conflict(f"Channel order {order_no} moved meanwhile")
        exchange = await get_exchange(uow, (await uow.conn.execute(select(fx_exchanges.c.id).where(
            fx_exchanges.c.forex_id == order.forex_id))).scalar_one())
        if status == "SUCCEEDED":
            await settle_success(uow, exchange, order_no, state)
        elif status == "FAILED":
            uow.record("fx.channel_order.failed", "channel_order", order_no, None,
                       {"forex_id": exchange.forex_id, "reason": state.reason})
        elif exchange.forex_status == "UNKNOWN":  # the bank has it and is still working on it
            await uow.conn.execute(update(fx_exchanges).where(fx_exchanges.c.id == exchange.id).values(
                forex_status="PROCESSING", updated_at=uow.now, version=fx_exchanges.c.version + 1))
        return status


async def settle_success(uow: UnitOfWork, exchange: ExchangeDTO, order_no: str, state: ChannelOrderState) -> None:
    assert state.channel_rate is not None and state.to_amount is not None
    source = await get_setup(uow, exchange.from_currency)
    target = await get_setup(uow, exchange.to_currency)
    markup = await executed_markup(uow, "SINGLE", exchange.channel_name, exchange.from_currency,
                                   exchange.to_currency, exchange.from_amount)
    client_rate, steps = state.channel_rate, f"executed at channel rate {state.channel_rate}"
    if markup is not None:
        applied = apply(state.channel_rate, markup[0], markup[1], source.exchange_rate_precision)
        client_rate, steps = applied.rate_after, f"executed: markup {applied.steps}"
    exact = exchange.from_amount * client_rate
    client_amount = rate_math.rounded(exact, target.amount_precision, target.amount_round_mode)
    await ledger.post_hold(uow, HOLD_PURPOSE, exchange.forex_id, kind="exchange_out",
                           remarks=f"Exchange to {exchange.to_currency} via {exchange.channel_name}")
    await ledger.post(uow, exchange.client.id, exchange.to_currency, client_amount, kind="exchange_in",
                      ref=exchange.forex_id, remarks=f"Exchange from {exchange.from_currency}")
    changed = await uow.conn.execute(update(fx_exchanges).where(and_(
        fx_exchanges.c.id == exchange.id, fx_exchanges.c.forex_status.in_(("PROCESSING", "UNKNOWN")))).values(
        forex_status="SUCCEEDED", rate=client_rate, to_amount=client_amount,
        rate_steps=f"{exchange.rate_steps}; {steps}"[:300], success_time=uow.now, updated_at=uow.now,
        version=fx_exchanges.c.version + 1))
    if changed.rowcount != 1:
        raise Conflict(f"{exchange.forex_id} is no longer processing")
    await uow.conn.execute(insert(fx_profit_loss).values(
        forex_id=exchange.forex_id, client_ordid=order_no, channel_name=exchange.channel_name,
        currency=exchange.to_currency, channel_rate=state.channel_rate, channel_amount=state.to_amount,
        user_rate=client_rate, user_amount=client_amount, profit_loss=state.to_amount - client_amount,
        order_offset=exact - client_amount, standard_profit_loss=None, created_at=uow.now))
    uow.record("fx.exchange.settle", "client_exchange", exchange.forex_id, {"forex_status": exchange.forex_status},
               {"forex_status": "SUCCEEDED", "channel_rate": state.channel_rate, "client_rate": client_rate,
                "paid": f"{exchange.from_amount} {exchange.from_currency}",
                "received": f"{client_amount} {exchange.to_currency}", "channel_order": order_no})


async def drive_due(engine: Any) -> PassRun:  # noqa: ANN401
    """Every open channel order whose next check is due, each isolated from the others."""
    run = PassRun("fx-channel-orders")
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        c = fx_channel_orders.c
        due = [r.order_no for r in await uow.conn.execute(select(c.order_no).where(
            c.channel_status.in_(OPEN), c.next_check_at <= uow.now).order_by(c.id).limit(500))]
    for order_no in due:
        await run.item(order_no, lambda order_no=order_no: drive(engine, order_no))
    return run


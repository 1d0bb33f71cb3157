"""Executing a client exchange.

An Exchange Pool exchange settles at once, in the transaction that decides it: the held
source amount leaves the client's cash, the target amount arrives, and the pool's quotas
move (the target currency's down by what the pool paid out, the source currency's up by
what it took in, where that currency has a pool), each with its ledger row.  A Bank
Exchange is PROCESSING, its channel order sent after the commit (``channel_execution``),
until the channel's answer settles it.
"""

from __future__ import annotations

from sqlalchemy import and_, update

from ..errors import Conflict, NotFound
from ..uow import UnitOfWork
from . import ledger, pool
from .exchanges import HOLD_PURPOSE, ExchangeDTO, get_exchange
from .tables import fx_exchanges


async def execute_now(uow: UnitOfWork, exchange: ExchangeDTO) -> ExchangeDTO:
    if exchange.service_strategy == "BATCH":
        return await settle_on_pool(uow, exchange)
    from .channel_execution import open_channel_order

    await _move(uow, exchange, "PROCESSING")
    await open_channel_order(uow, exchange)
    uow.record("fx.exchange.processing", "client_exchange", exchange.forex_id, None,
               {"channel": exchange.channel_name})
    return await get_exchange(uow, exchange.id)


async def settle_on_pool(uow: UnitOfWork, exchange: ExchangeDTO) -> ExchangeDTO:
    client = exchange.client.id
    await ledger.post_hold(uow, HOLD_PURPOSE, exchange.forex_id, kind="exchange_out",
                           remarks=f"Exchange to {exchange.to_currency}")
    await ledger.post(uow, client, exchange.to_currency, exchange.to_amount, kind="exchange_in",
                      ref=exchange.forex_id, remarks=f"Exchange from {exchange.from_currency}")
    await pool.move(uow, exchange.to_currency, -exchange.to_amount, change_type="EXCHANGE_OUT",
                    order_no=exchange.forex_id, automatic=True)
    try:
        await pool.move(uow, exchange.from_currency, exchange.from_amount, change_type="EXCHANGE_IN",
                        order_no=exchange.forex_id, automatic=True)
    except NotFound:
        pass  # the source currency has no pool of its own: nothing to count it into
    await _move(uow, exchange, "SUCCEEDED", success=True)
    uow.record("fx.exchange.settle", "client_exchange", exchange.forex_id, {"forex_status": exchange.forex_status},
               {"forex_status": "SUCCEEDED", "paid": f"{exchange.from_amount} {exchange.from_currency}",
                "received": f"{exchange.to_amount} {exchange.to_currency}", "on": "exchange pool"})
    return await get_exchange(uow, exchange.id)


async def _move(uow: UnitOfWork, exchange: ExchangeDTO, status: str, *, success: bool = False) -> None:
    """From the status read to ``status``, once: a second decision finds it moved."""
    values: dict[str, object] = {"forex_status": status, "version": fx_exchanges.c.version + 1,
                                 "updated_at": uow.now}
    if success:
        values["success_time"] = uow.now
    changed = await uow.conn.execute(update(fx_exchanges).where(and_(
        fx_exchanges.c.id == exchange.id, fx_exchanges.c.forex_status == exchange.forex_status)).values(**values))
    if changed.rowcount != 1:
        raise Conflict(f"Client exchange {exchange.forex_id} moved on meanwhile; reload it.")

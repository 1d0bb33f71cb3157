"""Executing a client exchange.

An Exchange Pool exchange settles at once, in the transaction that decides it: the held
source amount leaves the client's cash, the target amount arrives, and the pool's quotas
move (the target currency's down by what the pool paid out, the source currency's up by
what it took in, where that currency has a pool), each with its ledger row.  A Bank
Exchange is PROCESSING, its channel order sent after the commit (``channel_execution``),
until the channel's answer settles it.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, update

from ..errors import Conflict, NotFound
from ..prepared import Prepared
from ..uow import UnitOfWork
from . import ledger, pool
from .exchanges import HOLD_PURPOSE, ExchangeDTO, get_exchange
from .profit_loss import record_pool_profit_loss
from .tables import fx_exchanges


async def execute_now(uow: UnitOfWork, exchange: ExchangeDTO, *, cash: ledger.LockedCash | None = None,
                      ) -> ExchangeDTO:
    """``cash``: the client's cash as this unit already opened it (see ``settle_on_pool``)."""
    if exchange.service_strategy == "BATCH":
        return await settle_on_pool(uow, exchange, cash=cash)
    from .channel_execution import open_channel_order

    await _move(uow, exchange, "PROCESSING")
    await open_channel_order(uow, exchange)
    uow.record("fx.exchange.processing", "client_exchange", exchange.forex_id, None,
               {"channel": exchange.channel_name})
    return await get_exchange(uow, exchange.id)


async def settle_on_pool(uow: UnitOfWork, exchange: ExchangeDTO, *, cash: ledger.LockedCash | None = None,
                         ) -> ExchangeDTO:
    """``exchange`` as read in this transaction; returned settled (not read again: only
    its status, version and times changed).  ``cash``: the client's cash as this unit
    opened it when it submitted the exchange (else the client's row is locked here)."""
    if cash is None or cash.client_id != exchange.client.id:
        cash = await ledger.open_cash(uow, exchange.client.id)
    await cash.post_hold(HOLD_PURPOSE, exchange.forex_id, kind="exchange_out",
                         remarks=f"Exchange to {exchange.to_currency}")
    await cash.post(exchange.to_currency, exchange.to_amount, kind="exchange_in", ref=exchange.forex_id,
                    remarks=f"Exchange from {exchange.from_currency}")
    await pool.move(uow, exchange.to_currency, -exchange.to_amount, change_type="EXCHANGE_OUT",
                    order_no=exchange.forex_id, automatic=True)
    try:
        await pool.move(uow, exchange.from_currency, exchange.from_amount, change_type="EXCHANGE_IN",
                        order_no=exchange.forex_id, automatic=True)
    except NotFound:
        pass  # the source currency has no pool of its own: nothing to count it into
    version = await _move(uow, exchange, "SUCCEEDED", success=True)
    await record_pool_profit_loss(uow, exchange)
    uow.record("fx.exchange.settle", "client_exchange", exchange.forex_id, {"forex_status": exchange.forex_status},
               {"forex_status": "SUCCEEDED", "paid": f"{exchange.from_amount} {exchange.from_currency}",
                "received": f"{exchange.to_amount} {exchange.to_currency}", "on": "exchange pool"})
    return exchange.model_copy(update={"forex_status": "SUCCEEDED", "version": version, "updated_at": uow.now,
                                       "success_time": uow.now})


async def _move(uow: UnitOfWork, exchange: ExchangeDTO, status: str, *, success: bool = False) -> int:
    """From the status read to ``status``, once: a second decision finds it moved.  The
    exchange's version after."""
    changed = await (_SUCCEED if success else _MOVE).rows(uow.conn, {
        "exchange_id": exchange.id, "status_read": exchange.forex_status, "new_status": status, "now": uow.now},
        sqlite=uow.sqlite)
    if len(changed) != 1:
        raise Conflict(f"Client exchange {exchange.forex_id} moved on meanwhile; reload it.")
    return int(changed[0].version)


# Each settlement runs it: on the SQLite driver directly in a write unit (``Prepared``).
_e = fx_exchanges.c
_MOVE_STATEMENT = update(fx_exchanges).where(and_(_e.id == bindparam("exchange_id"), _e.forex_status == bindparam(
    "status_read"))).values(forex_status=bindparam("new_status"), version=_e.version + 1, updated_at=bindparam("now"))
_MOVE = Prepared(_MOVE_STATEMENT.returning(_e.version))
_SUCCEED = Prepared(_MOVE_STATEMENT.values(success_time=bindparam("now")).returning(_e.version))

"""Reviewing and cancelling client exchanges.

A checker approves or rejects an exchange that awaits review; the maker never reviews
their own (the database refuses it too).  The decision is one atomic update from
PENDING, so two checkers deciding at once decide once.  Approval executes the exchange
in the same transaction; rejection releases the hold.  Before execution the maker's
desk may cancel a request, which also releases the hold.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from sqlalchemy import and_, update

from ..commands import Command, RequiredText, handles
from ..errors import Conflict, MakerCheckerViolation, ValidationFailed
from ..uow import UnitOfWork
from ..whole_numbers import Id
from . import ledger
from .exchanges import HOLD_PURPOSE, OPERATION, ExchangeDTO, get_exchange
from .execution import execute_now
from .tables import fx_exchanges

APPROVAL = "fx.customer_exchange_approval"


class ReviewClientExchange(Command):
    permission = APPROVAL
    action = "review client exchanges"
    exchange_id: Id
    approve: bool
    audit_remark: str = Field(default="", max_length=200)


class CancelClientExchange(Command):
    permission = OPERATION
    action = "cancel client exchanges"
    exchange_id: Id
    reason: Annotated[str, RequiredText(" when cancelling")] = Field(max_length=200)


@handles(ReviewClientExchange)
async def review_client_exchange(uow: UnitOfWork, cmd: ReviewClientExchange) -> ExchangeDTO:
    exchange = await get_exchange(uow, cmd.exchange_id)
    me = uow.actor.operator_id
    if exchange.maker_id == me:  # (every refusal is audited by the engine: ``refusals``)
        raise MakerCheckerViolation(f"You submitted {exchange.forex_id}; another checker must review it.")
    if not cmd.approve and not cmd.audit_remark.strip():
        raise ValidationFailed("Audit remark", "is required when rejecting")
    decided = await uow.conn.execute(update(fx_exchanges).where(and_(
        fx_exchanges.c.id == exchange.id, fx_exchanges.c.audit_status == "PENDING",
        fx_exchanges.c.forex_status == "SUBMITTED", fx_exchanges.c.maker_id != me)).values(
        audit_status="APPROVED" if cmd.approve else "REJECTED", checker_id=me, audit_remark=cmd.audit_remark.strip(),
        version=fx_exchanges.c.version + 1, updated_at=uow.now))
    if decided.rowcount != 1:
        raise Conflict(f"{exchange.forex_id} no longer awaits review (it is {exchange.forex_status.lower()}, "
                       f"review {exchange.audit_status.lower()}); reload it.")
    uow.record("fx.exchange.approve" if cmd.approve else "fx.exchange.reject", "client_exchange", exchange.forex_id,
               {"audit_status": "PENDING"}, {"audit_status": "APPROVED" if cmd.approve else "REJECTED",
                                             "remark": cmd.audit_remark.strip()})
    if cmd.approve:
        return await execute_now(uow, await get_exchange(uow, exchange.id))
    await ledger.void_hold(uow, HOLD_PURPOSE, exchange.forex_id)
    await _set_status(uow, exchange.id, "REJECTED")
    return await get_exchange(uow, exchange.id)


@handles(CancelClientExchange)
async def cancel_client_exchange(uow: UnitOfWork, cmd: CancelClientExchange) -> ExchangeDTO:
    exchange = await get_exchange(uow, cmd.exchange_id)
    cancelled = await uow.conn.execute(update(fx_exchanges).where(and_(
        fx_exchanges.c.id == exchange.id, fx_exchanges.c.forex_status == "SUBMITTED")).values(
        forex_status="CANCELLED", audit_remark=cmd.reason.strip(), version=fx_exchanges.c.version + 1,
        updated_at=uow.now))
    if cancelled.rowcount != 1:
        raise Conflict(f"{exchange.forex_id} can't be cancelled: it is {exchange.forex_status.lower()} "
                       "(only a request not yet executed can be).")
    await ledger.void_hold(uow, HOLD_PURPOSE, exchange.forex_id)
    uow.record("fx.exchange.cancel", "client_exchange", exchange.forex_id, {"forex_status": exchange.forex_status},
               {"forex_status": "CANCELLED", "reason": cmd.reason.strip()})
    return await get_exchange(uow, exchange.id)


async def _set_status(uow: UnitOfWork, exchange_id: int, status: str) -> None:
    await uow.conn.execute(update(fx_exchanges).where(fx_exchanges.c.id == exchange_id).values(
        forex_status=status, version=fx_exchanges.c.version + 1, updated_at=uow.now))

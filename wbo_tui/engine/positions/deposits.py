"""Deposit records: recorded, then marked successful (which allocation rules react to)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy import and_, insert, select, update

from ..commands import Command, Query, handles
from ..currencies import load_currency
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..money import DecimalAmount
from ..uow import UnitOfWork
from ..whole_numbers import Id, PageSize
from . import events
from .tables import channel_accounts, deposits

OPERATION = "assets.deposit_record_operation"
INQUIRY = "assets.deposit_record_inquiry"


class DepositDTO(DTO):
    id: int
    ref: str
    client_id: str
    channel_account_id: int
    channel: str
    account_no: str
    currency: str
    amount: Decimal
    status: str
    recorded_at: Any
    succeeded_at: Any


class RecordDeposit(Command):
    permission = OPERATION
    action = "record deposits"
    client_id: str = Field(min_length=1, max_length=40)
    channel_account_id: Id
    amount: DecimalAmount


class MarkDepositSuccessful(Command):
    permission = OPERATION
    action = "mark deposits successful"
    deposit_ref: str


class ListDeposits(Query):
    permission = INQUIRY
    action = "view deposit records"
    status: str | None = None
    limit: PageSize = 200


def _select() -> Any:
    return select(deposits, channel_accounts.c.channel, channel_accounts.c.account_no).join(
        channel_accounts, channel_accounts.c.id == deposits.c.channel_account_id
    )


def _dto(r: Any) -> DepositDTO:
    return DepositDTO(
        id=r.id, ref=r.ref, client_id=r.client_id, channel_account_id=r.channel_account_id, channel=r.channel,
        account_no=r.account_no, currency=r.currency, amount=r.amount, status=r.status, recorded_at=r.recorded_at,
        succeeded_at=r.succeeded_at,
    )


async def _get(uow: UnitOfWork, ref: str) -> DepositDTO:
    row = (await uow.conn.execute(_select().where(deposits.c.ref == ref))).first()
    if row is None:
        raise NotFound(f"Deposit {ref} does not exist.")
    return _dto(row)


@handles(RecordDeposit)
async def record_deposit(uow: UnitOfWork, cmd: RecordDeposit) -> DepositDTO:
    account = (await uow.conn.execute(
        select(channel_accounts).where(channel_accounts.c.id == cmd.channel_account_id)
    )).first()
    if account is None:
        raise ValidationFailed("Channel account", f"{cmd.channel_account_id} is not a configured channel account")
    currency = await load_currency(uow, account.currency)
    cmd = cmd.model_copy(update={"amount": currency.check_precision(cmd.amount, field="Amount")})  # canonical
    if cmd.amount <= 0:
        raise ValidationFailed("Amount", "must be greater than zero")
    ref = uow.ids.new_ref("DP")
    await uow.conn.execute(insert(deposits).values(
        ref=ref, client_id=cmd.client_id, channel_account_id=account.id, currency=account.currency,
        amount=cmd.amount, status="PENDING", recorded_by=uow.actor.operator_id, recorded_at=uow.now,
    ))
    uow.record("deposit.record", "deposit", ref, None, {
        "client_id": cmd.client_id, "channel_account_id": account.id, "currency": account.currency,
        "amount": cmd.amount,
    })
    return await _get(uow, ref)


@handles(MarkDepositSuccessful)
async def mark_deposit_successful(uow: UnitOfWork, cmd: MarkDepositSuccessful) -> DepositDTO:
    d = await _get(uow, cmd.deposit_ref)
    changed = await uow.conn.execute(update(deposits).where(
        and_(deposits.c.id == d.id, deposits.c.status == "PENDING")
    ).values(status="SUCCESSFUL", succeeded_by=uow.actor.operator_id, succeeded_at=uow.now))
    if changed.rowcount != 1:
        raise Conflict(f"Deposit {d.ref} is already marked successful.")
    await events.emit(uow, events.DEPOSIT_SUCCESSFUL, "deposit", d.ref, {
        "deposit_ref": d.ref, "client_id": d.client_id, "channel_account_id": d.channel_account_id,
        "currency": d.currency, "amount": d.amount,
    })
    uow.record("deposit.success", "deposit", d.ref, {"status": "PENDING"}, {"status": "SUCCESSFUL"})
    return await _get(uow, d.ref)


@handles(ListDeposits)
async def list_deposits(uow: UnitOfWork, q: ListDeposits) -> tuple[DepositDTO, ...]:
    stmt = _select()
    if q.status:
        stmt = stmt.where(deposits.c.status == q.status)
    return tuple(_dto(r) for r in await uow.conn.execute(stmt.order_by(deposits.c.id.desc()).limit(q.limit)))

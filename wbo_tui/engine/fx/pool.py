"""Exchange-pool quotas (Service Parameter > Exchange > Exchange Pool Quota Configuration,
and Cash Management's Exchange Pool Quota page).

Per currency: the remaining quota (how much of the currency the pool can still pay out)
and the alert amount.  Every movement is a ledger row with before, amount and after,
flagged automatic (an executed pool exchange) or manual (an operator's adjustment, with
a reason).  When the remaining quota falls below the alert amount the subscribers of
``fx.pool_alert`` hear it once per crossing; rising back to it or above re-arms the
alert, as position thresholds do.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import bindparam, insert, select, update

from ..commands import Command, Query, RequiredText, handles
from ..currencies import load_currency
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..money import DecimalAmount
from ..notify.publish import publish
from ..prepared import Prepared
from ..uow import UnitOfWork
from ..whole_numbers import Id, Version
from .tables import fx_pool_ledger, fx_pool_quotas

INQUIRY = "lb_hk_conversion.exchange_pool_query"
OPERATION = "lb_hk_conversion.exchange_pool_config_update"
ALERT_TOPIC = "fx.pool_alert"
LEDGER_PAGE = 200


class PoolQuotaDTO(DTO):
    currency: str
    remaining_amount: Decimal
    alarm_amount: Decimal
    below_alarm: bool
    remark: str
    version: int


class PoolMovementDTO(DTO):
    id: int
    currency: str
    change_type: str
    order_no: str
    before_occurred: Decimal
    occurred_amount: Decimal
    after_occurred: Decimal
    occurred_from: str
    remark: str


class ListPoolQuotas(Query):
    permission = INQUIRY
    action = "view exchange-pool quotas"


class PoolLedger(Query):
    """The newest movements first; ``before_id`` pages to older ones."""

    permission = INQUIRY
    action = "view exchange-pool quotas"
    currency: str | None = Field(default=None, max_length=12)
    before_id: Id | None = None


class AddPoolQuota(Command):
    permission = OPERATION
    action = "add exchange-pool quotas"
    currency: str = Field(min_length=1, max_length=12)
    remaining_amount: DecimalAmount
    alarm_amount: DecimalAmount
    remark: str = Field(default="", max_length=200)


class AdjustPoolQuota(Command):
    """Raise (positive ``amount``) or lower (negative) the remaining quota, with a reason;
    optionally set a new alert amount."""

    permission = OPERATION
    action = "adjust exchange-pool quotas"
    currency: str = Field(min_length=1, max_length=12)
    amount: DecimalAmount
    alarm_amount: DecimalAmount | None = None
    remark: Annotated[str, RequiredText(" for a quota adjustment")] = Field(max_length=200)
    expected_version: Version


def _quota(row: Any) -> PoolQuotaDTO:  # noqa: ANN401
    return PoolQuotaDTO(currency=row.currency, remaining_amount=row.remaining_amount, alarm_amount=row.alarm_amount,
                        below_alarm=row.below_alarm, remark=row.remark, version=row.version)


@handles(ListPoolQuotas)
async def list_pool_quotas(uow: UnitOfWork, q: ListPoolQuotas) -> tuple[PoolQuotaDTO, ...]:
    rows = await uow.conn.execute(select(fx_pool_quotas).order_by(fx_pool_quotas.c.currency))
    return tuple(_quota(r) for r in rows)


@handles(PoolLedger)
async def pool_ledger(uow: UnitOfWork, q: PoolLedger) -> tuple[PoolMovementDTO, ...]:
    stmt = select(fx_pool_ledger).order_by(fx_pool_ledger.c.id.desc()).limit(LEDGER_PAGE)
    if q.currency:
        stmt = stmt.where(fx_pool_ledger.c.currency == q.currency.upper())
    if q.before_id:
        stmt = stmt.where(fx_pool_ledger.c.id < q.before_id)
    return tuple(PoolMovementDTO(
        id=r.id, currency=r.currency, change_type=r.change_type, order_no=r.order_no,
        before_occurred=r.before_occurred, occurred_amount=r.occurred_amount, after_occurred=r.after_occurred,
        occurred_from=r.occurred_from, remark=r.remark) for r in await uow.conn.execute(stmt))


# Every pool exchange reads and moves two quotas: these run on the SQLite driver directly
# inside a write unit (``Prepared``: a tenth of a Core statement's cost, same stored values).
_QUOTA = select(fx_pool_quotas).where(fx_pool_quotas.c.currency == bindparam("currency"))
_READ_QUOTA, _LOCK_QUOTA = Prepared(_QUOTA), Prepared(_QUOTA.with_for_update())
_MOVE_QUOTA = Prepared(update(fx_pool_quotas).where(fx_pool_quotas.c.currency == bindparam("quota_currency")).values(
    remaining_amount=bindparam("new_remaining"), alarm_amount=bindparam("new_alarm"),
    below_alarm=bindparam("new_below"), version=fx_pool_quotas.c.version + 1, updated_at=bindparam("now")))
_LEDGER_COLUMNS = ("currency", "change_type", "order_no", "before_occurred", "occurred_amount", "after_occurred",
                   "occurred_from", "remark", "operator_id", "created_at")
_INSERT_LEDGER = Prepared(insert(fx_pool_ledger), keys=_LEDGER_COLUMNS)


async def get_quota(uow: UnitOfWork, currency: str, *, lock: bool = False) -> PoolQuotaDTO:
    rows = await (_LOCK_QUOTA if lock else _READ_QUOTA).rows(uow.conn, {"currency": currency}, sqlite=uow.sqlite)
    row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"{currency} has no exchange-pool quota (Exchange Pool Quota Configuration).")
    return _quota(row)


async def _amount(uow: UnitOfWork, currency: str, amount: Decimal, field: str, *, negative: bool = False) -> Decimal:
    checked = (await load_currency(uow, currency)).check_precision(amount, field=field)
    if checked < 0 and not negative:
        raise ValidationFailed(field, "must be 0 or more")
    return checked


@handles(AddPoolQuota)
async def add_pool_quota(uow: UnitOfWork, cmd: AddPoolQuota) -> PoolQuotaDTO:
    code = cmd.currency.upper()
    remaining = await _amount(uow, code, cmd.remaining_amount, "Remaining quota")
    alarm = await _amount(uow, code, cmd.alarm_amount, "Alert amount")
    exists = (await uow.conn.execute(select(fx_pool_quotas.c.currency)
                                     .where(fx_pool_quotas.c.currency == code))).first()
    if exists:
        raise ValidationFailed("Currency", f"{code} already has an exchange-pool quota; adjust it instead")
    await uow.conn.execute(insert(fx_pool_quotas).values(
        currency=code, remaining_amount=remaining, alarm_amount=alarm, below_alarm=remaining < alarm,
        remark=cmd.remark.strip(), version=1, created_at=uow.now, updated_at=uow.now))
    await _ledger(uow, code, "INITIAL", f"POOL-{code}", Decimal(0), remaining, "MANUAL", cmd.remark.strip())
    uow.record("fx.pool.add", "pool_quota", code, None, {"remaining_amount": remaining, "alarm_amount": alarm})
    return await get_quota(uow, code)


@handles(AdjustPoolQuota)
async def adjust_pool_quota(uow: UnitOfWork, cmd: AdjustPoolQuota) -> PoolQuotaDTO:
    code = cmd.currency.upper()
    amount = await _amount(uow, code, cmd.amount, "Adjustment", negative=True)
    alarm = None if cmd.alarm_amount is None else await _amount(uow, code, cmd.alarm_amount, "Alert amount")
    before = await get_quota(uow, code, lock=True)
    if before.version != cmd.expected_version:
        raise Conflict(f"{code}'s pool quota moved since you opened it (now {before.remaining_amount}). "
                       "Reload it and adjust again.")
    if amount.is_zero() and alarm is None:
        raise ValidationFailed("Adjustment", "must change the quota or the alert amount")
    if before.remaining_amount + amount < 0:
        raise ValidationFailed("Adjustment",
                               f"would take the remaining quota below 0 (it is {before.remaining_amount})")
    after = await move(uow, code, amount, change_type="ADJUST_UP" if amount > 0 else "ADJUST_DOWN",
                       order_no=uow.ids.new_ref("POOL"), automatic=False, remark=cmd.remark.strip(),
                       alarm_amount=alarm)
    uow.record("fx.pool.adjust", "pool_quota", code,
               {"remaining_amount": before.remaining_amount, "alarm_amount": before.alarm_amount},
               {"remaining_amount": after.remaining_amount, "alarm_amount": after.alarm_amount,
                "reason": cmd.remark.strip()})
    return after


async def move(uow: UnitOfWork, currency: str, amount: Decimal, *, change_type: str, order_no: str, automatic: bool,
               remark: str = "", alarm_amount: Decimal | None = None) -> PoolQuotaDTO:
    """Move the remaining quota by ``amount`` (an executed exchange: automatic), write its
    ledger row, and alert on a crossing below the alert amount; the quota after.  A
    payout beyond the remaining quota is refused (the vendor's quota check)."""
    before = await get_quota(uow, currency, lock=True)
    after_amount = before.remaining_amount + amount
    if after_amount < 0:
        raise ValidationFailed("Exchange pool", f"{currency} quota is insufficient: {before.remaining_amount} "
                                                f"remaining, {-amount} needed")
    alarm = before.alarm_amount if alarm_amount is None else alarm_amount
    below = after_amount < alarm
    if not amount.is_zero():
        await _ledger(uow, currency, change_type, order_no, before.remaining_amount, amount,
                      "AUTO" if automatic else "MANUAL", remark)
    await _MOVE_QUOTA.rows(uow.conn, {"quota_currency": currency, "new_remaining": after_amount, "new_alarm": alarm,
                                      "new_below": below, "now": uow.now}, sqlite=uow.sqlite)
    if below and not before.below_alarm:
        await publish(uow, ALERT_TOPIC, f"Exchange pool {currency} below its alert amount",
                      f"The {currency} exchange-pool quota is {after_amount}, below its alert amount of {alarm} "
                      f"({change_type} {order_no}).", source_type="pool_quota", source_id=currency)
    # The quota as just written (the row is locked: no one else moved it meanwhile); not read again.
    return before.model_copy(update={"remaining_amount": after_amount, "alarm_amount": alarm, "below_alarm": below,
                                     "version": before.version + 1})


async def _ledger(uow: UnitOfWork, currency: str, change_type: str, order_no: str, before: Decimal, amount: Decimal,
                  occurred_from: str, remark: str) -> None:
    await _INSERT_LEDGER.rows(uow.conn, {
        "currency": currency, "change_type": change_type, "order_no": order_no, "before_occurred": before,
        "occurred_amount": amount, "after_occurred": before + amount, "occurred_from": occurred_from,
        "remark": remark, "operator_id": uow.actor.operator_id, "created_at": uow.now}, sqlite=uow.sqlite)

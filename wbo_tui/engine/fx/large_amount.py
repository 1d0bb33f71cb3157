"""Large-amount criteria (Service Parameter > Exchange > Large Amount Criteria Setting):
per currency, the amount from which an exchange is a Large Amount Exchange (the
vendor's ``amount_config``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import and_, bindparam, delete, insert, select, update

from ..commands import Command, Query, handles
from ..currencies import load_currency
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..money import DecimalAmount
from ..prepared import Prepared
from ..uow import UnitOfWork
from ..whole_numbers import Version, WholeNumber
from .tables import fx_amount_configs

INQUIRY = "lb_hk_conversion.amount_config_query"
OPERATION = "lb_hk_conversion.amount_config_update"


class AmountConfigDTO(DTO):
    currency: str
    amount: Decimal
    """The Large Amount starting point: an exchange of this much or more is large."""
    version: int


class ListAmountConfigs(Query):
    permission = INQUIRY
    action = "view large-amount criteria"


class SetAmountConfig(Command):
    """Create (``expected_version`` 0) or change a currency's large-amount criterion."""

    permission = OPERATION
    action = "set large-amount criteria"
    currency: str = Field(min_length=1, max_length=12)
    amount: DecimalAmount
    expected_version: Annotated[int, WholeNumber(0)]


class DeleteAmountConfig(Command):
    permission = OPERATION
    action = "delete large-amount criteria"
    currency: str = Field(min_length=1, max_length=12)
    expected_version: Version


def _dto(row: Any) -> AmountConfigDTO:  # noqa: ANN401
    return AmountConfigDTO(currency=row.currency, amount=row.amount, version=row.version)


@handles(ListAmountConfigs)
async def list_amount_configs(uow: UnitOfWork, q: ListAmountConfigs) -> tuple[AmountConfigDTO, ...]:
    rows = await uow.conn.execute(select(fx_amount_configs).order_by(fx_amount_configs.c.currency))
    return tuple(_dto(r) for r in rows)


# Every exchange's routing reads it: on the SQLite driver directly in a write unit.
_LARGE_AMOUNT = Prepared(select(fx_amount_configs.c.amount)
                         .where(fx_amount_configs.c.currency == bindparam("currency")))


async def large_amount_of(uow: UnitOfWork, currency: str) -> Decimal | None:
    rows = await _LARGE_AMOUNT.rows(uow.conn, {"currency": currency}, sqlite=uow.sqlite)
    return rows[0].amount if rows else None


@handles(SetAmountConfig)
async def set_amount_config(uow: UnitOfWork, cmd: SetAmountConfig) -> AmountConfigDTO:
    code = cmd.currency.upper()
    amount = (await load_currency(uow, code)).check_precision(cmd.amount, field="Large amount starting point")
    if amount <= 0:
        raise ValidationFailed("Large amount starting point", "must be greater than 0")
    row = (await uow.conn.execute(select(fx_amount_configs).where(fx_amount_configs.c.currency == code))).first()
    current = 0 if row is None else row.version
    if current != cmd.expected_version:
        raise Conflict(f"{code}'s large-amount criterion was changed by someone else since you opened it. "
                       "Reload it and edit again.")
    if row is None:
        await uow.conn.execute(insert(fx_amount_configs).values(currency=code, amount=amount, version=1,
                                                                created_at=uow.now, updated_at=uow.now))
    else:
        await uow.conn.execute(update(fx_amount_configs).where(and_(
            fx_amount_configs.c.currency == code, fx_amount_configs.c.version == cmd.expected_version))
            .values(amount=amount, version=fx_amount_configs.c.version + 1, updated_at=uow.now))
    uow.record("fx.amount_config.set", "amount_config", code, None if row is None else {"amount": row.amount},
               {"amount": amount})
    saved = (await uow.conn.execute(select(fx_amount_configs).where(fx_amount_configs.c.currency == code))).one()
    return _dto(saved)


@handles(DeleteAmountConfig)
async def delete_amount_config(uow: UnitOfWork, cmd: DeleteAmountConfig) -> None:
    code = cmd.currency.upper()
    row = (await uow.conn.execute(select(fx_amount_configs).where(fx_amount_configs.c.currency == code))).first()
    if row is None:
        raise NotFound(f"{code} has no large-amount criterion.")
    gone = await uow.conn.execute(delete(fx_amount_configs).where(and_(
        fx_amount_configs.c.currency == code, fx_amount_configs.c.version == cmd.expected_version)))
    if gone.rowcount != 1:
        raise Conflict(f"{code}'s large-amount criterion was changed by someone else since you opened it.")
    uow.record("fx.amount_config.delete", "amount_config", code, {"amount": row.amount}, None)

"""Currencies as configured data: precision, rounding and maximum amount per currency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from .commands import Query, handles
from .dto import CurrencyDTO
from .money import Currency
from .schema import currencies
from .uow import UnitOfWork


class ListCurrencies(Query):
    permission = None
    action = "view currencies"


@handles(ListCurrencies)
async def list_currencies(uow: UnitOfWork, q: ListCurrencies) -> tuple[CurrencyDTO, ...]:
    await uow.require(None)
    rows = await uow.conn.execute(select(currencies).order_by(currencies.c.code))
    return tuple(CurrencyDTO(**r._mapping) for r in rows)


_ONE = select(currencies).where(currencies.c.code == bindparam("code"))


async def load_currency(uow: UnitOfWork, code: str) -> Currency:
    """The currency with its precision and rounding, for parsing and quantising amounts."""
    from .errors import ValidationFailed

    row = (await uow.conn.execute(_ONE, {"code": code})).first()
    if row is None:
        raise ValidationFailed("Currency", f"{code!r} is not a configured currency")
    return _currency(row)


async def load_currencies(uow: UnitOfWork) -> dict[str, Currency]:
    """Every configured currency by code (one query, for work over many currencies)."""
    return {r.code: _currency(r) for r in await uow.conn.execute(select(currencies))}


def _currency(row: Any) -> Currency:
    # max_amount NULL (a currency added without one) resolves to its kind's default.
    return Currency(row.code, row.name, row.kind, row.amount_precision, row.rounding, row.max_amount)

"""Currency Setup (Service Parameter > Fund Parameter > Currency Setup): per currency the
exchange switch, rate precision, exchange amount precision and rounding, minimum exchange
amount, and the standard (base) currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import and_, bindparam, insert, or_, select, update

from ..commands import Command, Query, handles
from ..currencies import load_currency
from ..dto import DTO
from ..errors import Conflict, ValidationFailed
from ..money import DecimalAmount
from ..prepared import Prepared
from ..schema import currencies
from ..uow import UnitOfWork
from ..whole_numbers import WholeNumber
from .tables import fx_currency_configs

INQUIRY = "fx.currency_setup_inquiry"
OPERATION = "atm.update_current_config"
RoundMode = Literal["round", "truncate"]


class CurrencySetupDTO(DTO):
    currency: str
    name: str
    kind: str
    support_exchange: bool
    """The exchange switch (``currencies.exchange_enabled``)."""
    configured: bool
    """Whether the currency has exchange settings yet (a currency without them cannot be
    switched on)."""
    exchange_rate_precision: int
    amount_precision: int
    amount_round_mode: str
    min_exchange_amount: Decimal
    standard_money: bool
    remarks: str
    version: int


class ListCurrencySetup(Query):
    permission = INQUIRY
    action = "view currency setup"


class UpdateCurrencySetup(Command):
    """Save one currency's exchange settings.  ``expected_version`` is the version the
    operator edited (0: the currency had none): a concurrent edit is refused, never
    overwritten."""

    permission = OPERATION
    action = "edit currency setup"
    currency: str = Field(min_length=1, max_length=12)
    support_exchange: bool
    exchange_rate_precision: Annotated[int, WholeNumber(0, 10)]
    amount_precision: Annotated[int, WholeNumber(0, 2)]
    amount_round_mode: RoundMode
    min_exchange_amount: DecimalAmount
    standard_money: bool
    remarks: str = Field(default="", max_length=200)
    expected_version: Annotated[int, WholeNumber(0)]


_f = fx_currency_configs.c
_SETUP = select(
    currencies.c.code, currencies.c.name, currencies.c.kind, currencies.c.exchange_enabled,
    currencies.c.amount_precision.label("currency_precision"), _f.exchange_rate_precision, _f.amount_precision,
    _f.amount_round_mode, _f.min_exchange_amount, _f.standard_money, _f.remarks, _f.version,
).select_from(currencies.outerjoin(fx_currency_configs, _f.currency == currencies.c.code))


def _dto(row: Any) -> CurrencySetupDTO:
    configured = row.version is not None
    return CurrencySetupDTO(
        currency=row.code, name=row.name, kind=row.kind, support_exchange=row.exchange_enabled, configured=configured,
        exchange_rate_precision=row.exchange_rate_precision if configured else 4,
        amount_precision=row.amount_precision if configured else min(2, row.currency_precision),
        amount_round_mode=row.amount_round_mode if configured else "round",
        min_exchange_amount=row.min_exchange_amount if configured else Decimal("0"),
        standard_money=bool(row.standard_money) if configured else False,
        remarks=row.remarks if configured else "", version=row.version if configured else 0)


@handles(ListCurrencySetup)
async def list_currency_setup(uow: UnitOfWork, q: ListCurrencySetup) -> tuple[CurrencySetupDTO, ...]:
    rows = await uow.conn.execute(_SETUP.order_by(currencies.c.code))
    return tuple(_dto(r) for r in rows)


# Every exchange (and every quote) reads both currencies' setups: one statement, on the
# SQLite driver directly in a write unit (``Prepared``).
_ONE_SETUP = Prepared(_SETUP.where(currencies.c.code == bindparam("code")))
_TWO_SETUPS = Prepared(_SETUP.where(or_(currencies.c.code == bindparam("first"),
                                        currencies.c.code == bindparam("second"))))


async def get_setup(uow: UnitOfWork, code: str) -> CurrencySetupDTO:
    rows = await _ONE_SETUP.rows(uow.conn, {"code": code}, sqlite=uow.sqlite)
    if not rows:
        raise ValidationFailed("Currency", f"{code!r} is not a configured currency")
    return _dto(rows[0])


@handles(UpdateCurrencySetup)
async def update_currency_setup(uow: UnitOfWork, cmd: UpdateCurrencySetup) -> CurrencySetupDTO:
    code = cmd.currency.upper()
    currency = await load_currency(uow, code)
    before = await get_setup(uow, code)
    if cmd.amount_precision > currency.amount_precision:
        raise ValidationFailed("Amount precision", f"can be at most {currency.amount_precision} for {code} "
                                                   f"(the currency's own precision)")
    if cmd.min_exchange_amount < 0:
        raise ValidationFailed("Minimum exchange amount", "must be 0 or more")
    minimum = currency.check_precision(cmd.min_exchange_amount, field="Minimum exchange amount")
    if minimum != minimum.quantize(Decimal(1).scaleb(-cmd.amount_precision)):
        raise ValidationFailed("Minimum exchange amount", f"has more than {cmd.amount_precision} decimal places "
                                                          f"(the amount precision)")
    if cmd.standard_money:
        await _one_standard(uow, code)
    values = {"exchange_rate_precision": cmd.exchange_rate_precision, "amount_precision": cmd.amount_precision,
              "amount_round_mode": cmd.amount_round_mode, "min_exchange_amount": minimum,
              "standard_money": cmd.standard_money, "remarks": cmd.remarks.strip(), "updated_at": uow.now}
    if cmd.expected_version != before.version:
        raise _edited_meanwhile(code, before.version, cmd.expected_version)
    if before.configured:
        changed = await uow.conn.execute(update(fx_currency_configs).where(and_(
            fx_currency_configs.c.currency == code, fx_currency_configs.c.version == cmd.expected_version))
            .values(**values, version=fx_currency_configs.c.version + 1))
        if changed.rowcount != 1:
            raise _edited_meanwhile(code, before.version, cmd.expected_version)
    else:
        await uow.conn.execute(insert(fx_currency_configs).values(currency=code, version=1, **values))
    await uow.conn.execute(update(currencies).where(currencies.c.code == code)
                           .values(exchange_enabled=cmd.support_exchange))
    after = await get_setup(uow, code)
    old, new = before.model_dump(exclude={"version", "configured"}), after.model_dump(exclude={"version", "configured"})
    uow.record("fx.currency_setup.update", "currency", code, {k: v for k, v in old.items() if new[k] != v},
               {k: v for k, v in new.items() if old[k] != v})
    return after


async def _one_standard(uow: UnitOfWork, code: str) -> None:
    other = (await uow.conn.execute(select(fx_currency_configs.c.currency).where(
        fx_currency_configs.c.standard_money, fx_currency_configs.c.currency != code))).first()
    if other is not None:
        raise ValidationFailed("Standard currency", f"{other.currency} is the standard currency; "
                                                    f"unset it there first (there is one standard currency)")


def _edited_meanwhile(code: str, current: int, edited: int) -> Conflict:
    return Conflict(f"{code}'s currency setup was changed by someone else since you opened it "
                    f"(version {current}, you edited {edited}). Reload it and edit again.")


async def exchange_settings(uow: UnitOfWork, code: str) -> CurrencySetupDTO:
    """A currency's settings for quoting and exchanging, refused unless it exchanges."""
    return _exchanging(await get_setup(uow, code))


async def pair_settings(uow: UnitOfWork, source: str, target: str) -> tuple[CurrencySetupDTO, CurrencySetupDTO]:
    """``exchange_settings`` of both currencies of an exchange, read in one statement and
    checked in the vendor's order (the source's, then the target's)."""
    rows = {r.code: r for r in await _TWO_SETUPS.rows(uow.conn, {"first": source, "second": target},
                                                      sqlite=uow.sqlite)}
    setups = []
    for code in (source, target):
        if code not in rows:
            raise ValidationFailed("Currency", f"{code!r} is not a configured currency")
        setups.append(_exchanging(_dto(rows[code])))
    return setups[0], setups[1]


def _exchanging(setup: CurrencySetupDTO) -> CurrencySetupDTO:
    if not setup.support_exchange or not setup.configured:
        raise ValidationFailed("Currency", f"{setup.currency} does not support exchange "
                                           "(Currency Setup: exchange switch off)")
    return setup

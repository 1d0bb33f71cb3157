"""Instruments and their margin factors (the vendor's ``instrument_stock_margin_ratios``):
listed for every risk screen, changed under the margin-call configuration permission.

Suspending a stock is what a desk does when HKEX halts it: it is skipped by every
liquidation plan from then on, and after the desk's "long-suspended" number of days its
market value no longer counts as liquid net assets.  Delisted stocks never do.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import insert, select, update

from ..commands import Command, Query, handles
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..money import DecimalAmount
from ..types import UtcMoment
from ..uow import UnitOfWork
from ..whole_numbers import Version, WholeNumber
from .settings import CONFIG, READ
from .tables import instruments, market_prices

FACTORS = ("im_factor", "mm_factor", "fm_factor", "mcm_factor")
FACTOR_LABELS = {"im_factor": "Initial margin factor", "mm_factor": "Maintenance margin factor",
                 "fm_factor": "Force margin factor", "mcm_factor": "Margin-call factor"}


class InstrumentDTO(DTO):
    code: str
    name: str
    market: str
    currency: str
    lot_size: int
    status: str
    status_since: datetime | None
    im_factor: Decimal
    mm_factor: Decimal
    fm_factor: Decimal
    mcm_factor: Decimal
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    quoted_at: datetime | None
    version: int


class ListInstruments(Query):
    permission = READ
    action = "view instruments"


class UpdateInstrument(Command):
    """A stock's status and margin factors (percentages)."""

    permission = CONFIG
    action = "edit an instrument's status and margin factors"
    code: Annotated[str, Field(min_length=1, max_length=16)]
    status: Literal["NORMAL", "SUSPENDED", "DELISTED"]
    im_factor: DecimalAmount
    mm_factor: DecimalAmount
    fm_factor: DecimalAmount
    mcm_factor: DecimalAmount
    expected_version: Version


def _dto(row) -> InstrumentDTO:  # noqa: ANN001
    return InstrumentDTO(code=row.code, name=row.name, market=row.market, currency=row.currency,
                         lot_size=row.lot_size, status=row.status, status_since=row.status_since,
                         im_factor=row.im_factor, mm_factor=row.mm_factor, fm_factor=row.fm_factor,
                         mcm_factor=row.mcm_factor, bid=row.bid, ask=row.ask, last=row.last,
                         quoted_at=row.quoted_at, version=row.version)


def _selected():  # noqa: ANN202
    q = market_prices.c
    return select(instruments, q.bid, q.ask, q.last, q.quoted_at).outerjoin(
        market_prices, q.code == instruments.c.code)


@handles(ListInstruments)
async def list_instruments(uow: UnitOfWork, q: ListInstruments) -> tuple[InstrumentDTO, ...]:
    return tuple(_dto(r) for r in await uow.conn.execute(_selected().order_by(instruments.c.code)))


def check_factors(values: dict[str, Decimal]) -> None:
    for name in FACTORS:
        factor = values[name]
        if not Decimal(0) <= factor <= Decimal(100) or factor != factor.quantize(Decimal("0.01")):
            raise ValidationFailed(FACTOR_LABELS[name], "must be a percentage from 0 to 100 with at most 2 decimals")
    if not values["fm_factor"] <= values["mm_factor"] <= values["mcm_factor"] <= values["im_factor"]:
        raise ValidationFailed("Margin factors", "must rise from force to maintenance to margin-call to initial "
                                                 "(force ≤ maintenance ≤ margin-call ≤ initial)")


@handles(UpdateInstrument)
async def update_instrument(uow: UnitOfWork, cmd: UpdateInstrument) -> InstrumentDTO:
    code = cmd.code.upper()
    row = (await uow.conn.execute(select(instruments).where(instruments.c.code == code))).first()
    if row is None:
        raise NotFound(f"There is no instrument {code}.")
    if row.version != cmd.expected_version:
        raise Conflict(f"{code} was changed by someone else since you opened it. Reload it and edit again.")
    values = {name: getattr(cmd, name) for name in FACTORS}
    check_factors(values)
    since = row.status_since if cmd.status == row.status else uow.now
    await uow.conn.execute(update(instruments).where(instruments.c.code == code).values(
        status=cmd.status, status_since=since, **values, version=instruments.c.version + 1, updated_at=uow.now))
    uow.record("margin.instrument.update", "instrument", code,
               {"status": row.status, **{n: getattr(row, n) for n in FACTORS}}, {"status": cmd.status, **values})
    return _dto((await uow.conn.execute(_selected().where(instruments.c.code == code))).one())


class AddInstrument(Command):
    """List a security for margin: its board lot, currency, reference price and factors."""

    permission = CONFIG
    action = "add an instrument"
    code: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[0-9A-Za-z]{1,11}\.[A-Za-z]{1,4}$")]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    market: Literal["HK", "US"] = "HK"
    currency: Annotated[str, Field(min_length=3, max_length=12)] = "HKD"
    lot_size: Annotated[int, WholeNumber(1, 1_000_000)]
    reference_price: DecimalAmount
    status: Literal["NORMAL", "SUSPENDED", "DELISTED"] = "NORMAL"
    status_since: UtcMoment | None = None
    """When the exchange suspended or delisted it (default: now)."""
    im_factor: DecimalAmount
    mm_factor: DecimalAmount
    fm_factor: DecimalAmount
    mcm_factor: DecimalAmount


@handles(AddInstrument)
async def add_instrument(uow: UnitOfWork, cmd: AddInstrument) -> InstrumentDTO:
    from ..currencies import load_currency
    from .ticks import on_grid

    code = cmd.code.upper()
    if (await uow.conn.execute(select(instruments.c.code).where(instruments.c.code == code))).first():
        raise Conflict(f"{code} is already an instrument.")
    currency = await load_currency(uow, cmd.currency.upper())
    if cmd.market == "HK" and not on_grid(cmd.reference_price):
        raise ValidationFailed("Reference price", f"{cmd.reference_price} is not a price on HKEX's spread table")
    if cmd.reference_price <= 0:
        raise ValidationFailed("Reference price", "must be greater than 0")
    values = {name: getattr(cmd, name) for name in FACTORS}
    check_factors(values)
    if cmd.status_since is not None and (cmd.status == "NORMAL" or cmd.status_since > uow.now):
        raise ValidationFailed("Status since", "is for a suspended or delisted stock, and not in the future")
    since = None if cmd.status == "NORMAL" else cmd.status_since or uow.now
    await uow.conn.execute(insert(instruments).values(
        code=code, name=cmd.name, market=cmd.market, currency=currency.code, lot_size=cmd.lot_size,
        status=cmd.status, status_since=since, **values,
        anchor_price=cmd.reference_price, version=1, updated_at=uow.now))
    uow.record("margin.instrument.add", "instrument", code, None,
               {"name": cmd.name, "lot_size": cmd.lot_size, "status": cmd.status, **values})
    return _dto((await uow.conn.execute(_selected().where(instruments.c.code == code))).one())

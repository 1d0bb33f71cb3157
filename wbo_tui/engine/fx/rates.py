"""Reference exchange rates (Cash Management > Currency Conversion > Reference Rate).

Channels Hong Kong Exchange, IB, Hang Seng and ICBC; types Book, Spot and HKEX; bid,
offer and average (mid) per currency against the standard currency, one row per record
date.  Every rate set (imported, edited, refreshed) is also written to the journal, the
history.  The reference rate of a pair is the source currency's bid (the broker buys it)
over the target currency's offer (the broker sells it), to the source currency's rate
precision with its rounding: the manual's USD → CNH, 7.8147 ÷ 1.095 = 7.1367.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import Field
from sqlalchemy import and_, bindparam, select, update

from ..commands import Command, Query, handles
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..money import DecimalAmount
from ..prepared import Prepared
from ..uow import UnitOfWork
from ..whole_numbers import Id, Version
from . import rate_math
from .currency_setup import CurrencySetupDTO, exchange_settings
from .tables import RATE_CHANNELS, RATE_TYPES, fx_currency_configs, fx_reference_rate_journal, fx_reference_rates

INQUIRY = "fx.reference_rate_inquiry"
OPERATION = "fx.reference_rate_operation"
MAX_AGE_S = 26 * 3600
"""A rate older than this is not used for quoting: the daily 13:00 refresh and an hour
of grace (the console shows every rate's age)."""
JOURNAL_PAGE = 200


class ReferenceRateDTO(DTO):
    id: int
    channel_name: str
    rate_type: str
    base_currency: str
    other_currency: str
    record_date: str
    bid_rate: Decimal
    offer_rate: Decimal
    average_rate: Decimal
    source: str
    version: int
    updated_at: datetime

    @property
    def channel_label(self) -> str:
        return RATE_CHANNELS[self.channel_name]

    @property
    def type_label(self) -> str:
        return RATE_TYPES[self.rate_type]


class PairRateDTO(DTO):
    """The reference rate of a pair and how it was reached, step by step."""

    from_currency: str
    to_currency: str
    channel_name: str
    rate_type: str
    source_buy: Decimal
    """The source currency's bid against the standard currency (1 for the standard)."""
    target_sell: Decimal
    """The target currency's offer against the standard currency (1 for the standard)."""
    rate: Decimal
    places: int
    round_mode: str
    as_of: datetime | None
    """When the older of the two rates was set (None: both currencies are the standard)."""

    @property
    def steps(self) -> str:
        return (f"{self.source_buy} ÷ {self.target_sell} = {self.rate} "
                f"({self.places} places, {rate_math.ROUND_MODE_LABELS[self.round_mode]})")


class ListReferenceRates(Query):
    """The current rate (latest record date) of each channel, type and currency."""

    permission = INQUIRY
    action = "view reference rates"
    channel_name: str | None = Field(default=None, max_length=16)
    rate_type: str | None = Field(default=None, max_length=8)
    currency: str | None = Field(default=None, max_length=12)


class ReferenceRateHistory(Query):
    permission = INQUIRY
    action = "view reference rates"
    other_currency: str = Field(min_length=1, max_length=12)
    channel_name: str | None = Field(default=None, max_length=16)
    rate_type: str | None = Field(default=None, max_length=8)
    before_id: Id | None = None


class EditReferenceRate(Command):
    """Only the three rates change; channel, type, currencies and date are the record's."""

    permission = OPERATION
    action = "edit reference rates"
    rate_id: Id
    bid_rate: DecimalAmount
    offer_rate: DecimalAmount
    average_rate: DecimalAmount
    expected_version: Version


def _dto(row: Any) -> ReferenceRateDTO:  # noqa: ANN401
    return ReferenceRateDTO(
        id=row.id, channel_name=row.channel_name, rate_type=row.rate_type, base_currency=row.base_currency,
        other_currency=row.other_currency, record_date=row.record_date, bid_rate=row.bid_rate,
        offer_rate=row.offer_rate, average_rate=row.average_rate, source=row.source, version=row.version,
        updated_at=row.updated_at)


def check_rates(bid: Decimal, offer: Decimal, average: Decimal, places: int, *, where: str = "") -> None:
    """Each rate > 0 with at most ``places`` decimals, and bid ≤ average ≤ offer."""
    for name, value in (("Bid rate", bid), ("Offer rate", offer), ("Average rate", average)):
        if value <= 0:
            raise ValidationFailed(f"{where}{name}", "must be greater than 0")
        if rate_math.places_of(value.normalize()) > places:
            raise ValidationFailed(f"{where}{name}", f"allows at most {places} decimal places (the rate precision)")
    if not bid <= average <= offer:
        raise ValidationFailed(f"{where}Average rate", f"must lie between the bid ({bid}) and the offer ({offer})")


async def rate_places(uow: UnitOfWork) -> dict[str, int]:
    """Each configured currency's rate precision (a currency without setup: 4)."""
    rows = await uow.conn.execute(select(fx_currency_configs.c.currency, fx_currency_configs.c.exchange_rate_precision))
    return {r.currency: r.exchange_rate_precision for r in rows}


# Read by every client exchange (twice each): on the SQLite driver directly in a write
# unit (``Prepared``), the same values as through SQLAlchemy.
_STANDARD = Prepared(select(fx_currency_configs.c.currency).where(fx_currency_configs.c.standard_money))
_CURRENT = Prepared(select(fx_reference_rates).where(
    fx_reference_rates.c.channel_name == bindparam("channel_name"), fx_reference_rates.c.rate_type == bindparam("kind"),
    fx_reference_rates.c.other_currency == bindparam("currency"))
    .order_by(fx_reference_rates.c.record_date.desc()).limit(1))


async def standard_currency(uow: UnitOfWork) -> str:
    rows = await _STANDARD.rows(uow.conn, {}, sqlite=uow.sqlite)
    row = rows[0] if rows else None
    if row is None:
        raise ValidationFailed("Standard currency", "is not set (Currency Setup: mark one currency standard)")
    return row.currency


@handles(ListReferenceRates)
async def list_reference_rates(uow: UnitOfWork, q: ListReferenceRates) -> tuple[ReferenceRateDTO, ...]:
    # The newest record date of each key, by a correlated subquery (portable; the unique
    # index on the key and date answers it).
    r, n = fx_reference_rates.c, fx_reference_rates.alias("n")
    stmt = select(fx_reference_rates).where(r.record_date == select(n.c.record_date).where(
        n.c.channel_name == r.channel_name, n.c.rate_type == r.rate_type, n.c.base_currency == r.base_currency,
        n.c.other_currency == r.other_currency).order_by(n.c.record_date.desc()).limit(1).scalar_subquery())
    if q.channel_name:
        stmt = stmt.where(r.channel_name == q.channel_name)
    if q.rate_type:
        stmt = stmt.where(r.rate_type == q.rate_type)
    if q.currency:
        stmt = stmt.where(r.other_currency == q.currency.upper())
    rows = await uow.conn.execute(stmt.order_by(r.other_currency, r.channel_name, r.rate_type))
    return tuple(_dto(row) for row in rows)


@handles(ReferenceRateHistory)
async def reference_rate_history(uow: UnitOfWork, q: ReferenceRateHistory) -> tuple[ReferenceRateDTO, ...]:
    j = fx_reference_rate_journal.c
    stmt = select(fx_reference_rate_journal).where(j.other_currency == q.other_currency.upper())
    if q.channel_name:
        stmt = stmt.where(j.channel_name == q.channel_name)
    if q.rate_type:
        stmt = stmt.where(j.rate_type == q.rate_type)
    if q.before_id:
        stmt = stmt.where(j.id < q.before_id)
    rows = await uow.conn.execute(stmt.order_by(j.id.desc()).limit(JOURNAL_PAGE))
    return tuple(ReferenceRateDTO(
        id=row.id, channel_name=row.channel_name, rate_type=row.rate_type, base_currency=row.base_currency,
        other_currency=row.other_currency, record_date=row.record_date, bid_rate=row.bid_rate,
        offer_rate=row.offer_rate, average_rate=row.average_rate, source=row.source, version=0,
        updated_at=row.created_at) for row in rows)


async def get_rate(uow: UnitOfWork, rate_id: int) -> ReferenceRateDTO:
    row = (await uow.conn.execute(select(fx_reference_rates).where(fx_reference_rates.c.id == rate_id))).first()
    if row is None:
        raise NotFound(f"Reference rate {rate_id} does not exist.")
    return _dto(row)


@handles(EditReferenceRate)
async def edit_reference_rate(uow: UnitOfWork, cmd: EditReferenceRate) -> ReferenceRateDTO:
    before = await get_rate(uow, cmd.rate_id)
    places = (await rate_places(uow)).get(before.other_currency, 4)
    check_rates(cmd.bid_rate, cmd.offer_rate, cmd.average_rate, places)
    changed = await uow.conn.execute(update(fx_reference_rates).where(and_(
        fx_reference_rates.c.id == cmd.rate_id, fx_reference_rates.c.version == cmd.expected_version)).values(
        bid_rate=cmd.bid_rate, offer_rate=cmd.offer_rate, average_rate=cmd.average_rate, source="MANUAL",
        version=fx_reference_rates.c.version + 1, updated_at=uow.now))
    if changed.rowcount != 1:
        raise Conflict(f"Reference rate {cmd.rate_id} was changed by someone else since you opened it. "
                       "Reload it and edit again.")
    after = await get_rate(uow, cmd.rate_id)
    await journal(uow, [after], "MANUAL")
    keep = ("bid_rate", "offer_rate", "average_rate")
    uow.record("fx.reference_rate.edit", "reference_rate", cmd.rate_id,
               {k: getattr(before, k) for k in keep} | {"key": _key_text(before)},
               {k: getattr(after, k) for k in keep})
    return after


def _key_text(rate: ReferenceRateDTO) -> str:
    return f"{rate.channel_name}/{rate.rate_type} {rate.other_currency}/{rate.base_currency} {rate.record_date}"


async def journal(uow: UnitOfWork, rates: list[ReferenceRateDTO], source: str) -> None:
    await journal_values(uow, [(r.channel_name, r.rate_type, r.base_currency, r.other_currency, r.record_date,
                                r.bid_rate, r.offer_rate, r.average_rate) for r in rates], source)


async def journal_values(uow: UnitOfWork, rates: Sequence[Sequence[object]], source: str) -> None:
    """Journal ``rates``, each as (channel, type, base, other, record date, bid, offer,
    average): an import's 100,000 rows go in without a DTO each."""
    from ..bulk import insert_many

    columns = ("channel_name", "rate_type", "base_currency", "other_currency", "record_date", "bid_rate",
               "offer_rate", "average_rate", "source", "operator_id", "created_at")
    tail = (source, uow.actor.operator_id, uow.now)
    await insert_many(uow.conn, fx_reference_rate_journal, columns, [(*r, *tail) for r in rates], sqlite=uow.sqlite)


async def current_rate(uow: UnitOfWork, channel_name: str, rate_type: str, currency: str) -> ReferenceRateDTO:
    rows = await _CURRENT.rows(uow.conn, {"channel_name": channel_name, "kind": rate_type, "currency": currency},
                               sqlite=uow.sqlite)
    row = rows[0] if rows else None
    if row is None:
        raise ValidationFailed("Reference rate", f"{RATE_CHANNELS.get(channel_name, channel_name)} has no "
                                                 f"{RATE_TYPES.get(rate_type, rate_type)} for {currency}")
    return _dto(row)


async def pair_rate(uow: UnitOfWork, from_currency: str, to_currency: str, *, channel_name: str = "HKEX",
                    rate_type: str = "SPOT", max_age_s: int = MAX_AGE_S,
                    setups: tuple[CurrencySetupDTO, CurrencySetupDTO] | None = None) -> PairRateDTO:
    """The reference rate of ``from`` → ``to`` now; refused when a rate is missing or older
    than ``max_age_s`` (naming which and how old).  ``setups``: both currencies' settings
    (``exchange_settings``), when the caller has just read them."""
    base = await standard_currency(uow)
    if setups is None:
        setups = (await exchange_settings(uow, from_currency), await exchange_settings(uow, to_currency))
    source = setups[0]
    legs: list[tuple[Decimal, datetime | None]] = []
    for code, side in ((from_currency, "bid_rate"), (to_currency, "offer_rate")):
        if code == base:
            legs.append((Decimal(1), None))
            continue
        rate = await current_rate(uow, channel_name, rate_type, code)
        age_s = (uow.now - rate.updated_at).total_seconds()
        if age_s > max_age_s:
            raise ValidationFailed("Reference rate", f"{code} ({rate.channel_label}, {rate.type_label}) is "
                                                     f"{age_s / 3600:.1f} h old, older than the {max_age_s // 3600} h "
                                                     "limit: import or refresh it before quoting")
        legs.append((getattr(rate, side), rate.updated_at))
    (buy, buy_at), (sell, sell_at) = legs
    rate_value = rate_math.reference_rate(buy, sell, source.exchange_rate_precision, source.amount_round_mode)
    stamps = [s for s in (buy_at, sell_at) if s is not None]
    return PairRateDTO(from_currency=from_currency, to_currency=to_currency, channel_name=channel_name,
                       rate_type=rate_type, source_buy=buy, target_sell=sell, rate=rate_value,
                       places=source.exchange_rate_precision, round_mode=source.amount_round_mode,
                       as_of=min(stamps) if stamps else None)


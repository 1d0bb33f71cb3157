"""Exchange profit and loss (Cash Management > Currency Conversion > Exchange Profit/Loss,
the vendor's ``atm_forex_profit_loss``): per executed client exchange, what the channel
gave against what the client got, in the target currency, the rounding difference apart,
and in the standard currency (HKD).

What a row holds (one per executed exchange, written in the transaction that settles it):

- ``channel_amount``: for a Bank Exchange, what the bank paid at its channel rate
  (``channel_execution``); for an Exchange Pool exchange, where the broker's own book is
  the counterparty, the source amount at the pair's reference rate *before* the markup,
  exact (the rate the submission was quoted from; a custom-rate exchange has none, so the
  pair's reference rate at settlement, or when that cannot be read the client's rate);
- ``user_amount``: what the client got (the client's rate, rounded with the target
  currency's amount precision and rounding);
- ``order_offset``, the rounding difference: the exact amount at the client's rate less
  what the client got;
- ``profit_loss`` = channel amount − client amount: the markup (and, for a bank, the
  executed-rate markup) plus the rounding difference.  ``profit_loss − order_offset`` is
  the part earned on the rate.

In the standard currency: ``profit_loss`` × the HKEX spot mid (average) rate of the target
currency on the row's day (the newest record dated that day or before), to the cent half
up, the rate and rounding the approval starting point uses (``routing``).  It is worked
out when read, and the rate used is returned with it; a row that stores
``standard_profit_loss`` keeps its own.  Days are Hong Kong calendar days (the execution
time in Asia/Hong_Kong), as reference rates' record dates are.
"""

from __future__ import annotations

import csv
import decimal
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from sqlalchemy import insert, select

from ..commands import Query, handles
from ..dto import DTO
from ..errors import ValidationFailed
from ..hk_calendar import HONG_KONG
from ..prepared import Prepared
from ..uow import UnitOfWork
from ..whole_numbers import Id, WholeNumber
from .channel_tables import fx_profit_loss
from .exchanges import ExchangeDTO
from .rates import pair_rate, standard_currency
from .tables import clients, fx_currency_configs, fx_exchanges, fx_reference_rates

INQUIRY = "fx.exchange_pnl_inquiry"
POOL = "POOL"
"""The channel filter's name for Exchange Pool exchanges (they have no channel)."""
CENT = Decimal("0.01")
_EXACT = decimal.Context(prec=60, traps=[decimal.InvalidOperation])


def _day_in_range(value: date) -> date:
    if not 1900 <= value.year <= 9999:
        raise ValueError("must be between the years 1900 and 9999")
    return value


HkDay = Annotated[date, AfterValidator(_day_in_range)]
"""A Hong Kong calendar day (YYYY-MM-DD)."""


class ProfitLossDTO(DTO):
    id: int
    forex_id: str
    client_ordid: str | None
    """The channel order (None: an Exchange Pool exchange)."""
    channel_name: str | None
    account_no: str
    client_name: str
    from_currency: str
    from_amount: Decimal
    currency: str
    """The target currency, the one the profit and loss is in."""
    channel_rate: Decimal
    channel_amount: Decimal
    user_rate: Decimal
    user_amount: Decimal
    profit_loss: Decimal
    order_offset: Decimal
    standard_currency: str
    standard_rate: Decimal | None
    """The rate ``standard_profit_loss`` was worked out at (None: stored with the row, or no rate)."""
    standard_profit_loss: Decimal | None
    """None: the target currency has no HKEX spot rate on or before the row's day."""
    day: date
    """The Hong Kong day it was executed."""
    created_at: datetime

    @property
    def served_by(self) -> str:
        return self.channel_name or "Pool"

    @property
    def rate_profit_loss(self) -> Decimal:
        """The part earned on the rate: the profit and loss less the rounding difference."""
        return self.profit_loss - self.order_offset


class ListProfitLoss(Query):
    """Newest first, at most ``limit``; ``before_id`` pages to older rows.  Days are Hong
    Kong days, both ends included."""

    permission = INQUIRY
    action = "view exchange profit and loss"
    from_day: HkDay | None = None
    to_day: HkDay | None = None
    currency: str | None = Field(default=None, max_length=12)
    """The target currency (the profit and loss currency)."""
    from_currency: str | None = Field(default=None, max_length=12)
    """With ``currency``: one pair."""
    account_no: str | None = Field(default=None, max_length=20)
    channel: str | None = Field(default=None, max_length=32)
    """A bank channel's name, or POOL for Exchange Pool exchanges."""
    before_id: Id | None = None
    limit: Annotated[int, WholeNumber(1, 1000)] = 200


class DayTotalDTO(DTO):
    day: date
    currency: str
    count: int
    profit_loss: Decimal
    order_offset: Decimal
    standard_profit_loss: Decimal
    unconverted: int
    """Rows left out of ``standard_profit_loss`` for want of a rate."""


class ProfitLossTotalsDTO(DTO):
    standard_currency: str
    days: tuple[DayTotalDTO, ...]
    """Per Hong Kong day (newest first) and currency."""
    currencies: tuple[DayTotalDTO, ...]
    """Per currency over the whole selection (``day`` is its last day)."""
    standard_profit_loss: Decimal
    """Everything selected, in the standard currency."""
    count: int


class ProfitLossTotals(Query):
    permission = INQUIRY
    action = "view exchange profit and loss"
    filters: ListProfitLoss = Field(default_factory=ListProfitLoss)


class ExportProfitLoss(Query):
    """Every row matching the filters (newest first): CSV text, or an XLSX workbook's bytes
    (a sheet of rows and a sheet of totals per day and currency)."""

    permission = INQUIRY
    action = "export exchange profit and loss"
    filters: ListProfitLoss = Field(default_factory=ListProfitLoss)
    file_format: Literal["csv", "xlsx"] = "csv"
    limit: Annotated[int, WholeNumber(1, 1_000_000)] = 100_000


# --- recording --------------------------------------------------------------------------


async def record_pool_profit_loss(uow: UnitOfWork, exchange: ExchangeDTO) -> None:
    """In the transaction that settles ``exchange`` on the pool: its profit and loss row."""
    channel_rate = exchange.reference_rate
    if channel_rate is None:  # a custom rate: measured against the pair's reference rate now
        try:
            channel_rate = (await pair_rate(uow, exchange.from_currency, exchange.to_currency)).rate
        except ValidationFailed:
            channel_rate = exchange.rate  # no usable reference rate: the rounding alone
    channel_amount = _EXACT.multiply(exchange.from_amount, channel_rate)
    exact = _EXACT.multiply(exchange.from_amount, exchange.rate)
    await _INSERT_POOL_ROW.rows(uow.conn, dict(
        forex_id=exchange.forex_id, client_ordid=None, channel_name=None, currency=exchange.to_currency,
        channel_rate=channel_rate, channel_amount=channel_amount, user_rate=exchange.rate,
        user_amount=exchange.to_amount, profit_loss=channel_amount - exchange.to_amount,
        order_offset=exact - exchange.to_amount, standard_profit_loss=None, created_at=uow.now), sqlite=uow.sqlite)


# Every pool settlement writes one: on the SQLite driver directly in a write unit.
_INSERT_POOL_ROW = Prepared(insert(fx_profit_loss), keys=(
    "forex_id", "client_ordid", "channel_name", "currency", "channel_rate", "channel_amount", "user_rate",
    "user_amount", "profit_loss", "order_offset", "standard_profit_loss", "created_at"))


# --- reading ----------------------------------------------------------------------------

_p, _e, _c = fx_profit_loss.c, fx_exchanges.c, clients.c
_ROWS = select(fx_profit_loss, _e.from_currency, _e.from_amount, _c.account_no, _c.name.label("client_name"),
               ).select_from(fx_profit_loss.join(fx_exchanges, _e.forex_id == _p.forex_id)
                             .join(clients, _c.id == _e.client_id))


def hk_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), HONG_KONG).astimezone(UTC)


def _filtered(q: ListProfitLoss) -> Any:  # noqa: ANN401
    stmt = _ROWS
    if q.from_day is not None and q.to_day is not None and q.to_day < q.from_day:
        raise ValidationFailed("To day", f"must not be before the from day ({q.from_day})")
    if q.from_day is not None:
        stmt = stmt.where(_p.created_at >= hk_day_start(q.from_day))
    if q.to_day is not None:
        stmt = stmt.where(_p.created_at < hk_day_start(q.to_day + timedelta(days=1)))
    if q.currency:
        stmt = stmt.where(_p.currency == q.currency.upper())
    if q.from_currency:
        stmt = stmt.where(_e.from_currency == q.from_currency.upper())
    if q.account_no:
        stmt = stmt.where(_c.account_no == q.account_no.upper())
    if q.channel:
        channel = q.channel.upper()
        stmt = stmt.where(_p.channel_name.is_(None) if channel == POOL else _p.channel_name == channel)
    return stmt


class _Standard:
    """Converts profit and loss into the standard currency at the HKEX spot mid of its day."""

    def __init__(self, uow: UnitOfWork, code: str) -> None:
        self.uow, self.code = uow, code
        self.rates: dict[tuple[str, date], Decimal | None] = {}

    async def rate(self, currency: str, day: date) -> Decimal | None:
        if currency == self.code:
            return Decimal(1)
        key = (currency, day)
        if key not in self.rates:
            r = fx_reference_rates.c
            row = (await self.uow.conn.execute(select(r.average_rate).where(
                r.channel_name == "HKEX", r.rate_type == "SPOT", r.other_currency == currency,
                r.record_date <= f"{day:%Y%m%d}").order_by(r.record_date.desc()).limit(1))).first()
            self.rates[key] = row.average_rate if row else None
        return self.rates[key]

    async def dto(self, row: Any) -> ProfitLossDTO:  # noqa: ANN401
        day = row.created_at.astimezone(HONG_KONG).date()
        rate = None if row.standard_profit_loss is not None else await self.rate(row.currency, day)
        standard = row.standard_profit_loss
        if standard is None and rate is not None:
            standard = _EXACT.multiply(row.profit_loss, rate).quantize(CENT, rounding=ROUND_HALF_UP)
        return ProfitLossDTO(
            id=row.id, forex_id=row.forex_id, client_ordid=row.client_ordid, channel_name=row.channel_name,
            account_no=row.account_no, client_name=row.client_name, from_currency=row.from_currency,
            from_amount=row.from_amount, currency=row.currency, channel_rate=row.channel_rate,
            channel_amount=row.channel_amount, user_rate=row.user_rate, user_amount=row.user_amount,
            profit_loss=row.profit_loss, order_offset=row.order_offset, standard_currency=self.code,
            standard_rate=rate, standard_profit_loss=standard, day=day, created_at=row.created_at)


async def _standard(uow: UnitOfWork) -> _Standard:
    return _Standard(uow, await standard_currency(uow))


@handles(ListProfitLoss)
async def list_profit_loss(uow: UnitOfWork, q: ListProfitLoss) -> tuple[ProfitLossDTO, ...]:
    stmt = _filtered(q)
    if q.before_id is not None:
        stmt = stmt.where(_p.id < q.before_id)
    convert = await _standard(uow)
    return tuple([await convert.dto(r) for r in await uow.conn.execute(stmt.order_by(_p.id.desc()).limit(q.limit))])


async def _every(uow: UnitOfWork, q: ListProfitLoss, limit: int) -> list[ProfitLossDTO]:
    """Every row matching ``q`` (its page fields aside), newest first.  Read whole before
    converting: the conversion reads rates on the same connection."""
    convert = await _standard(uow)
    rows = (await uow.conn.execute(_filtered(q).order_by(_p.id.desc()).limit(limit))).all()
    return [await convert.dto(row) for row in rows]


def _add(totals: dict[Any, dict[str, Any]], key: Any, row: ProfitLossDTO) -> None:  # noqa: ANN401
    t = totals.setdefault(key, {"day": row.day, "currency": row.currency, "count": 0, "profit_loss": Decimal(0),
                                "order_offset": Decimal(0), "standard_profit_loss": Decimal(0), "unconverted": 0})
    t["count"] += 1
    t["profit_loss"] += row.profit_loss
    t["order_offset"] += row.order_offset
    if row.standard_profit_loss is None:
        t["unconverted"] += 1
    else:
        t["standard_profit_loss"] += row.standard_profit_loss


def totals_of(rows: list[ProfitLossDTO], code: str) -> ProfitLossTotalsDTO:
    days: dict[Any, dict[str, Any]] = {}
    per_currency: dict[Any, dict[str, Any]] = {}
    for row in rows:
        _add(days, (row.day, row.currency), row)
        _add(per_currency, row.currency, row)  # rows come newest first: its day is the last
    ordered = sorted(days.values(), key=lambda t: (-t["day"].toordinal(), t["currency"]))
    return ProfitLossTotalsDTO(
        standard_currency=code, days=tuple(DayTotalDTO(**t) for t in ordered),
        currencies=tuple(DayTotalDTO(**per_currency[c]) for c in sorted(per_currency)),
        standard_profit_loss=sum((r.standard_profit_loss for r in rows if r.standard_profit_loss is not None),
                                 Decimal(0)), count=len(rows))


@handles(ProfitLossTotals)
async def profit_loss_totals(uow: UnitOfWork, q: ProfitLossTotals) -> ProfitLossTotalsDTO:
    rows = await _every(uow, q.filters, 1_000_000)
    return totals_of(rows, await standard_currency(uow))


# --- export -----------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "forex_id", "client_ordid", "channel_name", "account_no", "client_name", "from_currency", "from_amount",
    "currency", "channel_rate", "channel_amount", "user_rate", "user_amount", "profit_loss", "order_offset",
    "standard_currency", "standard_rate", "standard_profit_loss", "hk_day", "created_at_utc",
)
_AMOUNTS = ("from_amount", "channel_amount", "user_amount", "profit_loss", "order_offset", "standard_profit_loss")


def export_values(row: ProfitLossDTO) -> list[object]:
    """One row's values in ``EXPORT_COLUMNS`` order: amounts and rates exact ``Decimal``."""
    return [row.forex_id, row.client_ordid or "", row.channel_name or POOL, row.account_no, row.client_name,
            row.from_currency, row.from_amount, row.currency, row.channel_rate, row.channel_amount, row.user_rate,
            row.user_amount, row.profit_loss, row.order_offset, row.standard_currency, row.standard_rate,
            row.standard_profit_loss, row.day, row.created_at.replace(tzinfo=None)]


def _csv(rows: list[ProfitLossDTO]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow(["" if v is None else format(v, "f") if isinstance(v, Decimal) else
                         f"{v:%Y-%m-%d %H:%M:%S}" if isinstance(v, datetime) else str(v) for v in export_values(row)])
    return out.getvalue()


def _number_format(places: int) -> str:
    return "#,##0" + ("." + "0" * places if places else "")


def _xlsx(rows: list[ProfitLossDTO], totals: ProfitLossTotalsDTO, places: dict[str, int]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Profit and loss")
    sheet.append(list(EXPORT_COLUMNS))
    for row in rows:
        cells = []
        for name, value in zip(EXPORT_COLUMNS, export_values(row), strict=True):
            cell = WriteOnlyCell(sheet, value=value)
            if name in _AMOUNTS:
                currency = row.from_currency if name == "from_amount" else (
                    row.standard_currency if name == "standard_profit_loss" else row.currency)
                cell.number_format = _number_format(places.get(currency, 2))
            elif name == "hk_day":
                cell.number_format = "yyyy-mm-dd"
            elif name == "created_at_utc":
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            cells.append(cell)
        sheet.append(cells)
    summary = book.create_sheet("Totals per day")
    summary.append(["hk_day", "currency", "count", "profit_loss", "order_offset", "standard_currency",
                    "standard_profit_loss", "unconverted"])
    for t in totals.days:
        day = WriteOnlyCell(summary, value=t.day)
        day.number_format = "yyyy-mm-dd"
        amounts = []
        for value, code in ((t.profit_loss, t.currency), (t.order_offset, t.currency),
                            (t.standard_profit_loss, totals.standard_currency)):
            amount = WriteOnlyCell(summary, value=value)
            amount.number_format = _number_format(places.get(code, 2))
            amounts.append(amount)
        summary.append([day, t.currency, t.count, amounts[0], amounts[1], totals.standard_currency, amounts[2],
                        t.unconverted])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@handles(ExportProfitLoss)
async def export_profit_loss(uow: UnitOfWork, q: ExportProfitLoss) -> str | bytes:
    rows = await _every(uow, q.filters, q.limit)
    if q.file_format == "csv":
        return _csv(rows)
    places = {r.currency: r.amount_precision for r in await uow.conn.execute(
        select(fx_currency_configs.c.currency, fx_currency_configs.c.amount_precision))}
    return _xlsx(rows, totals_of(rows, await standard_currency(uow)), places)

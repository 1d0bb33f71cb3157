"""Batch import of reference rates from the template the console hands out.

The template's columns are the vendor's ``/forex/rate/create`` fields, every one
mandatory: channel, type, base currency, other currency, record date (YYYYMMDD, not in
the future), bid, offer, average.  Every row is checked before anything is written; the
first bad row is refused naming its row number and field, and then nothing is imported.
A row for a channel, type, currency and date already held replaces it (the journal keeps
both).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date

from pydantic import Field
from sqlalchemy import select, tuple_, update

from ..bulk import insert_many
from ..commands import Command, handles
from ..dto import DTO
from ..errors import ValidationFailed
from ..hk_calendar import HONG_KONG
from ..money import amount_from_text
from ..uow import UnitOfWork
from .rates import OPERATION, ReferenceRateDTO, check_rates, journal, rate_places, standard_currency
from .tables import RATE_CHANNELS, RATE_TYPES, fx_reference_rates

TEMPLATE_COLUMNS = ("channel_name", "rate_type", "base_currency", "other_currency", "record_date", "bid_rate",
                    "offer_rate", "average_rate")
MAX_ROWS = 200_000
KEY = ("channel_name", "rate_type", "base_currency", "other_currency", "record_date")


class ImportReferenceRates(Command):
    permission = OPERATION
    action = "import reference rates"
    csv_text: str = Field(min_length=1, max_length=50_000_000)


class RateImportResult(DTO):
    imported: int
    replaced: int


def template_csv() -> str:
    """The template: its header and one example row per channel type the demo uses."""
    return ",".join(TEMPLATE_COLUMNS) + "\nHKEX,SPOT,HKD,USD,20261127,7.8147,7.8200,7.8173\n"


def csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each data row with its row number in the file (the header is row 1)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header) != TEMPLATE_COLUMNS:
        raise ValidationFailed("Header row", f"must be the template's: {','.join(TEMPLATE_COLUMNS)}; "
                                             "nothing was imported")
    for number, values in enumerate(reader, start=2):
        if any(v.strip() for v in values):
            yield number, values


def _refuse(number: int, field: str, rule: str) -> ValidationFailed:
    return ValidationFailed(f"Row {number}, {field}", f"{rule}; nothing was imported")


def checked_rows(rows: Iterable[tuple[int, list[str]]], *, base: str, places: dict[str, int],
                 today: date) -> list[tuple[object, ...]]:
    """Every row as stored values, or the first row's refusal."""
    out: list[tuple[object, ...]] = []
    seen: dict[tuple[str, ...], int] = {}
    for number, values in rows:
        if len(values) != len(TEMPLATE_COLUMNS):
            raise ValidationFailed(f"Row {number}", f"has {len(values)} fields, not {len(TEMPLATE_COLUMNS)}; "
                                                    "nothing was imported")
        fields = dict(zip(TEMPLATE_COLUMNS, (v.strip() for v in values), strict=True))
        for column, value in fields.items():
            if not value:
                raise _refuse(number, column, "is required (every field of the template is mandatory)")
        channel, kind = fields["channel_name"].upper(), fields["rate_type"].upper()
        if channel not in RATE_CHANNELS:
            raise _refuse(number, "channel_name", f"must be one of {', '.join(RATE_CHANNELS)}")
        if kind not in RATE_TYPES:
            raise _refuse(number, "rate_type", f"must be one of {', '.join(RATE_TYPES)}")
        base_code, other = fields["base_currency"].upper(), fields["other_currency"].upper()
        if base_code != base:
            raise _refuse(number, "base_currency", f"must be the standard currency {base}")
        if other not in places:
            raise _refuse(number, "other_currency", f"{other!r} has no Currency Setup")
        if other == base:
            raise _refuse(number, "other_currency", "must differ from the base currency")
        record_date = fields["record_date"]
        try:
            if len(record_date) != 8 or not record_date.isascii() or not record_date.isdigit():
                raise ValueError(record_date)
            day = date(int(record_date[:4]), int(record_date[4:6]), int(record_date[6:]))
        except ValueError:
            raise _refuse(number, "record_date", "must be a date as YYYYMMDD") from None
        if day > today:
            raise _refuse(number, "record_date", f"{record_date} is in the future")
        rates = []
        for column in ("bid_rate", "offer_rate", "average_rate"):
            try:
                rates.append(amount_from_text(fields[column]))
            except ValueError:
                raise _refuse(number, column, "must be a number such as 7.8147") from None
        try:
            check_rates(*rates, places[other])
        except ValidationFailed as error:
            raise _refuse(number, error.field.replace(" ", "_").lower(), error.rule) from None
        key = (channel, kind, base_code, other, record_date)
        if key in seen:
            raise _refuse(number, "record_date", f"repeats row {seen[key]} ({channel} {kind} {other} {record_date})")
        seen[key] = number
        out.append((*key, *rates))
        if len(out) > MAX_ROWS:
            raise ValidationFailed("File", f"has more than {MAX_ROWS:,} rows; nothing was imported")
    if not out:
        raise ValidationFailed("File", "has no rows under the header; nothing was imported")
    return out


@handles(ImportReferenceRates)
async def import_reference_rates(uow: UnitOfWork, cmd: ImportReferenceRates) -> RateImportResult:
    return await import_rows(uow, csv_rows(cmd.csv_text), "IMPORT")


async def import_rows(uow: UnitOfWork, rows: Iterable[tuple[int, list[str]]], source: str) -> RateImportResult:
    """Check every row, then write them all (new keys inserted, held ones replaced) and
    journal them: one transaction."""
    base = await standard_currency(uow)
    rows_checked = checked_rows(rows, base=base, places=await rate_places(uow),
                                today=uow.now.astimezone(HONG_KONG).date())
    held = await _held_keys(uow, [r[:5] for r in rows_checked])
    fresh = [r for r in rows_checked if r[:5] not in held]
    replaced = [r for r in rows_checked if r[:5] in held]
    await insert_many(uow.conn, fx_reference_rates, (*KEY, "bid_rate", "offer_rate", "average_rate", "source",
                                                     "version", "created_at", "updated_at"),
                      [(*r, source, 1, uow.now, uow.now) for r in fresh], sqlite=uow.sqlite)
    c = fx_reference_rates.c
    for r in replaced:
        await uow.conn.execute(update(fx_reference_rates).where(tuple_(*(c[k] for k in KEY)) == tuple(r[:5])).values(
            bid_rate=r[5], offer_rate=r[6], average_rate=r[7], source=source, version=c.version + 1,
            updated_at=uow.now))
    await journal(uow, [ReferenceRateDTO(
        id=0, channel_name=r[0], rate_type=r[1], base_currency=r[2], other_currency=r[3], record_date=r[4],
        bid_rate=r[5], offer_rate=r[6], average_rate=r[7], source=source, version=0, updated_at=uow.now)
        for r in rows_checked], source)
    result = RateImportResult(imported=len(fresh), replaced=len(replaced))
    uow.record("fx.reference_rate.import", "reference_rate", source.lower(), None,
               {"imported": result.imported, "replaced": result.replaced,
                "currencies": sorted({str(r[3]) for r in rows_checked})})
    return result


async def _held_keys(uow: UnitOfWork, keys: list[tuple[object, ...]]) -> set[tuple[object, ...]]:
    """Which of ``keys`` are already held (read per currency: a few queries, not one per row)."""
    c = fx_reference_rates.c
    wanted = set(keys)
    held: set[tuple[object, ...]] = set()
    for currency in {k[3] for k in keys}:
        rows = await uow.conn.execute(select(*(c[k] for k in KEY)).where(c.other_currency == currency))
        held |= {tuple(row) for row in rows} & wanted
    return held


"""Batch import of reference rates from the template the console hands out, in CSV or XLSX.

The template's columns are the vendor's ``/forex/rate/create`` fields, every one
mandatory: channel, type, base currency, other currency, record date (YYYYMMDD, not in
the future), bid, offer, average.  Every row is checked before anything is written; the
first bad row is refused naming its row number and field, and then nothing is imported.
A row for a channel, type, currency and date already held replaces it (the journal keeps
both).

The command carries the file itself: CSV as text (``csv_text``), XLSX as base64 text
(``xlsx_base64``; commands are JSON), exactly one of the two.  The audit record of an
import holds the format, the row counts, the currencies and the file's SHA-256 (of the
XLSX bytes; of the CSV text as the command holds it, UTF-8, surrounding blanks stripped),
never the file; a refused import's record keeps only the first 200 characters of each field
(``refusals.redacted``).

XLSX: the first worksheet, read with openpyxl in read-only mode; row numbers are the
spreadsheet's (the header is row 1, an empty row still counts), so a refusal names the
row the operator sees.  Cells become the same text a CSV field would be, then go through
the same checks.  Text cells are taken as typed (the template formats every column as
text, so "7.8200" keeps its zeros).  A numeric cell is a binary double in the file:
it is read back as the shortest decimal that gives the same double (``repr``), which is
exactly what was typed whenever that had at most 15 significant digits (a spreadsheet
keeps no more); a number needing more digits is refused, naming row and field, asking
for it as text.  No float ever reaches a rate.  A date cell (at midnight) is its
YYYYMMDD.
"""

from __future__ import annotations

from typing import ClassVar

import base64
import binascii
import csv
import gc
import hashlib
import io
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal

from pydantic import Field
from sqlalchemy import bindparam, select, update

from ..bulk import insert_many
from ..commands import Command, handles
from ..dto import DTO
from ..errors import ValidationFailed
from ..hk_calendar import HONG_KONG
from ..money import amount_from_text
from ..uow import UnitOfWork
from .rates import OPERATION, check_rates, journal_values, rate_places, standard_currency
from .tables import RATE_CHANNELS, RATE_TYPES, fx_reference_rates

TEMPLATE_COLUMNS = ("channel_name", "rate_type", "base_currency", "other_currency", "record_date", "bid_rate",
                    "offer_rate", "average_rate")
MAX_ROWS = 200_000
KEY = ("channel_name", "rate_type", "base_currency", "other_currency", "record_date")


MAX_XLSX_BYTES = 40_000_000
SPREADSHEET_DIGITS = 15
"""Significant digits a spreadsheet number holds exactly (and every double gives back)."""


class ImportReferenceRates(Command):
    """The template filled in: ``csv_text`` (the CSV file's text) or ``xlsx_base64`` (the
    XLSX file's bytes in base64), exactly one."""

    permission = OPERATION
    action = "import reference rates"
    # A refused import imported nothing: the desk hears of it (``refusals``).
    REFUSAL_NOTICE: ClassVar[tuple[str, str]] = ("fx.rate_import_failed", "Reference rate import refused")
    csv_text: str | None = Field(default=None, min_length=1, max_length=50_000_000)
    xlsx_base64: str | None = Field(default=None, min_length=1, max_length=(MAX_XLSX_BYTES + 2) // 3 * 4)


class RateImportResult(DTO):
    imported: int
    replaced: int


EXAMPLE_ROW = ("HKEX", "SPOT", "HKD", "USD", "20261127", "7.8147", "7.8200", "7.8173")


def template_csv() -> str:
    """The template: its header and an example row."""
    return ",".join(TEMPLATE_COLUMNS) + "\n" + ",".join(EXAMPLE_ROW) + "\n"


def template_xlsx() -> bytes:
    """The template as an XLSX workbook: one sheet, the header and the example row, every
    column formatted as text (what is typed is kept as typed, "7.8200" and "20261127")."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "reference_rates"
    sheet.append(TEMPLATE_COLUMNS)
    sheet.append(EXAMPLE_ROW)
    for index, column in enumerate(TEMPLATE_COLUMNS, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].number_format = "@"
        sheet.column_dimensions[letter].width = max(12, len(column) + 2)
        sheet.cell(row=1, column=index).font = Font(bold=True)
        for row in (1, 2):
            sheet.cell(row=row, column=index).number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each data row with its row number in the file (the header is row 1)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header) != TEMPLATE_COLUMNS:
        raise ValidationFailed("Header row", f"must be the template's: {','.join(TEMPLATE_COLUMNS)}; "
                                             "nothing was imported")
    for number, values in enumerate(reader, start=2):
        if "".join(values).strip():
            yield number, values


def xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """Each data row of the first worksheet with its spreadsheet row number, its cells as
    CSV text (``_cell_text``)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # read every row the sheet holds, whatever its dimension tag says
        rows = sheet.iter_rows(values_only=True)
        header = next(rows, ())
    except Exception:  # noqa: BLE001 - openpyxl and zipfile raise many kinds for a bad file
        raise ValidationFailed("XLSX file", "is not an XLSX workbook (save it from the template as .xlsx); "
                                            "nothing was imported") from None
    try:
        names = [str(v).strip().lower() if v is not None else "" for v in _trimmed(header)]
        if tuple(names) != TEMPLATE_COLUMNS:
            raise ValidationFailed("Header row", f"must be the template's: {','.join(TEMPLATE_COLUMNS)}; "
                                                 "nothing was imported")
        for number, values in enumerate(rows, start=2):
            cells = _trimmed(values)
            if not cells:
                continue
            if len(cells) < len(TEMPLATE_COLUMNS):
                cells = (*cells, *(None,) * (len(TEMPLATE_COLUMNS) - len(cells)))
            if len(cells) > len(TEMPLATE_COLUMNS):
                yield number, ["" if v is None else str(v) for v in cells]  # refused: too many fields
                continue
            texts = [_cell_text(number, column, v) for column, v in zip(TEMPLATE_COLUMNS, cells, strict=True)]
            if any(t.strip() for t in texts):
                yield number, texts
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001 - a damaged sheet fails while it is read
        raise ValidationFailed("XLSX file", "could not be read to the end (damaged?); nothing was imported") from None
    finally:
        book.close()


def _trimmed(values: Iterable[object]) -> tuple[object, ...]:
    """A row's cells without the empty ones after its last value."""
    cells = list(values)
    while cells and (cells[-1] is None or (isinstance(cells[-1], str) and not cells[-1].strip())):
        cells.pop()
    return tuple(cells)


def _cell_text(number: int, column: str, value: object) -> str:
    """A cell as the text a CSV field would hold; a number that a spreadsheet cannot hold
    exactly is refused rather than guessed."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _refuse(number, column, "must be a number such as 7.8147")
        exact = Decimal(repr(value))  # the shortest decimal giving this double; never float arithmetic
        if len(exact.normalize().as_tuple().digits) > SPREADSHEET_DIGITS:
            raise _refuse(number, column, f"is a spreadsheet number of more than {SPREADSHEET_DIGITS} significant "
                                          "digits, which the file cannot hold exactly; type it as text")
        return str(int(exact)) if exact == exact.to_integral_value() else format(exact, "f")
    if isinstance(value, datetime):
        if value.time() != time(0):
            raise _refuse(number, column, "must be a date as YYYYMMDD (this cell holds a time too)")
        return value.strftime("%Y%m%d")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    return str(value)


def _refuse(number: int, field: str, rule: str) -> ValidationFailed:
    return ValidationFailed(f"Row {number}, {field}", f"{rule}; nothing was imported")


def checked_rows(rows: Iterable[tuple[int, list[str]]], *, base: str, places: dict[str, int],
                 today: date) -> list[tuple[object, ...]]:
    """Every row as stored values, or the first row's refusal (the checks in the order
    the operator reads the columns; a 100,000-row file is checked in well under a second,
    so the loop is kept lean: each distinct record date is checked once)."""
    out: list[tuple[object, ...]] = []
    seen: dict[tuple[str, ...], int] = {}
    width = len(TEMPLATE_COLUMNS)
    good_dates: set[str] = set()
    rate_columns = TEMPLATE_COLUMNS[5:]
    for number, values in rows:
        if len(values) != width:
            raise ValidationFailed(f"Row {number}", f"has {len(values)} fields, not {width}; nothing was imported")
        fields = [v.strip() for v in values]
        if not all(fields):
            column = TEMPLATE_COLUMNS[fields.index("")]
            raise _refuse(number, column, "is required (every field of the template is mandatory)")
        channel, kind, base_code, other, record_date, *rate_texts = fields
        channel, kind, base_code, other = channel.upper(), kind.upper(), base_code.upper(), other.upper()
        if channel not in RATE_CHANNELS:
            raise _refuse(number, "channel_name", f"must be one of {', '.join(RATE_CHANNELS)}")
        if kind not in RATE_TYPES:
            raise _refuse(number, "rate_type", f"must be one of {', '.join(RATE_TYPES)}")
        if base_code != base:
            raise _refuse(number, "base_currency", f"must be the standard currency {base}")
        if other not in places:
            raise _refuse(number, "other_currency", f"{other!r} has no Currency Setup")
        if other == base:
            raise _refuse(number, "other_currency", "must differ from the base currency")
        if record_date not in good_dates:
            _check_date(number, record_date, today)
            good_dates.add(record_date)
        rates = []
        for column, text in zip(rate_columns, rate_texts, strict=True):
            try:
                rates.append(Decimal(text) if _PLAIN_RATE.fullmatch(text) else amount_from_text(text))
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


_PLAIN_RATE = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,19})?")
"""Plain digits (40 characters at most, as ``amount_from_text`` allows): read at once;
anything else (grouped thousands, a sign, a mistake) goes through ``amount_from_text``."""


def _check_date(number: int, record_date: str, today: date) -> None:
    try:
        if len(record_date) != 8 or not record_date.isascii() or not record_date.isdigit():
            raise ValueError(record_date)
        day = date(int(record_date[:4]), int(record_date[4:6]), int(record_date[6:]))
    except ValueError:
        raise _refuse(number, "record_date", "must be a date as YYYYMMDD") from None
    if day > today:
        raise _refuse(number, "record_date", f"{record_date} is in the future")


@handles(ImportReferenceRates)
async def import_reference_rates(uow: UnitOfWork, cmd: ImportReferenceRates) -> RateImportResult:
    if (cmd.csv_text is None) == (cmd.xlsx_base64 is None):
        raise ValidationFailed("File", "give the template filled in, as CSV or as XLSX (one of the two); "
                                       "nothing was imported")
    if cmd.csv_text is not None:
        digest = hashlib.sha256(cmd.csv_text.encode("utf-8", "surrogatepass")).hexdigest()
        return await import_rows(uow, csv_rows(cmd.csv_text), "IMPORT", audit={"format": "csv", "sha256": digest})
    assert cmd.xlsx_base64 is not None
    try:
        data = base64.b64decode(cmd.xlsx_base64, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed("XLSX file", "is not valid base64; nothing was imported") from None
    if len(data) > MAX_XLSX_BYTES:
        raise ValidationFailed("XLSX file", f"is larger than {MAX_XLSX_BYTES:,} bytes; nothing was imported")
    return await import_rows(uow, xlsx_rows(data), "IMPORT",
                             audit={"format": "xlsx", "sha256": hashlib.sha256(data).hexdigest()})


async def import_rows(uow: UnitOfWork, rows: Iterable[tuple[int, list[str]]], source: str, *,
                      audit: dict[str, str] | None = None) -> RateImportResult:
    """Check every row, then write them all (new keys inserted, held ones replaced) and
    journal them: one transaction.  ``audit``: what the audit record says of the file
    (its format and digest; never its rows)."""
    with _no_cycle_collection():
        return await _import_rows(uow, rows, source, audit)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector off while an import builds its rows.  100,000 rows are
    a million small objects (tuples, strings, decimals) that live until the import ends:
    each full collection the growing heap triggers walks all of them again, which cost
    more than a third of a 100,000-row import (measured, ``bench rates``).  They hold no
    cycles (reference counting frees them), so nothing is lost by not looking; the
    collector's state is put back as it was (the console pauses it itself at start-up)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _import_rows(uow: UnitOfWork, rows: Iterable[tuple[int, list[str]]], source: str,
                       audit: dict[str, str] | None) -> RateImportResult:
    base = await standard_currency(uow)
    rows_checked = checked_rows(rows, base=base, places=await rate_places(uow),
                                today=uow.now.astimezone(HONG_KONG).date())
    held = await _held_keys(uow, [r[:5] for r in rows_checked])
    fresh, replaced = rows_checked, []
    if held:
        fresh = [r for r in rows_checked if r[:5] not in held]
        replaced = [r for r in rows_checked if r[:5] in held]
    await insert_many(uow.conn, fx_reference_rates, (*KEY, "bid_rate", "offer_rate", "average_rate", "source",
                                                     "version", "created_at", "updated_at"),
                      [(*r, source, 1, uow.now, uow.now) for r in fresh], sqlite=uow.sqlite)
    if replaced:
        c = fx_reference_rates.c
        await uow.conn.execute(  # one statement, executed for every replaced row
            update(fx_reference_rates).where(*(c[k] == bindparam(f"key_{k}") for k in KEY)).values(
                bid_rate=bindparam("new_bid"), offer_rate=bindparam("new_offer"),
                average_rate=bindparam("new_average"), source=source, version=c.version + 1, updated_at=uow.now),
            [{**{f"key_{k}": v for k, v in zip(KEY, r[:5], strict=True)}, "new_bid": r[5], "new_offer": r[6],
              "new_average": r[7]} for r in replaced])
    await journal_values(uow, rows_checked, source)
    result = RateImportResult(imported=len(fresh), replaced=len(replaced))
    uow.record("fx.reference_rate.import", "reference_rate", source.lower(), None,
               {"imported": result.imported, "replaced": result.replaced,
                "currencies": sorted({str(r[3]) for r in rows_checked}), **(audit or {})})
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


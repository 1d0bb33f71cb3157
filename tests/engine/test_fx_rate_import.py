"""The reference-rate template import at size and in XLSX: a 100,000-row file with one bad
row near the end imports nothing and names the row and field (CSV and XLSX); the XLSX
template and how its cells are read (text, numbers, dates, empty rows); what the audit
keeps of a file (its digest, never its rows)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from engine_support import audit_records, login, new_operator, scalar
from openpyxl import Workbook, load_workbook

from wbo_tui.engine import Engine
from wbo_tui.engine.errors import ValidationFailed, WboError
from wbo_tui.engine.fx import ImportReferenceRates, ListReferenceRates, UpdateCurrencySetup, template_csv
from wbo_tui.engine.fx.rate_import import TEMPLATE_COLUMNS, template_xlsx

RATES = ("fx.reference_rate_inquiry", "fx.reference_rate_operation")
CHANNELS = ("HKEX", "IB", "HANG_SENG", "ICBC")
TYPES = ("BOOK", "SPOT", "HKEX")
OTHERS = {"USD": ("7.8147", "7.8200", "7.8173"), "CNH": ("1.0890", "1.0950", "1.0920"),
          "EUR": ("8.4120", "8.4480", "8.4300")}
# The engine fixture's clock: 2026-11-20 09:30 UTC, 17:30 in Hong Kong.
TODAY = date(2026, 11, 20)
BIG = 100_000
BIG_XLSX = 20_000
"""Building and reading a 100,000-row workbook with openpyxl takes about 14 s on the test
machine (reading alone 8 s): the XLSX variant proves the same with 20,000 rows."""


async def _desk(engine: Engine, name: str):  # noqa: ANN202
    for code, standard in (("HKD", True), ("USD", False), ("CNH", False), ("EUR", False)):
        await engine.setup_execute(tool="test-setup", command=UpdateCurrencySetup(
            currency=code, support_exchange=True, exchange_rate_precision=4, amount_precision=2,
            amount_round_mode="round", min_exchange_amount="1", standard_money=standard, expected_version=0))
    admin = await login(engine, "admin")
    return await new_operator(engine, admin, name, RATES)


def rows(count: int) -> list[tuple[str, ...]]:
    """``count`` distinct valid template rows: every channel, type and currency per day,
    going back a day at a time from today."""
    combos = [(c, t, o) for c in CHANNELS for t in TYPES for o in OTHERS]
    days = [(TODAY - timedelta(days=d)).strftime("%Y%m%d") for d in range(count // len(combos) + 1)]
    return [(channel, kind, "HKD", other, days[i // len(combos)], *OTHERS[other])
            for i, (channel, kind, other) in enumerate(combos[i % len(combos)] for i in range(count))]


def as_csv(data: list[tuple[str, ...]]) -> str:
    return "\n".join([",".join(TEMPLATE_COLUMNS), *(",".join(r) for r in data)]) + "\n"


def as_xlsx(data: list[tuple[object, ...]], *, header: tuple[object, ...] = TEMPLATE_COLUMNS) -> str:
    """The rows as an XLSX workbook (write-only: fast), base64 as the command carries it."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("rates")
    sheet.append(header)
    for row in data:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return base64.b64encode(out.getvalue()).decode("ascii")


async def _nothing_imported(engine: Engine) -> None:
    assert await scalar(engine, "SELECT count(*) FROM fx_reference_rates") == 0
    assert await scalar(engine, "SELECT count(*) FROM fx_reference_rate_journal") == 0


async def test_a_100000_row_csv_with_one_bad_row_near_the_end_imports_nothing_and_names_it(engine: Engine) -> None:
    desk = await _desk(engine, "bigcsv")
    data = rows(BIG)
    bad_index = BIG - 12  # data row i is the file's row i + 2 (the header is row 1)
    good_row = data[bad_index]
    data[bad_index] = (*good_row[:5], "7.81471", *good_row[6:])
    with pytest.raises(ValidationFailed, match=f"^Row {bad_index + 2}, bid_rate allows at most 4 decimal places"
                                               ".*nothing was imported"):
        await engine.execute(desk, ImportReferenceRates(csv_text=as_csv(data)))
    await _nothing_imported(engine)
    # The same file with that row put right imports every row, at once.
    data[bad_index] = good_row
    text = as_csv(data)
    result = await engine.execute(desk, ImportReferenceRates(csv_text=text))
    assert (result.imported, result.replaced) == (BIG, 0)
    assert await scalar(engine, "SELECT count(*) FROM fx_reference_rates") == BIG
    assert await scalar(engine, "SELECT count(*) FROM fx_reference_rate_journal") == BIG
    # The audit says which file (its digest) and what it did, and does not hold its rows.
    record = (await audit_records(engine, "fx.reference_rate.import"))[-1]
    after = json.loads(record.after)
    assert after["format"] == "csv" and after["sha256"] == hashlib.sha256(text.strip().encode()).hexdigest()
    assert (after["imported"], after["currencies"]) == (BIG, ["CNH", "EUR", "USD"])
    assert len(record.after) < 1000
    refused = (await audit_records(engine, "request.refused"))[-1]
    assert "Row 99990, bid_rate" in refused.after and len(refused.after) < 2000


async def test_a_large_xlsx_with_one_bad_row_near_the_end_imports_nothing_and_names_it(engine: Engine) -> None:
    desk = await _desk(engine, "bigxlsx")
    data: list[tuple[object, ...]] = list(rows(BIG_XLSX))
    bad_index = BIG_XLSX - 12
    good_row = data[bad_index]
    data[bad_index] = (*good_row[:3], "JPY", *good_row[4:])
    with pytest.raises(ValidationFailed, match=f"^Row {bad_index + 2}, other_currency 'JPY' has no Currency Setup"
                                               ".*nothing was imported"):
        await engine.execute(desk, ImportReferenceRates(xlsx_base64=as_xlsx(data)))
    await _nothing_imported(engine)
    data[bad_index] = good_row
    result = await engine.execute(desk, ImportReferenceRates(xlsx_base64=as_xlsx(data)))
    assert (result.imported, result.replaced) == (BIG_XLSX, 0)
    after = json.loads((await audit_records(engine, "fx.reference_rate.import"))[-1].after)
    assert after["format"] == "xlsx" and len(after["sha256"]) == 64


def test_the_xlsx_template_has_the_csv_templates_columns_and_example_as_text() -> None:
    book = load_workbook(io.BytesIO(template_xlsx()))
    sheet = book.worksheets[0]
    values = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    assert [",".join(v) + "\n" for v in values] == template_csv().splitlines(keepends=True)
    assert all(cell.data_type == "s" and cell.number_format == "@" for row in sheet.iter_rows() for cell in row)


async def test_the_xlsx_template_filled_in_imports(engine: Engine) -> None:
    desk = await _desk(engine, "template")
    book = load_workbook(io.BytesIO(template_xlsx()))
    sheet = book.worksheets[0]
    sheet["E2"] = "20261120"
    sheet.append(("HKEX", "SPOT", "HKD", "CNH", "20261120", "1.0890", "1.0950", "1.0920"))
    out = io.BytesIO()
    book.save(out)
    result = await engine.execute(desk, ImportReferenceRates(xlsx_base64=base64.b64encode(out.getvalue()).decode()))
    assert (result.imported, result.replaced) == (2, 0)
    current = {r.other_currency: r for r in await engine.query(desk, ListReferenceRates())}
    assert (current["USD"].offer_rate, str(current["USD"].offer_rate)) == (Decimal("7.82"), "7.8200")


async def test_xlsx_cells_are_read_exactly_or_refused_naming_row_and_field(engine: Engine) -> None:
    desk = await _desk(engine, "cells")
    # Numeric cells, a date cell, an integer date, and an empty row (it still counts).
    good: list[tuple[object, ...]] = [
        ("HKEX", "SPOT", "HKD", "USD", datetime(2026, 11, 20), 7.8147, 7.82, 7.8173),
        (),
        ("ib", "spot", "hkd", "cnh", 20261120, 1.089, 1.095, 1.092),
    ]
    result = await engine.execute(desk, ImportReferenceRates(xlsx_base64=as_xlsx(good)))
    assert result.imported == 2
    current = {(r.channel_name, r.other_currency): r for r in await engine.query(desk, ListReferenceRates())}
    assert (current[("HKEX", "USD")].bid_rate, current[("HKEX", "USD")].record_date) == (Decimal("7.8147"), "20261120")
    assert current[("IB", "CNH")].offer_rate == Decimal("1.095")
    bad = (
        # A formula's result such as =1/3 is a double of 16 digits: not what anyone typed; refused, not rounded.
        (("HKEX", "SPOT", "HKD", "EUR", "20261120", 1 / 3, 8.4, 8.3), "Row 5, bid_rate is a spreadsheet number "
                                                                      "of more than 15 significant digits"),
        (("HKEX", "SPOT", "HKD", "EUR", "20261120", 8.41201, 8.448, 8.43), "Row 5, bid_rate allows at most 4"),
        (("HKEX", "SPOT", "HKD", "EUR", datetime(2026, 11, 20, 9, 30), 8.412, 8.448, 8.43),
         "Row 5, record_date must be a date as YYYYMMDD"),
        (("HKEX", "SPOT", "HKD", "EUR", "20261120", 8.412, 8.448), "Row 5, average_rate is required"),
        (("HKEX", "SPOT", "HKD", "EUR", "20261120", 8.412, 8.448, 8.43, "x"), "Row 5 has 9 fields, not 8"),
        (("HKEX", "SPOT", "HKD", "EUR", "20261120", float("nan"), 8.448, 8.43), "Row 5, bid_rate is required"),
        (("HKEX", "SPOT", "HKD", "EUR", "20261120", True, 8.448, 8.43), "Row 5, bid_rate must be a number"),
    )
    for row, message in bad:
        with pytest.raises(ValidationFailed, match=message + ".*nothing was imported"):
            await engine.execute(desk, ImportReferenceRates(xlsx_base64=as_xlsx([*good, row])))
    assert await scalar(engine, "SELECT count(*) FROM fx_reference_rates") == 2


async def test_a_bad_file_or_command_is_refused_and_imports_nothing(engine: Engine) -> None:
    desk = await _desk(engine, "badfile")
    csv_text = as_csv(rows(3))
    refusals = (
        (ImportReferenceRates(), "File give the template filled in, as CSV or as XLSX"),
        (ImportReferenceRates(csv_text=csv_text, xlsx_base64=as_xlsx(rows(3))), "File give the template"),
        (ImportReferenceRates(xlsx_base64="not base64!"), "XLSX file is not valid base64"),
        (ImportReferenceRates(xlsx_base64=base64.b64encode(csv_text.encode()).decode()),
         "XLSX file is not an XLSX workbook"),
        (ImportReferenceRates(xlsx_base64=as_xlsx(rows(3), header=("a", "b"))), "Header row must be the template's"),
        (ImportReferenceRates(xlsx_base64=as_xlsx([])), "File has no rows under the header"),
    )
    for command, message in refusals:
        with pytest.raises(ValidationFailed, match=message):
            await engine.execute(desk, command)
    await _nothing_imported(engine)


async def test_a_refused_import_is_published_to_the_desk_and_a_permission_refusal_is_not(engine: Engine) -> None:
    """The issue's "rate import failures" notification: a refused import imported nothing,
    and its refusal (row and field named) is published on ``fx.rate_import_failed`` with
    its audit record; an import refused for want of the permission is only audited."""
    desk = await _desk(engine, "ratesdesk")
    bad = rows(3)
    bad[2] = (*bad[2][:5], "not-a-rate", *bad[2][6:])
    with pytest.raises(ValidationFailed, match="Row 4"):
        await engine.execute(desk, ImportReferenceRates(csv_text=as_csv(bad)))
    body = await scalar(engine, "SELECT body FROM notifications WHERE topic = 'fx.rate_import_failed'")
    assert "ratesdesk" in body and "Row 4" in body and "bid_rate" in body
    assert await scalar(engine, "SELECT count(*) FROM fx_reference_rates") == 0
    viewer = await new_operator(engine, await login(engine, "admin"), "ratesviewer", RATES[:1])
    with pytest.raises(WboError):
        await engine.execute(viewer, ImportReferenceRates(csv_text=as_csv(bad)))
    assert await scalar(engine, "SELECT count(*) FROM notifications WHERE topic = 'fx.rate_import_failed'") == 1

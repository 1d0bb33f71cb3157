"""FX › P&L: exchange profit and loss per executed exchange (pool and bank), filtered,
totalled per Hong Kong day and currency, exported to CSV and XLSX; and the P&L tab and the
client exchange form pinned at 80x24 and 160x48."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from console_helpers import login, plain, no_blink, settle, type_into, wait_for_lists, wait_for_screen, wait_until
from fx_helpers import pnl_in_thread, seed, seed_in_thread, trade_for_pnl, open_fx_tab
from test_console_fx import BOTH
from textual.pilot import Pilot
from textual.widgets import DataTable, Select

from wbo_tui.engine import Engine
from wbo_tui.screens.fx.exchange_form import ClientExchangeScreen
from wbo_tui.screens.fx.pnl_forms import ProfitLossFilterScreen, ProfitLossTotalsScreen
from wbo_tui.screens.fx.profit_loss import ProfitLossPane
from wbo_tui.screens.shell import ShellScreen

LARGE = (160, 48)


async def open_pnl(pilot: Pilot, username: str) -> None:
    await open_fx_tab(pilot, username, "tab-fx-pnl")


def row(pilot: Pilot, key: str) -> dict[str, str]:
    table = pilot.app.screen.query_one(ProfitLossPane).query_one(DataTable)
    cells = [str(c).strip() for c in table.get_row(key)]
    return {str(column.label): value for column, value in zip(table.ordered_columns, cells, strict=True)}


def shown(pilot: Pilot, selector: str) -> str:
    return plain(pilot.app.screen.query_one(selector))


async def test_rows_filters_totals_and_exports(make_app, engine: Engine, db_url: str, tmp_path: Path) -> None:
    await seed(engine)
    cnh_hkd, usd_hkd, hkd_cnh, bank = await trade_for_pnl(engine, db_url)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_pnl(pilot, "checker")
        pane = app.screen.query_one(ProfitLossPane)
        assert list(pane.items) == [bank, hkd_cnh, usd_hkd, cnh_hkd]  # newest first
        assert row(pilot, cnh_hkd) | {"Executed (UTC)": ""} == {
            "Order no": cnh_hkd, "Client": "C-100002", "Pair": "CNH→HKD", "Served by": "Pool",
            "Channel gave": "1,344.44", "Client got": "1,341.97", "P&L": "+2.47", "Rounding": "-0.00328",
            "HKD P&L": "+2.47", "Executed (UTC)": ""}
        assert (row(pilot, bank)["Served by"], row(pilot, bank)["P&L"]) == ("HSB", "+7.90")
        pane.table.move_cursor(row=pane.table.get_row_index(cnh_hkd))
        await settle(pilot)
        detail = plain(pane.query_one(".pane-detail"))
        assert "P&L +2.46584 HKD = rate +2.46912 + rounding -0.00328" in detail and "HK day 2026-11-20" in detail
        # Filters: a bad day is refused naming the field; the target currency narrows the rows.
        await pilot.press("f")
        await wait_for_screen(pilot, ProfitLossFilterScreen)
        await type_into(pilot, "#pnl-from-day", "2026-13-01")
        await pilot.click("#submit")
        await wait_until(pilot, lambda: shown(pilot, "#form-error").startswith("From day"), "the refusal")
        await type_into(pilot, "#pnl-from-day", "2026-11-20")
        await type_into(pilot, "#pnl-currency", "cnh")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: list(pane.items) == [hkd_cnh], "the filtered rows")
        assert "pair any → CNH" in plain(pane.query_one(".pane-status"))
        # Totals of what the filters select.
        await pilot.press("t")
        await wait_for_screen(pilot, ProfitLossTotalsScreen)
        assert "Everything selected: 1 exchange(s), 0.00 HKD." in shown(pilot, "#pnl-totals")
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)
        pane.filters = pane.filters.model_copy(update={"currency": None, "from_day": None})
        pane.load()
        await wait_until(pilot, lambda: len(pane.items) == 4, "every row again")
        await pilot.press("t")
        await wait_for_screen(pilot, ProfitLossTotalsScreen)
        totals = shown(pilot, "#pnl-totals")
        assert "Everything selected: 4 exchange(s), 10.37 HKD." in totals
        assert "2026-11-20 HKD    3× P&L      +10.36 rounding" in totals  # rows to the cent: 10.37 HKD
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)
        # Exports: CSV and XLSX, into the export folder, said where.
        await pilot.press("E")
        await wait_until(pilot, lambda: list(tmp_path.glob("exchange-pnl-*.csv")), "the CSV file")
        await pilot.press("W")
        await wait_until(pilot, lambda: list(tmp_path.glob("exchange-pnl-*.xlsx")), "the XLSX file")
        await settle(pilot)
        notes = [str(n.message) for n in app._notifications]
    (written,) = tmp_path.glob("exchange-pnl-*.csv")
    assert any(f"Exported 4 row(s) to {written}" in n for n in notes)
    read = list(csv.DictReader(written.open(encoding="utf-8")))
    assert [r["forex_id"] for r in read] == [bank, hkd_cnh, usd_hkd, cnh_hkd]
    assert Decimal(read[0]["profit_loss"]) == Decimal("7.90")
    from openpyxl import load_workbook

    (book_path,) = tmp_path.glob("exchange-pnl-*.xlsx")
    assert any(str(book_path) in n for n in notes)
    sheet = load_workbook(book_path)["Profit and loss"]
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == [bank, hkd_cnh, usd_hkd, cnh_hkd]


def on_pnl(pilot_user: str):  # noqa: ANN201
    async def run_before(pilot: Pilot) -> None:
        await open_pnl(pilot, pilot_user)
        await settle(pilot)
        no_blink(pilot)

    return run_before


@BOTH
def test_pnl_tab(snap_compare, make_app, db_url, size) -> None:
    pnl_in_thread(db_url)
    assert snap_compare(make_app(), terminal_size=size, run_before=on_pnl("checker"))


async def _form_filled(pilot: Pilot) -> None:
    await login(pilot, "maker")
    await wait_for_screen(pilot, ShellScreen)
    await pilot.press("3")
    await settle(pilot)
    await wait_for_lists(pilot)
    await pilot.press("n")
    await wait_for_screen(pilot, ClientExchangeScreen)
    form = pilot.app.screen
    client = form.query_one("#fx-client", Select)
    await wait_until(pilot, lambda: len(client._options) > 1, "the clients")  # noqa: SLF001
    client.value = next(value for label, value in client._options if str(label).startswith("C-100001"))  # noqa: SLF001
    form.query_one("#fx-from", Select).value = "USD"
    await settle(pilot)
    await type_into(pilot, "#fx-amount", "100", keys=True)
    await pilot.pause(0.4)
    await settle(pilot)
    no_blink(pilot)


@BOTH
def test_exchange_form(snap_compare, make_app, db_url, size) -> None:
    seed_in_thread(db_url)
    assert snap_compare(make_app(), terminal_size=size, run_before=_form_filled)

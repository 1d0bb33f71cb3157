"""FX › Rates: the import template written to the export folder, a CSV imported, an XLSX
with a bad row refused naming row and field with nothing imported, a rate edited (audited),
its history, and the keys greyed for a read-only operator; driven with keys as an operator
would, checked on screen and in the database."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from console_helpers import last_actions, no_blink, screen_text, settle, type_into
from console_helpers import wait_for_screen, wait_until
from fx_helpers import seed, seed_in_thread, open_fx_tab
from openpyxl import Workbook
from textual.pilot import Pilot

from wbo_tui.engine import Engine
from wbo_tui.engine.fx import ListReferenceRates, ReferenceRateDTO, template_csv
from wbo_tui.engine.fx.rate_import import TEMPLATE_COLUMNS
from wbo_tui.screens.fx.rate_forms import EditRateScreen, ImportRatesScreen, RateHistoryScreen
from wbo_tui.screens.fx.rates import RatesPane
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen

SMALL, LARGE = (80, 24), (160, 48)
TODAY = "20261120"  # the console tests' clock: Friday 20 November 2026


async def open_rates(pilot: Pilot, username: str) -> RatesPane:
    """Log in, open the FX area (3) and Ctrl+T to Rates; its pane, loaded."""
    await open_fx_tab(pilot, username, "tab-fx-rates")
    pane = pilot.app.screen.query_one(RatesPane)
    assert pane.items
    return pane


async def rates(engine: Engine) -> list[ReferenceRateDTO]:
    viewer = await engine.login("viewer", "Repulse-Bay-55")
    return list(await engine.query(viewer, ListReferenceRates()))


def keyed(items: list[ReferenceRateDTO]) -> dict[tuple[str, str, str], ReferenceRateDTO]:
    return {(r.channel_name, r.rate_type, r.other_currency): r for r in items}


def notices(pilot: Pilot) -> list[str]:
    return [str(n.message) for n in pilot.app._notifications]  # noqa: SLF001


async def select_rate(pilot: Pilot, pane: RatesPane, channel: str, kind: str, currency: str) -> ReferenceRateDTO:
    rate = next(r for r in pane.items.values() if (r.channel_name, r.rate_type, r.other_currency)
                == (channel, kind, currency))
    pane.table.move_cursor(row=pane.table.get_row_index(str(rate.id)))
    await settle(pilot)
    assert pane.selected_key == str(rate.id)
    return rate


async def import_file(pilot: Pilot, path: Path) -> None:
    """i, the path typed, Enter; the confirmation reached and confirmed with Enter."""
    await pilot.press("I")
    await wait_for_screen(pilot, ImportRatesScreen)
    await type_into(pilot, "#rate-import-path", str(path))
    await pilot.press("enter")
    await wait_for_screen(pilot, ConfirmScreen)
    await pilot.press("enter")  # the import's confirmation focuses Import


async def test_the_template_is_written_as_csv_and_xlsx_into_the_export_folder(make_app, engine: Engine,
                                                                             tmp_path: Path) -> None:
    await seed(engine, exchanges=False)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_rates(pilot, "viewer")  # the template needs no more than seeing the rates
        await pilot.press("t")
        await wait_until(pilot, lambda: any("Templates written" in n for n in notices(pilot)), "the templates")
        said = next(n for n in notices(pilot) if "Templates written" in n)
    csv_file = tmp_path / "reference-rates-template-20261120T093000Z.csv"
    xlsx_file = tmp_path / "reference-rates-template-20261120T093000Z.xlsx"
    assert str(csv_file) in said and str(xlsx_file) in said
    assert csv_file.read_text(encoding="utf-8").splitlines()[0] == template_csv().splitlines()[0]
    assert xlsx_file.read_bytes()[:2] == b"PK"  # a zip: an XLSX workbook
    async with make_app().run_test(size=LARGE) as pilot:  # a second time: new files, none overwritten
        await open_rates(pilot, "viewer")
        await pilot.press("t")
        await wait_until(pilot, lambda: any("Templates written" in n for n in notices(pilot)), "the templates")
    assert (tmp_path / "reference-rates-template-20261120T093000Z-2.csv").exists()
    assert (tmp_path / "reference-rates-template-20261120T093000Z-2.xlsx").exists()


async def test_a_csv_is_imported_after_a_confirmation_and_shown(make_app, engine: Engine, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    await seed(engine, exchanges=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # the path is typed as ~/rates.csv
    file = tmp_path / "rates.csv"
    file.write_text(",".join(TEMPLATE_COLUMNS) + "\n"
                    f"IB,BOOK,HKD,EUR,{TODAY},8.4000,8.4600,8.4300\n"
                    f"HKEX,SPOT,HKD,USD,{TODAY},7.8150,7.8210,7.8180\n", encoding="utf-8")
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_rates(pilot, "maker")
        before = len(pane.items)
        await pilot.press("I")
        await wait_for_screen(pilot, ImportRatesScreen)
        await type_into(pilot, "#rate-import-path", "~/rates.csv")
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmScreen)
        assert f"{file} (CSV, {file.stat().st_size:,} bytes): 2 data row(s)" in screen_text(
            pilot, "#confirm-consequences")
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: len(pane.items) == before + 1, "the imported rate")
        assert any("1 new, 1 replaced" in n for n in notices(pilot))
        eur = next(r for r in pane.items.values() if (r.channel_name, r.rate_type, r.other_currency)
                   == ("IB", "BOOK", "EUR"))
        assert (eur.bid_rate, eur.source) == (Decimal("8.4000"), "IMPORT")
    held = keyed(await rates(engine))
    assert held["IB", "BOOK", "EUR"].offer_rate == Decimal("8.4600")
    assert held["HKEX", "SPOT", "USD"].average_rate == Decimal("7.8180")
    assert "fx.reference_rate.import" in await last_actions(engine, 5)


def xlsx_with_a_bad_row(path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(TEMPLATE_COLUMNS)
    sheet.append(("HKEX", "SPOT", "HKD", "USD", TODAY, "7.8100", "7.8300", "7.8200"))
    sheet.append(("IB", "SPOT", "HKD", "CNH", TODAY, "1.0900", None, "1.0920"))  # row 3: no offer
    out = io.BytesIO()
    book.save(out)
    path.write_bytes(out.getvalue())


async def test_an_xlsx_with_a_bad_row_is_refused_naming_row_and_field_and_imports_nothing(
        make_app, engine: Engine, tmp_path: Path) -> None:
    await seed(engine, exchanges=False)
    file = tmp_path / "rates.xlsx"
    xlsx_with_a_bad_row(file)
    before = keyed(await rates(engine))
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_rates(pilot, "maker")
        await import_file(pilot, file)
        await wait_for_screen(pilot, ImportRatesScreen)
        await wait_until(pilot, lambda: "Row 3" in screen_text(pilot, "#form-error"), "the refusal")
        assert screen_text(pilot, "#form-error") == ("Row 3, offer_rate is required (every field of the template "
                                                     "is mandatory); nothing was imported.")
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)
    assert keyed(await rates(engine)) == before


async def test_a_path_that_is_no_template_is_refused_in_the_form(make_app, engine: Engine, tmp_path: Path) -> None:
    await seed(engine, exchanges=False)
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "notes.xlsx").write_text("hello", encoding="utf-8")
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_rates(pilot, "maker")
        await pilot.press("I")
        await wait_for_screen(pilot, ImportRatesScreen)
        for path, said in ((tmp_path / "notes.txt", "must end in .csv or .xlsx"),
                           (tmp_path / "missing.csv", "does not exist"),
                           (tmp_path / "notes.xlsx", "is not an XLSX workbook")):
            await type_into(pilot, "#rate-import-path", str(path))
            await pilot.press("enter")
            await wait_until(pilot, lambda said=said: said in screen_text(pilot, "#form-error"), said)
            assert isinstance(app.screen, ImportRatesScreen)


async def test_a_rate_is_edited_audited_and_its_history_shows_both(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_rates(pilot, "maker")
        rate = await select_rate(pilot, pane, "HKEX", "SPOT", "USD")
        await pilot.press("e")
        await wait_for_screen(pilot, EditRateScreen)
        await type_into(pilot, "#rate-offer-rate", "7.8000")  # below the average: refused, naming it
        await pilot.press("tab", "tab", "enter")  # the last field's Enter submits
        await wait_until(pilot, lambda: "Average rate" in screen_text(pilot, "#form-error"), "the refusal")
        await type_into(pilot, "#rate-bid-rate", "7.8120")
        await type_into(pilot, "#rate-offer-rate", "7.8230")
        await type_into(pilot, "#rate-average-rate", "7.8175")
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: pane.items[str(rate.id)].version == rate.version + 1, "the edit")
        assert pane.items[str(rate.id)].source == "MANUAL"
        await pilot.press("h")
        await wait_for_screen(pilot, RateHistoryScreen)
        history = app.screen
        assert isinstance(history, RateHistoryScreen)
        await wait_until(pilot, lambda: len(history.entries) == 2, "the history")
        text = screen_text(pilot, "#rate-history")
        assert "7.8120" in text and "manual" in text and "7.8147" in text and "2 entries." in text
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)
    held = keyed(await rates(engine))["HKEX", "SPOT", "USD"]
    assert (held.bid_rate, held.offer_rate, held.average_rate) == (Decimal("7.8120"), Decimal("7.8230"),
                                                                  Decimal("7.8175"))
    assert "fx.reference_rate.edit" in await last_actions(engine, 5)


async def test_a_viewer_sees_import_and_edit_greyed_with_the_permission(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_rates(pilot, "viewer")
        assert pane.check_action("import_rates", ()) is None
        assert pane.check_action("edit_rate", ()) is None
        assert pane.check_action("rate_history", ()) is True
        assert "you need the permission fx.reference_rate_operation" in pane.hint_text()
        for key in ("I", "e"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, ShellScreen)  # greyed: says why, opens nothing
        assert sum("fx.reference_rate_operation" in n for n in notices(pilot)) == 2


async def _refused_at_80x24(pilot: Pilot) -> None:
    await open_rates(pilot, "maker")
    await import_file(pilot, Path("rates.xlsx"))  # relative: the test's folder (a path the snapshot can show)
    await wait_for_screen(pilot, ImportRatesScreen)
    await wait_until(pilot, lambda: "Row 3" in screen_text(pilot, "#form-error"), "the refusal")
    await settle(pilot)
    no_blink(pilot)


def test_import_refusal_at_80x24(snap_compare, make_app, db_url, tmp_path: Path) -> None:  # noqa: ANN001
    seed_in_thread(db_url, exchanges=False)
    xlsx_with_a_bad_row(tmp_path / "rates.xlsx")
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=_refused_at_80x24)

"""FX › Clients: importing clients and their opening cash from CSV, as a desk does with a
file from its client system: confirmed, then shown and held; a bad row refused naming its
row and field with nothing imported; the key greyed without the permission."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from console_helpers import screen_text, settle, type_into, wait_for_screen, wait_until
from fx_helpers import open_fx_tab, seed
from textual.pilot import Pilot

from wbo_tui.engine import Engine
from wbo_tui.engine.fx import ClientCash, ListClients
from wbo_tui.screens.fx.client_forms import ImportClientsScreen
from wbo_tui.screens.fx.clients import ClientsPane
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen

LARGE = (160, 48)
HEADER = "account_no,name,account_type,currency,opening_balance\n"


async def open_clients(pilot: Pilot, username: str) -> ClientsPane:
    await open_fx_tab(pilot, username, "tab-fx-clients")
    return pilot.app.screen.query_one(ClientsPane)


async def type_path(pilot: Pilot, path: Path) -> None:
    await pilot.press("I")
    await wait_for_screen(pilot, ImportClientsScreen)
    await type_into(pilot, "#client-import-path", str(path))
    await pilot.press("enter")


async def test_clients_are_imported_after_a_confirmation_and_shown(make_app, engine: Engine, tmp_path: Path) -> None:
    await seed(engine, exchanges=False)
    file = tmp_path / "clients.csv"
    file.write_text(HEADER + "C-300001,Lee Ka Yan,cash,HKD,5000.00\nC-300001,Lee Ka Yan,cash,USD,120.50\n"
                    "M-300002,Ho Wing Sze,margin,HKD,0\n", encoding="utf-8")
    async with make_app().run_test(size=LARGE) as pilot:
        pane = await open_clients(pilot, "maker")
        before = len(pane.items)
        await type_path(pilot, file)
        await wait_for_screen(pilot, ConfirmScreen)
        assert f"{file} (CSV, {file.stat().st_size:,} bytes): 3 data row(s)" in screen_text(
            pilot, "#confirm-consequences")
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: len(pane.items) == before + 2, "the imported clients")
        assert {"C-300001", "M-300002"} <= set(pane.items)
    maker = await engine.login("maker", "Star-Ferry-22")
    lee = (await engine.query(maker, ListClients(search="C-300001")))[0]
    cash = {c.currency: c.balance for c in (await engine.query(maker, ClientCash(client_id=lee.id))).cash}
    assert cash == {"HKD": Decimal("5000.00"), "USD": Decimal("120.50")}


async def test_a_bad_row_is_refused_in_the_form_and_nothing_is_imported(make_app, engine: Engine,
                                                                        tmp_path: Path) -> None:
    await seed(engine, exchanges=False)
    file = tmp_path / "clients.csv"
    file.write_text(HEADER + "C-300001,Lee Ka Yan,cash,HKD,5000.00\nC-300003,Chow Mei,savings,HKD,10\n",
                    encoding="utf-8")
    maker = await engine.login("maker", "Star-Ferry-22")
    before = len(await engine.query(maker, ListClients()))
    async with make_app().run_test(size=LARGE) as pilot:
        await open_clients(pilot, "maker")
        await type_path(pilot, file)
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("enter")
        await wait_for_screen(pilot, ImportClientsScreen)
        await wait_until(pilot, lambda: "Row 3" in screen_text(pilot, "#form-error"), "the refusal")
        assert screen_text(pilot, "#form-error") == ("Row 3, account_type must be cash or margin; nothing was "
                                                     "imported.")
    assert len(await engine.query(maker, ListClients())) == before


async def test_a_wrong_header_is_refused_before_the_confirmation(make_app, engine: Engine, tmp_path: Path) -> None:
    await seed(engine, exchanges=False)
    file = tmp_path / "clients.csv"
    file.write_text("account,name\nC-1,x\n", encoding="utf-8")
    async with make_app().run_test(size=LARGE) as pilot:
        await open_clients(pilot, "maker")
        await type_path(pilot, file)
        await wait_until(pilot, lambda: "Header row" in screen_text(pilot, "#form-error"), "the refusal")
        assert isinstance(pilot.app.screen, ImportClientsScreen)


async def test_a_viewer_sees_import_greyed_with_the_permission(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    async with make_app().run_test(size=LARGE) as pilot:
        pane = await open_clients(pilot, "viewer")
        assert pane.check_action("import_clients", ()) is None
        assert "you need the permission fx.client_operation" in pane.hint_text()
        await pilot.press("I")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ShellScreen)

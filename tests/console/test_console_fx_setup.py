"""FX service parameters: Currencies (currency setup), Pairs (the vendor's cards) and Large
amounts; driven with keys as an operator would, checked on screen and in the database,
live across consoles, greyed for a read-only operator, and pinned at 80x24 and 160x48."""

from __future__ import annotations

from decimal import Decimal

import pytest
from console_helpers import (
    no_blink,
    screen_text,
    settle,
    submit_form,
    type_into,
    wait_for_lists,
    wait_for_screen,
    wait_until,
)
from fx_helpers import seed, seed_in_thread, open_fx_tab
from textual.pilot import Pilot
from textual.widgets import DataTable, Select, SelectionList

from wbo_tui.engine import CreateOperator, CreateRole, Engine
from wbo_tui.engine.fx import (
    AddCurrencyPairs,
    ListAmountConfigs,
    ListCurrencyPairs,
    ListCurrencySetup,
    SetAmountConfig,
    UpdateCurrencySetup,
)
from wbo_tui.screens.fx.area import FxArea
from wbo_tui.screens.fx.currencies import CurrenciesPane
from wbo_tui.screens.fx.large_amounts import LargeAmountsPane
from wbo_tui.screens.fx.large_forms import AmountConfigScreen, DeleteAmountConfigScreen
from wbo_tui.screens.fx.pair_forms import AddPairsScreen, DefaultTargetScreen, DeletePairScreen
from wbo_tui.screens.fx.pairs import PairsPane
from wbo_tui.screens.fx.setup_forms import CurrencySetupScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.table_pane import TablePane

SMALL, LARGE = (80, 24), (160, 48)
BOTH = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
TAB_IDS = {"currencies": "tab-fx-currencies", "pairs": "tab-fx-pairs", "large": "tab-fx-large"}
PANES: dict[str, type[TablePane]] = {"currencies": CurrenciesPane, "pairs": PairsPane, "large": LargeAmountsPane}
FX_DESK = "fxsetup"
FX_DESK_PASSWORD = "Kowloon-Tong-77"


async def add_fx_desk(engine: Engine) -> None:
    """An operator who may change the FX service parameters (no demo role may)."""
    await engine.setup_execute(tool="test", command=CreateRole(name="r_fxsetup", permissions=[
        "fx.currency_setup_inquiry", "atm.update_current_config", "fx.currency_pair_inquiry",
        "lb_hk_conversion.support_currency_update", "lb_hk_conversion.amount_config_query",
        "lb_hk_conversion.amount_config_update"]))
    await engine.setup_execute(tool="test", command=CreateOperator(
        username=FX_DESK, display_name="FX Desk", password=FX_DESK_PASSWORD, roles=["r_fxsetup"]))


async def open_tab(pilot: Pilot, username: str, tab: str, password: str | None = None) -> TablePane:
    """Log in, open the FX area (3) and Ctrl+T to ``tab``; its pane, loaded."""
    await open_fx_tab(pilot, username, TAB_IDS[tab], password)
    return pilot.app.screen.query_one(PANES[tab])


async def as_desk(pilot: Pilot, tab: str) -> TablePane:
    return await open_tab(pilot, FX_DESK, tab, FX_DESK_PASSWORD)


async def select_row(pilot: Pilot, pane: TablePane, key: str) -> None:
    pane.table.move_cursor(row=pane.table.get_row_index(key))
    await settle(pilot)
    assert pane.selected_key == key


def shown(pane: TablePane, key: str) -> dict[str, str]:
    """What the operator sees in the row of ``key``, by column label."""
    table = pane.query_one(DataTable)
    cells = [str(c).strip() for c in table.get_row(key)]
    return {str(column.label): value for column, value in zip(table.ordered_columns, cells, strict=True)}


async def setup_of(engine: Engine, code: str):  # noqa: ANN201
    viewer = await engine.login("viewer", "Repulse-Bay-55")
    return next(s for s in await engine.query(viewer, ListCurrencySetup()) if s.currency == code)


async def cards(engine: Engine) -> dict[str, list[str]]:
    """Each card's targets as stored, the default marked with *."""
    viewer = await engine.login("viewer", "Repulse-Bay-55")
    return {c.from_currency: [t.to_currency + ("*" if t.default_currency else "") for t in c.targets]
            for c in await engine.query(viewer, ListCurrencyPairs())}


async def large_amounts(engine: Engine) -> dict[str, Decimal]:
    viewer = await engine.login("viewer", "Repulse-Bay-55")
    return {c.currency: c.amount for c in await engine.query(viewer, ListAmountConfigs())}


async def test_a_currency_is_edited_in_one_form_and_a_bad_field_saves_nothing(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    await add_fx_desk(engine)
    before = await setup_of(engine, "EUR")
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await as_desk(pilot, "currencies")
        assert shown(pane, "HKD")["Standard"] == "★ base"
        assert (shown(pane, "EUR")["Exchange"], shown(pane, "EUR")["Rounding"]) == ("on", "Truncate")
        assert shown(pane, "JPY")["Exchange"] == "off"
        await select_row(pilot, pane, "EUR")
        await pilot.press("e")
        await wait_for_screen(pilot, CurrencySetupScreen)
        await type_into(pilot, "#setup-rate-precision", "6")
        await type_into(pilot, "#setup-min-amount", "7.505")  # three places: more than the amount precision
        app.screen.query_one("#setup-rounding", Select).value = "round"
        await submit_form(pilot)
        await wait_until(pilot, lambda: "Minimum exchange amount" in screen_text(pilot, "#form-error"), "refusal")
        assert "at most 2 decimal places" in screen_text(pilot, "#form-error")
        assert await setup_of(engine, "EUR") == before  # nothing half-saved
        await type_into(pilot, "#setup-rate-precision", "11")
        await type_into(pilot, "#setup-min-amount", "7.50")
        await submit_form(pilot)
        await wait_until(pilot, lambda: "Exchange rate precision" in screen_text(pilot, "#form-error"), "refusal")
        assert "from 0 to 10" in screen_text(pilot, "#form-error")
        await type_into(pilot, "#setup-rate-precision", "6")
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "EUR")["Rate dp"] == "6", "the saved setup")
        assert (shown(pane, "EUR")["Min exchange"], shown(pane, "EUR")["Rounding"]) == ("7.50", "Rounding Off")
    after = await setup_of(engine, "EUR")
    assert (after.exchange_rate_precision, after.min_exchange_amount, after.amount_round_mode) == (
        6, Decimal("7.50"), "round")
    assert (after.support_exchange, after.version) == (True, before.version + 1)


async def test_switching_the_exchange_off_is_confirmed_first(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    await add_fx_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await as_desk(pilot, "currencies")
        await select_row(pilot, pane, "USD")
        await pilot.press("s")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "new client exchange from or into USD is refused" in screen_text(pilot, "#confirm-consequences")
        await pilot.press("enter")  # Cancel has the focus: a stray Enter changes nothing
        await wait_for_screen(pilot, ShellScreen)
        assert (await setup_of(engine, "USD")).support_exchange
        # In the edit form too: the switch off asks first, and Cancel saves nothing.
        await pilot.press("e")
        await wait_for_screen(pilot, CurrencySetupScreen)
        app.screen.query_one("#setup-switch", Select).value = "off"
        await submit_form(pilot)
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, CurrencySetupScreen)
        await wait_until(pilot, lambda: "Not saved" in screen_text(pilot, "#form-error"), "the form to say so")
        assert (await setup_of(engine, "USD")).support_exchange
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)
        await pilot.press("s")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.click("#confirm")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "USD")["Exchange"] == "off", "the switch off")
    assert not (await setup_of(engine, "USD")).support_exchange


async def test_pairs_are_added_and_a_default_target_is_chosen(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    await add_fx_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await as_desk(pilot, "pairs")
        assert shown(pane, "USD")["Targets (* default)"] == "CNH  EUR  HKD*"
        await pilot.press("n")
        await wait_for_screen(pilot, AddPairsScreen)
        screen = app.screen
        screen.query_one("#pair-source", Select).value = "JPY"
        await settle(pilot)
        targets = screen.query_one("#pair-targets", SelectionList)
        assert "JPY" not in [targets.get_option_at_index(i).value for i in range(targets.option_count)]
        targets.select("USD")
        targets.select("HKD")
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: "JPY" in pane.items, "the new card")
        assert shown(pane, "JPY")["Targets (* default)"] == "HKD  USD*"
        await select_row(pilot, pane, "JPY")
        await pilot.press("d")
        await wait_for_screen(pilot, DefaultTargetScreen)
        assert app.screen.query_one("#pair-default", Select).value is not Select.NULL  # the one other target
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "JPY")["Default"] == "HKD", "the new default")
        assert "JPY → HKD (default), JPY → USD" in screen_text(pilot, "#fx-pairs-pane .pane-detail")
    assert (await cards(engine))["JPY"] == ["HKD*", "USD"]


async def test_a_pair_in_use_is_refused_naming_its_users_and_a_free_one_is_deleted(make_app, engine: Engine) -> None:
    await seed(engine)
    await add_fx_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await as_desk(pilot, "pairs")
        await select_row(pilot, pane, "USD")
        await pilot.press("x")
        await wait_for_screen(pilot, DeletePairScreen)
        usd = pane.items["USD"]
        hkd = next(t.id for t in usd.targets if t.to_currency == "HKD")
        app.screen.query_one("#pair-delete", Select).value = hkd
        await submit_form(pilot)
        await settle(pilot)
        assert isinstance(app.screen, DeletePairScreen)  # disabled until the phrase is typed
        await type_into(pilot, "#typed-confirmation-input", "DELETE 1")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "in use" in screen_text(pilot, "#form-error"), "the refusal")
        refusal = screen_text(pilot, "#form-error")
        assert "USD → HKD is in use and can't be deleted" in refusal
        assert "exchange strategy" in refusal and "pending client exchange FX-" in refusal
        assert "executed-rate markup" in refusal
        assert (await cards(engine))["USD"] == ["CNH", "EUR", "HKD*"]
        eur = next(t.id for t in usd.targets if t.to_currency == "EUR")
        app.screen.query_one("#pair-delete", Select).value = eur
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "USD")["Targets (* default)"] == "CNH  HKD*", "the deletion")
        assert any("USD → EUR deleted" in str(n.message) for n in app._notifications)  # noqa: SLF001
    assert (await cards(engine))["USD"] == ["CNH", "HKD*"]


async def test_large_amount_criteria_are_set_and_deleted(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    await add_fx_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await as_desk(pilot, "large")
        assert shown(pane, "USD")["Large amount starting point"] == "100,000.00"
        await select_row(pilot, pane, "USD")
        await pilot.press("e")
        await wait_for_screen(pilot, AmountConfigScreen)
        await type_into(pilot, "#large-amount", "0")
        await pilot.press("enter")
        await wait_until(pilot, lambda: "greater than 0" in screen_text(pilot, "#form-error"), "the refusal")
        assert "Large amount starting point" in screen_text(pilot, "#form-error")
        await type_into(pilot, "#large-amount", "150,000")
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "USD")["Large amount starting point"] == "150,000.00", "save")
        await pilot.press("n")
        await wait_for_screen(pilot, AmountConfigScreen)
        app.screen.query_one("#large-currency", Select).value = "JPY"
        await type_into(pilot, "#large-amount", "15000000")
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: "JPY" in pane.items, "the new criterion")
        await select_row(pilot, pane, "EUR")
        await pilot.press("x")
        await wait_for_screen(pilot, DeleteAmountConfigScreen)
        await type_into(pilot, "#typed-confirmation-input", "DELETE 1")
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: "EUR" not in pane.items, "the deletion")
    assert await large_amounts(engine) == {"CNH": Decimal("700000.00"), "HKD": Decimal("800000.00"),
                                           "JPY": Decimal("15000000"), "USD": Decimal("150000.00")}


@pytest.mark.parametrize(("tab", "key", "permission"), [
    ("currencies", "e", "atm.update_current_config"),
    ("pairs", "x", "lb_hk_conversion.support_currency_update"),
    ("large", "e", "lb_hk_conversion.amount_config_update"),
])
async def test_a_viewer_sees_the_keys_greyed_with_the_permission(make_app, engine: Engine, tab: str, key: str,
                                                                 permission: str) -> None:
    await seed(engine, exchanges=False)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_tab(pilot, "viewer", tab)
        assert pane.items
        for action in pane.ROW_ACTIONS:
            assert pane.check_action(action, ()) is None, action
        assert f"you need the permission {permission}" in pane.hint_text()
        await pilot.press(key)
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)  # greyed: says why, opens nothing
        assert any(permission in str(n.message) for n in app._notifications)  # noqa: SLF001


async def test_the_lists_follow_other_consoles(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    await add_fx_desk(engine)
    desk = await engine.login(FX_DESK, FX_DESK_PASSWORD)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_tab(pilot, "viewer", "currencies")
        eur = await setup_of(engine, "EUR")
        await engine.execute(desk, UpdateCurrencySetup(**{**eur.model_dump(exclude={"name", "kind", "configured",
                                                                                     "version"}),
                                                          "support_exchange": False, "expected_version": eur.version}))
        await wait_until(pilot, lambda: shown(pane, "EUR")["Exchange"] == "off", "the other console's switch")
        await pilot.press("ctrl+t")
        await settle(pilot)
        pairs = app.screen.query_one(PairsPane)
        await engine.execute(desk, AddCurrencyPairs(from_currency="JPY", to_currencies=("HKD",)))
        await wait_until(pilot, lambda: "JPY" in pairs.items, "the other console's card")
        tab_ids = [t.id for t in FxArea.TABS]
        for _ in range(tab_ids.index(TAB_IDS["large"]) - tab_ids.index(TAB_IDS["pairs"])):
            await pilot.press("ctrl+t")
            await settle(pilot)
        large = app.screen.query_one(LargeAmountsPane)
        await wait_for_lists(pilot)
        await engine.execute(desk, SetAmountConfig(currency="USD", amount="120000", expected_version=1))
        await wait_until(pilot, lambda: shown(large, "USD")["Large amount starting point"] == "120,000.00",
                         "the other console's criterion")


def listed(tab: str):  # noqa: ANN201
    async def run_before(pilot: Pilot) -> None:
        await open_tab(pilot, "checker", tab)
        await settle(pilot)
        no_blink(pilot)

    return run_before


@BOTH
@pytest.mark.parametrize("tab", list(TAB_IDS))
def test_fx_setup_lists(snap_compare, make_app, db_url, size, tab: str) -> None:
    seed_in_thread(db_url)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed(tab))

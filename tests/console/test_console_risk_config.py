"""Risk › Configuration: the desk's settings, instruments and client terms, edited with keys
as an operator would and checked in the database; a bad value refused naming its field
with nothing saved; the liquidation toggle confirmed; followed live; every edit key
greyed naming lb_hk_margin_call.margin_call_auto_batch_forccconfig without it; and the
three views pinned at 80x24 and 160x48.  No demo role holds the configuration
permission: the tests make a risk desk operator who does."""

from __future__ import annotations

from decimal import Decimal

import pytest
from console_helpers import PASSWORDS, no_blink, screen_text, settle, submit_form, type_into, wait_for_screen
from console_helpers import wait_until
from risk_helpers import open_risk_tab, seed_risk, seed_risk_in_thread
from textual.pilot import Pilot
from textual.widgets import DataTable, Select

from wbo_tui.engine import CreateOperator, CreateRole, Engine
from wbo_tui.engine.fx import ListClients
from wbo_tui.engine.margin import GetClientTerms, GetMarginSettings, ListInstruments, UpdateMarginSettings
from wbo_tui.engine.margin.settings import CONFIG
from wbo_tui.screens.risk.config_forms import (
    ClientTermsScreen,
    InstrumentScreen,
    MarginSettingsScreen,
    RenewLimitScreen,
)
from wbo_tui.screens.risk.configuration import ConfigurationPane
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen

SMALL, LARGE = (80, 24), (160, 48)
BOTH = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
DESK, DESK_PASSWORD = "riskdesk", "Shek-O-Beach-9"


async def add_risk_desk(engine: Engine) -> None:
    """An operator who may change the margin configuration (no demo role may)."""
    await engine.setup_execute(tool="test", command=CreateRole(name="r_riskdesk", permissions=[
        CONFIG, "RiskWarningReadOnly", "fx.client_inquiry"]))
    await engine.setup_execute(tool="test", command=CreateOperator(
        username=DESK, display_name="Risk Desk", password=DESK_PASSWORD, roles=["r_riskdesk"]))


async def open_config(pilot: Pilot, username: str = DESK) -> ConfigurationPane:
    await open_risk_tab(pilot, username, "tab-risk-config", DESK_PASSWORD if username == DESK else None)
    return pilot.app.screen.query_one(ConfigurationPane)


def shown(pane: ConfigurationPane, key: str) -> dict[str, str]:
    """What the operator sees in the row of ``key``, by column label."""
    table = pane.query_one(DataTable)
    cells = [str(c).strip() for c in table.get_row(key)]
    return {str(column.label): value for column, value in zip(table.ordered_columns, cells, strict=True)}


async def select(pilot: Pilot, pane: ConfigurationPane, key: str) -> None:
    pane.table.move_cursor(row=pane.table.get_row_index(key))
    await settle(pilot)
    assert pane.selected_key == key


async def to_view(pilot: Pilot, pane: ConfigurationPane, view: str) -> None:
    while pane.view != view:
        await pilot.press("v")
        await settle(pilot)


async def settings(engine: Engine):  # noqa: ANN201
    viewer = await engine.login("viewer", PASSWORDS["viewer"])
    return await engine.query(viewer, GetMarginSettings())


async def instrument(engine: Engine, code: str):  # noqa: ANN201
    viewer = await engine.login("viewer", PASSWORDS["viewer"])
    return next(i for i in await engine.query(viewer, ListInstruments()) if i.code == code)


async def terms(engine: Engine, account: str):  # noqa: ANN201
    viewer = await engine.login("viewer", PASSWORDS["viewer"])
    client = next(c for c in await engine.query(viewer, ListClients(search=account)) if c.account_no == account)
    return await engine.query(viewer, GetClientTerms(client_id=client.id))


def notified(pilot: Pilot, text: str) -> bool:
    return any(text in str(n.message) for n in pilot.app._notifications)  # noqa: SLF001


async def test_a_setting_is_saved_and_a_bad_value_is_refused_naming_its_field(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    await add_risk_desk(engine)
    before = await settings(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_config(pilot)
        assert shown(pane, "buffer_pct")["Value"] == "5 %"
        assert shown(pane, "liquidation_enabled")["Value"] == "on"
        assert shown(pane, "order_rule")["Value"] == "Largest unrealised loss first"
        assert shown(pane, "deadline_days")["Value"] == "3 HK trading days"
        assert shown(pane, "venue")["Value"] == "simulator"
        await pilot.press("e")
        await wait_for_screen(pilot, MarginSettingsScreen)
        await type_into(pilot, "#cfg-buffer-pct", "150")
        await submit_form(pilot)
        await wait_until(pilot, lambda: "Buffer" in screen_text(pilot, "#form-error"), "the refusal")
        assert "from 0 to 100" in screen_text(pilot, "#form-error")
        assert await settings(engine) == before  # nothing saved
        await type_into(pilot, "#cfg-offset-steps", "two")
        await type_into(pilot, "#cfg-buffer-pct", "7.5")
        await submit_form(pilot)
        await wait_until(pilot, lambda: "Limit price offset" in screen_text(pilot, "#form-error"), "the refusal")
        await type_into(pilot, "#cfg-offset-steps", "2")
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "buffer_pct")["Value"] == "7.5 %", "the saved buffer")
        assert shown(pane, "offset_steps")["Value"] == "2 steps"
    after = await settings(engine)
    assert (after.buffer_pct, after.offset_steps, after.version) == (Decimal("7.5"), 2, before.version + 1)
    assert after.liquidation_enabled


async def test_switching_the_liquidation_toggle_is_confirmed_first(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    await add_risk_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_config(pilot)
        await select(pilot, pane, "liquidation_enabled")
        await pilot.press("enter")  # Enter on a row edits, as e does
        await wait_for_screen(pilot, MarginSettingsScreen)
        app.screen.query_one("#cfg-liquidation-enabled", Select).value = "off"
        await submit_form(pilot)
        await wait_for_screen(pilot, ConfirmScreen)
        assert "Batch liquidation is refused for every trader" in screen_text(pilot, "#confirm-consequences")
        await pilot.press("escape")
        await wait_for_screen(pilot, MarginSettingsScreen)
        await wait_until(pilot, lambda: "Not saved" in screen_text(pilot, "#form-error"), "the form to say so")
        assert (await settings(engine)).liquidation_enabled
        await submit_form(pilot)
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("shift+tab", "enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "liquidation_enabled")["Value"] == "off", "the toggle off")
    assert not (await settings(engine)).liquidation_enabled


async def test_an_instrument_is_suspended_and_factors_out_of_order_are_refused(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    await add_risk_desk(engine)
    before = await instrument(engine, "700.HK")
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_config(pilot)
        await pilot.press("i")  # in the settings view: shows the instruments
        await settle(pilot)
        assert pane.view == "instruments"
        assert shown(pane, "2007.HK")["Status"] == "suspended"
        assert (shown(pane, "700.HK")["Initial %"], shown(pane, "700.HK")["Force %"]) == ("40", "25")
        await select(pilot, pane, "700.HK")
        await pilot.press("i")
        await wait_for_screen(pilot, InstrumentScreen)
        await type_into(pilot, "#instrument-fm-factor", "32")  # above maintenance (30)
        await submit_form(pilot)
        await wait_until(pilot, lambda: "Margin factors" in screen_text(pilot, "#form-error"), "the refusal")
        assert await instrument(engine, "700.HK") == before
        await type_into(pilot, "#instrument-fm-factor", "22.5")
        app.screen.query_one("#instrument-status", Select).value = "SUSPENDED"
        await submit_form(pilot)
        await wait_for_screen(pilot, ConfirmScreen)
        assert "skipped by every liquidation plan" in screen_text(pilot, "#confirm-consequences")
        await pilot.press("shift+tab", "enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "700.HK")["Status"] == "suspended", "the suspension")
    after = await instrument(engine, "700.HK")
    assert (after.status, after.fm_factor, after.version) == ("SUSPENDED", Decimal("22.5"), before.version + 1)


async def test_a_clients_terms_are_edited_and_an_expired_limit_renewed(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    await add_risk_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_config(pilot)
        await to_view(pilot, pane, "terms")
        assert shown(pane, "M-300104")["Add. margin"] == "50,000.00"
        assert shown(pane, "M-300101")["Trading limit"] == "expired 20,000.00"  # with the call that opened
        await select(pilot, pane, "M-300104")
        assert pane.check_action("renew_limit", ()) is None
        assert "M-300104's trading limit has not expired" in pane.hint_text()
        await pilot.press("t")
        await wait_for_screen(pilot, ClientTermsScreen)
        await type_into(pilot, "#terms-additional-margin", "60,000")
        app.screen.query_one("#terms-exempt", Select).value = "yes"
        await submit_form(pilot)
        await wait_until(pilot, lambda: "Exemption reason is required" in screen_text(pilot, "#form-error"),
                         "the refusal")
        assert (await terms(engine, "M-300104")).additional_margin == Decimal("50000.00")
        await type_into(pilot, "#terms-exempt-reason", "Staff account, approved by the credit committee")
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "M-300104")["Exempt"] == "exempt", "the saved terms")
        await select(pilot, pane, "M-300101")
        await pilot.press("l")
        await wait_for_screen(pilot, RenewLimitScreen)
        await type_into(pilot, "#renew-limit", "15000")
        await type_into(pilot, "#renew-reason", "Deposit received; credit committee renewal")
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "M-300101")["Trading limit"] == "15,000.00", "the renewal")
    edited = await terms(engine, "M-300104")
    assert (edited.additional_margin, edited.exempt) == (Decimal("60000.00"), True)
    assert edited.exempt_reason == "Staff account, approved by the credit committee"
    renewed = await terms(engine, "M-300101")
    assert (renewed.trading_limit, renewed.trading_limit_expired) == (Decimal("15000.00"), False)


@pytest.mark.parametrize("username", ["trader", "viewer"])
async def test_without_the_permission_everything_is_shown_and_every_edit_key_greyed(make_app, engine: Engine,
                                                                                   username: str) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_config(pilot, username)
        for view, key, action in (("settings", "e", "edit_settings"), ("instruments", "i", "edit_instrument"),
                                  ("terms", "t", "edit_terms")):
            await to_view(pilot, pane, view)
            assert pane.items, view
            assert pane.check_action(action, ()) is None, action
            assert f"you need the permission {CONFIG}" in pane.hint_text(), view
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, ShellScreen)  # greyed: says why, opens nothing
            assert notified(pilot, CONFIG)


async def test_the_settings_follow_another_console(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    await add_risk_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_config(pilot, "viewer")
        s = await settings(engine)
        desk = await engine.login(DESK, DESK_PASSWORD)
        await engine.execute(desk, UpdateMarginSettings(**{**s.model_dump(exclude={"price_source", "venue",
                                                                                    "version"}),
                                                           "deadline_days": 5, "expected_version": s.version}))
        await wait_until(pilot, lambda: shown(pane, "deadline_days")["Value"] == "5 HK trading days",
                         "the other console's deadline")


def listed(view: str):  # noqa: ANN201
    async def run_before(pilot: Pilot) -> None:
        pane = await open_config(pilot, "trader")
        await to_view(pilot, pane, view)
        await settle(pilot)
        no_blink(pilot)

    return run_before


@BOTH
@pytest.mark.parametrize("view", ["settings", "instruments", "terms"])
def test_configuration_views(snap_compare, make_app, db_url, size, view: str) -> None:
    seed_risk_in_thread(db_url)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed(view))


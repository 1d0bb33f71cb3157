"""FX exchange strategies and markups: driven with keys as an operator would, checked on
screen and in the database, greyed for a read-only operator, and pinned at 80x24 and
160x48.  The console's clock is Friday 20 November 2026, 17:30 in Hong Kong: the pool and
the large-amount bank strategy are closed, the Hang Seng bank strategy serves."""

from __future__ import annotations

from decimal import Decimal

import pytest
from console_helpers import no_blink, plain, screen_text, settle, type_into, wait_for_lists, wait_for_screen
from console_helpers import wait_until
from fx_helpers import seed, seed_in_thread, open_fx_tab
from textual.pilot import Pilot
from textual.widgets import DataTable, Select

from wbo_tui.engine import CreateOperator, CreateRole, Engine
from wbo_tui.engine.fx import ListExchangeStrategies, ListExecutedMarkups, ListReferenceMarkups, SetStrategyEnabled
from wbo_tui.screens.fx.markup_forms import MarkupScreen, MarkupStepsScreen
from wbo_tui.screens.fx.markups import MarkupsPane
from wbo_tui.screens.fx.strategies import StrategiesPane
from wbo_tui.screens.fx.strategy_forms import StrategyScreen, WhichStrategyScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.table_pane import TablePane

SMALL, LARGE = (80, 24), (160, 48)
BOTH = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
TAB_IDS = {"strategies": "tab-fx-strategies", "markups": "tab-fx-markups"}
PANES: dict[str, type[TablePane]] = {"strategies": StrategiesPane, "markups": MarkupsPane}
DESK, DESK_PASSWORD = "fxparams", "Sai-Kung-Pier-8"


async def add_desk(engine: Engine) -> None:
    """An operator who may change strategies and markups (no demo role may)."""
    await engine.setup_execute(tool="test", command=CreateRole(name="r_fxparams", permissions=[
        "lb_hk_conversion.exchangeserve_query", "lb_hk_conversion.exchangeserve_update",
        "fx.customer_exchange_inquiry", "lb_hk_conversion.fee_query", "lb_hk_conversion.forex_ib_rates",
        "lb_hk_conversion.rate_reference_update", "lb_hk_conversion.fee_update", "fx.reference_rate_inquiry",
        "fx.currency_setup_inquiry"]))
    await engine.setup_execute(tool="test", command=CreateOperator(
        username=DESK, display_name="FX Parameters", password=DESK_PASSWORD, roles=["r_fxparams"]))


async def open_tab(pilot: Pilot, username: str, tab: str, password: str | None = None) -> TablePane:
    """Log in, open the FX area (3) and Ctrl+T to ``tab``; its pane, loaded."""
    await open_fx_tab(pilot, username, TAB_IDS[tab], password)
    return pilot.app.screen.query_one(PANES[tab])


def shown_row(pane: TablePane, key: str) -> dict[str, str]:
    """What the operator sees in the row of ``key``, by column label."""
    table = pane.query_one(DataTable)
    cells = [str(c).strip() for c in table.get_row(key)]
    return {str(column.label): value for column, value in zip(table.ordered_columns, cells, strict=True)}


async def at_row(pilot: Pilot, pane: TablePane, key: str) -> None:
    pane.table.move_cursor(row=pane.table.get_row_index(key))
    await settle(pilot)


def choose(pilot: Pilot, selector: str, value: object) -> None:
    pilot.app.screen.query_one(selector, Select).value = value


async def fill_strategy(pilot: Pilot, *, service: str, change_type: int, channel: str | None, pairs: str,
                        periods: list[str], approval: str = "") -> None:
    choose(pilot, "#strategy-service", service)
    choose(pilot, "#strategy-type", change_type)
    if channel:
        choose(pilot, "#strategy-channel", channel)
    await settle(pilot)
    await type_into(pilot, "#strategy-pairs", pairs)
    for index, period in enumerate(periods, start=1):
        await type_into(pilot, f"#strategy-period-{index}", period)
    await type_into(pilot, "#strategy-approval", approval)


async def test_a_strategy_with_two_periods_is_created_and_overlaps_are_refused(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    await add_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_tab(pilot, DESK, "strategies", DESK_PASSWORD)
        assert list(pane.items) == ["1", "2", "3"]
        await pilot.press("n")
        await wait_for_screen(pilot, StrategyScreen)
        assert not app.screen.query_one("#strategy-channel-field").display  # Exchange Pool: no channel
        await fill_strategy(pilot, service="SINGLE", change_type=0, channel="CIBC", pairs="eur/usd, EUR/HKD",
                            periods=["HK trading days 09:00-12:00", "Sat 10:00-12:00"], approval="0.01")
        assert app.screen.query_one("#strategy-channel-field").display
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: "4" in pane.items, "the new strategy")
        shown = shown_row(pane, "4")
        assert (shown["Strategy"], shown["Exchange type"], shown["Channel"], shown["Enabled"]) == (
            "Bank", "None", "CIBC", "yes")
        assert shown["Service periods"] == "HK trading days 09:00–12:00; Sat 10:00–12:00"
        await at_row(pilot, pane, "4")
        detail = plain(pane.query_one(".pane-detail"))
        assert detail.startswith("Strategy 4, outside service hours; next window Saturday 2026-11-21 10:00 HKT: "
                                 "Bank Exchange via CIBC, None; every exchange reviewed (approval from 0.01); "
                                 "EUR/USD, EUR/HKD; HK trading days 09:00–12:00; Sat 10:00–12:00 HKT.")

        # Edited: the form holds the strategy as shown (the periods as typed), one period changed.
        await pilot.press("e")
        await wait_for_screen(pilot, StrategyScreen)
        assert app.screen.query_one("#strategy-period-2").value == "Sat 10:00-12:00"
        await type_into(pilot, "#strategy-period-2", "Sat,Sun 10:00-13:00")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: pane.items["4"].version == 2, "the edit")
        assert shown_row(pane, "4")["Service periods"] == "HK trading days 09:00–12:00; Sat,Sun 10:00–13:00"

        # Two periods of one strategy that overlap: the engine's refusal, in the form.
        await pilot.press("n")
        await wait_for_screen(pilot, StrategyScreen)
        await fill_strategy(pilot, service="BATCH", change_type=0, channel=None, pairs="USD/EUR",
                            periods=["HK trading days 09:00-12:00", "Every day 11:00-13:00"])
        await pilot.click("#submit")
        await wait_until(pilot, lambda: screen_text(pilot, "#form-error") != "", "the refusal")
        assert screen_text(pilot, "#form-error") == ("Service time periods overlap: HK trading days 09:00–12:00 and "
                                                     "Every day 11:00–13:00.")
        # Overlapping another enabled strategy of the same type and pair: named.
        await fill_strategy(pilot, service="SINGLE", change_type=1, channel="ICBCASIA", pairs="EUR/USD",
                            periods=["Mon-Fri 08:00-10:00", ""])
        await pilot.click("#submit")
        await wait_until(pilot, lambda: "Strategy 3" in screen_text(pilot, "#form-error"), "the overlap")
        assert screen_text(pilot, "#form-error") == (
            "Strategy 3 (Bank Exchange, Large Amount Exchange) already serves EUR/USD at HK trading days "
            "09:30–16:00, which overlaps Mon–Fri 08:00–10:00. Change the periods or pairs, or disable strategy 3 "
            "first.")
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)
    desk = await engine.login(DESK, DESK_PASSWORD)
    strategies = await engine.query(desk, ListExchangeStrategies())
    assert [s.id for s in strategies] == [1, 2, 3, 4]
    created = strategies[-1]
    assert (created.service_strategy, created.change_type, created.channel_name, created.support_currency,
            created.approval_start_amount) == ("SINGLE", 0, "CIBC", ("EUR/USD", "EUR/HKD"), Decimal("0.01"))
    assert created.service_time == ({"time_zones": "hk_trade_day", "time_rule": "09:00:00-12:00:00"},
                                    {"time_zones": "week", "time_rule": "10:00:00-13:00:00", "week_interval": "6-7"})


async def ask_which(pilot: Pilot, source: str, target: str, amount: str) -> str:
    await type_into(pilot, "#which-from", source)
    await type_into(pilot, "#which-to", target)
    await type_into(pilot, "#which-amount", amount)
    before = screen_text(pilot, "#which-answer")
    await pilot.click("#submit")
    await wait_until(pilot, lambda: screen_text(pilot, "#which-answer") not in ("", before), "the answer")
    return screen_text(pilot, "#which-answer")


async def test_which_strategy_answers_and_disabling_one_changes_it(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    await add_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_tab(pilot, DESK, "strategies", DESK_PASSWORD)
        await pilot.press("w")
        await wait_for_screen(pilot, WhichStrategyScreen)
        answer = await ask_which(pilot, "usd", "hkd", "1000")
        assert answer == ("Served by strategy 2: Bank Exchange via HSB, Small Amount Exchange (beyond exchange "
                          "pool). Worth 7,817.30 in the standard currency; it executes when submitted (no review).")
        answer = await ask_which(pilot, "USD", "HKD", "250000")
        assert answer.startswith("No strategy applies: Exchange strategy none in service now takes large amounts")
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)

        await at_row(pilot, pane, "2")
        await pilot.press("t")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "stops serving requests at once" in screen_text(pilot, "#confirm-consequences")
        await pilot.click("#confirm")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: not pane.items["2"].enable_flag, "the strategy disabled")
        assert shown_row(pane, "2")["Enabled"] == "no"
        assert "disabled: serves nothing" in plain(pane.query_one(".pane-detail"))

        await pilot.press("w")
        await wait_for_screen(pilot, WhichStrategyScreen)
        answer = await ask_which(pilot, "USD", "HKD", "1000")
        assert answer == ("No strategy applies: Exchange strategy USD/HKD is outside service hours; next window "
                          "Monday 2026-11-23 09:00 HKT.")
    desk = await engine.login(DESK, DESK_PASSWORD)
    assert [s.enable_flag for s in await engine.query(desk, ListExchangeStrategies())] == [True, False, True]


async def test_a_markup_is_added_with_its_calculation_then_deleted(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    await add_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_tab(pilot, DESK, "markups", DESK_PASSWORD)
        assert list(pane.items) == ["R2", "R1", "E1"]  # CNH/HKD, USD/CNH, then the executed one
        assert shown_row(pane, "R1")["Rate now → with markup"] == "7.1367 → 7.1295"
        await pilot.press("n")
        await wait_for_screen(pilot, MarkupScreen)
        assert app.screen.query_one("#markup-bp-field").display
        assert not app.screen.query_one("#markup-tier-fields").display
        await type_into(pilot, "#markup-from", "EUR")
        await type_into(pilot, "#markup-to", "HKD")
        await settle(pilot)
        assert screen_text(pilot, "#markup-rate-now").startswith(
            "Current reference rate: Reference rate EUR→HKD (Hong Kong Exchange Spot Rate): source bid 8.4120 ÷ "
            "target offer 1 (HKD, the standard currency) = 8.4120 → 8.4120 (rate precision 4, Truncate Without "
            "Rounding: toward zero)")
        await type_into(pilot, "#markup-bp", "0.25")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: "R3" in pane.items, "the new markup")
        shown = shown_row(pane, "R3")
        assert (shown["Kind"], shown["Pair"], shown["Channel"], shown["Markup"]) == (
            "Reference", "EUR→HKD", "Hong Kong Exchange", "ratio 0.25 %")
        assert shown["Rate now → with markup"] == "8.4120 → 8.3909"
        await at_row(pilot, pane, "R3")
        await pilot.press("v")
        await wait_for_screen(pilot, MarkupStepsScreen)
        steps = screen_text(pilot, "#markup-steps").splitlines()
        assert steps[1] == ("2. Applied when a request is submitted: markup ratio 0.25 % (25 bp): 8.4120 × "
                            "(1 − 0.0025) = 8.39097 → 8.3909 (cut to 4 places, toward the broker)")
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)

        # An executed-rate markup: a bank channel, amount tiers, an effective period.
        await pilot.press("n")
        await wait_for_screen(pilot, MarkupScreen)
        choose(pilot, "#markup-kind", "EXECUTED")
        choose(pilot, "#markup-bank-channel", "ICBCASIA")
        await settle(pilot)
        assert app.screen.query_one("#markup-tier-fields").display
        await type_into(pilot, "#markup-from", "USD")
        await type_into(pilot, "#markup-to", "CNH")
        choose(pilot, "#markup-mode", "VALUE")
        await type_into(pilot, "#markup-tiers", "0-50,000: 0.0030; 50000+: 0.0010")
        await type_into(pilot, "#markup-start", "2026-12-01 00:00")
        await type_into(pilot, "#markup-end", "2027-01-01 00:00")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: "E2" in pane.items, "the executed markup")
        assert shown_row(pane, "E2")["Effective"] == "2026-12-01 00:00 – 2027-01-01 00:00 UTC"

        await at_row(pilot, pane, "R3")
        await pilot.press("x")
        await wait_for_screen(pilot, ConfirmScreen)
        await type_into(pilot, "#typed-confirmation-input", "DELETE 1")
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: "R3" not in pane.items, "the markup deleted")
    desk = await engine.login(DESK, DESK_PASSWORD)
    assert [(m.from_currency, m.to_currency) for m in await engine.query(desk, ListReferenceMarkups())] == [
        ("CNH", "HKD"), ("USD", "CNH")]
    executed = next(m for m in await engine.query(desk, ListExecutedMarkups()) if m.to_currency == "CNH")
    assert (executed.service_strategy, executed.channel_name, executed.spread_mode, executed.default_effective) == (
        "SINGLE", "ICBCASIA", "VALUE", False)
    assert executed.tiers == ({"start_value": "0", "end_value": "50000", "markup": "0.0030"},
                              {"start_value": "50000", "end_value": None, "markup": "0.0010"})


async def test_a_viewer_sees_the_keys_greyed_with_the_reason(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    await add_desk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_tab(pilot, "viewer", "strategies")
        # Another console disables a strategy: the list shows it without a key pressed.
        desk = await engine.login(DESK, DESK_PASSWORD)
        await engine.execute(desk, SetStrategyEnabled(strategy_id=3, enable_flag=False, expected_version=1))
        await wait_until(pilot, lambda: shown_row(pane, "3")["Enabled"] == "no", "the other console's change")
        await at_row(pilot, pane, "1")
        hint = pane.hint_text()
        assert "n New, e Edit, t Enable/disable unavailable: you need the permission " \
               "lb_hk_conversion.exchangeserve_update" in hint
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)
        assert any("t Enable/disable is not available" in str(n.message) for n in app._notifications)
        await pilot.press("w")  # the question needs only fx.customer_exchange_inquiry
        await wait_for_screen(pilot, WhichStrategyScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)
        await pilot.press("ctrl+t")
        await settle(pilot)
        await wait_for_lists(pilot)
        markups = app.screen.query_one(MarkupsPane)
        await at_row(pilot, markups, "R1")
        assert "lb_hk_conversion.rate_reference_update" in markups.hint_text()
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)
        await pilot.press("v")  # reading the calculation needs no more than reading the rates
        await wait_for_screen(pilot, MarkupStepsScreen)


async def test_without_the_rates_the_calculation_is_named_as_missing(make_app, engine: Engine) -> None:
    await seed(engine, exchanges=False)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_tab(pilot, "trader", "markups")  # no fx.currency_setup_inquiry
        assert list(pane.items) == ["R2", "R1", "E1"]
        assert shown_row(pane, "R1")["Rate now → with markup"] == "—"
        await at_row(pilot, pane, "R1")
        assert "v Calculation unavailable: the calculation needs the permission fx.currency_setup_inquiry" in (
            pane.hint_text())
        await pilot.press("v")
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)


def listed(username: str, tab: str, password: str | None = None):  # noqa: ANN201
    async def run_before(pilot: Pilot) -> None:
        await open_tab(pilot, username, tab, password)
        await settle(pilot)
        no_blink(pilot)

    return run_before


@BOTH
@pytest.mark.parametrize("tab", list(TAB_IDS))
def test_fx_params_lists(snap_compare, make_app, db_url, size, tab: str) -> None:
    seed_in_thread(db_url, exchanges=False)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("checker", tab))

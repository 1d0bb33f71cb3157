"""Risk › Details of a margin call and its close-out dialog: the overview, cash, positions
(stale quotes and suspended stocks marked), follow-up records, the liquidation plan with
its engine-checked edits and what-if, sending and cancelling orders, one liquidation per
client at a time, and a read-only operator's greyed keys; driven with keys as a trader
would, checked on screen and in the database, and pinned at 80x24 and 160x48.

The screens are pushed directly after the login (the Risk Warning list that opens them
is another module's)."""

from __future__ import annotations

import io

import pytest
from console_helpers import (
    PASSWORDS,
    lists_shown,
    login,
    no_blink,
    plain,
    settle,
    type_into,
    wait_for_screen,
    wait_until,
)
from risk_helpers import open_calls, seed_risk, seed_risk_in_thread
from rich.console import Console
from rich.table import Table
from textual.pilot import Pilot
from textual.widgets import Button, DataTable, Input

from wbo_tui.engine import Engine
from wbo_tui.engine.margin import (
    AddFollowUp,
    ConfigureMarginFeeds,
    GetMarginSettings,
    LineInput,
    Liquidate,
    ListFollowUps,
    ListLiquidationOrders,
    ListMarginCalls,
)
from wbo_tui.screens.risk.details import DetailsScreen
from wbo_tui.screens.risk.details_parts import (
    CashSection,
    FollowUpScreen,
    FollowUpsSection,
    OrdersSection,
    PositionsSection,
    Section,
)
from wbo_tui.screens.risk.liquidation_form import LiquidationScreen
from wbo_tui.screens.help import HelpScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen

SMALL, LARGE = (80, 24), (160, 48)
BOTH = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])


async def hold_venue(engine: Engine) -> None:
    """The simulated venue fills one board lot when an order arrives and, the clock being
    fixed, nothing more: orders stay in progress, partly filled."""
    settings = await engine.setup_query(GetMarginSettings(), tool="test")
    await engine.setup_execute(ConfigureMarginFeeds(price_source=settings.price_source,
                                                    venue={**settings.venue, "max_lots_per_fill": 1}), tool="test")


async def open_details(pilot: Pilot, username: str, account: str) -> DetailsScreen:
    """Log in, push the Details of ``account``'s call, wait until it is read and laid out."""
    await login(pilot, username)
    await wait_for_screen(pilot, ShellScreen)
    app = pilot.app
    page = await app.engine.query(app.session, ListMarginCalls(client=account))  # type: ignore[attr-defined]
    app.push_screen(DetailsScreen(page.rows[0]))
    await wait_for_screen(pilot, DetailsScreen)
    screen: DetailsScreen = app.screen  # type: ignore[assignment]
    await wait_until(pilot, lambda: screen.details is not None and lists_shown(pilot), "the call's details")
    return screen


def rows(section: Section) -> dict[str, dict[str, str]]:
    """What the operator sees in each row of ``section``, by row key and column label."""
    table = section.query_one(DataTable)
    return {key: {str(column.label): str(value).strip() for column, value in
                  zip(table.ordered_columns, table.get_row(key), strict=True)} for key in section.items}


def text(pilot: Pilot, selector: str) -> str:
    """What a Static shows: its text, or a table (the overview, the what-if) as drawn."""
    widget = pilot.app.screen.query_one(selector)
    if isinstance(getattr(widget, "content", None), Table):
        console = Console(width=widget.size.width or 160, file=io.StringIO(), record=True)
        console.print(widget.content)
        return console.export_text()
    return plain(widget)


async def open_liquidation(pilot: Pilot, key: str = "L") -> LiquidationScreen:
    await pilot.press(key)
    await wait_for_screen(pilot, LiquidationScreen)
    form: LiquidationScreen = pilot.app.screen  # type: ignore[assignment]
    await wait_until(pilot, lambda: form.plan is not None or bool(form.refusal), "the plan")
    return form


async def edit(pilot: Pilot, index: int, quantity: str) -> None:
    await type_into(pilot, f"#liq-qty-{index}", quantity, keys=True)
    await pilot.pause(0.4)  # the engine re-checks once typing stops
    await settle(pilot)


async def send(pilot: Pilot, confirm: str) -> None:
    await pilot.click("#submit")
    await wait_for_screen(pilot, ConfirmScreen)
    await type_into(pilot, "#typed-confirmation-input", confirm)
    await pilot.press("enter")
    await settle(pilot)


async def test_details_show_the_overview_cash_and_positions(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_details(pilot, "trader", "M-300101")
        overview = text(pilot, "#details-overview")
        for shown in ("To be collected", "6,905.40", "35.86 %", "265,234.60", "270,890.00", "739,600.00",
                      "2026-11-20 17:30", "2026-11-25 16:00"):
            assert shown in overview
        assert "M-300101 Lau Chi Keung · Margin call, open" in text(pilot, "#details-title")
        positions = rows(screen.query_one(PositionsSection))
        assert list(positions) == ["700.HK", "9988.HK"]
        tencent = positions["700.HK"]
        assert (tencent["Quantity"], tencent["Lot"], tencent["Avg cost"], tencent["Last"], tencent["Bid"],
                tencent["Ask"], tencent["Quote age"], tencent["Status"], tencent["MV (HKD)"],
                tencent["P&L (HKD)"], tencent["MC factor"]) == (
            "1,000 long", "100", "520.00", "499.00", "499.00", "499.20", "0 s", "Normal", "499,000.00",
            "-21,000.00", "35 %")
        cash = rows(screen.query_one(CashSection))
        assert cash["USD"] == {"Currency": "USD", "Amount": "2,000.00", "HKD mid": "7.8173", "HKD value": "15,634.60"}
        assert cash["HKD"]["Amount"] == "-490,000.00"
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)
        # M-300103 holds suspended Country Garden: marked, its missing quote stale, never liquidated.
        page = await app.engine.query(app.session, ListMarginCalls(client="M-300103"))
        app.push_screen(DetailsScreen(page.rows[0]))
        await wait_for_screen(pilot, DetailsScreen)
        screen = app.screen
        await wait_until(pilot, lambda: screen.details is not None and lists_shown(pilot), "M-300103's details")
        section = screen.query_one(PositionsSection)
        garden = rows(section)["2007.HK"]
        assert (garden["Status"], garden["Quote age"], garden["Bid"]) == ("Suspended", "stale, no quote", "—")
        assert "suspended or delisted: 2007.HK" in plain(section.query_one(".pane-status"))
        section.table.move_cursor(row=section.table.get_row_index("2007.HK"))
        await settle(pilot)
        assert "2007.HK is suspended: it is never liquidated" in section.hint_text()
        overview = text(pilot, "#details-overview")
        assert "Susp./delisted MV" in overview and "120,000.00" in overview and "-201,600.00" in overview


async def test_a_follow_up_record_is_added(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    call = (await open_calls(engine))["M-300101"]
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_details(pilot, "trader", "M-300101")
        await pilot.press("f")
        await wait_for_screen(pilot, FollowUpScreen)
        await type_into(pilot, "#follow-up-content", "Called the client: deposit of HKD 10,000 promised by Monday")
        await pilot.press("enter")
        await wait_for_screen(pilot, DetailsScreen)
        section = screen.query_one(FollowUpsSection)
        await wait_until(pilot, lambda: len(section.items) == 1, "the new record")
        assert screen.active_section is section
        (record,) = rows(section).values()
        assert (record["Time (HKT)"], record["Author"]) == ("2026-11-20 17:30:00", "trader")
        assert "trader, 2026-11-20 17:30:00 HKT: Called the client" in plain(section.query_one(".pane-detail"))
        assert "Follow-ups (1)" in str(screen.query_one("#details-tabs").get_tab(
            "tab-risk-details-follow-ups").label)
    (stored,) = await engine.setup_query(ListFollowUps(call_id=call.id), tool="test")
    assert (stored.author, stored.content) == ("trader", "Called the client: deposit of HKD 10,000 promised by Monday")


async def test_a_viewer_sees_everything_with_the_keys_greyed(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    await hold_venue(engine)
    call = (await open_calls(engine))["M-300101"]
    await engine.setup_execute(Liquidate(call_id=call.id, lines=(LineInput(code="9988.HK", quantity=400),)),
                               tool="test")
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_details(pilot, "viewer", "M-300101")
        positions = screen.query_one(PositionsSection)
        assert list(positions.items) == ["700.HK", "9988.HK"]
        assert positions.check_action("liquidate", ()) is None  # greyed in the footer
        assert "RiskWarningFull" in positions.hint_text()
        for action in ("liquidate_all", "add_follow_up"):
            assert screen.check_action(action, ()) is None
        assert screen.query_one("#details-liquidate-all", Button).disabled
        assert "RiskWarningFull" in text(pilot, "#details-bottom-hint")
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, DetailsScreen)
        assert any("RiskWarningFull" in str(n.message) for n in app._notifications)
        screen.action_tab(2)
        await settle(pilot)
        orders = screen.query_one(OrdersSection)
        assert screen.active_section is orders and len(orders.items) == 1
        assert orders.check_action("cancel_order", ()) is None and "RiskWarningFull" in orders.hint_text()
        # Live: a trader's follow-up record from another console shows without a key pressed.
        trader = await engine.login("trader", PASSWORDS["trader"])
        await engine.execute(trader, AddFollowUp(call_id=call.id, content="Client promised a deposit"))
        follow_ups = screen.query_one(FollowUpsSection)
        await wait_until(pilot, lambda: len(follow_ups.items) == 1, "the other console's record")
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, DetailsScreen)
        # The close-out dialog shows a viewer the plan; Send stays off, saying why.
        app.push_screen(LiquidationScreen(screen.call))
        await wait_for_screen(pilot, LiquidationScreen)
        form: LiquidationScreen = app.screen  # type: ignore[assignment]
        await wait_until(pilot, lambda: form.plan is not None, "the plan")
        assert form.query_one("#submit", Button).disabled
        assert "RiskWarningFull" in text(pilot, "#liq-note")


async def test_the_plan_its_what_if_and_the_engines_check_of_edits(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_details(pilot, "trader", "M-300101")
        form = await open_liquidation(pilot)
        # Largest unrealised loss first: Alibaba (-29,400) before Tencent (-21,000); 4 lots cure with the buffer.
        assert [(line.code, line.quantity) for line in form.lines] == [("9988.HK", 400)]
        row = plain(form.query_one("#liq-row-0 .liq-nums"))
        assert row.split() == ["2,000", "100", "120.20", "120.30", "120.10"]
        what_if = text(pilot, "#liq-what-if")
        assert "6,905.40" in what_if and "→" in what_if and "0.00" in what_if
        assert "35.86 %" in what_if and "38.34 %" in what_if and "yes, with the 5 % buffer" in what_if
        assert not form.query_one("#submit", Button).disabled
        await edit(pilot, 0, "200")
        assert form.checked == (("9988.HK", 200),)
        assert "37.06 %" in text(pilot, "#liq-what-if") and plain(form.query_one("#liq-row-0 .liq-lots")) == "2 lots"
        assert not form.query_one("#submit", Button).disabled
        await pilot.press("escape")
        await wait_for_screen(pilot, DetailsScreen)
        # One position alone, from Details: Tencent, whose board lot is 100.
        positions = screen.query_one(PositionsSection)
        positions.table.move_cursor(row=0)
        positions.focus_table()
        await settle(pilot)
        form = await open_liquidation(pilot, "l")
        assert [(line.code, line.quantity, line.lot_size) for line in form.lines] == [("700.HK", 200, 100)]
        await edit(pilot, 0, "150")
        refusal = "Quantity 700.HK: 150 shares is not a positive multiple of the board lot 100."
        assert text(pilot, "#form-error") == refusal
        assert form.query_one("#liq-qty-0", Input).has_class("-invalid")
        assert form.query_one("#submit", Button).disabled
        assert text(pilot, "#liq-what-if").startswith("No what-if")
        await edit(pilot, 0, "1100")
        assert text(pilot, "#form-error") == "Quantity 700.HK: 1100 shares is more than the 1000 held."
        await edit(pilot, 0, "300")
        assert text(pilot, "#form-error") == "" and not form.query_one("#submit", Button).disabled


async def test_sending_then_cancelling_from_details(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    await hold_venue(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        screen = await open_details(pilot, "trader", "M-300101")
        await open_liquidation(pilot)
        await pilot.click("#submit")
        await wait_for_screen(pilot, ConfirmScreen)
        said = text(pilot, "#confirm-consequences")
        assert ("Sell 400 9988.HK Alibaba Group at a limit set from the best bid when sent: 120.10 HKD at the quote "
                "just read (4 lots of 100; best bid 120.20") in said
        assert "margin to be collected 6,905.40 → 0.00 HKD" in said
        await type_into(pilot, "#typed-confirmation-input", "LIQUIDATE 1")
        await pilot.press("enter")
        await wait_for_screen(pilot, DetailsScreen)
        assert any("liquidation order(s) sent for M-300101" in str(n.message) for n in app._notifications)
        orders = screen.query_one(OrdersSection)
        await wait_until(pilot, lambda: len(orders.items) == 1, "the order in progress")
        assert screen.active_section is orders
        (shown,) = rows(orders).values()
        assert (shown["Code"], shown["Side"], shown["Quantity"], shown["Limit"], shown["Filled"], shown["State"]) == (
            "9988.HK", "sell", "400", "120.10", "100", "partially filled")
        (order,) = await engine.setup_query(ListLiquidationOrders(), tool="test")
        assert (order.code, order.quantity, order.force_type, order.operator) == ("9988.HK", 400, "BULK", "trader")
        await pilot.press("c")
        await wait_for_screen(pilot, ConfirmScreen)
        said = text(pilot, "#confirm-consequences")
        assert f"Cancels what is unfilled of {order.cl_ord_id} (Sell 400 9988.HK at 120.10 limit): 300" in said
        assert "Shares already filled stay sold (100 so far)" in said
        await type_into(pilot, "#typed-confirmation-input", "CANCEL 1")
        await pilot.press("enter")
        await wait_for_screen(pilot, DetailsScreen)
        await wait_until(pilot, lambda: any(order.cl_ord_id in str(n.message) and "cancel" in str(n.message)
                                            for n in app._notifications), "the cancel's outcome")
    (order,) = await engine.setup_query(ListLiquidationOrders(), tool="test")
    assert order.state in ("CANCEL_REQUESTED", "CANCELLED")


async def test_a_second_liquidation_of_the_client_is_refused(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    await hold_venue(engine)
    call = (await open_calls(engine))["M-300101"]
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_details(pilot, "trader", "M-300101")
        form = await open_liquidation(pilot)
        # Meanwhile another console liquidates the same client (one lot fills at once, three wait).
        other = await engine.login("trader", PASSWORDS["trader"])
        first = await engine.execute(other, Liquidate(call_id=call.id,
                                                      lines=(LineInput(code="9988.HK", quantity=400),)))
        assert first.in_progress == 1
        await send(pilot, "LIQUIDATE 1")
        assert isinstance(app.screen, LiquidationScreen), type(app.screen)  # stays open, saying why
        await wait_until(pilot, lambda: "already has 1 liquidation order(s) in progress" in text(pilot, "#form-error"),
                         "the refusal")
        assert "sent by trader (LQ-" in text(pilot, "#form-error")
        assert "wait for them or cancel them before liquidating again" in text(pilot, "#form-error")
        await wait_until(pilot, lambda: form.plan is not None and form.plan.in_progress == 1, "the plan read again")
        assert form.query_one("#submit", Button).disabled and "in progress" in text(pilot, "#liq-note")
    orders = await engine.setup_query(ListLiquidationOrders(), tool="test")
    assert [(o.code, o.quantity, o.operator) for o in orders] == [("9988.HK", 400, "trader")]


# --- snapshots -------------------------------------------------------------------------------


def details_of(account: str, *keys: str):  # noqa: ANN201
    async def run_before(pilot: Pilot) -> None:
        await open_details(pilot, "trader", account)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        if isinstance(pilot.app.screen, LiquidationScreen):
            form = pilot.app.screen
            await wait_until(pilot, lambda: form.plan is not None, "the plan")
        await settle(pilot)
        no_blink(pilot)

    return run_before


@BOTH
def test_details_snapshot(snap_compare, make_app, db_url, size) -> None:
    seed_risk_in_thread(db_url)
    assert snap_compare(make_app(), terminal_size=size, run_before=details_of("M-300103"))


@BOTH
def test_liquidation_dialog_snapshot(snap_compare, make_app, db_url, size) -> None:
    seed_risk_in_thread(db_url)
    assert snap_compare(make_app(), terminal_size=size, run_before=details_of("M-300103", "L"))

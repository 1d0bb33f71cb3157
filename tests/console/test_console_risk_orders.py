"""Risk › Liquidation Orders: every order with its status, filtered, cancelled (confirmed
first), followed live across consoles, greyed for a final order and for a read-only
operator, and pinned at 80x24 and 160x48.

The orders are sent by the trader through a second engine before the console opens, as
another console would: the simulated venue fills at most five lots a step and the
console's clock is fixed, so an order of more than five lots stays partially filled, and
the venue is set to reject 5.HK (a suspended security), so the list holds every kind."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from console_helpers import PASSWORDS, START, no_blink, screen_text, settle, type_into, wait_for_screen, wait_until
from risk_helpers import open_calls, open_risk_tab, seed_risk
from textual.pilot import Pilot
from textual.widgets import DataTable

from wbo_tui.engine import Engine, FixedClock, SequentialIds
from wbo_tui.engine.margin import (
    BatchLiquidate,
    ConfigureMarginFeeds,
    GetMarginSettings,
    LineInput,
    Liquidate,
    ListLiquidationOrders,
)
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.screens.risk.orders import OrdersPane
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen

SMALL, LARGE = (80, 24), (160, 48)
BOTH = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])


async def liquidate(engine: Engine, account: str, lines: dict[str, int], force_type: str = "BULK") -> None:
    trader = await engine.login("trader", PASSWORDS["trader"])
    calls = await open_calls(engine)
    await engine.execute(trader, Liquidate(call_id=calls[account].id, force_type=force_type, lines=tuple(
        LineInput(code=code, quantity=quantity) for code, quantity in lines.items())))
    await engine.after_commit_idle()  # sent, and the venue's first answer applied


async def make_orders(engine: Engine) -> None:
    """Six orders: M-300102's 1299.HK filled and 5.HK rejected (Single), M-300103's two by
    batch and M-300101's two (Bulk), each of those four partially filled."""
    await seed_risk(engine)
    trader = await engine.login("trader", PASSWORDS["trader"])
    settings = await engine.query(trader, GetMarginSettings())
    await engine.setup_execute(tool="test", command=ConfigureMarginFeeds(
        price_source=settings.price_source, venue={**settings.venue, "reject_codes": ["5.HK"]}))
    await liquidate(engine, "M-300102", {"1299.HK": 200}, "SINGLE")
    await liquidate(engine, "M-300102", {"5.HK": 400}, "SINGLE")
    await engine.execute(trader, BatchLiquidate(call_ids=((await open_calls(engine))["M-300103"].id,)))
    await engine.after_commit_idle()
    await liquidate(engine, "M-300101", {"9988.HK": 2000, "700.HK": 1000})


def make_orders_in_thread(db_url: str) -> None:
    async def run() -> None:
        engine = await Engine.open(db_url, hasher=fast_hasher(), clock=FixedClock(START), ids=SequentialIds(900_000))
        try:
            await make_orders(engine)
        finally:
            await engine.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


async def orders(engine: Engine) -> dict[str, str]:
    """Each order's state by client order id, as the database holds it."""
    viewer = await engine.login("viewer", PASSWORDS["viewer"])
    return {o.cl_ord_id: o.state for o in await engine.query(viewer, ListLiquidationOrders())}


async def open_orders_tab(pilot: Pilot, username: str) -> OrdersPane:
    await open_risk_tab(pilot, username, "tab-risk-orders")
    return pilot.app.screen.query_one(OrdersPane)


def shown(pane: OrdersPane) -> dict[str, dict[str, str]]:
    """What the operator sees, by client order id then column label."""
    table = pane.query_one(DataTable)
    rows = {}
    for key in pane.items:
        cells = [str(c).strip() for c in table.get_row(key)]
        row = {str(column.label): value for column, value in zip(table.ordered_columns, cells, strict=True)}
        rows[pane.items[key].cl_ord_id] = row
    return rows


def by_code(pane: OrdersPane, code: str) -> str:
    """The row key of the (one) order in ``code``."""
    return next(key for key, o in pane.items.items() if o.code == code)


async def select(pilot: Pilot, pane: OrdersPane, key: str) -> None:
    pane.table.move_cursor(row=pane.table.get_row_index(key))
    await settle(pilot)
    assert pane.selected_key == key


async def filter_by(pilot: Pilot, pane: OrdersPane, **values: str) -> None:
    """Type ``values`` into the filter fields (the others emptied) and press Enter."""
    for name in ("client", "code", "state", "day", "call"):
        await type_into(pilot, f"#order-filter-{name}", values.get(name, ""))
    await pilot.press("enter")
    await settle(pilot)


def notified(pilot: Pilot, text: str) -> bool:
    return any(text in str(n.message) for n in pilot.app._notifications)  # noqa: SLF001


async def test_orders_are_listed_newest_first_with_their_states_and_filters_narrow_them(make_app,
                                                                                        engine: Engine) -> None:
    await make_orders(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_orders_tab(pilot, "trader")
        rows = shown(pane)
        assert [o.code for o in pane.items.values()] == ["700.HK", "9988.HK", "3690.HK", "2318.HK", "5.HK",
                                                         "1299.HK"]
        states = {pane.items[k].code: shown(pane)[pane.items[k].cl_ord_id]["Status"] for k in pane.items}
        assert states == {"700.HK": "partially filled", "9988.HK": "partially filled", "3690.HK": "partially filled",
                          "2318.HK": "partially filled", "5.HK": "rejected", "1299.HK": "filled"}
        tencent = rows[pane.items[by_code(pane, "700.HK")].cl_ord_id]
        assert (tencent["Client"], tencent["Side"], tencent["Quantity"], tencent["Filled"], tencent["Type"],
                tencent["By"]) == ("M-300101", "sell", "1,000", "500", "Bulk", "trader")
        assert rows[pane.items[by_code(pane, "5.HK")].cl_ord_id]["Reason"] == "Security suspended"
        assert {rows[pane.items[by_code(pane, c)].cl_ord_id]["Type"] for c in ("3690.HK", "1299.HK")} == {
            "Batch", "Single"}
        await select(pilot, pane, by_code(pane, "5.HK"))
        detail = screen_text(pilot, "#risk-orders-pane .pane-detail")
        assert pane.items[by_code(pane, "5.HK")].cl_ord_id in detail and "rejected (Security suspended)" in detail
        await filter_by(pilot, pane, client="m-300102")
        assert [o.code for o in pane.items.values()] == ["5.HK", "1299.HK"]
        await filter_by(pilot, pane, state="partially filled", code="700.hk")
        assert [o.code for o in pane.items.values()] == ["700.HK"]
        await filter_by(pilot, pane, call=str(pane.items[by_code(pane, "700.HK")].call_id))
        assert [o.code for o in pane.items.values()] == ["700.HK", "9988.HK"]
        await filter_by(pilot, pane, day="2026-11-19")
        assert not pane.items and "No liquidation orders" in screen_text(pilot, "#risk-orders-pane .pane-status")
        await filter_by(pilot, pane, day="2026-11-20")
        assert len(pane.items) == 6
        await pilot.press("o")  # open only: the filled and the rejected order leave
        await settle(pilot)
        assert len(pane.items) == 4 and "open only" in screen_text(pilot, "#risk-orders-pane .pane-status")
        await pilot.press("f")  # status: pending
        await settle(pilot)
        assert not pane.items and "status pending" in screen_text(pilot, "#risk-orders-pane .pane-status")
        await filter_by(pilot, pane, day="20/11/2026")
        assert notified(pilot, "Date must be a Hong Kong date")
        assert not pane.items  # the bad filter applied nothing


async def test_c_cancels_an_open_order_after_saying_what_happens(make_app, engine: Engine) -> None:
    await make_orders(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_orders_tab(pilot, "trader")
        key = by_code(pane, "700.HK")
        order = pane.items[key]
        await select(pilot, pane, key)
        assert pane.check_action("cancel_order", ()) is True
        await pilot.press("c")
        await wait_for_screen(pilot, ConfirmScreen)
        said = screen_text(pilot, "#confirm-consequences")
        assert "500 filled so far, 500 unfilled" in said
        assert "The 500 shares already filled stay sold: a cancel never undoes a fill" in said
        assert "A cancel can lose the race to a fill" in said
        await pilot.press("enter")  # Cancel has the focus: a stray Enter cancels nothing
        await wait_for_screen(pilot, ShellScreen)
        assert (await orders(engine))[order.cl_ord_id] == "PARTIALLY_FILLED"
        await pilot.press("c")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("shift+tab", "enter")  # as the dialog says: the confirm button, then Enter
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: pane.items[key].state in ("CANCEL_REQUESTED", "CANCELLED"), "the cancel")
        assert (await orders(engine))[order.cl_ord_id] in ("CANCEL_REQUESTED", "CANCELLED")
        assert notified(pilot, order.cl_ord_id)
        # A final order: c is greyed, and says why.
        filled = by_code(pane, "1299.HK")
        await select(pilot, pane, filled)
        assert pane.check_action("cancel_order", ()) is None
        assert f"{pane.items[filled].cl_ord_id} is filled: there is nothing left to cancel" in pane.hint_text()
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)
        assert notified(pilot, "Cancel order is not available")
    assert (await orders(engine))[pane.items[filled].cl_ord_id] == "FILLED"


async def test_a_viewer_sees_the_orders_and_cancel_greyed_naming_the_permission(make_app, engine: Engine) -> None:
    await make_orders(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_orders_tab(pilot, "viewer")
        assert len(pane.items) == 6
        await select(pilot, pane, by_code(pane, "700.HK"))
        assert pane.check_action("cancel_order", ()) is None
        assert "you need the permission RiskWarningFull to cancel liquidation orders" in pane.hint_text()
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)
        assert notified(pilot, "RiskWarningFull")
    assert set((await orders(engine)).values()) == {"PARTIALLY_FILLED", "REJECTED", "FILLED"}


async def test_an_order_sent_by_another_console_appears_without_a_key_press(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        pane = await open_orders_tab(pilot, "viewer")
        assert not pane.items
        await liquidate(engine, "M-300101", {"9988.HK": 400})
        await wait_until(pilot, lambda: [o.code for o in pane.items.values()] == ["9988.HK"], "the new order")
        await wait_until(pilot, lambda: shown(pane)[pane.items[by_code(pane, "9988.HK")].cl_ord_id]["Status"]
                         == "filled", "its fill")


def listed(pilot_user: str = "trader"):  # noqa: ANN201
    async def run_before(pilot: Pilot) -> None:
        await open_orders_tab(pilot, pilot_user)
        await settle(pilot)
        no_blink(pilot)

    return run_before


@BOTH
def test_liquidation_orders_list(snap_compare, make_app, db_url, size) -> None:
    make_orders_in_thread(db_url)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed())

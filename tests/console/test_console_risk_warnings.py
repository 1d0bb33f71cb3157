"""Risk › Risk Warning and History: the open margin calls with the desk's totals, driven
with keys as a trader would (Edit, Send Message, Set Auto-Liquidation, batch liquidation,
marks, filters, sort, pages), checked on screen and in the database; greyed for a
read-only viewer; following other consoles without a key press; the calls that ended;
pinned at 80x24 and 160x48.

At the seed (``risk_helpers``): M-300101 in margin call, M-300102 in a force call
triggered 120 days back and past its deadline, M-300103 and M-300107 (a loan, no
positions) in force calls; the desk's liquidation toggle on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from console_helpers import (PASSWORDS, START, no_blink, plain, screen_text, settle, submit_form, type_into,
                             wait_for_screen, wait_until)
from risk_helpers import open_calls, open_risk_tab, seed_risk, seed_risk_in_thread
from sqlalchemy import insert, select
from textual.pilot import Pilot
from textual.widgets import DataTable, Select

from wbo_tui.engine import Engine
from wbo_tui.engine.fx.tables import clients
from wbo_tui.engine.margin import (EditMarginCall, GetMarginSettings, ImportMarginBook,
                                   ListLiquidationOrders, ListMarginCalls, UpdateMarginSettings)
from wbo_tui.engine.margin.revaluation import price_pass, revalue_clients
from wbo_tui.engine.margin.tables import margin_calls
from wbo_tui.screens.risk.call_forms import AutoLiquidationScreen, BatchOutcomeScreen, CallFilterScreen, EditCallScreen
from wbo_tui.screens.risk.details import DetailsScreen
from wbo_tui.screens.risk.history import HistoryPane
from wbo_tui.screens.risk.liquidation_form import LiquidationScreen
from wbo_tui.screens.risk.warnings import WarningsPane
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.table_pane import TablePane

SMALL, LARGE = (80, 24), (160, 48)
FULL = "RiskWarningFull"


def warnings_pane(pilot: Pilot) -> WarningsPane:
    return pilot.app.screen.query_one(WarningsPane)


def key_of(pane: TablePane, account_no: str) -> str:
    return next(key for key, call in pane.items.items() if call.account_no == account_no)


def shown(pane: TablePane, account_no: str) -> dict[str, str]:
    """What the operator sees in the row of ``account_no``, by column label."""
    table = pane.query_one(DataTable)
    cells = [str(c).strip() for c in table.get_row(key_of(pane, account_no))]
    return {str(column.label): value for column, value in zip(table.ordered_columns, cells, strict=True)}


def clients_shown(pane: TablePane) -> list[str]:
    table = pane.query_one(DataTable)
    return [pane.items[str(table.coordinate_to_cell_key((row, 0)).row_key.value)].account_no
            for row in range(table.row_count)]


async def at_row(pilot: Pilot, pane: TablePane, account_no: str) -> None:
    pane.table.focus()
    pane.table.move_cursor(row=pane.table.get_row_index(key_of(pane, account_no)))
    await settle(pilot)


async def mark(pilot: Pilot, pane: WarningsPane, *accounts: str) -> None:
    for account_no in accounts:
        await at_row(pilot, pane, account_no)
        await pilot.press("space")
        await settle(pilot)


def status(pane: TablePane) -> str:
    return plain(pane.query_one(".pane-status"))


def notices(pilot: Pilot) -> list[str]:
    return [str(n.message) for n in pilot.app._notifications]  # noqa: SLF001


async def trader_calls(engine: Engine, **filters: object) -> dict[str, object]:
    trader = await engine.login("trader", PASSWORDS["trader"])
    page = await engine.query(trader, ListMarginCalls(**filters))
    return {call.account_no: call for call in page.rows}


async def test_the_list_shows_every_open_call_with_the_desks_totals(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader")
        pane = warnings_pane(pilot)
        assert sorted(clients_shown(pane)) == ["M-300101", "M-300102", "M-300103", "M-300107"]
        totals = screen_text(pilot, "CallTotals")
        assert "Total Margin to Be Collected HKD 663,295.40" in totals
        assert "Long-Term Unsettled HKD 192,990.00 (over 90 days)" in totals
        assert "4 open call(s) · as of 11-20 17:30:00 HKT" in totals
        long_term = shown(pane, "M-300102")
        assert (long_term["Client"], long_term["Alert"], long_term["Elapsed"], long_term["Deadline (HKT)"]) == (
            "M-300102 Ho Wing Sze", "Force call", "120 d 0 h", "07-28 16:00")
        assert long_term["Ratio"] == "14.33 %" and long_term["To collect"] == "192,990.00"
        assert long_term["Price age"] == "0 s" and shown(pane, "M-300107")["Price age"] == "—"
        await at_row(pilot, pane, "M-300102")
        detail = plain(pane.query_one("CallDetail"))
        assert "deadline 2026-07-28 16:00 HKT (passed)" in detail
        assert "remarks: Client abroad; relationship manager chasing since the summer" in detail
        # Enter opens the call's Details; l its liquidation; l is greyed for a loan with no positions.
        await pilot.press("enter")
        await wait_for_screen(pilot, DetailsScreen)
        assert app.screen.call.account_no == "M-300102"
        app.pop_screen()
        await settle(pilot)
        await pilot.press("l")
        await wait_for_screen(pilot, LiquidationScreen)
        assert app.screen.call.account_no == "M-300102"
        app.pop_screen()
        await at_row(pilot, pane, "M-300107")
        assert "M-300107 holds no positions to sell" in plain(pane.query_one(".pane-hint"))
        await pilot.press("l")
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)


async def test_the_default_sort_puts_the_largest_margin_to_collect_first(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader")
        assert clients_shown(warnings_pane(pilot)) == ["M-300103", "M-300102", "M-300107", "M-300101"]


async def test_edit_sets_exception_and_remarks(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader")
        pane = warnings_pane(pilot)
        await at_row(pilot, pane, "M-300107")
        await pilot.press("e")
        await wait_for_screen(pilot, EditCallScreen)
        app.screen.query_one("#call-edit-status", Select).value = "EXCEPTION"
        await type_into(pilot, "#call-edit-remarks", "Loan, no positions: recovery by the credit team")
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "M-300107")["Status"] == "Exception", "the Exception status")
    exceptions = await trader_calls(engine, status="EXCEPTION")
    assert list(exceptions) == ["M-300107"]
    assert exceptions["M-300107"].remarks == "Loan, no positions: recovery by the credit team"


async def test_messages_go_to_the_marked_clients(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader")
        pane = warnings_pane(pilot)
        await mark(pilot, pane, "M-300101", "M-300103")
        assert shown(pane, "M-300101")[""] == "●" and shown(pane, "M-300102")[""] == "" and "2 marked" in status(pane)
        await pilot.press("m")
        await wait_for_screen(pilot, ConfirmScreen)
        listed = screen_text(pilot, "#confirm-consequences")
        assert "M-300101 Lau Chi Keung: margin to be collected HKD 6,905.40" in listed
        assert "M-300103 Tse Ka Wai: margin to be collected HKD 428,400.00" in listed
        await pilot.press("enter")  # the message dialog focuses Send
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: any("sent to M-300101, M-300103" in n for n in notices(pilot)),
                         "the messages' notice")
        assert not pane.marked
    calls = await open_calls(engine)
    assert calls["M-300101"].last_message_at == START and calls["M-300103"].last_message_at == START
    assert calls["M-300107"].last_message_at is None


async def test_a_message_past_the_deadline_is_refused_naming_the_client(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader")
        pane = warnings_pane(pilot)
        await at_row(pilot, pane, "M-300102")
        await pilot.press("m")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: any("M-300102's call is past its deadline" in n for n in notices(pilot)),
                         "the engine's refusal")
        assert not pane.busy
    assert (await open_calls(engine))["M-300102"].last_message_at is None


async def test_auto_liquidation_at_a_hong_kong_time_in_the_future(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader")
        pane = warnings_pane(pilot)
        await at_row(pilot, pane, "M-300101")
        await pilot.press("a")
        await wait_for_screen(pilot, AutoLiquidationScreen)
        app.screen.query_one("#auto-when", Select).value = "CUSTOM"
        await type_into(pilot, "#auto-at", "2026-11-20 10:00")  # 02:00 UTC, before the console's clock
        await submit_form(pilot)
        await wait_until(pilot, lambda: "must be in the future" in screen_text(pilot, "#form-error"), "the refusal")
        await type_into(pilot, "#auto-at", "2026-11-23 10:00")
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: shown(pane, "M-300101")["Deadline (HKT)"] == "11-23 10:00", "the deadline")
        assert any("M-300101 at 2026-11-23 10:00 HKT" in n for n in notices(pilot))
    call = (await open_calls(engine))["M-300101"]
    assert call.auto_liquidate_at == call.deadline == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def test_batch_liquidation_of_the_marked_calls(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader")
        pane = warnings_pane(pilot)
        assert pane.check_action("batch_liquidate", ()) is None  # nothing marked yet
        await mark(pilot, pane, "M-300101", "M-300103", "M-300107")
        await pilot.press("b")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "M-300107 Kwok Ah Ming: margin to be collected HKD 35,000.00" in screen_text(
            pilot, "#confirm-consequences")
        await pilot.press("enter")  # nothing until the confirmation is typed
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await type_into(pilot, "#typed-confirmation-input", "LIQUIDATE 3")
        await pilot.press("enter")
        await wait_for_screen(pilot, BatchOutcomeScreen)
        outcomes = screen_text(pilot, "#batch-outcomes")
        assert "✔ M-300101 Lau Chi Keung:" in outcomes and "✔ M-300103 Tse Ka Wai:" in outcomes
        assert "✘ M-300107 Kwok Ah Ming: skipped, no plan" in outcomes
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)
    trader = await engine.login("trader", PASSWORDS["trader"])
    orders = await engine.query(trader, ListLiquidationOrders())
    assert {o.account_no for o in orders} == {"M-300101", "M-300103"}
    assert {o.force_type for o in orders} == {"BATCH"}


async def test_batch_liquidation_is_greyed_while_the_desks_toggle_is_off(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    trader = await engine.login("trader", PASSWORDS["trader"])
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader")
        pane = warnings_pane(pilot)
        await mark(pilot, pane, "M-300101")
        assert pane.check_action("batch_liquidate", ()) is True
        settings = await engine.query(trader, GetMarginSettings())
        await engine.setup_execute(tool="test", command=UpdateMarginSettings(**{
            **settings.model_dump(include=set(UpdateMarginSettings.model_fields) - {"expected_version"}),
            "liquidation_enabled": False, "expected_version": settings.version}))
        # Another console's change: seen without a key press.
        await wait_until(pilot, lambda: pane.check_action("batch_liquidate", ()) is None, "b greyed")
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)
        assert "the desk's liquidation toggle is off" in notices(pilot)[-1]


async def test_a_read_only_viewer_sees_the_list_and_every_action_greyed(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "viewer")
        pane = warnings_pane(pilot)
        assert len(pane.items) == 4
        await mark(pilot, pane, "M-300101")  # marking changes nothing: allowed
        for action in ("liquidate", "batch_liquidate", "message", "edit", "auto_liquidation"):
            assert pane.check_action(action, ()) is None, action
        await at_row(pilot, pane, "M-300103")
        assert f"you need the permission {FULL}" in plain(pane.query_one(".pane-hint"))
        for key in ("e", "m", "a", "l", "b"):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, ShellScreen), key  # greyed: says why, opens nothing
            assert FULL in notices(pilot)[-1], key
        assert pane.check_action("request_permission", ()) is True  # R offers the request


async def test_other_consoles_changes_show_without_a_key_press(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    trader = await engine.login("trader", PASSWORDS["trader"])
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "viewer")
        pane = warnings_pane(pilot)
        call = pane.items[key_of(pane, "M-300103")]
        await engine.execute(trader, EditMarginCall(call_id=call.id, status="EXCEPTION", remarks="on hold",
                                                    expected_version=call.version))
        await wait_until(pilot, lambda: shown(pane, "M-300103")["Status"] == "Exception", "the other console's edit")
        # The market moves (another console's price pass, seconds later): the figures that
        # moved flash their direction, then settle.
        before = {account: pane.items[key_of(pane, account)] for account in ("M-300101", "M-300102")}
        engine.clock.advance(seconds=30)
        await price_pass(engine, "other-console")
        await wait_until(pilot, lambda: any(pane.items[key_of(pane, a)].lna != before[a].lna for a in before),
                         "the new figures")
        moved = next(a for a in before if pane.items[key_of(pane, a)].lna != before[a].lna)
        arrow = "▲" if pane.items[key_of(pane, moved)].lna > before[moved].lna else "▼"
        assert shown(pane, moved)["LNA"].endswith(arrow)
        for key in list(pane.flashes):
            pane.flashes[key] = (pane.flashes[key][0], 0.0)  # as if the seconds had passed
        pane._tick()  # noqa: SLF001 - the list's one timer
        await settle(pilot)
        assert not pane.flashes and not shown(pane, moved)["LNA"].endswith(arrow)


async def test_filters_sort_and_pages(make_app, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from wbo_tui.screens.risk import history

    await seed_risk(engine)
    monkeypatch.setattr(history, "PAGE_SIZE", 3)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader")
        pane = warnings_pane(pilot)
        assert pane.check_action("page", (-1,)) is None and pane.check_action("page", (1,)) is True
        await pilot.press("o")  # by net asset ratio, lowest first
        await settle(pilot)
        assert "by net asset ratio, lowest first" in status(pane)
        assert clients_shown(pane) == ["M-300103", "M-300107", "M-300102"]
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert clients_shown(pane) == ["M-300101"]
        assert status(pane).startswith("Rows 4–4 of 4")
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert len(pane.items) == 3
        await pilot.press("f")
        await wait_for_screen(pilot, CallFilterScreen)
        await type_into(pilot, "#call-filter-holding", "5.hk")
        app.screen.query_one("#call-filter-alert", Select).value = "FORCE_CALL"
        await submit_form(pilot)
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        assert clients_shown(pane) == ["M-300102"]
        assert list(await trader_calls(engine, holding="5.HK", alert_type="FORCE_CALL")) == ["M-300102"]
        assert "filters: force call, holding 5.HK" in status(pane)
        assert "call(s) match the filters" in screen_text(pilot, "CallTotals")


async def many_calls(engine: Engine, count: int) -> None:
    """``count`` more open calls, written straight into the tables (no command opens calls
    in bulk): the list pages them in the engine."""
    async with engine.db.begin() as conn:
        await conn.execute(insert(clients), [
            {"account_no": f"M-9{i:05d}", "name": f"Client {i}", "account_type": "margin", "created_at": START}
            for i in range(count)])
        ids = [row.id for row in await conn.execute(select(clients.c.id).where(clients.c.account_no.like("M-9%")))]
        await conn.execute(insert(margin_calls), [{
            "client_id": client_id, "alert_type": "MARGIN_CALL", "status": "OPEN", "triggered_at": START,
            "force_at": None, "deadline": START + timedelta(days=5), "auto_liquidate_at": None, "ended_at": None,
            "end_reason": "", "remarks": "", "net_asset_ratio": Decimal("0.5"), "lna": Decimal(1000),
            "equity": Decimal(1000), "cash_hkd": Decimal(-1000), "market_value": Decimal(2000),
            "requirement": Decimal(1500), "margin_to_collect": Decimal(500), "trigger_figures": "{}",
            "valued_at": START, "prices_as_of": None, "last_liquidation_at": None, "last_message_at": None,
            "version": 1} for client_id in ids])


async def test_ten_thousand_open_calls_are_shown_a_page_at_a_time(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    await many_calls(engine, 10_000)
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_risk_tab(pilot, "trader")
        pane = warnings_pane(pilot)
        assert len(pane.items) == pane.table.row_count == 100
        assert status(pane).startswith("Rows 1–100 of 10004")
        assert "10004 open call(s)" in screen_text(pilot, "CallTotals")
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert status(pane).startswith("Rows 101–200 of 10004")
        assert len(pane.items) == 100


async def end_a_call(engine: Engine, account_no: str) -> None:
    """The client's book grows (shares booked far below their price), and the next
    valuation finds the call cured: it ends and moves to History."""
    await engine.setup_execute(tool="test", command=ImportMarginBook(
        csv_text=f"account_no,kind,code,quantity,price\n{account_no},POSITION,700.HK,1000,0.01\n"))
    await revalue_clients(engine, [(await open_calls(engine))[account_no].client_id])


async def test_history_shows_the_calls_that_ended(make_app, engine: Engine) -> None:
    await seed_risk(engine)
    await end_a_call(engine, "M-300101")
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader", "tab-risk-history")
        history = app.screen.query_one(HistoryPane)
        assert clients_shown(history) == ["M-300101"]
        row = shown(history, "M-300101")
        assert (row["Alert"], row["Triggered (HKT)"], row["Ended (HKT)"], row["End reason"], row["To collect at end"]
                ) == ("Margin call", "11-20 17:30", "11-20 17:30", "cured", "0.00")
        await at_row(pilot, history, "M-300101")
        await wait_until(pilot, lambda: "When triggered: ratio 32.69 %" in plain(history.query_one("CallDetail")),
                         "the figures when it was triggered")
        assert "to collect 29,325.40" in plain(history.query_one("CallDetail"))
        await pilot.press("enter")
        await wait_for_screen(pilot, DetailsScreen)
        assert app.screen.call.account_no == "M-300101"
    assert "M-300101" not in await open_calls(engine)


def listed(username: str):  # noqa: ANN201
    async def run_before(pilot: Pilot) -> None:
        await open_risk_tab(pilot, username)
        await settle(pilot)
        no_blink(pilot)

    return run_before


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
def test_risk_warning_list(snap_compare, make_app, db_url, size) -> None:
    seed_risk_in_thread(db_url)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("trader"))


async def test_marks_typed_in_one_burst_land_on_the_rows_the_cursor_reached(make_app, engine: Engine) -> None:
    """Space, Down, Space in one read (SSH): the second Space marks the row Down reached,
    not the one the table's highlight message had last reported."""
    from burst_helpers import deliver

    await seed_risk(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_risk_tab(pilot, "trader")
        pane = warnings_pane(pilot)
        shown = clients_shown(pane)
        pane.table.move_cursor(row=0)
        await settle(pilot)
        deliver(pilot, " \x1b[B ")
        await settle(pilot)
        assert sorted(c.account_no for c in pane.marked.values()) == sorted([shown[0], shown[2]])

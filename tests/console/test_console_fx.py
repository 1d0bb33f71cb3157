"""The FX area: client exchanges with their review, reference rates with their age, pool
quotas, clients and their cash; driven with keys as an operator would, checked on screen
and in the database, and pinned at 80x24 and 160x48."""

from __future__ import annotations

from decimal import Decimal

import pytest
from console_helpers import no_blink, settle, type_into, wait_for_screen, wait_until
from fx_helpers import seed, seed_in_thread, open_fx_tab
from textual.pilot import Pilot
from textual.widgets import DataTable

from wbo_tui.engine import Engine
from wbo_tui.engine.fx import ListClientExchanges
from wbo_tui.screens.fx.area import FxArea
from wbo_tui.screens.fx.decisions import ExchangeReasonScreen
from wbo_tui.screens.fx.exchanges import ExchangesPane
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen

SMALL, LARGE = (80, 24), (160, 48)
BOTH = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])
# The tabs this file pins (the other FX tabs have files of their own), by their place in the area.
TABS = {name: [t.id for t in FxArea.TABS].index(f"tab-fx-{name}")
        for name in ("exchanges", "exceptions", "rates", "pool", "clients")}


async def open_fx(pilot: Pilot, username: str, tab: str = "exchanges") -> None:
    await open_fx_tab(pilot, username, f"tab-fx-{tab}")


def row(pilot: Pilot, key: str) -> dict[str, str]:
    """What the operator sees in the row of ``key``, by column label."""
    table = pilot.app.screen.query_one(ExchangesPane).query_one(DataTable)
    cells = [str(c).strip() for c in table.get_row(key)]
    return {str(column.label): value for column, value in zip(table.ordered_columns, cells, strict=True)}


async def test_a_checker_approves_and_the_maker_cannot(make_app, engine: Engine) -> None:
    await seed(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_fx(pilot, "maker")
        pane = app.screen.query_one(ExchangesPane)
        pending = next(e for e in pane.items.values() if e.audit_status == "PENDING")
        pane.selected_key = pending.forex_id
        pane.table.move_cursor(row=pane.table.get_row_index(pending.forex_id))
        await settle(pilot)
        assert "another checker must review it" in pane.hint_text()
        await pilot.press("a")  # greyed: says why, opens nothing
        await settle(pilot)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("you submitted this request" in str(n.message) for n in app._notifications)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_fx(pilot, "checker")
        pane = app.screen.query_one(ExchangesPane)
        pane.table.move_cursor(row=pane.table.get_row_index(pending.forex_id))
        await settle(pilot)
        await pilot.press("a")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("enter")  # the approval dialog focuses Approve
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: pane.items[pending.forex_id].audit_status == "APPROVED", "the decision")
        shown = row(pilot, pending.forex_id)
        assert (shown["Order no"], shown["Status"], shown["Review"]) == (pending.forex_id, "processing", "approved")
    checker = await engine.login("checker", "Lantau-Bridge-3")
    decided = [e for e in await engine.query(checker, ListClientExchanges()) if e.forex_id == pending.forex_id][0]
    assert (decided.audit_status, decided.forex_status) == ("APPROVED", "PROCESSING")


async def test_cancelling_asks_a_reason_and_a_typed_confirmation(make_app, engine: Engine) -> None:
    await seed(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_fx(pilot, "maker")
        pane = app.screen.query_one(ExchangesPane)
        pending = next(e for e in pane.items.values() if e.forex_status == "SUBMITTED")
        pane.table.move_cursor(row=pane.table.get_row_index(pending.forex_id))
        await settle(pilot)
        await pilot.press("c")
        await wait_for_screen(pilot, ExchangeReasonScreen)
        await type_into(pilot, "#exchange-reason", "client changed their mind")
        await pilot.press("enter")
        await type_into(pilot, "#typed-confirmation-input", "CANCEL 1")
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: pane.items[pending.forex_id].forex_status == "CANCELLED", "the cancel")
    maker = await engine.login("maker", "Star-Ferry-22")
    cancelled = [e for e in await engine.query(maker, ListClientExchanges()) if e.forex_id == pending.forex_id][0]
    assert (cancelled.forex_status, cancelled.audit_remark) == ("CANCELLED", "client changed their mind")
    assert cancelled.from_amount == Decimal("70000.00")


def listed(username: str, tab: str):  # noqa: ANN201
    async def run_before(pilot: Pilot) -> None:
        await open_fx(pilot, username, tab)
        await settle(pilot)
        no_blink(pilot)

    return run_before


@BOTH
@pytest.mark.parametrize("tab", list(TABS))
def test_fx_lists(snap_compare, make_app, db_url, size, tab: str) -> None:
    seed_in_thread(db_url)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("checker", tab))


async def test_an_exception_is_handled_then_approved_by_another(make_app, engine: Engine) -> None:
    from wbo_tui.engine.fx import ListExceptionRecords
    from wbo_tui.screens.fx.exception_forms import ExceptionApplyScreen
    from wbo_tui.screens.fx.exceptions import ExceptionsPane

    await seed(engine)
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_fx(pilot, "maker", "exceptions")
        pane = app.screen.query_one(ExceptionsPane)
        (order_no,) = list(pane.items)
        pane.table.move_cursor(row=pane.table.get_row_index(order_no))
        await settle(pilot)
        await pilot.press("m")
        await wait_for_screen(pilot, ExceptionApplyScreen)
        await type_into(pilot, "#exception-remark", "bank confirmed nothing moved")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: pane.items[order_no].apply_status == "PENDING_REVIEW", "the handling")
        assert "you applied this handling" in pane.hint_text()
    app = make_app()
    async with app.run_test(size=LARGE) as pilot:
        await open_fx(pilot, "checker", "exceptions")
        pane = app.screen.query_one(ExceptionsPane)
        pane.table.move_cursor(row=pane.table.get_row_index(order_no))
        await settle(pilot)
        await pilot.press("a")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: order_no not in pane.items, "the record to leave the exceptions")
    checker = await engine.login("checker", "Lantau-Bridge-3")
    assert await engine.query(checker, ListExceptionRecords()) == ()

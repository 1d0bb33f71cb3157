"""80x24 shows what matters, and errors do not hide (issue 10, points 4 and 5).

What the operator sees at 80 columns: each list's key columns in the table without
scrolling (the first column fixed when the table scrolls sideways), the rest in the detail
line; a footer that fits at 80x24 and at 160x48, with every key it leaves out in ``?``
help; Escape back to the table from a filter field or the tabs.  And on Positions: a poll
that failed for a new account reads FAILED with its time and reason, not "never polled",
and the line above the table names the last poll that ran, not the last one that worked."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from console_helpers import START, login, plain, settle, wait_for_screen
from test_console_allocations import _four, open_tab, seed_in_thread
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Tabs

from wbo_tui.engine import Engine
from wbo_tui.engine.positions import CreateChannelAccount, RegisterSettlementChannel, SetThresholds
from wbo_tui.engine.upstream.simulator import SimulatedUpstream
from wbo_tui.screens.help import HelpScreen
from wbo_tui.screens.positions.table import PositionsPane
from wbo_tui.widgets.footer import FittingFooter

SMALL = (80, 24)
LARGE = (160, 48)
CHANNEL = "settlement_hashkey_hk"


class Desk:
    def __init__(self, engine: Engine, bank: SimulatedUpstream) -> None:
        self.engine = engine
        self.bank = bank

    async def poll(self, slot: str) -> object:
        return await self.engine.poll_positions(slot=slot, holder="test")


@pytest.fixture
async def desk(engine: Engine, tmp_path: Path) -> Desk:
    """One channel, an HKD principal account with thresholds and a USDT one, polled at START."""
    store = tmp_path / "bank.sqlite"
    await engine.setup_execute(tool="test", command=RegisterSettlementChannel(
        code=CHANNEL, name="HashKey HK settlement", gateway={"kind": "simulated", "store": str(store)}))
    bank = SimulatedUpstream(store, clock=engine.clock)
    for ctype, currency, account_no, balance in (("fiat", "HKD", "HK-PRIN-001", Decimal("100000")),
                                                  ("crypto", "USDT", "HK-PRIN-001", Decimal("5000"))):
        await engine.setup_execute(tool="test", command=CreateChannelAccount(
            channel=CHANNEL, currency_type=ctype, currency=currency, account_no=account_no,
            scenario="withdrawal_principal"))
        await bank.set_balance(account_no, currency, balance)
    await engine.setup_execute(tool="test", command=SetThresholds(
        channel_account_id=1, threshold_alert="150000", threshold_blocking="50000"))
    result = Desk(engine, bank)
    await result.poll("test:1")
    yield result
    bank.close()


def shown(table: DataTable) -> list[str]:
    return [str(column.label) for column in table.ordered_columns]


def fits(table: DataTable) -> bool:
    """Every column is on screen without scrolling sideways."""
    return sum(column.get_render_width(table) for column in table.ordered_columns) <= table.scrollable_content_region.width


def positions(pilot: Pilot) -> DataTable:
    return pilot.app.screen.query_one("#positions-pane DataTable", DataTable)


async def test_positions_at_80_columns_show_thresholds_and_level_and_keep_the_account(make_app, desk) -> None:
    async with make_app().run_test(size=SMALL) as pilot:
        await login(pilot, "maker")
        await settle(pilot)
        table = positions(pilot)
        # Approvals are judged by available − committed − blocking: those, the level and the
        # poll's status and age fit; the alert threshold does not at this width.
        assert shown(table) == ["Account", "Ccy", "Status", "Age", "Available", "Committed", "Blocking", "Level"]
        assert fits(table)
        assert [str(c) for c in table.get_row("1")] == [
            "HK-PRIN-001", "HKD", "OK", "<1m", "100,000.00", "0.00", "50,000.00", "ALERT"]
        assert table.fixed_columns == 1  # scrolling right never scrolls the account away
        # What the table leaves out is in the detail line: channel, scenario, the update time,
        # the alert threshold.
        detail = plain(pilot.app.screen.query_one("#positions-pane .pane-detail"))
        assert detail.startswith(f"{CHANNEL} HK-PRIN-001 HKD (withdrawal_principal): OK. Balance as of "
                                 f"{START:%Y-%m-%d %H:%M:%S} UTC. Alert threshold 150,000.00 HKD.")

        await pilot.resize_terminal(*LARGE)
        await settle(pilot)
        assert shown(table)[:13] == ["Account", "Ccy", "Status", "Age", "Available", "Committed", "In transit",
                                     "Total", "Alert", "Blocking", "Level", "Updated (UTC)", "Scenario"]
        assert fits(table)


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_allocations_keep_currency_amount_and_status(make_app, db_url, tmp_path, size) -> None:
    seed_in_thread(db_url, tmp_path, _four)
    async with make_app().run_test(size=size) as pilot:
        await open_tab(pilot, "checker")  # the Allocations area's records
        table = pilot.app.screen.query_one("#allocations-pane DataTable", DataTable)
        await wait_for(pilot, lambda: table.row_count == 4)
        labels = shown(table)
        assert {"Order no", "Ccy", "Amount", "Status"} <= set(labels) and fits(table)
        row = dict(zip(labels, (str(c) for c in table.get_row_at(0)), strict=True))
        assert (row["Ccy"], row["Amount"].strip(), row["Status"]) == ("USD", "800.00", "pending approval")
        detail = plain(pilot.app.screen.query_one("#allocations-pane .pane-detail"))
        assert "made by maker" in detail and "→" in detail  # what a narrow table leaves out


async def wait_for(pilot: Pilot, condition, attempts: int = 100) -> None:  # noqa: ANN001
    for _ in range(attempts):
        if condition():
            return
        await settle(pilot)
        await pilot.pause(0.02)
    raise AssertionError("condition never held")


@pytest.mark.parametrize("size", [SMALL, LARGE])
async def test_the_footer_fits_and_help_lists_what_it_leaves_out(make_app, db_url, tmp_path, size) -> None:
    seed_in_thread(db_url, tmp_path, _four)
    async with make_app().run_test(size=size) as pilot:
        await open_tab(pilot, "checker")  # the Allocations area's records
        footer = pilot.app.screen.query_one(FittingFooter)
        keys = footer.shown_keys()
        assert max(key.region.right for key in keys) <= footer.region.right  # nothing cut
        descriptions = {key.description for key in keys if key.description}
        assert {"Approve", "Reject", "Help"} <= descriptions
        if size == LARGE:  # at 160 columns the shell's keys are there too
            assert {"Refresh", "Lock", "Log out"} <= descriptions
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        listed = {description for _, description, _ in pilot.app.screen._keys}  # noqa: SLF001 - the help's key list
        for description in ("Export CSV", "Filters", "Refresh", "Lock", "Log out", "Retry"):
            assert description in listed


async def test_escape_returns_to_the_table_from_a_filter_and_from_the_tabs(make_app, desk) -> None:
    async with make_app().run_test(size=SMALL) as pilot:
        await login(pilot, "maker")
        await settle(pilot)
        table = positions(pilot)
        assert pilot.app.focused is table
        pilot.app.screen.query_one("#filter-currency", Input).focus()
        await pilot.press("H", "K")
        await pilot.press("escape")
        await settle(pilot)
        assert pilot.app.focused is table
        pilot.app.screen.query_one("#positions-tabs Tabs", Tabs).focus()
        await pilot.press("escape")
        assert pilot.app.focused is table
        # Another area: the allocation filters ("/"), then Escape.
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("ctrl+t")
        await settle(pilot)
        await pilot.press("slash")
        assert isinstance(pilot.app.focused, Input)
        await pilot.press("escape")
        assert pilot.app.focused is pilot.app.screen.query_one("#allocations-pane DataTable", DataTable)


async def test_a_new_account_the_channel_has_no_balance_for_shows_the_failed_poll(make_app, desk) -> None:
    await desk.engine.setup_execute(tool="test", command=CreateChannelAccount(
        channel=CHANNEL, currency_type="fiat", currency="HKD", account_no="HK-NEW-001", scenario="trading"))
    desk.engine.clock.advance(minutes=5)
    await desk.poll("test:2")
    async with make_app().run_test(size=SMALL) as pilot:
        await login(pilot, "maker")
        await settle(pilot)
        table = positions(pilot)
        assert [str(c) for c in table.get_row("3")][:3] == ["HK-NEW-001", "HKD", "FAILED"]
        table.move_cursor(row=table.get_row_index("3"))
        await settle(pilot)
        detail = plain(pilot.app.screen.query_one("#positions-pane .pane-detail"))
        assert detail.startswith(
            f"{CHANNEL} HK-NEW-001 HKD (trading): FAILED. Last poll at 2026-11-20 09:35:00 UTC failed: "
            f"{CHANNEL} reported no HKD balance for this account. No balance received yet.")
        assert "NEVER" not in detail and "Not polled yet" not in detail and ".." not in detail


async def test_the_line_above_the_table_names_the_failed_poll_not_the_last_success(make_app, desk) -> None:
    await desk.bank.set_channel_down()
    desk.engine.clock.advance(minutes=5)
    await desk.poll("test:2")
    async with make_app().run_test(size=SMALL) as pilot:
        await login(pilot, "maker")
        await settle(pilot)
        status = plain(pilot.app.screen.query_one("#positions-pane .pane-status"))
        assert status.endswith("Last poll 2026-11-20 09:35:00 UTC: 2 FAILED, 0 answered; "
                               "last answer 2026-11-20 09:30:00 UTC.")
        table = positions(pilot)
        detail = plain(pilot.app.screen.query_one("#positions-pane .pane-detail"))
        assert [str(c) for c in table.get_row("1")][2] == "FAILED"
        assert "FAILED. Last poll at 2026-11-20 09:35:00 UTC failed: " in detail and ".." not in detail
        assert "Balance as of 2026-11-20 09:30:00 UTC." in detail
        assert pilot.app.screen.query_one(PositionsPane).page.last_attempt_failed == 2


# --- the priorities themselves ----------------------------------------------------------------


def test_columns_are_dropped_in_order_and_a_narrow_one_comes_back_when_it_fits() -> None:
    from wbo_tui.widgets.columns import narrowed, shown_columns

    labels = ("Account", "Age", "Amount", "Alert", "Channel")
    widths = (13, 5, 14, 12, 23)
    assert shown_columns(labels, widths, ("Channel", "Age", "Alert"), 100) == (0, 1, 2, 3, 4)  # all fit
    # Channel, then Age, then Alert go; Age (5) then fits again beside the rest (13 + 14 + 5).
    assert shown_columns(labels, widths, ("Channel", "Age", "Alert"), 33) == (0, 1, 2)
    # Columns not in the drop order stay, even when they do not fit.
    assert shown_columns(labels, widths, ("Channel",), 20) == (0, 1, 2, 3)
    # A narrowable column gives up what is too much, down to its least width (content only).
    assert narrowed(labels, widths, (0, 2, 4), {"Channel": 10}, 40) == {4: 11}
    assert narrowed(labels, widths, (0, 2, 4), {"Channel": 10}, 30) == {4: 10}
    assert narrowed(labels, widths, (0, 2, 4), {"Channel": 10}, 60) == {}

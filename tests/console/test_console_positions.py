"""The Positions area: positions after polls, what is committed out of each account,
filters, sorting, failures, staleness, Refresh, thresholds, and the channel accounts."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from console_helpers import (
    PASSWORDS,
    START,
    login,
    plain,
    screen_text,
    settle,
    table_column,
    type_into,
    wait_for_screen,
)
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Select

from wbo_tui.engine import ApproveItem, Engine, FixedClock, SequentialIds
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.positions import (
    CreateChannelAccount,
    ListChannelAccounts,
    ListPositions,
    RegisterSettlementChannel,
    SetThresholds,
    SubmitWithdrawal,
)
from wbo_tui.engine.upstream.simulator import SimulatedUpstream
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.screens.permission_request import PermissionRequestScreen
from wbo_tui.screens.positions.forms import ChannelAccountScreen, ThresholdsScreen
from wbo_tui.screens.positions.table import PositionsPane
from wbo_tui.screens.shell import ShellScreen

CHANNEL = "settlement_hashkey_hk"
OTHER = "settlement_other_sg"
WIDE = (120, 36)
SMALL = (80, 24)
# Channel account ids in creation order: 1 HKD principal, 2 HKD fee, 3 USDT principal, 4 BTC (other channel).
ACCOUNTS = (
    (CHANNEL, "fiat", "HKD", "HK-PRIN-001", "withdrawal_principal", Decimal("100000")),
    (CHANNEL, "fiat", "HKD", "HK-FEE-001", "withdrawal_fee", Decimal("2500.5")),
    (CHANNEL, "crypto", "USDT", "HK-PRIN-001", "withdrawal_principal", Decimal("5000")),
    (OTHER, "crypto", "BTC", "SG-TRD-001", "trading", Decimal("1.23456789")),
)


class Desk:
    def __init__(self, engine: Engine, banks: dict[str, SimulatedUpstream]) -> None:
        self.engine = engine
        self.banks = banks

    async def poll(self, slot: str) -> object:
        return await self.engine.poll_positions(slot=slot, holder="test")


@pytest.fixture
async def desk(engine: Engine, tmp_path: Path) -> Desk:
    """Two channels on the simulated upstream, four accounts, balances polled once at START."""
    banks = {}
    for code, name in ((CHANNEL, "HashKey HK settlement"), (OTHER, "Other SG settlement")):
        store = tmp_path / f"{code}.sqlite"
        await engine.setup_execute(tool="test", command=RegisterSettlementChannel(
            code=code, name=name, gateway={"kind": "simulated", "store": str(store)}))
        banks[code] = SimulatedUpstream(store, clock=engine.clock)
    for channel, ctype, currency, account_no, scenario, balance in ACCOUNTS:
        await engine.setup_execute(tool="test", command=CreateChannelAccount(
            channel=channel, currency_type=ctype, currency=currency, account_no=account_no, scenario=scenario))
        await banks[channel].set_balance(account_no, currency, balance)
    result = Desk(engine, banks)
    await result.poll("test:1")
    return result


def positions_table(pilot: Pilot) -> DataTable:
    return pilot.app.screen.query_one("#positions-pane DataTable", DataTable)


def row_of(table: DataTable, key: str) -> list[str]:
    return [str(c) for c in table.get_row(key)]


def cells_of(table: DataTable, key: str) -> dict[str, str]:
    """A row by column label: a narrow table leaves low-priority columns out."""
    return {str(column.label): str(value) for column, value in zip(table.ordered_columns, table.get_row(key),
                                                                     strict=True)}


async def open_positions(pilot: Pilot, username: str = "maker") -> PositionsPane:
    await login(pilot, username)
    await settle(pilot)
    return pilot.app.screen.query_one(PositionsPane)


async def test_positions_listed_after_a_poll_with_currency_precision(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_positions(pilot)
        table = positions_table(pilot)
        assert table.row_count == 4
        hkd = cells_of(table, "1")
        assert hkd.items() >= {"Account": "HK-PRIN-001", "Ccy": "HKD", "Status": "OK", "Age": "<1m",
                               "Available": "100,000.00", "Committed": "0.00", "Total": "100,000.00"}.items()
        # At 120 columns the total, scenario and channel are in the detail line (column priorities).
        assert "Scenario" not in hkd and "Channel" not in hkd
        assert row_of(table, "2")[4] == "2,500.50"
        assert row_of(table, "3")[4] == "5,000.000000"
        assert row_of(table, "4")[4] == "1.23456789"
        assert "Rows 1–4 of 4" in screen_text(pilot, "#positions-pane .pane-status")

    page = await desk.engine.setup_query(tool="test", query=ListPositions())
    assert {p.available for p in page.rows} == {Decimal("100000"), Decimal("2500.5"), Decimal("5000"),
                                                Decimal("1.23456789")}


@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["120x36", "80x24"])
async def test_what_is_committed_shows_beside_the_balance_with_the_room_left(make_app, desk, size) -> None:
    """An approved withdrawal, not yet paid, counts against its accounts: an operator sees
    it, and how much more an approval may commit, before an approval is refused for it."""
    await desk.engine.setup_execute(tool="test", command=SetThresholds(
        channel_account_id=1, threshold_alert="80000", threshold_blocking="60000"))
    maker = await desk.engine.login("maker", PASSWORDS["maker"])
    checker = await desk.engine.login("checker", PASSWORDS["checker"])
    wd = await desk.engine.execute(maker, SubmitWithdrawal(client_id="C-42", channel=CHANNEL, currency="HKD",
                                                           principal="30000.00", fee="2500.50"))
    await desk.engine.execute(checker, ApproveItem(approval_id=wd.approval_id))
    app = make_app()
    async with app.run_test(size=size) as pilot:
        pane = await open_positions(pilot)
        table = positions_table(pilot)
        assert row_of(table, "1")[4:6] == ["100,000.00", "30,000.00"]
        assert row_of(table, "2")[4:6] == ["2,500.50", "2,500.50"]
        assert row_of(table, "3")[4:6] == ["5,000.000000", "0.000000"]
        column = table.ordered_columns[5]
        assert str(column.label) == "Committed"
        assert column_x(table, 5) + column.get_render_width(table) <= size[0]  # on screen, even at 80 columns

        table.move_cursor(row=table.get_row_index("1"))
        await settle(pilot)
        detail = plain(pane.query_one(".pane-detail"))
        assert detail.endswith(
            " Committed, not yet settled: 30,000.00 HKD. Approvals may commit up to 10,000.00 HKD more "
            "(available − committed − blocking threshold 60,000.00).")
        table.move_cursor(row=table.get_row_index("2"))
        await settle(pilot)
        assert plain(pane.query_one(".pane-detail")).endswith(
            " Committed, not yet settled: 2,500.50 HKD. Approvals may commit nothing more "
            "(available − committed − blocking threshold 0.00, none configured = 0.00).")
        shown = " ".join(" ".join(shown_lines(pane.query_one(".pane-detail"))).split())
        assert shown.endswith("blocking threshold 0.00, none configured = 0.00).")  # read whole, even at 80x24


def shown_lines(widget: Widget) -> list[str]:
    """The lines of ``widget`` as drawn on screen (cut where the layout cuts it)."""
    return [widget.render_line(y).text for y in range(widget.region.height)]


def column_x(table: DataTable, index: int) -> int:
    """Where column ``index`` starts, the table unscrolled."""
    return sum(c.get_render_width(table) for c in table.ordered_columns[:index])


async def test_filter_by_currency_and_type(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_positions(pilot)
        await type_into(pilot, "#filter-currency", "hkd")
        await pilot.press("enter")
        await settle(pilot)
        table = positions_table(pilot)
        assert table_column(table, 1) == ["HKD", "HKD"]

        await type_into(pilot, "#filter-currency", "")
        await type_into(pilot, "#filter-currency-type", "crypto")
        await pilot.press("enter")
        await settle(pilot)
        assert sorted(table_column(table, 1)) == ["BTC", "USDT"]

        await type_into(pilot, "#filter-since", "yesterday")
        await pilot.press("enter")
        await settle(pilot)
        assert any("Updated since must be YYYY-MM-DD" in str(n.message) for n in app._notifications)


async def test_sort_by_available_and_reverse(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await open_positions(pilot)
        pane.focus_table()
        await pilot.press("s", "s")  # account → currency → available
        await settle(pilot)
        assert pane.sort_by == "available"
        table = positions_table(pilot)
        assert table_column(table, 4) == ["1.23456789", "2,500.50", "5,000.000000", "100,000.00"]
        await pilot.press("S")
        await settle(pilot)
        assert table_column(table, 4) == ["100,000.00", "5,000.000000", "2,500.50", "1.23456789"]
        assert "sorted by available (descending)" in screen_text(pilot, "#positions-pane .pane-status")


async def test_a_failed_channel_is_flagged_with_its_error(make_app, desk) -> None:
    await desk.banks[OTHER].set_channel_down()
    await desk.poll("test:2")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await open_positions(pilot)
        table = positions_table(pilot)
        assert row_of(table, "4")[2] == "FAILED"
        assert row_of(table, "1")[2] == "OK"
        table.move_cursor(row=table.get_row_index("4"))
        await settle(pilot)
        detail = plain(pane.query_one(".pane-detail"))
        assert "FAILED. Last poll at 2026-11-20 09:30:00 UTC failed:" in detail

    page = await desk.engine.setup_query(tool="test", query=ListPositions(channel=OTHER))
    assert page.rows[0].poll_status == "FAILED"


async def test_a_row_older_than_twice_the_poll_interval_is_stale(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_positions(pilot)
        table = positions_table(pilot)
        assert row_of(table, "1")[2] == "OK"
        app.engine.clock.advance(seconds=2 * app.settings.poll_interval_s + 1)  # type: ignore[union-attr]
        app.screen.query_one(PositionsPane).load()
        await settle(pilot)
        assert row_of(table, "1")[2] == "STALE"
        assert row_of(table, "1")[3] == "10m"


async def test_refresh_polls_the_upstream_and_shows_new_balances(make_app, desk) -> None:
    bank = desk.banks[CHANNEL]
    before = await bank.request_count("balances")
    await bank.set_balance("HK-PRIN-001", "HKD", Decimal("123456.78"))
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await open_positions(pilot)
        table = positions_table(pilot)
        assert row_of(table, "1")[4] == "100,000.00"
        pane.focus_table()
        await pilot.press("r")
        await settle(pilot)
        assert row_of(table, "1")[4] == "123,456.78"
        assert any("Refreshed: 4 account(s) OK, 0 failed." in str(n.message) for n in app._notifications)
    assert await bank.request_count("balances") > before


async def test_refresh_without_the_operation_permission_names_it_and_offers_a_request(make_app, desk) -> None:
    bank = desk.banks[CHANNEL]
    before = await bank.request_count("balances")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_positions(pilot, "checker")
        assert positions_table(pilot).row_count == 4
        await pilot.press("r")
        await wait_for_screen(pilot, PermissionRequestScreen)
        assert "assets.position_anagement_inquiry_operation" in " ".join(
            plain(w) for w in app.screen.query("Static"))
    assert await bank.request_count("balances") == before  # refused: the upstream was not asked


async def test_thresholds_form_refuses_inconsistent_values_then_saves(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await open_positions(pilot)
        pane.focus_table()
        table = positions_table(pilot)
        table.move_cursor(row=table.get_row_index("1"))
        await settle(pilot)
        await pilot.press("t")
        await wait_for_screen(pilot, ThresholdsScreen)
        assert "currency HKD (2 decimals)" in screen_text(pilot, ".what-happens")
        await type_into(pilot, "#threshold-alert", "1000")
        await type_into(pilot, "#threshold-blocking", "5000")
        await pilot.click("#submit")
        await settle(pilot)
        assert screen_text(pilot, "#form-error").startswith("Blocking threshold must not be above the alert")
        page = await desk.engine.setup_query(tool="test", query=ListPositions())
        assert all(p.threshold_blocking is None and p.threshold_alert is None for p in page.rows)

        await type_into(pilot, "#threshold-alert", "150000")
        await type_into(pilot, "#threshold-blocking", "50000")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        row = cells_of(positions_table(pilot), "1")
        assert (row["Alert"], row["Blocking"], row["Level"]) == ("150,000.00", "50,000.00", "ALERT")

    position = next(p for p in (await desk.engine.setup_query(tool="test", query=ListPositions())).rows if p.channel_account_id == 1)
    assert (position.threshold_alert, position.threshold_blocking, position.level) == (
        Decimal("150000"), Decimal("50000"), "ALERT")


async def test_help_explains_the_withdrawal_threshold_rule(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_positions(pilot)
        _, text = app.screen.help_text()
        assert ("available balance minus what is already committed out of it and not yet settled (the "
                "Committed column) minus the withdrawal's own amount would be below the account's "
                "blocking threshold") in " ".join(text.split())
        assert "no blocking threshold configured uses zero" in " ".join(text.split())


async def open_accounts(pilot: Pilot) -> None:
    await login(pilot, "maker")
    await settle(pilot)
    await pilot.press("ctrl+t")
    await settle(pilot)


async def test_creating_a_duplicate_channel_account_names_the_field(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_accounts(pilot)
        table = app.screen.query_one("#channel-accounts-pane DataTable", DataTable)
        assert table.row_count == 4
        await pilot.press("n")
        await wait_for_screen(pilot, ChannelAccountScreen)
        app.screen.query_one("#account-channel", Select).value = CHANNEL
        app.screen.query_one("#account-currency-type", Select).value = "fiat"
        app.screen.query_one("#account-scenario", Select).value = "deposit"
        await type_into(pilot, "#account-currency", "HKD")
        await type_into(pilot, "#account-no", "HK-PRIN-001")
        await pilot.click("#submit")
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == (
            "Main account number HK-PRIN-001 is already configured for HKD on settlement_hashkey_hk.")

        await type_into(pilot, "#account-no", "HK-DEP-001")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        assert table.row_count == 5
    accounts = await desk.engine.setup_query(tool="test", query=ListChannelAccounts())
    assert [a.account_no for a in accounts if a.scenario == "deposit"] == ["HK-DEP-001"]


async def test_editing_a_channel_account_shows_the_changes_and_usage_first(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_accounts(pilot)
        table = app.screen.query_one("#channel-accounts-pane DataTable", DataTable)
        table.move_cursor(row=table.get_row_index("1"))
        await settle(pilot)
        await pilot.press("e")
        await wait_for_screen(pilot, ChannelAccountScreen)
        await type_into(pilot, "#account-remarks", "main HKD payout account")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ConfirmScreen)
        text = screen_text(pilot, "#confirm-consequences")
        assert "Remarks: (blank) → main HKD payout account" in text
        assert "Used by pending withdrawals: none." in text
        before = await desk.engine.setup_query(tool="test", query=ListChannelAccounts())
        assert all(a.remarks == "" for a in before)
        await pilot.click("#confirm")
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
    after = await desk.engine.setup_query(tool="test", query=ListChannelAccounts())
    account = next(a for a in after if a.id == 1)
    assert (account.remarks, account.version) == ("main HKD payout account", 2)


# --- snapshots ------------------------------------------------------------------------------

THIRD = "settlement_third_sg"


async def _seed_mixed(db_url: str, store_dir: Path) -> None:
    """OK, ALERT, FAILED and STALE rows: everything polled 15 minutes before START, the
    third channel then disabled (its row goes stale), the other channel down at START."""
    from sqlalchemy import update

    from wbo_tui.engine.positions.tables import settlement_channels

    clock = FixedClock(START)
    clock.advance(minutes=-15)
    engine = await Engine.open(db_url, hasher=fast_hasher(), clock=clock, ids=SequentialIds(700_000))
    try:
        banks = {}
        for code, name in ((CHANNEL, "HashKey HK settlement"), (OTHER, "Other SG settlement"),
                           (THIRD, "Third SG settlement")):
            store = store_dir / f"{code}.sqlite"
            await engine.setup_execute(tool="test", command=RegisterSettlementChannel(
                code=code, name=name, gateway={"kind": "simulated", "store": str(store)}))
            banks[code] = SimulatedUpstream(store, clock=engine.clock)
        for channel, ctype, currency, account_no, scenario, balance in (
            *ACCOUNTS, (THIRD, "fiat", "HKD", "SG-FUND-001", "fund_pool", Decimal("777.7")),
        ):
            await engine.setup_execute(tool="test", command=CreateChannelAccount(
                channel=channel, currency_type=ctype, currency=currency, account_no=account_no, scenario=scenario))
            await banks[channel].set_balance(account_no, currency, balance)
        await engine.setup_execute(tool="test", command=SetThresholds(channel_account_id=1, threshold_alert="150000",
                                                   threshold_blocking="50000"))
        await engine.poll_positions(slot="seed:1", holder="seed")
        async with engine.db.begin() as conn:
            await conn.execute(update(settlement_channels).where(settlement_channels.c.code == THIRD)
                               .values(enabled=False))
        clock.advance(minutes=15)
        await banks[OTHER].set_channel_down()
        await engine.poll_positions(slot="seed:2", holder="seed")
    finally:
        await engine.close()


def seed_mixed(db_url: str, store_dir: Path) -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _seed_mixed(db_url, store_dir)).result()


def snapshot_steps(*steps: str, then=None):  # noqa: ANN001, ANN201
    async def run_before(pilot: Pilot) -> None:
        from console_helpers import no_blink
        from wbo_tui.screens.login import LoginScreen

        await wait_for_screen(pilot, LoginScreen)
        await login(pilot, "maker")
        await settle(pilot)
        for key in steps:
            await pilot.press(key)
            await settle(pilot)
        if then is None:
            await settle(pilot)
        else:
            # Not settled afterwards: an edit's worker waits on its open confirmation.
            await then(pilot)
            await pilot.pause()
        no_blink(pilot)

    return run_before


def test_snapshot_positions_mixed(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_mixed(db_url, tmp_path)
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=snapshot_steps())


def test_snapshot_positions_mixed_at_80x24(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_mixed(db_url, tmp_path)
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=snapshot_steps())


def test_snapshot_thresholds_form(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_mixed(db_url, tmp_path)

    async def open_form(pilot: Pilot) -> None:
        table = positions_table(pilot)
        table.move_cursor(row=table.get_row_index("1"))
        await settle(pilot)
        await pilot.press("t")
        await wait_for_screen(pilot, ThresholdsScreen)

    assert snap_compare(make_app(), terminal_size=WIDE, run_before=snapshot_steps(then=open_form))


def test_snapshot_channel_account_edit_confirmation(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_mixed(db_url, tmp_path)

    async def confirm(pilot: Pilot) -> None:
        await pilot.press("ctrl+t")
        await settle(pilot)
        table = pilot.app.screen.query_one("#channel-accounts-pane DataTable", DataTable)
        table.move_cursor(row=table.get_row_index("1"))
        await settle(pilot)
        await pilot.press("e")
        await wait_for_screen(pilot, ChannelAccountScreen)
        await type_into(pilot, "#account-no", "HK-PRIN-002")
        await type_into(pilot, "#account-remarks", "moved to the new principal account")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ConfirmScreen)

    assert snap_compare(make_app(), terminal_size=WIDE, run_before=snapshot_steps(then=confirm))

"""Issue 9, point 7 in the console: the largest amount a currency allows is shown whole
(the positions table updates its rows in place, and a cell that grew wider used to be cut
to the column's old width: "999,999,99"); a filter typed in other scripts' digits is
refused with the engine's sentence, not read as ASCII digits."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from console_helpers import login, settle, type_into
from textual.widgets import DataTable

from wbo_tui.engine import Engine
from wbo_tui.engine.positions import CreateChannelAccount, RegisterSettlementChannel, SetThresholds
from wbo_tui.engine.upstream.simulator import SimulatedUpstream
from wbo_tui.screens.allocations.explain import TriggersPane
from wbo_tui.screens.positions.table import PositionsPane

CHANNEL = "settlement_hashkey_hk"
HKD_MAX = "999,999,999,999.99"


async def test_the_largest_amount_is_shown_whole_after_an_in_place_refresh(make_app, engine: Engine,  # noqa: ANN001
                                                                           tmp_path: Path) -> None:
    store = tmp_path / "bank.sqlite"
    await engine.setup_execute(tool="test", command=RegisterSettlementChannel(
        code=CHANNEL, name="HashKey HK settlement", gateway={"kind": "simulated", "store": str(store)}))
    account = await engine.setup_execute(tool="test", command=CreateChannelAccount(
        channel=CHANNEL, currency_type="fiat", currency="HKD", account_no="HK-PRIN-001",
        scenario="withdrawal_principal"))
    bank = SimulatedUpstream(store, clock=engine.clock)
    try:
        await bank.set_balance("HK-PRIN-001", "HKD", Decimal("100000"))
        await engine.poll_positions(slot="test:1", holder="test")
        app = make_app()
        async with app.run_test(size=(200, 36)) as pilot:
            await login(pilot, "maker")
            pane = pilot.app.screen.query_one(PositionsPane)
            table = pilot.app.screen.query_one("#positions-pane DataTable", DataTable)
            assert "100,000.00" in table.render_line(1).text

            # Same rows, wider values: the table keeps its rows and updates the cells.
            await engine.setup_execute(tool="test", command=SetThresholds(
                channel_account_id=account.id, threshold_alert=HKD_MAX, threshold_blocking=HKD_MAX))
            await bank.set_balance("HK-PRIN-001", "HKD", Decimal("999999999999.99"))
            await engine.poll_positions(slot="test:2", holder="test")
            pane.load()
            await settle(pilot)

            shown = table.render_line(1).text
            assert shown.count(HKD_MAX) == 4, shown  # available, total, alert and blocking
    finally:
        bank.close()


async def test_an_event_id_in_other_digits_is_refused_by_the_explain_filter(make_app) -> None:  # noqa: ANN001
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "viewer")
        await pilot.press("2")
        await settle(pilot)
        for _ in range(2):  # Rules, records, Explain
            await pilot.press("ctrl+t")
            await settle(pilot)
        pane = pilot.app.screen.query_one("#explain-pane", TriggersPane)
        for typed in ("١٢٣", "１２３", "²", "99999999999"):
            await type_into(pilot, "#explain-filter-event", typed)
            await pilot.press("enter")
            await settle(pilot)
            notices = [str(n.message) for n in pilot.app._notifications]  # noqa: SLF001
            assert notices[-1].startswith("Event id must be a whole number from 1 to 2,147,483,647"), notices
            assert pane.query_filter.event_id is None  # the filter was not applied

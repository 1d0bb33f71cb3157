"""Reference rates refreshed from their source daily at 13:00 Hong Kong time (hourly
where the channel publishes hourly), once per slot across consoles; a failed refresh
imports nothing, is recorded and published."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from engine_support import scalar
from test_fx_rates import _set_up_currencies

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine.fx import ConfigureRateSource, ListReferenceRates
from wbo_tui.engine.fx.rate_refresh import due_slot, refresh_due
from wbo_tui.engine.fx.rate_source import SimulatedRate, SimulatedRateSource

# Monday 23 November 2026: 12:59 and 13:01 in Hong Kong.
BEFORE_1300_HKT = datetime(2026, 11, 23, 4, 59, tzinfo=UTC)
AFTER_1300_HKT = datetime(2026, 11, 23, 5, 1, tzinfo=UTC)


def test_the_slots_are_the_day_after_1300_and_each_hour() -> None:
    assert due_slot("HKEX", "SPOT", False, BEFORE_1300_HKT) is None
    assert due_slot("HKEX", "SPOT", False, AFTER_1300_HKT) == "HKEX/SPOT/20261123"
    assert due_slot("IB", "SPOT", True, BEFORE_1300_HKT) == "IB/SPOT/2026112312"


async def _source(engine: Engine, clock: FixedClock, tmp_path: Path) -> SimulatedRateSource:
    await _set_up_currencies(engine)
    store = str(tmp_path / "rates.sqlite")
    source = SimulatedRateSource(store, clock=clock)
    await source.publish("HKEX", "SPOT", [SimulatedRate("USD", Decimal("7.8150"), Decimal("7.8210"),
                                                        Decimal("7.8180")),
                                          SimulatedRate("CNH", Decimal("1.0891"), Decimal("1.0951"),
                                                        Decimal("1.0921"))])
    await engine.setup_execute(tool="test-setup", command=ConfigureRateSource(
        channel_name="hkex", rate_type="spot", gateway={"kind": "simulated", "store": store}))
    return source


async def test_a_refresh_imports_once_per_slot(engine: Engine, clock: FixedClock, tmp_path: Path) -> None:
    source = await _source(engine, clock, tmp_path)
    try:
        clock.set(BEFORE_1300_HKT)
        await refresh_due(engine, "console-a")
        assert await scalar(engine, "SELECT count(*) FROM fx_reference_rates") == 0
        clock.set(AFTER_1300_HKT)
        await refresh_due(engine, "console-a")
        await refresh_due(engine, "console-b")  # the slot is taken: nothing more
        rates = await engine.setup_query(tool="test", query=ListReferenceRates())
        assert [(r.other_currency, r.bid_rate, r.source, r.record_date) for r in rates] == [
            ("CNH", Decimal("1.0891"), "GATEWAY", "20261123"), ("USD", Decimal("7.8150"), "GATEWAY", "20261123")]
        assert await scalar(engine, "SELECT count(*) FROM fx_rate_refresh_runs") == 1
        assert await scalar(engine, "SELECT holder FROM fx_rate_refresh_runs") == "console-a"
    finally:
        await source.close()


async def test_a_failed_refresh_imports_nothing_and_is_published(engine: Engine, clock: FixedClock,
                                                                 tmp_path: Path) -> None:
    source = await _source(engine, clock, tmp_path)
    try:
        await source.down("HKEX", True)
        clock.set(AFTER_1300_HKT)
        await refresh_due(engine, "console-a")
    finally:
        await source.close()
    assert await scalar(engine, "SELECT count(*) FROM fx_reference_rates") == 0
    outcome = await scalar(engine, "SELECT outcome FROM fx_rate_refresh_runs")
    assert outcome.startswith("failed:")
    assert await scalar(engine, "SELECT count(*) FROM notifications WHERE topic = 'fx.rate_refresh_failed'") == 1

"""The simulated liquidation venue: matching against the market in chunks over time,
idempotent submission, rejections, cancels (and a cancel racing the last fill), faults,
one venue shared by two instances on one file; then the boundary and the configuration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.errors import ValidationFailed, WboError
from wbo_tui.engine.margin.venue import (
    CancelRejected, Fill, FixVenue, LiquidationVenue, SimulatedVenue, UnknownVenueOrder, VenueError,
    VenueIdempotencyConflict, VenueOrder, VenueOrderStatus, VenueProtocolError, VenueSettings, VenueTimeout,
    VenueUnavailable, build_venue, check_venue_config,
)

D = Decimal
START = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)  # 09:30 in Hong Kong
CHUNKS = VenueSettings(max_lots_per_fill=2, fill_step_s=5)  # 200 shares every 5 s


def sell(cl_ord_id: str = "LQ-000001-0001", quantity: int = 1000, limit: str = "349.80",
         code: str = "700.HK") -> VenueOrder:
    return VenueOrder(cl_ord_id, "C0001", code, "SELL", quantity, D(limit), "MC-42")


def buy(cl_ord_id: str = "LQ-000002-0001", quantity: int = 500, limit: str = "350.20") -> VenueOrder:
    return VenueOrder(cl_ord_id, "C0002", "700.HK", "BUY", quantity, D(limit), "MC-43")


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def assert_conserved(status: VenueOrderStatus, quantity: int) -> None:
    """No share appears or vanishes: the fills make the filled quantity, what is left is
    the rest of a live order and nothing of a final one."""
    assert sum(f.quantity for f in status.fills) == status.filled_quantity <= quantity
    assert status.leaves_quantity == (0 if status.is_final else quantity - status.filled_quantity)
    assert len({f.exec_id for f in status.fills}) == len(status.fills)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def market() -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """(bid, ask) by code; the tests move it."""
    return {"700.HK": (D("350.00"), D("350.20")), "5.HK": (D("60.50"), D("60.55"))}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "venue.sqlite"


@pytest.fixture
async def venue(store: Path, clock: FixedClock, market: dict) -> AsyncIterator[SimulatedVenue]:
    async with SimulatedVenue(store, prices=market.get, clock=clock, settings=CHUNKS) as simulated:
        yield simulated


# --- matching ---------------------------------------------------------------------------------


async def test_a_marketable_sell_fills_at_the_bid_in_chunks_over_time(venue: SimulatedVenue, clock: FixedClock) -> None:
    assert isinstance(venue, LiquidationVenue)
    first = await venue.submit(sell())
    assert (first.state, first.venue_order_id, first.filled_quantity, first.leaves_quantity) == (
        "PARTIALLY_FILLED", "SIMV-00000001", 200, 800)
    assert first.fills == (Fill("SIMV-00000001-0001", 200, D("350.00"), START),)  # the bid, better than the limit

    clock.advance(seconds=4.999)
    assert await venue.status("LQ-000001-0001") == first  # the next instant is not yet due
    clock.advance(seconds=0.001)
    assert (await venue.status("LQ-000001-0001")).filled_quantity == 400
    clock.advance(seconds=10)
    assert (await venue.status("LQ-000001-0001")).filled_quantity == 800
    clock.advance(seconds=600)
    done = await venue.status("LQ-000001-0001")

    assert (done.state, done.filled_quantity, done.leaves_quantity) == ("FILLED", 1000, 0)
    # One execution per instant, each stamped with its instant, not with when someone looked.
    assert [(f.exec_id, f.quantity, f.at) for f in done.fills] == [
        (f"SIMV-00000001-000{i + 1}", 200, at(5 * i)) for i in range(5)]
    assert_conserved(done, 1000)
    clock.advance(seconds=60)
    assert await venue.status("LQ-000001-0001") == done


async def test_without_a_chunk_limit_the_order_fills_whole(store: Path, clock: FixedClock, market: dict) -> None:
    async with SimulatedVenue(store, prices=market.get, clock=clock) as whole:
        status = await whole.submit(sell(quantity=1500))
    assert (status.state, [f.quantity for f in status.fills]) == ("FILLED", [1500])


async def test_a_buy_fills_at_the_ask_only_at_or_below_its_limit(
    venue: SimulatedVenue, clock: FixedClock, market: dict
) -> None:
    at_limit = await venue.submit(buy("LQ-B1", 200, "350.20"))
    assert (at_limit.state, at_limit.fills[0].price) == ("FILLED", D("350.20"))

    below = await venue.submit(buy("LQ-B2", 200, "350.00"))
    assert (below.state, below.fills) == ("NEW", ())
    market["700.HK"] = (D("349.60"), D("349.80"))
    clock.advance(seconds=5)
    moved = await venue.status("LQ-B2")
    assert (moved.state, moved.fills[0].price, moved.fills[0].at) == ("FILLED", D("349.80"), at(5))


async def test_instants_missed_while_unmarketable_are_not_caught_up(
    venue: SimulatedVenue, clock: FixedClock, market: dict
) -> None:
    market["700.HK"] = (D("349.60"), D("349.80"))  # bid under the limit
    assert (await venue.submit(sell())).state == "NEW"
    clock.advance(seconds=12)
    assert (await venue.status("LQ-000001-0001")).fills == ()  # instants 1 and 2 pass unfilled

    market["700.HK"] = (D("350.00"), D("350.20"))
    clock.advance(seconds=3)
    status = await venue.status("LQ-000001-0001")
    assert [(f.quantity, f.at) for f in status.fills] == [(200, at(15))]  # instant 3 only


async def test_no_quote_no_fill(venue: SimulatedVenue, clock: FixedClock) -> None:
    status = await venue.submit(sell(code="9999.HK"))
    clock.advance(seconds=60)
    assert (await venue.status(status.cl_ord_id)).state == "NEW"


async def test_an_async_price_source_is_awaited(store: Path, clock: FixedClock) -> None:
    async def prices(code: str) -> tuple[Decimal, Decimal] | None:
        await asyncio.sleep(0)
        return (D("350.00"), D("350.20")) if code == "700.HK" else None

    async with SimulatedVenue(store, prices=prices, clock=clock) as simulated:
        assert (await simulated.submit(sell())).state == "FILLED"


# --- idempotency and rejections -------------------------------------------------------------------


async def test_resubmitting_returns_the_order_and_trades_once(venue: SimulatedVenue) -> None:
    first = await venue.submit(sell(limit="349.8"))
    again = await venue.submit(sell(limit="349.80"))  # the price compared as a number
    assert again == first
    assert len(await venue.orders()) == 1
    assert [e.outcome for e in await venue.request_log("LQ-000001-0001")] == ["accepted", "replayed"]


@pytest.mark.parametrize(
    "changed",
    [sell(quantity=900), sell(limit="349.60"), sell(code="5.HK", limit="60.00"),
     VenueOrder("LQ-000001-0001", "C0001", "700.HK", "BUY", 1000, D("349.80"), "MC-42"),
     VenueOrder("LQ-000001-0001", "C0009", "700.HK", "SELL", 1000, D("349.80"), "MC-42"),
     VenueOrder("LQ-000001-0001", "C0001", "700.HK", "SELL", 1000, D("349.80"), "MC-99")],
    ids=["quantity", "price", "code", "side", "account", "call"],
)
async def test_same_id_with_other_fields_is_a_conflict(venue: SimulatedVenue, changed: VenueOrder) -> None:
    first = await venue.submit(sell())
    with pytest.raises(VenueIdempotencyConflict) as raised:
        await venue.submit(changed)
    assert raised.value.cl_ord_id == "LQ-000001-0001"
    assert await venue.status("LQ-000001-0001") == first
    assert [order for order, _ in await venue.orders()] == [sell()]


async def test_rejections_are_final_and_replayed(venue: SimulatedVenue) -> None:
    await venue.configure(VenueSettings(max_lots_per_fill=2, fill_step_s=5, reject_codes=frozenset({"5.HK"})))
    suspended = await venue.submit(sell("LQ-R1", code="5.HK", limit="60.00"))
    assert (suspended.state, suspended.reason, suspended.filled_quantity, suspended.leaves_quantity) == (
        "REJECTED", "Security suspended", 0, 0)
    off_grid = await venue.submit(sell("LQ-R2", limit="349.90"))  # steps are 0.20 from 200 to 500
    assert (off_grid.state, off_grid.reason) == ("REJECTED", "Price 349.90 is not on the HKEX spread table")

    await venue.inject_fault("reject", reason="Client account frozen at the venue.")
    injected = await venue.submit(sell("LQ-R3"))
    assert (injected.state, injected.reason) == ("REJECTED", "Client account frozen at the venue.")
    assert await venue.submit(sell("LQ-R3")) == injected  # resending does not turn it around
    assert (await venue.submit(sell("LQ-R4"))).state == "PARTIALLY_FILLED"  # the fault was used once
    with pytest.raises(CancelRejected) as raised:
        await venue.cancel("LQ-R1")
    assert (raised.value.reason, raised.value.status) == ("Nothing to cancel: the order is REJECTED.", suspended)


# --- cancels ----------------------------------------------------------------------------------------


async def test_a_cancel_before_any_fill_cancels_everything(
    venue: SimulatedVenue, clock: FixedClock, market: dict
) -> None:
    market["700.HK"] = (D("349.00"), D("349.20"))
    await venue.submit(sell())
    cancelled = await venue.cancel("LQ-000001-0001")
    assert (cancelled.state, cancelled.filled_quantity, cancelled.leaves_quantity, cancelled.fills) == (
        "CANCELLED", 0, 0, ())
    market["700.HK"] = (D("350.00"), D("350.20"))
    clock.advance(seconds=60)
    assert await venue.status("LQ-000001-0001") == cancelled  # nothing trades after a cancel
    assert await venue.cancel("LQ-000001-0001") == cancelled  # a cancel may be retried


async def test_a_cancel_keeps_the_fills_due_before_it(venue: SimulatedVenue, clock: FixedClock) -> None:
    await venue.submit(sell())
    clock.advance(seconds=5)
    cancelled = await venue.cancel("LQ-000001-0001")  # instant 1 is due: it fills first
    assert (cancelled.state, cancelled.filled_quantity, cancelled.leaves_quantity) == ("CANCELLED", 400, 0)
    assert_conserved(cancelled, 1000)


async def test_a_cancel_after_the_last_fill_is_rejected_with_the_filled_status(venue: SimulatedVenue) -> None:
    filled = await venue.submit(sell(quantity=200))
    with pytest.raises(CancelRejected) as raised:
        await venue.cancel(filled.cl_ord_id)
    assert raised.value.status == filled and filled.state == "FILLED"
    assert raised.value.reason == "Too late to cancel: the order is FILLED."
    assert [e.outcome for e in await venue.request_log(filled.cl_ord_id)] == ["accepted", "too_late"]


async def test_a_cancel_racing_the_last_fill_has_exactly_one_outcome(
    store: Path, venue: SimulatedVenue, market: dict
) -> None:
    """Two instances on one file, as two processes: one asks the status just as the last
    chunk falls due (it fills), the other cancels a moment before by its own clock.  The
    first transaction wins; the other sees what it left."""
    filler = SimulatedVenue(store, prices=market.get, clock=FixedClock(at(5)))
    canceller = SimulatedVenue(store, prices=market.get, clock=FixedClock(at(4)))
    outcomes = set()
    try:
        for i in range(12):
            cl_ord_id = f"LQ-RACE-{i:02d}"
            assert (await venue.submit(sell(cl_ord_id, 400))).filled_quantity == 200
            status, cancel = await asyncio.gather(
                filler.status(cl_ord_id), canceller.cancel(cl_ord_id), return_exceptions=True)
            final = await venue.status(cl_ord_id)
            if isinstance(cancel, CancelRejected):  # the fill came first
                assert status == final == cancel.status and final.state == "FILLED"
                assert final.filled_quantity == 400
            else:  # the cancel came first: the filler found it cancelled
                assert isinstance(cancel, VenueOrderStatus)
                assert cancel == status == final and final.state == "CANCELLED"
                assert final.filled_quantity == 200
            assert_conserved(final, 400)
            outcomes.add(final.state)
    finally:
        await filler.close()
        await canceller.close()
    assert outcomes <= {"FILLED", "CANCELLED"}


async def test_an_unknown_order_is_unknown(venue: SimulatedVenue) -> None:
    for call in (venue.status, venue.cancel):
        with pytest.raises(UnknownVenueOrder) as raised:
            await call("LQ-NEVER-SENT")
        assert raised.value.cl_ord_id == "LQ-NEVER-SENT"


# --- faults ------------------------------------------------------------------------------------------


async def test_down_is_unavailable_and_records_nothing(venue: SimulatedVenue) -> None:
    await venue.down()
    for call, argument in ((venue.submit, sell()), (venue.status, "LQ-000001-0001"),
                           (venue.cancel, "LQ-000001-0001")):
        with pytest.raises(VenueUnavailable):
            await call(argument)  # type: ignore[operator]
    assert await venue.orders() == []
    await venue.down(False)
    with pytest.raises(UnknownVenueOrder):  # never got it: sending again is right
        await venue.status("LQ-000001-0001")
    assert (await venue.submit(sell())).filled_quantity == 200


async def test_an_answer_lost_after_accepting_is_settled_by_status(venue: SimulatedVenue) -> None:
    await venue.inject_fault("timeout_after_accept")
    with pytest.raises(VenueTimeout):
        await venue.submit(sell())
    found = await venue.status("LQ-000001-0001")  # settled by asking, never by resending blind
    assert (found.state, found.filled_quantity) == ("PARTIALLY_FILLED", 200)
    assert await venue.submit(sell()) == found
    assert [(e.call, e.outcome, e.answer_lost) for e in await venue.request_log()] == [
        ("submit", "accepted", True), ("status", "found", False), ("submit", "replayed", False)]


async def test_a_request_lost_before_accepting_is_unknown_then_sent_once(venue: SimulatedVenue) -> None:
    await venue.inject_fault("timeout_before_accept")
    with pytest.raises(VenueTimeout):
        await venue.submit(sell())
    with pytest.raises(UnknownVenueOrder):
        await venue.status("LQ-000001-0001")
    assert (await venue.submit(sell())).filled_quantity == 200
    assert await venue.received("LQ-000001-0001", "submit", "accepted") == 1


async def test_a_lost_cancel_answer_still_cancelled(venue: SimulatedVenue) -> None:
    await venue.submit(sell())
    await venue.inject_fault("timeout_after_accept", call="cancel")
    with pytest.raises(VenueTimeout):
        await venue.cancel("LQ-000001-0001")
    assert (await venue.status("LQ-000001-0001")).state == "CANCELLED"
    await venue.inject_fault("timeout_before_accept", call="status")
    with pytest.raises(VenueTimeout):
        await venue.status("LQ-000001-0001")


# --- one venue, two instances -------------------------------------------------------------------------


async def test_two_instances_on_one_file_share_orders_and_settings(
    store: Path, clock: FixedClock, market: dict
) -> None:
    async with SimulatedVenue(store, prices=market.get, clock=clock, settings=CHUNKS) as first:
        submitted = await first.submit(sell())
    clock.advance(seconds=5)
    # Reopened with no settings of its own: the stored ones hold (200 shares every 5 s).
    async with SimulatedVenue(store, prices=market.get, clock=clock) as second:
        assert await second.settings() == CHUNKS
        later = await second.status("LQ-000001-0001")
        assert later.fills[0] == submitted.fills[0] and later.filled_quantity == 400
        assert await second.submit(sell()) == later
        assert [o for o, _ in await second.orders()] == [sell()]


# --- the boundary ----------------------------------------------------------------------------------------


def test_the_errors_are_distinct_wbo_errors() -> None:
    errors = (VenueUnavailable, VenueTimeout, VenueProtocolError, UnknownVenueOrder, VenueIdempotencyConflict,
              CancelRejected)
    assert all(issubclass(e, VenueError) and issubclass(e, WboError) for e in errors)
    assert all(not issubclass(e, tuple(set(errors) - {e})) for e in errors)


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: VenueOrder("LQ-1", "C1", "700.HK", "SELL", 100, 349.8, "MC-1"), TypeError),  # a float price
        (lambda: VenueOrder("LQ-1", "C1", "700.HK", "SELL", True, D("349.80"), "MC-1"), TypeError),
        (lambda: VenueOrder("LQ-1", "C1", "700.HK", "SELL", 0, D("349.80"), "MC-1"), ValueError),
        (lambda: VenueOrder("LQ-1", "C1", "700.HK", "HOLD", 100, D("349.80"), "MC-1"), ValueError),
        (lambda: VenueOrder("LQ 1", "C1", "700.HK", "SELL", 100, D("349.80"), "MC-1"), ValueError),
        (lambda: VenueOrder("LQ-1", "C1", "700.HK", "SELL", 100, D("NaN"), "MC-1"), TypeError),
        (lambda: Fill("E1", 100, 350.0, START), TypeError),
        (lambda: Fill("E1", 100, D("350"), START.replace(tzinfo=None)), TypeError),
        (lambda: VenueOrderStatus("LQ-1", "V1", "FILLED", 100, 0, ()), ValueError),  # fills do not add up
        (lambda: VenueOrderStatus("LQ-1", "V1", "NEW", 0, 0, ()), ValueError),  # a live order with nothing left
        (lambda: VenueOrderStatus("LQ-1", "V1", "CANCELLED", 0, 100, ()), ValueError),
        (lambda: VenueOrderStatus("LQ-1", "V1", "REJECTED", 100, 0, (Fill("E1", 100, D("1"), START),)), ValueError),
    ],
)
def test_the_boundary_refuses_what_cannot_be(build: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        build()  # type: ignore[operator]


async def test_a_float_from_the_price_source_is_refused(store: Path, clock: FixedClock) -> None:
    async with SimulatedVenue(store, prices=lambda code: (350.0, 350.2), clock=clock) as simulated:
        with pytest.raises(TypeError):
            await simulated.submit(sell())


# --- configuration ------------------------------------------------------------------------------------------


async def test_the_registry_builds_both_kinds(store: Path, clock: FixedClock, market: dict) -> None:
    config = {"kind": "simulator", "path": str(store), "max_lots_per_fill": 2, "fill_step_s": 5,
              "reject_codes": ["5.HK"]}
    simulated = build_venue(config, clock=clock, prices=market.get)
    assert isinstance(simulated, SimulatedVenue)
    assert (await simulated.submit(sell())).filled_quantity == 200
    assert (await simulated.settings()).reject_codes == frozenset({"5.HK"})
    await simulated.close()

    over_fix = build_venue({"kind": "fix", "host": "127.0.0.1", "port": 9878, "sender_comp_id": "WBO",
                            "target_comp_id": "SIMVENUE", "timeout_s": 2}, clock=clock)
    assert isinstance(over_fix, FixVenue) and isinstance(over_fix, LiquidationVenue)
    assert (over_fix.timeout_s, over_fix.heartbeat_s) == (2.0, 30)
    await over_fix.close()  # never connected: nothing to log out of


def test_checking_fills_in_the_defaults() -> None:
    assert check_venue_config({"kind": "fix", "host": "127.0.0.1", "port": 9878, "sender_comp_id": "WBO",
                               "target_comp_id": "SIMVENUE"})["timeout_s"] == 5.0
    assert check_venue_config({"kind": "simulator", "path": "v.sqlite", "max_lots_per_fill": None}) == {
        "kind": "simulator", "path": "v.sqlite", "max_lots_per_fill": None, "fill_step_s": 1.0, "board_lot": 100,
        "reject_codes": []}


_FIX = {"kind": "fix", "host": "127.0.0.1", "port": 9878, "sender_comp_id": "WBO", "target_comp_id": "SIMVENUE"}


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ([], "venue"), ({}, "kind"), ({"kind": "http"}, "kind"), ({"kind": "simulator"}, "path"),
        ({"kind": "simulator", "path": ""}, "path"), ({"kind": "simulator", "path": "v", "rate": 1}, "rate"),
        ({"kind": "simulator", "path": "v", "max_lots_per_fill": 0}, "max_lots_per_fill"),
        ({"kind": "simulator", "path": "v", "max_lots_per_fill": 1.5}, "max_lots_per_fill"),
        ({"kind": "simulator", "path": "v", "fill_step_s": 0}, "fill_step_s"),
        ({"kind": "simulator", "path": "v", "fill_step_s": True}, "fill_step_s"),
        ({"kind": "simulator", "path": "v", "reject_codes": "5.HK"}, "reject_codes"),
        ({**_FIX, "port": 0}, "port"), ({**_FIX, "port": "9878"}, "port"), ({**_FIX, "host": ""}, "host"),
        ({**_FIX, "sender_comp_id": "W B O"}, "sender_comp_id"),
        ({k: v for k, v in _FIX.items() if k != "host"}, "host"),
        ({**_FIX, "timeout_s": -1}, "timeout_s"), ({**_FIX, "heartbeat_s": 0}, "heartbeat_s"),
    ],
)
def test_a_bad_config_is_refused_naming_the_field(config: object, field: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_venue_config(config)
    assert raised.value.field == field
    with pytest.raises(ValidationFailed):
        build_venue(config, prices=dict().get)  # type: ignore[arg-type]

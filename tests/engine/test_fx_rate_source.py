"""The reference-rate source gateway: the behaviour tests run against the simulator
directly and against the HTTP gateway over loopback (with the simulator behind the
server); then the wire checks, HTTP-only failures, the registry, and two OS processes
reading one simulated source."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import rate_source_workers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.fx.rate_source import (
    MALFORMED_KINDS,
    HttpRateSource,
    RateSnapshot,
    RateSourceConfigError,
    RateSourceGateway,
    RateSourceHttpServer,
    RateSourceProtocolError,
    RateSourceTimeout,
    RateSourceUnavailable,
    SimulatedRate,
    SimulatedRateSource,
    UnknownRateChannel,
    build_rate_source,
)
from wbo_tui.engine.fx.rate_source import drift, wire

D = Decimal
# 17:30 UTC is 01:30 the next day in Hong Kong: the record date must be the 3rd.
START = datetime(2026, 3, 2, 17, 30, tzinfo=UTC)
CLIENT_TIMEOUT_S = 5.0
BASE = [
    SimulatedRate("USD", D("7.8100"), D("7.8300"), D("7.8200")),
    SimulatedRate("JPY", D("0.051234"), D("0.0530"), D("0.0520")),
    SimulatedRate("EUR", D("8.4"), D("8.5"), D("8.45")),
]


def rows(snapshot: RateSnapshot) -> list[tuple[str, str, str, str, str]]:
    """Exact digits, so "7.8100" and "7.81" are told apart."""
    return [(r.other_currency, str(r.bid_rate), str(r.offer_rate), str(r.average_rate), r.record_date) for r in snapshot.rates]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "rates.sqlite"


@pytest.fixture
async def sim(store: Path, clock: FixedClock) -> AsyncIterator[SimulatedRateSource]:
    simulator = SimulatedRateSource(store, clock=clock)
    yield simulator
    await simulator.close()


@pytest.fixture
def server(store: Path, clock: FixedClock) -> Iterator[RateSourceHttpServer]:
    """The source on loopback through its own simulator instance on the same store, as a
    separate process would be; tests set it up through ``sim``."""
    served = SimulatedRateSource(store, clock=clock)
    served.open()
    with RateSourceHttpServer(served) as running:
        yield running
    served.close_store()


@pytest.fixture(params=["simulator", "http"])
async def source(request: pytest.FixtureRequest, sim: SimulatedRateSource) -> AsyncIterator[RateSourceGateway]:
    """The gateway under test: the simulator itself, or the HTTP client in front of it."""
    if request.param == "simulator":
        yield sim
        return
    client = HttpRateSource(request.getfixturevalue("server").base_url, timeout_s=CLIENT_TIMEOUT_S)
    yield client
    await client.close()


# --- behaviour, over both gateways ------------------------------------------------------


async def test_publish_then_fetch_exactly(source: RateSourceGateway, sim: SimulatedRateSource) -> None:
    assert isinstance(source, RateSourceGateway)
    await sim.publish("HKEX", "SPOT", BASE, hourly=True)

    snapshot = await source.fetch("HKEX", "SPOT")

    assert (snapshot.channel_name, snapshot.rate_type, snapshot.hourly) == ("HKEX", "SPOT", True)
    assert snapshot.published_at == START  # 17:30 UTC: already the 3rd in Hong Kong, hence the record date
    assert rows(snapshot) == [
        ("EUR", "8.4", "8.5", "8.45", "20260303"),
        ("JPY", "0.051234", "0.0530", "0.0520", "20260303"),
        ("USD", "7.8100", "7.8300", "7.8200", "20260303"),
    ]
    usd = snapshot.rate("USD")
    assert (usd.base_currency, usd.bid_rate, usd.offer_rate, usd.average_rate) == ("HKD", D("7.81"), D("7.83"), D("7.82"))
    assert all(type(v) is Decimal for r in snapshot.rates for v in (r.bid_rate, r.offer_rate, r.average_rate))


async def test_drift_is_fixed_within_an_hour_and_moves_the_next(
    source: RateSourceGateway, sim: SimulatedRateSource, clock: FixedClock
) -> None:
    async def fetch_at(hour: int, minute: int = 0, second: int = 0) -> RateSnapshot:
        clock.set(datetime(2026, 3, 2, hour, minute, second, tzinfo=UTC))
        return await source.fetch("HANG_SENG", "SPOT")

    clock.set(datetime(2026, 3, 2, 8, 10, tzinfo=UTC))
    await sim.publish("HANG_SENG", "SPOT", BASE, hourly=True)
    await sim.set_drift("HANG_SENG", "SPOT", seed=20260302, step_bp=30)
    eight_oclock = rows(await fetch_at(8, 10))  # the 08:00 hour drifts too
    first, same_hour, next_hour = await fetch_at(9), await fetch_at(9, 59, 59), await fetch_at(10)

    assert rows(first) == rows(same_hour)
    assert rows(next_hour) != rows(first)
    assert first.published_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert next_hour.published_at == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    await sim.clear_drift("HANG_SENG", "SPOT")
    base = await fetch_at(10)
    assert base.published_at == datetime(2026, 3, 2, 8, 10, tzinfo=UTC)
    assert rows(base)[2][1:4] == ("7.8100", "7.8300", "7.8200")
    assert rows(first) != rows(base) and eight_oclock != rows(first)  # fixed seed: fixed outcome


# Sorted triples (bid, average, offer) of 4-place rates from 0.0001 to 5,000.
_base_rates = st.lists(st.integers(1, 50_000_000).map(lambda n: D(n).scaleb(-4)), min_size=3, max_size=3).map(sorted)


@pytest.mark.parametrize("kind", ["simulator", "http"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(-(2**63), 2**63), step_bp=st.integers(0, drift.MAX_STEP_BP), hour=st.integers(0, 24 * 366),
       base=_base_rates)
def test_drift_per_seed_and_hour_keeps_bid_average_offer_in_order(
    kind: str, store: Path, clock: FixedClock, server: RateSourceHttpServer, seed: int, step_bp: int, hour: int, base: list[D]
) -> None:
    # Hypothesis runs many examples in one test, so each example gets its own event loop
    # and its own gateway; the store and the server are shared.
    asyncio.run(_check_drift(kind == "http" and server.base_url, store, clock, seed, step_bp, hour, base))


async def _check_drift(url: str | bool, store: Path, clock: FixedClock, seed: int, step_bp: int, hour: int, base: list[D]) -> None:
    sim = SimulatedRateSource(store, clock=clock)
    gateway: Any = HttpRateSource(url, timeout_s=CLIENT_TIMEOUT_S) if isinstance(url, str) else sim
    bid, average, offer = base
    await sim.publish("ICBC", "SPOT", [SimulatedRate("USD", bid, offer, average), SimulatedRate("CNH", bid, offer, average)])
    await sim.set_drift("ICBC", "SPOT", seed, step_bp)
    clock.set(datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=hour, minutes=17))
    first = await gateway.fetch("ICBC", "SPOT")
    clock.advance(minutes=40)
    again = await gateway.fetch("ICBC", "SPOT")
    async with SimulatedRateSource(store, clock=clock) as other_instance:
        from_elsewhere = await other_instance.fetch("ICBC", "SPOT")
    hours = []
    for _ in range(12):
        clock.advance(hours=1)
        hours.append(rows(await gateway.fetch("ICBC", "SPOT")))
    await gateway.close()
    await sim.close()  # a second close is harmless when the gateway was the simulator

    assert rows(first) == rows(again) == rows(from_elsewhere)
    for _, *texts, _ in (row for snapshot_rows in [rows(first), *hours] for row in snapshot_rows):
        moved_bid, moved_offer, moved_average = (D(t) for t in texts)
        assert D(0) < moved_bid <= moved_average <= moved_offer
        assert moved_average == moved_average.quantize(drift.RATE_PLACES)
        # Within step_bp of the base, give or take the last place's rounding.
        assert abs(moved_average - average) <= average * step_bp / 10_000 + D("0.0001")
    if step_bp == 0:
        assert all(r.average_rate == average for r in first.rates)  # the base has 4 places already
    elif average * step_bp >= 100:
        # A move of up to 0.01 or more shows at 4 places (a tiny rate or step may not move
        # the rounded rate at all); twelve hours all alike would then be below 1e-10 odds.
        assert len({tuple(h) for h in hours}) > 1


async def test_down_channel_is_unavailable_not_timeout(source: RateSourceGateway, sim: SimulatedRateSource) -> None:
    for channel_name, rate_type in (("HKEX", "SPOT"), ("HKEX", "BOOK"), ("IB", "SPOT")):
        await sim.publish(channel_name, rate_type, BASE)
    await sim.down("HKEX", True)

    for rate_type in ("SPOT", "BOOK"):
        with pytest.raises(RateSourceUnavailable) as caught:
            await source.fetch("HKEX", rate_type)
        assert not isinstance(caught.value, RateSourceTimeout)  # "down" is not "slow"
    assert (await source.fetch("IB", "SPOT")).channel_name == "IB"

    await sim.down("HKEX", False)
    assert (await source.fetch("HKEX", "SPOT")).channel_name == "HKEX"
    assert [e.outcome for e in await sim.request_log()] == ["unavailable", "unavailable", "ok", "ok"]


async def test_timeout_is_its_own_error_and_passes(source: RateSourceGateway, sim: SimulatedRateSource) -> None:
    await sim.publish("HKEX", "SPOT", BASE)
    await sim.timeout_next(2)

    for _ in range(2):
        with pytest.raises(RateSourceTimeout) as caught:
            await source.fetch("HKEX", "SPOT")
        assert not isinstance(caught.value, RateSourceUnavailable)
    assert len((await source.fetch("HKEX", "SPOT")).rates) == 3


@pytest.mark.parametrize("how", MALFORMED_KINDS)
async def test_malformed_answer_is_refused_naming_the_field(source: RateSourceGateway, sim: SimulatedRateSource, how: str) -> None:
    await sim.publish("HKEX", "SPOT", BASE)
    await sim.malformed_next(1, how=how)  # type: ignore[arg-type]

    with pytest.raises(RateSourceProtocolError) as caught:
        await source.fetch("HKEX", "SPOT")

    field = {"float": "bid_rate", "missing_field": "average_rate", "crossed": "bid_rate",
             "non_positive": "average_rate", "record_date": "record_date"}[how]
    assert caught.value.field == f"rates[0].{field}"
    assert f"rates[0].{field}" in str(caught.value)
    assert len((await source.fetch("HKEX", "SPOT")).rates) == 3  # one answer only
    assert [e.outcome for e in await sim.request_log()] == ["malformed", "ok"]


async def test_unknown_channel(source: RateSourceGateway, sim: SimulatedRateSource) -> None:
    await sim.publish("HKEX", "SPOT", BASE)
    with pytest.raises(UnknownRateChannel) as caught:
        await source.fetch("HKEX", "BOOK")
    assert (caught.value.channel_name, caught.value.rate_type) == ("HKEX", "BOOK")

    await sim.unpublish("HKEX", "SPOT")
    with pytest.raises(UnknownRateChannel):
        await source.fetch("HKEX", "SPOT")


async def test_a_code_that_is_not_a_code_is_a_caller_bug(source: RateSourceGateway) -> None:
    for channel_name, rate_type in (("hkex", "SPOT"), ("HKEX", "SPOT/../X"), ("", "SPOT")):
        with pytest.raises(ValueError):
            await source.fetch(channel_name, rate_type)


# --- the wire checks ----------------------------------------------------------------------


def _good() -> dict[str, Any]:
    rate = {"base_currency": "HKD", "other_currency": "USD", "bid_rate": "7.81", "offer_rate": "7.83",
            "average_rate": "7.82", "record_date": "20260303"}
    return {"channel_name": "HKEX", "rate_type": "SPOT", "published_at": "2026-03-02T17:30:00.000000Z",
            "hourly": False, "rates": [rate, {**rate, "other_currency": "EUR"}]}


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        ({"hourly": None}, "hourly"), ({"extra": "1"}, "extra"), ({"hourly": "yes"}, "hourly"),
        ({"published_at": "2026-03-02T17:30:00"}, "published_at"), ({"rates": []}, "rates"),
        ({1: {"offer_rate": 7.83}}, "rates[1].offer_rate"), ({1: {"offer_rate": "7.83e0"}}, "rates[1].offer_rate"),
        ({0: {"bid_rate": "-7.81"}}, "rates[0].bid_rate"), ({0: {"average_rate": "7.84"}}, "rates[0].average_rate"),
        ({0: {"record_date": "20260230"}}, "rates[0].record_date"),
        ({0: {"other_currency": "HKD"}}, "rates[0].other_currency"),
        ({1: {"other_currency": "USD"}}, "rates[1].other_currency"),
        ({1: {"base_currency": "USD"}}, "rates"), ({0: {"base_currency": "hkd"}}, "rates[0].base_currency"),
    ],
)
def test_wire_refuses_and_names_the_field(spoil: dict[Any, Any], field: str) -> None:
    body = _good()
    for key, value in spoil.items():
        # An int key changes that rate's fields; None removes a field; anything else sets it.
        if isinstance(key, int):
            body["rates"][key].update(value)
        elif value is None:
            del body[key]
        else:
            body[key] = value
    with pytest.raises(wire.RateWireError) as caught:
        wire.snapshot_from_wire(wire.loads(wire.dumps(body)))
    assert caught.value.field == field


def test_wire_round_trip_and_json_level_refusals() -> None:
    snapshot = wire.snapshot_from_wire(wire.loads(wire.dumps(_good())))
    assert wire.snapshot_from_wire(wire.loads(wire.dumps(wire.snapshot_to_wire(snapshot)))) == snapshot
    for text in ('{"hourly": NaN}', '{"a": "1", "a": "2"}', '{"channel_name": '):
        with pytest.raises(wire.RateWireError):
            wire.snapshot_from_wire(wire.loads(text))


@settings(max_examples=200, deadline=None)
@given(bp=st.integers(-drift.MAX_STEP_BP, drift.MAX_STEP_BP), base=_base_rates)
def test_a_move_keeps_the_order_and_stays_positive(bp: int, base: list[Decimal]) -> None:
    bid, average, offer = (drift.move(v, bp) for v in base)
    assert D(0) < bid <= average <= offer


# --- HTTP only ------------------------------------------------------------------------------


async def test_a_client_timeout_on_the_wire_is_a_timeout(server: RateSourceHttpServer, sim: SimulatedRateSource) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")  # loopback only
    await sim.publish("HKEX", "SPOT", BASE)
    await sim.timeout_next(1, hang_s=60)  # the server holds the answer; stopping it cuts this short
    async with HttpRateSource(server.base_url, timeout_s=0.3) as client:
        with pytest.raises(RateSourceTimeout):
            await client.fetch("HKEX", "SPOT")


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with HttpRateSource(f"http://127.0.0.1:{port}", timeout_s=CLIENT_TIMEOUT_S) as client:
        with pytest.raises(RateSourceUnavailable):
            await client.fetch("HKEX", "SPOT")


async def test_a_wrong_base_url_is_not_an_unknown_channel(server: RateSourceHttpServer, sim: SimulatedRateSource) -> None:
    await sim.publish("HKEX", "SPOT", BASE)
    async with HttpRateSource(server.base_url + "/v9", timeout_s=CLIENT_TIMEOUT_S) as client:
        with pytest.raises(RateSourceProtocolError):
            await client.fetch("HKEX", "SPOT")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (503, b'{"error": {"code": "UNAVAILABLE", "message": "down"}}', RateSourceUnavailable),
        (404, b'{"error": {"code": "UNKNOWN_RATE_CHANNEL", "message": "no"}}', UnknownRateChannel),
        (500, b"oops", RateSourceUnavailable), (504, b"", RateSourceTimeout), (404, b"Not Found", RateSourceProtocolError),
        (200, b'{"channel_name": "IB"', RateSourceProtocolError),  # cut short
        (200, wire.dumps({**_good(), "channel_name": "IB"}), RateSourceProtocolError),  # not what was asked
    ],
)
async def test_answers_are_mapped(status: int, body: bytes, error: type[Exception]) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    async with HttpRateSource("http://source.test", transport=transport) as client:
        with pytest.raises(error):
            await client.fetch("HKEX", "SPOT")


async def test_any_gateway_can_be_served(sim: SimulatedRateSource) -> None:
    await sim.publish("ICBC", "HKEX", BASE, hourly=True)
    # A gateway without a raw answer to hand over: the server writes its snapshots itself.
    snapshots_only = SimpleNamespace(fetch=sim.fetch, close=sim.close)
    with RateSourceHttpServer(snapshots_only) as running:  # type: ignore[arg-type]
        async with HttpRateSource(running.base_url) as client:
            assert await client.fetch("ICBC", "HKEX") == await sim.fetch("ICBC", "HKEX")
            with pytest.raises(UnknownRateChannel):
                await client.fetch("ICBC", "BOOK")


# --- the registry ---------------------------------------------------------------------------


async def test_registry_builds_both_kinds(store: Path) -> None:
    simulated = build_rate_source({"kind": "simulated", "store": str(store)})
    assert isinstance(simulated, SimulatedRateSource)
    await simulated.close()
    over_http = build_rate_source({"kind": "http", "base_url": "http://127.0.0.1:8766", "timeout_s": 2})
    assert isinstance(over_http, HttpRateSource) and over_http.timeout_s == 2.0


@pytest.mark.parametrize(
    "config",
    [{}, {"kind": "ftp"}, {"kind": "simulated"}, {"kind": "simulated", "store": ""}, ["kind", "http"],
     {"kind": "simulated", "store": "x.sqlite", "timeout_s": 1}, {"kind": "http", "base_url": "127.0.0.1:8766"},
     {"kind": "http", "base_url": "http://h", "timeout_s": 0}, {"kind": "http", "base_url": "http://h", "timeout_s": True}],
)
def test_registry_refuses_bad_configs(config: Any) -> None:
    with pytest.raises(RateSourceConfigError):
        build_rate_source(config)

# --- several OS processes -------------------------------------------------------------------


@pytest.mark.slow
async def test_two_processes_read_the_same_drifted_rates(store: Path, sim: SimulatedRateSource) -> None:
    await sim.publish("HKEX", "SPOT", BASE, hourly=True)
    await sim.set_drift("HKEX", "SPOT", seed=99, step_bp=40)
    at = datetime(2026, 3, 2, 5, 20, tzinfo=UTC)
    reports = await asyncio.to_thread(rate_source_workers.run_fetchers, str(store), at.isoformat(), "HKEX", "SPOT", 2)

    assert all(status == "ok" for status, _, _ in reports), [r[2] for r in reports]
    assert len({pid for _, pid, _ in reports}) == 2
    async with SimulatedRateSource(store, clock=FixedClock(at)) as here, SimulatedRateSource(
        store, clock=FixedClock(at + timedelta(hours=1))
    ) as an_hour_later:
        expected = rows(await here.fetch("HKEX", "SPOT"))
        assert [[tuple(row) for row in r[2]] for r in reports] == [expected, expected]
        assert rows(await an_hour_later.fetch("HKEX", "SPOT")) != expected
    assert len({e.pid for e in await sim.request_log()}) == 3

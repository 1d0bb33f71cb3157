"""The margin price gateway: the behaviour tests run against the simulator directly and
against the HTTP gateway over loopback (with the simulator behind the server); then the
simulated market's walk, staleness, the wire checks, HTTP-only failures, the registry,
and the simulator served as its own OS process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.errors import ValidationFailed, WboError
from wbo_tui.engine.margin import ticks
from wbo_tui.engine.margin.prices import (
    HttpPriceGateway,
    PriceFeedError,
    PriceFeedHttpServer,
    PriceFeedTimeout,
    PriceFeedUnavailable,
    PriceGateway,
    PriceGatewayConfigError,
    PriceProtocolError,
    Quote,
    SimulatedPriceFeed,
    UnknownInstrument,
    build_price_gateway,
    check_price_gateway_config,
    is_stale,
    quote_for,
)
from wbo_tui.engine.margin.prices import simulator, wire

D = Decimal
SEED = 7
# 01:30:07 UTC (09:30:07 in Hong Kong): in the 5-second step that starts at 01:30:05.
START = datetime(2026, 11, 30, 1, 30, 7, tzinfo=UTC)
STEP_START = datetime(2026, 11, 30, 1, 30, 5, tzinfo=UTC)
ANCHORS = {"700.HK": D("368.20"), "9988.HK": D("80.15"), "5.HK": D("62.50"), "1299.HK": D("78.45")}
CODES = list(ANCHORS)
CLIENT_TIMEOUT_S = 5.0


def texts(quote: Quote) -> tuple[str, str, str, str, datetime]:
    """Exact digits, so "368.20" and "368.2" are told apart."""
    return quote.code, str(quote.bid), str(quote.ask), str(quote.last), quote.quoted_at


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
async def sim(clock: FixedClock) -> AsyncIterator[SimulatedPriceFeed]:
    simulator_ = SimulatedPriceFeed(SEED, ANCHORS, clock=clock)
    yield simulator_
    await simulator_.close()


@pytest.fixture
def twin() -> SimulatedPriceFeed:
    """Another simulator built alike, on no clock of the test's: the market as any other
    process sees it, read with ``quote_at``."""
    return SimulatedPriceFeed(SEED, dict(ANCHORS))


@pytest.fixture
def server(sim: SimulatedPriceFeed) -> Iterator[PriceFeedHttpServer]:
    """``sim`` on loopback: the faults a test sets on it show over HTTP too."""
    with PriceFeedHttpServer(sim) as running:
        yield running


@pytest.fixture(params=["simulator", "http"])
async def source(request: pytest.FixtureRequest, sim: SimulatedPriceFeed) -> AsyncIterator[PriceGateway]:
    """The gateway under test: the simulator itself, or the HTTP client in front of it."""
    if request.param == "simulator":
        yield sim
        return
    client = HttpPriceGateway(request.getfixturevalue("server").base_url, timeout_s=CLIENT_TIMEOUT_S)
    yield client
    await client.close()


# --- behaviour, over both gateways ------------------------------------------------------


async def test_quotes_are_the_market_exactly(source: PriceGateway, twin: SimulatedPriceFeed) -> None:
    assert isinstance(source, PriceGateway)

    quotes = await source.quotes(CODES)

    assert list(quotes) == CODES
    market = {code: twin.quote_at(code, START) for code in CODES}
    assert quotes == market  # Decimal equality, and the same moment
    assert [texts(q) for q in quotes.values()] == [texts(q) for q in market.values()]  # and the same digits
    for code, quote in quotes.items():
        assert all(type(v) is Decimal for v in (quote.bid, quote.ask, quote.last))
        assert quote.quoted_at == STEP_START and quote.quoted_at.tzinfo is UTC
        assert D(0) < quote.bid < quote.ask and quote.last in (quote.bid, quote.ask)
        assert ticks.on_grid(quote.bid) and ticks.move(quote.bid, 1) == quote.ask
        assert abs(quote.last - ANCHORS[code]) <= ANCHORS[code] * D("0.3")


async def test_unknown_codes_are_absent_and_a_code_is_asked_once(source: PriceGateway) -> None:
    quotes = await source.quotes(["700.HK", "1.HK", "700.HK", "5.HK", "0700.HK"])
    assert list(quotes) == ["700.HK", "5.HK"]
    assert await source.quotes([]) == {}
    assert await source.quotes(["1.HK"]) == {}
    assert await source.quotes(c for c in ("5.HK",)) == {"5.HK": quotes["5.HK"]}  # type: ignore[arg-type]


async def test_a_code_that_is_not_a_code_is_a_caller_bug(source: PriceGateway) -> None:
    for codes in (["700.hk"], ["700.HK,5.HK"], [""], ["../quotes"], ["700.HK", 700], [".HK"], ["A" * 17]):
        with pytest.raises(ValueError):
            await source.quotes(codes)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await source.quotes("700.HK")


async def test_down_is_unavailable_not_timeout(source: PriceGateway, sim: SimulatedPriceFeed) -> None:
    sim.set_fault("down")
    with pytest.raises(PriceFeedUnavailable) as caught:
        await source.quotes(CODES)
    assert not isinstance(caught.value, PriceFeedTimeout)  # "down" is not "slow"
    assert isinstance(caught.value, PriceFeedError) and isinstance(caught.value, WboError)

    sim.clear_faults()
    assert len(await source.quotes(CODES)) == 4


async def test_timeout_is_its_own_error(source: PriceGateway, sim: SimulatedPriceFeed) -> None:
    sim.set_fault("timeout")
    assert sim.fault == "timeout"
    with pytest.raises(PriceFeedTimeout) as caught:
        await source.quotes(CODES)
    assert not isinstance(caught.value, PriceFeedUnavailable)

    sim.set_fault(None)
    assert sim.fault is None and len(await source.quotes(CODES)) == 4


async def test_stale_quotes_are_dated_earlier(
    source: PriceGateway, sim: SimulatedPriceFeed, twin: SimulatedPriceFeed, clock: FixedClock
) -> None:
    sim.set_fault("stale", stale_by_s=120)

    quotes = await source.quotes(CODES)

    earlier = START - timedelta(seconds=120)
    assert quotes == {code: twin.quote_at(code, earlier) for code in CODES}
    assert {q.quoted_at for q in quotes.values()} == {STEP_START - timedelta(seconds=120)}
    assert all(is_stale(q, clock.now(), 60) for q in quotes.values())
    assert not any(is_stale(q, clock.now(), 180) for q in quotes.values())

    sim.clear_faults()
    fresh = await source.quotes(CODES)
    assert not any(is_stale(q, clock.now(), 60) for q in fresh.values())


async def test_a_halted_code_keeps_its_quote_and_ages(
    source: PriceGateway, sim: SimulatedPriceFeed, clock: FixedClock
) -> None:
    before = await source.quotes(CODES)
    sim.set_fault("halt:700.HK,9988.HK")
    assert sim.fault == "halt:700.HK,9988.HK"

    clock.advance(minutes=30)
    during = await source.quotes(CODES)

    assert during["700.HK"] == before["700.HK"] and during["9988.HK"] == before["9988.HK"]
    assert is_stale(during["700.HK"], clock.now(), 60)
    assert during["5.HK"] != before["5.HK"] and during["5.HK"].quoted_at == STEP_START + timedelta(minutes=30)
    sim.clear_faults()
    assert (await source.quotes(["700.HK"]))["700.HK"].quoted_at == during["5.HK"].quoted_at


# --- the simulated market -----------------------------------------------------------------


def test_every_process_sees_the_same_market() -> None:
    """Quotes are a function of the seed, the anchors and the moment: an instance that
    walked every step, one that jumps about (forward, back, across days) and one asked
    once agree; another seed is another market."""
    walker, jumper = SimulatedPriceFeed(SEED, ANCHORS), SimulatedPriceFeed(SEED, ANCHORS)
    other_seed = SimulatedPriceFeed(SEED + 1, ANCHORS)
    moments = [START + timedelta(seconds=s) for s in range(0, 6 * 3600, 5)]
    walked = [walker.quote_at("700.HK", at) for at in moments]
    order = list(range(0, len(moments), 97)) + list(range(len(moments) - 1, 0, -331))
    for index in order:
        assert jumper.quote_at("700.HK", moments[index]) == walked[index]
        assert SimulatedPriceFeed(SEED, ANCHORS).quote_at("700.HK", moments[index]) == walked[index]
    # Later in each next day: a block from the day before must not be walked on from.
    days = [START.replace(hour=hour) + timedelta(days=d) for d, hour in ((1, 1), (2, 5), (3, 12), (-1, 20), (40, 23))]
    assert [jumper.quote_at("5.HK", at) for at in days] == [SimulatedPriceFeed(SEED, ANCHORS).quote_at("5.HK", at)
                                                           for at in days]
    same_time_other_days = {walker.quote_at("700.HK", START + timedelta(days=d)) for d in range(1, 8)}
    assert len({q.last for q in same_time_other_days if q}) > 1  # each day walks its own way
    differs = [other_seed.quote_at("700.HK", moments[i]) != walked[i] for i in order]
    assert sum(differs) > len(order) * 0.8


# Anchors in every band of the HKEX table, on its edges and at both ends of the grid.
EDGE_ANCHORS = {
    "A1.HK": D("0.01"), "A2.HK": D("0.25"), "A3.HK": D("0.495"), "A4.HK": D("9.99"), "A5.HK": D("10.00"),
    "A6.HK": D("99.95"), "A7.HK": D("200.00"), "A8.HK": D("368.20"), "A9.HK": D("1000.00"),
    "B1.HK": D("2000.00"), "B2.HK": D("4998.00"), "B3.HK": D("9995.00"),
}


def test_prices_stay_on_the_grid_and_move_at_most_three_steps() -> None:
    market = SimulatedPriceFeed(SEED, EDGE_ANCHORS)
    midnight = datetime(2026, 11, 30, tzinfo=UTC)
    for code, anchor in EDGE_ANCHORS.items():
        low, high = anchor * D("0.7"), anchor * D("1.3")
        lasts = []
        for step in range(2500):
            quote = market.quote_at(code, midnight + timedelta(seconds=5 * step))
            assert quote is not None and quote.quoted_at == midnight + timedelta(seconds=5 * step)
            assert D(0) < quote.bid < quote.ask and ticks.on_grid(quote.bid) and ticks.on_grid(quote.last)
            assert ticks.move(quote.bid, 1) == quote.ask and quote.last in (quote.bid, quote.ask)
            assert low <= quote.last <= high
            if lasts:
                assert quote.last in {ticks.move(lasts[-1], n) for n in range(-3, 4)}, (code, step)
            lasts.append(quote.last)
        assert lasts[0] == anchor  # each day opens at the anchor
        assert len(set(lasts)) > 3, code  # and then it moves


@pytest.mark.parametrize("max_drift", [D("0.30"), D("0.02"), D("0")])
def test_drift_is_bounded_over_a_long_walk(max_drift: D) -> None:
    # One-minute steps for a whole day: 1,440 steps; a 2 % band is hit and folded back from.
    anchors = {"5.HK": D("62.50"), "700.HK": D("368.20"), "388.HK": D("1234.00")}
    market = SimulatedPriceFeed(SEED, anchors, step_s=60, max_drift=max_drift)
    midnight = datetime(2026, 12, 1, tzinfo=UTC)
    for code, anchor in anchors.items():
        quotes = [market.quote_at(code, midnight + timedelta(minutes=m)) for m in range(1440)]
        lasts = [q.last for q in quotes if q is not None]
        low = ticks.to_grid(anchor * (1 - max_drift), up=True)
        high = ticks.to_grid(anchor * (1 + max_drift), up=False)
        assert low <= min(lasts) and max(lasts) <= high
        if max_drift == D("0.02"):
            assert min(lasts) == low or max(lasts) == high  # the fold is reached, and holds
        if max_drift == 0:
            assert set(lasts) == {anchor}


def test_the_grid_index_is_ticks_steps() -> None:
    for index in range(simulator.TOP_INDEX):
        price = simulator.grid_price(index)
        assert simulator.grid_index(price) == index
        assert ticks.move(price, 1) == simulator.grid_price(index + 1)
    assert (simulator.grid_price(0), simulator.grid_price(simulator.TOP_INDEX)) == (ticks.LOWEST, ticks.HIGHEST)
    assert str(simulator.grid_price(simulator.grid_index(D("368.2")))) == "368.20"
    with pytest.raises(ValueError):
        simulator.grid_index(D("368.30"))


async def test_the_simulator_refuses_what_is_not_a_market(clock: FixedClock) -> None:
    with pytest.raises(TypeError):
        SimulatedPriceFeed(SEED, {"700.HK": 368.2})  # type: ignore[dict-item]
    for bad in ({"700.HK": D("368.30")}, {"700.HK": D("0")}, {"700.hk": D("368.20")}):
        with pytest.raises(ValueError):
            SimulatedPriceFeed(SEED, bad)
    for kwargs in ({"step_s": 0.5}, {"step_s": True}, {"fault": "sleep"}, {"fault": "halt:"}, {"hang_s": -1},
                   {"max_drift": D("1")}):
        with pytest.raises(ValueError):
            SimulatedPriceFeed(SEED, ANCHORS, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SimulatedPriceFeed(True, ANCHORS)  # type: ignore[arg-type]
    naive = SimulatedPriceFeed(SEED, ANCHORS, clock=SimpleNamespace(now=lambda: datetime(2026, 11, 30)))
    with pytest.raises(ValueError):
        await naive.quotes(CODES)
    async with SimulatedPriceFeed(SEED, ANCHORS, clock=clock) as closing:
        assert len(await closing.quotes(CODES)) == 4
    await closing.close()  # a second close is harmless
    with pytest.raises(RuntimeError):
        await closing.quotes(CODES)


# --- quotes and staleness ------------------------------------------------------------------


def test_a_quote_keeps_its_promises() -> None:
    at = datetime(2026, 11, 30, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    quote = Quote("700.HK", D("368.00"), D("368.20"), D("369.00"), at)  # last above the ask: allowed
    assert quote.quoted_at == datetime(2026, 11, 30, 1, 30, tzinfo=UTC) and quote.quoted_at.tzinfo is UTC
    assert Quote("5.HK", D("62.5"), D("62.5"), D("62.5"), at).bid == D("62.50")  # a locked market
    for bid, ask, last in ((D("368.40"), D("368.20"), D("368.20")), (D("0"), D("1"), D("1")),
                           (D("1"), D("2"), D("-1")), (D("1"), D("NaN"), D("1"))):
        with pytest.raises((ValueError, TypeError)):
            Quote("700.HK", bid, ask, last, at)
    with pytest.raises(TypeError):
        Quote("700.HK", 368.0, D("368.20"), D("368.20"), at)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Quote("700.HK", D("368.00"), D("368.20"), D("368.20"), datetime(2026, 11, 30))
    with pytest.raises(ValueError):
        Quote("700 HK", D("368.00"), D("368.20"), D("368.20"), at)

    assert quote_for({"700.HK": quote}, "700.HK") is quote
    with pytest.raises(UnknownInstrument) as caught:
        quote_for({"700.HK": quote}, "5.HK")
    assert caught.value.code == "5.HK" and "5.HK" in str(caught.value)


def test_is_stale_is_older_than_the_limit() -> None:
    quote = Quote("700.HK", D("368.00"), D("368.20"), D("368.20"), STEP_START)
    assert not is_stale(quote, STEP_START + timedelta(seconds=30), 30)  # exactly the limit still counts
    assert is_stale(quote, STEP_START + timedelta(seconds=30, microseconds=1), 30)
    assert is_stale(STEP_START, STEP_START + timedelta(seconds=2), 1.5)
    assert not is_stale(quote, STEP_START - timedelta(seconds=5), 0)  # a feed's clock ahead: fresh
    assert not is_stale(quote, STEP_START.astimezone(timezone(timedelta(hours=8))), 0)
    for now, limit_s in ((datetime(2026, 11, 30, 2), 30), (START, -1), (START, True), (START, "30")):
        with pytest.raises(ValueError):
            is_stale(quote, now, limit_s)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        is_stale(datetime(2026, 11, 30), START, 30)


# --- the wire checks ----------------------------------------------------------------------


def _good() -> dict[str, Any]:
    quote = {"code": "700.HK", "bid": "368.00", "ask": "368.20", "last": "368.20",
             "quoted_at": "2026-11-30T01:30:05.000000Z"}
    return {"quotes": [quote, {**quote, "code": "5.HK", "bid": "62.45", "ask": "62.50", "last": "62.45"}]}


ASKED = ["700.HK", "5.HK", "1299.HK"]


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        ({0: {"bid": 368.0}}, "quotes[0].bid"), ({1: {"ask": 62}}, "quotes[1].ask"),
        ({0: {"last": "3.682e2"}}, "quotes[0].last"), ({0: {"bid": "-368.00"}}, "quotes[0].bid"),
        ({0: {"bid": "368.40"}}, "quotes[0].bid"), ({1: {"last": "0"}}, "quotes[1].last"),
        ({1: {"code": "9988.HK"}}, "quotes[1].code"), ({1: {"code": "700.HK"}}, "quotes[1].code"),
        ({0: {"code": "700.hk"}}, "quotes[0].code"), ({0: {"quoted_at": "2026-11-30T01:30:05"}}, "quotes[0].quoted_at"),
        ({0: {"venue": "HKEX"}}, "quotes[0].venue"), ({0: {"ask": None}}, "quotes[0].ask"),
        ({"quotes": {}}, "quotes"), ({"as_of": "now"}, "as_of"), ({"quotes": None}, "quotes"),
    ],
)
def test_wire_refuses_and_names_the_field(spoil: dict[Any, Any], field: str) -> None:
    body = _good()
    for key, value in spoil.items():
        # An int key changes that quote's fields (None removes one); else the answer's.
        target = body["quotes"][key] if isinstance(key, int) else body
        for name, new in (value.items() if isinstance(key, int) else [(key, value)]):
            if new is None:
                del target[name]
            else:
                target[name] = new
    with pytest.raises(wire.PriceWireError) as caught:
        wire.quotes_from_wire(wire.loads(wire.dumps(body)), ASKED)
    assert caught.value.field == field


def test_wire_round_trip_and_json_level_refusals() -> None:
    quotes = wire.quotes_from_wire(wire.loads(wire.dumps(_good())), ASKED)
    assert [texts(q) for q in quotes.values()] == [
        ("700.HK", "368.00", "368.20", "368.20", STEP_START), ("5.HK", "62.45", "62.50", "62.45", STEP_START),
    ]
    assert wire.quotes_from_wire(wire.loads(wire.dumps(wire.quotes_to_wire(quotes.values()))), ASKED) == quotes
    with pytest.raises(wire.PriceWireError):
        wire.quotes_from_wire(wire.loads(wire.dumps(_good())), ["700.HK"])  # more quotes than codes asked
    for text in ('{"quotes": NaN}', '{"quotes": [], "quotes": []}', '{"quotes": ['):
        with pytest.raises(wire.PriceWireError):
            wire.quotes_from_wire(wire.loads(text), ASKED)
    assert wire.quotes_path(["700.HK", "5.HK"]) == "/quotes?codes=700.HK,5.HK"


# --- HTTP only ------------------------------------------------------------------------------


async def test_a_batch_of_1200_codes_goes_in_several_requests(clock: FixedClock) -> None:
    anchors = {f"{n}.HK": ticks.to_grid(D(n) / 7, up=True) for n in range(1, 1101)}
    codes = [f"{n}.HK" for n in range(1, 1201)]  # the last 100 are not quoted
    market = SimulatedPriceFeed(SEED, anchors, clock=clock)
    with PriceFeedHttpServer(market) as running:
        async with HttpPriceGateway(running.base_url, timeout_s=CLIENT_TIMEOUT_S) as client:
            quotes = await client.quotes(codes)
            assert running.received("quotes") == 3  # 500 + 500 + 200
            assert quotes == await market.quotes(codes) and list(quotes) == codes[:1100]
        async with HttpPriceGateway(running.base_url, max_codes_per_request=100) as small:
            assert await small.quotes(codes) == quotes
            assert running.received("quotes") == 3 + 12
    with pytest.raises(ValueError):
        HttpPriceGateway("http://feed.test", max_codes_per_request=wire.MAX_CODES_PER_REQUEST + 1)


@pytest.mark.parametrize("how", ["the feed hangs", "the answer is held"])
async def test_a_server_that_hangs_is_a_timeout(server: PriceFeedHttpServer, sim: SimulatedPriceFeed, how: str) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")  # loopback only
    if how == "the feed hangs":
        sim.set_fault("timeout", hang_s=60)  # stopping the server cuts this short
    else:
        server.inject_delay("quotes", 60)
    async with HttpPriceGateway(server.base_url, timeout_s=0.3) as client:
        with pytest.raises(PriceFeedTimeout):
            await client.quotes(CODES)


async def test_a_server_that_is_down_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with HttpPriceGateway(f"http://127.0.0.1:{port}", timeout_s=CLIENT_TIMEOUT_S) as client:
        with pytest.raises(PriceFeedUnavailable):
            await client.quotes(CODES)


async def test_a_wrong_base_url_is_a_protocol_error(server: PriceFeedHttpServer) -> None:
    async with HttpPriceGateway(server.base_url + "/v9", timeout_s=CLIENT_TIMEOUT_S) as client:
        with pytest.raises(PriceProtocolError) as caught:
            await client.quotes(CODES)
    assert "HTTP 404" in str(caught.value)


def _body(**quote: Any) -> bytes:
    body = _good()
    body["quotes"][0].update(quote)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("status", "body", "error", "field"),
    [
        (200, _body(bid=368.0), PriceProtocolError, "quotes[0].bid"),  # a float
        (200, _body(ask=368), PriceProtocolError, "quotes[0].ask"),  # any JSON number
        (200, _body(code="9988.HK"), PriceProtocolError, "quotes[0].code"),  # not asked for
        (200, b'{"quotes": [', PriceProtocolError, None),  # cut short
        (200, b"<html>", PriceProtocolError, None),
        (503, b'{"error": {"code": "UNAVAILABLE", "message": "down"}}', PriceFeedUnavailable, None),
        (502, b'{"error": {"code": "BAD_GATEWAY", "message": "?"}}', PriceFeedUnavailable, None),
        (500, b"oops", PriceFeedUnavailable, None), (504, b"", PriceFeedTimeout, None),
        (404, b"Not Found", PriceProtocolError, None),
        (400, b'{"error": {"code": "BAD_REQUEST", "message": "no"}}', PriceProtocolError, None),
    ],
)
async def test_answers_are_mapped(status: int, body: bytes, error: type[Exception], field: str | None) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    async with HttpPriceGateway("http://feed.test", transport=transport) as client:
        with pytest.raises(error) as caught:
            await client.quotes(ASKED)
    if field is not None:
        assert caught.value.field == field and field in str(caught.value)  # type: ignore[attr-defined]


async def test_the_server_refuses_requests_outside_the_contract(server: PriceFeedHttpServer) -> None:
    too_many = ",".join(f"{n}.HK" for n in range(wire.MAX_CODES_PER_REQUEST + 1))
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        for method, path, status in [
            ("GET", "/quotes?codes=700.hk", 400), ("GET", "/quotes", 400), ("GET", "/quotes?codes=", 400),
            ("GET", "/quotes?codes=700.HK&codes=5.HK", 400), ("GET", "/quotes?codes=700.HK&venue=X", 400),
            ("GET", f"/quotes?codes={too_many}", 400), ("GET", "/quotes?codes=700.HK,,5.HK", 400),
            ("POST", "/quotes?codes=700.HK", 405), ("GET", "/quote?codes=700.HK", 404),
        ]:
            response = await http.request(method, path, content=b"{}" if method == "POST" else None)
            assert response.status_code == status, path
            error = response.json()["error"]
            assert set(error) == {"code", "message"}
            assert error["code"] == ("NO_SUCH_ENDPOINT" if status == 404 else "BAD_REQUEST")
        answer = (await http.get("/quotes?codes=5.HK,5.HK,1.HK")).json()
    assert [q["code"] for q in answer["quotes"]] == ["5.HK"] and isinstance(answer["quotes"][0]["bid"], str)


async def test_any_gateway_can_be_served(sim: SimulatedPriceFeed) -> None:
    broken = SimpleNamespace(close=sim.close)

    async def protocol_error(codes: list[str]) -> dict[str, Quote]:
        raise PriceProtocolError("the market data behind the server sent nonsense")

    broken.quotes = protocol_error
    with PriceFeedHttpServer(SimpleNamespace(quotes=sim.quotes, close=sim.close)) as running:  # type: ignore[arg-type]
        async with HttpPriceGateway(running.base_url) as client:
            assert await client.quotes(CODES) == await sim.quotes(CODES)
    with PriceFeedHttpServer(broken) as running:  # type: ignore[arg-type]
        async with HttpPriceGateway(running.base_url) as client:
            with pytest.raises(PriceFeedUnavailable, match="502"):  # the feed behind it is what is broken
                await client.quotes(CODES)


# --- the registry ---------------------------------------------------------------------------

SIMULATOR_CONFIG = {"kind": "simulator", "seed": SEED, "anchors": {c: str(p) for c, p in ANCHORS.items()}}


async def test_the_registry_builds_both_kinds(clock: FixedClock, twin: SimulatedPriceFeed) -> None:
    simulated = build_price_gateway({**SIMULATOR_CONFIG, "step_s": 5}, clock=clock)
    assert isinstance(simulated, SimulatedPriceFeed)
    assert await simulated.quotes(CODES) == {code: twin.quote_at(code, START) for code in CODES}
    await simulated.close()
    faulty = build_price_gateway({**SIMULATOR_CONFIG, "fault": "stale", "stale_by_s": 30}, clock=clock)
    assert all(is_stale(q, START, 20) for q in (await faulty.quotes(CODES)).values())
    over_http = build_price_gateway({"kind": "http", "base_url": "http://127.0.0.1:8767/", "timeout_s": 2})
    assert isinstance(over_http, HttpPriceGateway) and over_http.timeout_s == 2.0
    assert over_http.base_url == "http://127.0.0.1:8767"
    await over_http.close()


def test_a_checked_configuration_is_complete() -> None:
    assert check_price_gateway_config(SIMULATOR_CONFIG) == {**SIMULATOR_CONFIG, "step_s": 5.0}
    checked = check_price_gateway_config({"kind": "simulator", "seed": -3, "anchors": {"5.HK": D("62.5")},
                                          "step_s": 60, "fault": "halt:5.HK", "stale_by_s": 0})
    assert checked == {"kind": "simulator", "seed": -3, "anchors": {"5.HK": "62.5"}, "step_s": 60.0,
                       "fault": "halt:5.HK", "stale_by_s": 0.0}
    assert json.loads(json.dumps(checked)) == checked  # storable as is
    assert check_price_gateway_config({"kind": "http", "base_url": "https://feed.example"}) == {
        "kind": "http", "base_url": "https://feed.example", "timeout_s": 5.0}
    assert check_price_gateway_config({**SIMULATOR_CONFIG, "fault": None}) == {**SIMULATOR_CONFIG, "step_s": 5.0}


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        (["kind", "http"], "price gateway", "JSON object"), ({}, "kind", "one of http, simulator"),
        ({**SIMULATOR_CONFIG, "kind": "simulated"}, "kind", "got 'simulated'"), ({"kind": ["http"]}, "kind", "one of"),
        ({"kind": "simulator", "anchors": {"5.HK": "62.50"}}, "seed", "required"),
        ({"kind": "simulator", "seed": 7}, "anchors", "required"),
        ({**SIMULATOR_CONFIG, "seed": True}, "seed", "whole number"),
        ({**SIMULATOR_CONFIG, "seed": "7"}, "seed", "whole number"),
        ({**SIMULATOR_CONFIG, "anchors": {}}, "anchors", "one or more"),
        ({**SIMULATOR_CONFIG, "anchors": ["700.HK"]}, "anchors", "one or more"),
        ({**SIMULATOR_CONFIG, "anchors": {"700.hk": "368.20"}}, "anchors", "instrument codes"),
        ({**SIMULATOR_CONFIG, "anchors": {"700.HK": 368.2}}, "anchors[700.HK]", "got the number 368.2"),
        ({**SIMULATOR_CONFIG, "anchors": {"700.HK": "368.30"}}, "anchors[700.HK]", "HKEX grid (steps of 0.20"),
        ({**SIMULATOR_CONFIG, "anchors": {"700.HK": "0"}}, "anchors[700.HK]", "HKEX grid"),
        ({**SIMULATOR_CONFIG, "anchors": {"700.HK": "3.682e2"}}, "anchors[700.HK]", "decimal string"),
        ({**SIMULATOR_CONFIG, "step_s": 0.5}, "step_s", "at least 1"),
        ({**SIMULATOR_CONFIG, "step_s": "5"}, "step_s", "number of seconds"),
        ({**SIMULATOR_CONFIG, "fault": "sleep"}, "fault", "down, timeout, stale or halt"),
        ({**SIMULATOR_CONFIG, "fault": "halt:700.hk"}, "fault", "halt:<code>"),
        ({**SIMULATOR_CONFIG, "stale_by_s": -1}, "stale_by_s", "at least 0"),
        ({**SIMULATOR_CONFIG, "store": "x.sqlite"}, "store", "not a setting of a simulator"),
        ({"kind": "http"}, "base_url", "required"),
        ({"kind": "http", "base_url": "127.0.0.1:8767"}, "base_url", "http(s)"),
        ({"kind": "http", "base_url": "http://h", "timeout_s": 0}, "timeout_s", "positive"),
        ({"kind": "http", "base_url": "http://h", "timeout_s": True}, "timeout_s", "positive"),
        ({"kind": "http", "base_url": "http://h", "seed": 7}, "seed", "not a setting of a http"),
    ],
)
def test_the_registry_refuses_naming_the_setting(config: Any, field: str, words: str) -> None:
    with pytest.raises(PriceGatewayConfigError) as caught:
        check_price_gateway_config(config)
    refusal = caught.value
    assert isinstance(refusal, ValidationFailed) and isinstance(refusal, ValueError)
    assert refusal.field == field and str(refusal).startswith(f"{field} ") and words in refusal.rule
    with pytest.raises(PriceGatewayConfigError):
        build_price_gateway(config)


# --- the simulator as its own process -------------------------------------------------------


@pytest.mark.slow
async def test_a_simulated_market_served_by_its_own_process(tmp_path: Path, twin: SimulatedPriceFeed) -> None:
    config = tmp_path / "market.json"
    config.write_text(json.dumps(SIMULATOR_CONFIG))
    process = subprocess.Popen(
        [sys.executable, "-m", "wbo_tui.engine.margin.prices.http_server", "--config", str(config)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        async with HttpPriceGateway(line.split()[-1], timeout_s=CLIENT_TIMEOUT_S) as client:
            quotes = await client.quotes(CODES)
        assert all(quote == twin.quote_at(code, quote.quoted_at) for code, quote in quotes.items())
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0

"""The bank exchange channel: each behaviour runs against the simulator directly and through
the HTTP gateway on 127.0.0.1 (a server in front of its own simulator on the same store, as
a bank process would be); then the HTTP contract's own cases, the configuration, a race."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

import bank_channel_workers
import httpx
import pytest

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.fx.bank import (
    BankChannelConfigError, BankChannelError, BankChannelTimeout, BankChannelUnavailable, BankExchangeGateway,
    BankExchangeHttpServer, BankProtocolError, ChannelIdempotencyConflict, ChannelOrderState, ExchangeOrder,
    HttpBankChannel, SimulatedBankChannel, UnknownChannelOrder, build_bank_channel,
)

D = Decimal
START = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
# Generous for the behavioural tests (a loaded machine must not turn an answer into a
# timeout); the lost-answer tests use a short client timeout and a hold far longer.
CLIENT_TIMEOUT_S = 10.0
SHORT_TIMEOUT_S = 0.5
HOLD_S = 5.0


def usd_to_hkd(order_id: str, amount: str, channel_name: str = "HSB") -> ExchangeOrder:
    return ExchangeOrder(order_id, channel_name, "USD", D(amount), "HKD")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "fx-bank.sqlite"


@pytest.fixture
async def bank(store: Path, clock: FixedClock) -> AsyncIterator[SimulatedBankChannel]:
    """The bank's own side: settings and inspection (rates as the vendor's channels quote)."""
    simulator = SimulatedBankChannel(store, clock=clock)
    await simulator.set_rate("HSB", "USD", "HKD", D("7.8120"))
    await simulator.set_rate("ICBCASIA", "USD", "HKD", D("7.8123"))
    yield simulator
    await simulator.close()


@pytest.fixture
def server(store: Path, clock: FixedClock) -> Iterator[BankExchangeHttpServer]:
    served = SimulatedBankChannel(store, clock=clock)
    served.open()
    with BankExchangeHttpServer(served) as running:
        yield running
    served.close_store()


@pytest.fixture(params=["simulator", "http"])
async def channel(
    request: pytest.FixtureRequest, bank: SimulatedBankChannel, store: Path, clock: FixedClock
) -> AsyncIterator[BankExchangeGateway]:
    if request.param == "simulator":
        gateway: BankExchangeGateway = SimulatedBankChannel(store, clock=clock)
    else:
        server: BankExchangeHttpServer = request.getfixturevalue("server")
        gateway = HttpBankChannel(server.base_url, timeout_s=CLIENT_TIMEOUT_S)
    yield gateway
    await gateway.close()


# --- the same behaviour, directly and over HTTP ---------------------------------------------


async def test_fills_at_the_channel_rate(channel: BankExchangeGateway) -> None:
    assert isinstance(channel, BankExchangeGateway)
    state = await channel.submit(usd_to_hkd("FX-0001", "1000"))

    assert state == ChannelOrderState(
        "FX-0001", "SUCCEEDED", D("7.8120"), D("7812.00"), "SIM-HSB-00000001", None, "EXECUTED",
        "Executed 1000 USD into 7812.00 HKD at 7.8120.",
    )
    assert str(state.channel_rate) == "7.8120" and str(state.to_amount) == "7812.00"  # exact, not just equal
    assert await channel.query("FX-0001") == state


@pytest.mark.parametrize(
    ("pair", "rate", "places", "rounding", "amount", "expected"),
    [
        # 1234567.89 x 7.8123 = 9644814.727047 exactly; half-up to cents.
        ("USD/HKD", "7.8123", 2, ROUND_HALF_UP, "1234567.89", "9644814.73"),
        # 8.08 x 7.8125 = 63.125 exactly: half-up gives 63.13 where half-even gives 63.12.
        ("USD/HKD", "7.8125", 2, ROUND_HALF_UP, "8.08", "63.13"),
        # 1000.50 x 19.2345 = 19244.117...: configured to whole yen, cut down.
        ("HKD/JPY", "19.2345", 0, ROUND_DOWN, "1000.50", "19244"),
    ],
)
async def test_the_target_amount_is_exact_and_rounded_as_configured(
    channel: BankExchangeGateway, bank: SimulatedBankChannel,
    pair: str, rate: str, places: int, rounding: str, amount: str, expected: str,
) -> None:
    source, target = pair.split("/")
    await bank.set_rate("CIBC", source, target, D(rate), to_places=places, rounding=rounding)
    state = await channel.submit(ExchangeOrder("FX-0002", "CIBC", source, D(amount), target))
    assert (str(state.channel_rate), str(state.to_amount)) == (rate, expected)


async def test_resubmitting_returns_the_order_and_converts_once(
    channel: BankExchangeGateway, bank: SimulatedBankChannel
) -> None:
    first = await channel.submit(usd_to_hkd("FX-0005", "1000"))
    # The amount compared as a number: 1000.00 is the same order as 1000.
    again = await channel.submit(usd_to_hkd("FX-0005", "1000.00"))

    assert again == first
    assert len(await bank.orders()) == 1
    assert await bank.received("FX-0005", "submit", "accepted") == 1
    assert await bank.received("FX-0005", "submit", "replayed") == 1


@pytest.mark.parametrize(
    "changed",
    [usd_to_hkd("FX-0006", "1000.01"), usd_to_hkd("FX-0006", "1000", "ICBCASIA"),
     ExchangeOrder("FX-0006", "HSB", "USD", D("1000"), "CNH")],
    ids=["amount", "channel", "target currency"],
)
async def test_same_id_with_other_fields_is_a_conflict(
    channel: BankExchangeGateway, bank: SimulatedBankChannel, changed: ExchangeOrder
) -> None:
    first = await channel.submit(usd_to_hkd("FX-0006", "1000"))
    with pytest.raises(ChannelIdempotencyConflict) as raised:
        await channel.submit(changed)
    assert raised.value.order_id == "FX-0006"
    assert await channel.query("FX-0006") == first
    assert [o.order for o in await bank.orders()] == [usd_to_hkd("FX-0006", "1000")]


async def test_fill_delay_then_success_on_query(
    channel: BankExchangeGateway, bank: SimulatedBankChannel, clock: FixedClock
) -> None:
    await bank.set_fill_delay(60)
    state = await channel.submit(usd_to_hkd("FX-0007", "250"))
    # The journal number comes with the booking; the rate and amount with the fill.
    assert (state.status, state.raw_status, state.serial_no) == ("PROCESSING", "RECEIVED", "SIM-HSB-00000001")
    assert (state.channel_rate, state.to_amount) == (None, None)

    await bank.set_rate("HSB", "USD", "HKD", D("7.9000"))  # a later quote does not move a booked order
    clock.advance(seconds=59)
    assert (await channel.query("FX-0007")).status == "PROCESSING"
    clock.advance(seconds=1)
    filled = await channel.query("FX-0007")

    assert (filled.status, filled.channel_rate, filled.to_amount) == ("SUCCEEDED", D("7.8120"), D("1953.00"))
    assert await channel.submit(usd_to_hkd("FX-0007", "250")) == filled
    [held] = await bank.orders()
    assert held.fill_at == START.replace(minute=31)


async def test_a_channel_may_have_its_own_fill_delay(channel: BankExchangeGateway, bank: SimulatedBankChannel) -> None:
    await bank.set_fill_delay(300, "ICBCASIA")
    assert (await channel.submit(usd_to_hkd("FX-0008", "1", "ICBCASIA"))).status == "PROCESSING"
    assert (await channel.submit(usd_to_hkd("FX-0009", "1", "HSB"))).status == "SUCCEEDED"


async def test_fail_next_fails_new_orders(channel: BankExchangeGateway, bank: SimulatedBankChannel) -> None:
    await bank.fail_next(1, "Insufficient nostro balance in USD.")
    failed = await channel.submit(usd_to_hkd("FX-0010", "500"))
    assert (failed.status, failed.raw_status, failed.channel_rate, failed.to_amount) == ("FAILED", "REJECTED", None, None)
    assert failed.reason == "Insufficient nostro balance in USD."
    # A failed order stays failed under its id; resending it does not use up a fault
    # or turn it into a success.
    assert await channel.submit(usd_to_hkd("FX-0010", "500")) == failed
    assert await channel.query("FX-0010") == failed
    assert (await channel.submit(usd_to_hkd("FX-0011", "500"))).status == "SUCCEEDED"


async def test_a_pair_the_channel_does_not_quote_fails(channel: BankExchangeGateway) -> None:
    state = await channel.submit(ExchangeOrder("FX-0012", "CIBC", "EUR", D("10"), "HKD"))
    assert state.status == "FAILED"
    assert state.reason == "Channel CIBC does not quote EUR/HKD."


async def test_timeout_then_query_finds_the_order_converted_once(
    channel: BankExchangeGateway, bank: SimulatedBankChannel
) -> None:
    await bank.timeout_next(1)
    with pytest.raises(BankChannelTimeout):
        await channel.submit(usd_to_hkd("FX-0013", "1000"))

    # Settled by a status query, never by resending blind: the bank has the order.
    found = await channel.query("FX-0013")
    assert (found.status, found.to_amount) == ("SUCCEEDED", D("7812.00"))
    assert await channel.submit(usd_to_hkd("FX-0013", "1000")) == found
    assert len(await bank.orders()) == 1
    log = await bank.request_log("FX-0013")
    assert [(e.call, e.outcome, e.answer_lost) for e in log] == [
        ("submit", "accepted", True), ("query", "found", False), ("submit", "replayed", False)
    ]


async def test_a_query_can_time_out_too(channel: BankExchangeGateway, bank: SimulatedBankChannel) -> None:
    state = await channel.submit(usd_to_hkd("FX-0014", "1"))
    await bank.timeout_next(1, "query")
    with pytest.raises(BankChannelTimeout):
        await channel.query("FX-0014")
    assert await channel.query("FX-0014") == state


async def test_down_is_unavailable_records_nothing(channel: BankExchangeGateway, bank: SimulatedBankChannel) -> None:
    await bank.down(True)
    with pytest.raises(BankChannelUnavailable):
        await channel.submit(usd_to_hkd("FX-0015", "1000"))
    with pytest.raises(BankChannelUnavailable):
        await channel.query("FX-0015")
    assert await bank.orders() == []

    await bank.down(False)
    with pytest.raises(UnknownChannelOrder):  # the bank never got it, so sending again is right
        await channel.query("FX-0015")
    assert (await channel.submit(usd_to_hkd("FX-0015", "1000"))).status == "SUCCEEDED"


async def test_an_unknown_order_id_is_unknown(channel: BankExchangeGateway) -> None:
    with pytest.raises(UnknownChannelOrder) as raised:
        await channel.query("FX-NEVER-SENT")
    assert raised.value.order_id == "FX-NEVER-SENT"


# --- the boundary ---------------------------------------------------------------------------


def test_timeout_and_unavailable_are_distinct() -> None:
    errors = (BankChannelTimeout, BankChannelUnavailable, BankProtocolError, UnknownChannelOrder,
              ChannelIdempotencyConflict)
    assert all(issubclass(e, BankChannelError) and not issubclass(e, tuple(set(errors) - {e})) for e in errors)


async def test_floats_are_refused_at_the_boundary(bank: SimulatedBankChannel) -> None:
    with pytest.raises(TypeError):
        ExchangeOrder("FX-0016", "HSB", "USD", 1000.0, "HKD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await bank.set_rate("HSB", "USD", "HKD", 7.812)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ChannelOrderState("FX-0016", "SUCCEEDED", 7.812, D("1"), None, None, "EXECUTED", "")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ExchangeOrder("FX-0016", "HSB", "USD", D("-1"), "HKD")


# --- the HTTP contract ----------------------------------------------------------------------


async def test_amounts_travel_as_decimal_strings(server: BankExchangeHttpServer, bank: SimulatedBankChannel) -> None:
    order = {"order_id": "FX-0017", "channel_name": "HSB", "from_currency": "USD", "to_currency": "HKD"}
    async with httpx.AsyncClient(base_url=server.base_url) as raw:
        refused = await raw.post("/exchange-orders", json={**order, "from_amount": 1000.5})  # a JSON number
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "BAD_REQUEST")
        assert await bank.orders() == []
        await raw.post("/exchange-orders", json={**order, "from_amount": "1000.50"})
        answer = (await raw.get("/exchange-orders/FX-0017")).json()
    assert (answer["channel_rate"], answer["to_amount"]) == ("7.8120", "7815.91")  # 7815.906 half-up


async def test_an_answer_lost_on_the_way_back_is_a_timeout_then_found(
    server: BankExchangeHttpServer, bank: SimulatedBankChannel
) -> None:
    server.inject_delay("submit", HOLD_S, execute=True)
    async with HttpBankChannel(server.base_url, timeout_s=SHORT_TIMEOUT_S) as client:
        with pytest.raises(BankChannelTimeout):
            await client.submit(usd_to_hkd("FX-0018", "10"))
        while not await bank.received("FX-0018", "submit"):  # the bank books, then holds the answer
            await asyncio.sleep(0.01)
        assert (await client.query("FX-0018")).status == "SUCCEEDED"
    assert await bank.received("FX-0018", "submit", "accepted") == 1


async def test_a_request_lost_on_the_way_in_is_unknown_then_sent_once(
    server: BankExchangeHttpServer, bank: SimulatedBankChannel
) -> None:
    server.inject_delay("submit", HOLD_S, execute=False)
    async with HttpBankChannel(server.base_url, timeout_s=SHORT_TIMEOUT_S) as client:
        with pytest.raises(BankChannelTimeout):
            await client.submit(usd_to_hkd("FX-0019", "10"))
        with pytest.raises(UnknownChannelOrder):
            await client.query("FX-0019")
        # Only now is sending again the next step, with the same order id.
        assert (await client.submit(usd_to_hkd("FX-0019", "10"))).status == "SUCCEEDED"
    assert await bank.received("FX-0019", "submit") == 1
    assert server.received("submit") == 2


async def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with HttpBankChannel(f"http://127.0.0.1:{port}", timeout_s=SHORT_TIMEOUT_S) as client:
        with pytest.raises(BankChannelUnavailable):
            await client.submit(usd_to_hkd("FX-0020", "10"))
        with pytest.raises(BankChannelUnavailable):
            await client.query("FX-0020")


async def test_a_bare_404_is_not_an_unknown_order(server: BankExchangeHttpServer) -> None:
    # A wrong base URL (or a proxy) answers 404 too; reading that as "the bank never got
    # it" could convert twice.
    async with HttpBankChannel(server.base_url + "/wrong", timeout_s=CLIENT_TIMEOUT_S) as client:
        with pytest.raises(BankProtocolError):
            await client.query("FX-0021")


def _error(code: str) -> bytes:
    return b'{"error":{"code":"%s","message":"m"}}' % code.encode()


_STATE = (b'{"order_id":"FX-0022","status":"SUCCEEDED","channel_rate":%s,"to_amount":"78.12",'
          b'"serial_no":"J1","reason":null,"raw_status":"EXECUTED","message":"ok"}')


@pytest.mark.parametrize(
    ("status", "body", "on_submit", "on_query"),
    [
        (200, _STATE % b'"7.8120"', None, None),
        (200, _STATE % b"7.812", BankProtocolError, BankProtocolError),  # a JSON number
        (200, _STATE.replace(b"FX-0022", b"FX-9999") % b'"7.8120"', BankProtocolError, BankProtocolError),
        (200, b"{not json", BankProtocolError, BankProtocolError),
        (409, _error("IDEMPOTENCY_CONFLICT"), ChannelIdempotencyConflict, BankProtocolError),
        (503, _error("UNAVAILABLE"), BankChannelUnavailable, BankChannelUnavailable),
        (504, _error("CHANNEL_TIMEOUT"), BankChannelTimeout, BankChannelTimeout),
        # The bank may have booked the order before failing: a submit is then unknown.
        (500, b"oops", BankChannelTimeout, BankChannelUnavailable),
        (404, _error("UNKNOWN_ORDER"), BankProtocolError, UnknownChannelOrder),
        (404, b"not found", BankProtocolError, BankProtocolError),
    ],
)
async def test_answers_map_to_the_gateway_errors(
    status: int, body: bytes, on_submit: type[Exception] | None, on_query: type[Exception] | None
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    async with HttpBankChannel("http://bank.test", transport=transport) as client:
        for expected, call in ((on_submit, client.submit), (on_query, client.query)):
            argument = usd_to_hkd("FX-0022", "10") if call == client.submit else "FX-0022"
            if expected is None:
                assert (await call(argument)).to_amount == D("78.12")  # type: ignore[arg-type]
            else:
                with pytest.raises(expected):
                    await call(argument)  # type: ignore[arg-type]


# --- configuration ----------------------------------------------------------------------------


async def test_registry_builds_both_kinds(store: Path) -> None:
    simulated = build_bank_channel({"kind": "simulated", "store": str(store)})
    assert isinstance(simulated, SimulatedBankChannel)
    await simulated.close()
    over_http = build_bank_channel({"kind": "http", "base_url": "http://127.0.0.1:8766", "timeout_s": 2})
    assert isinstance(over_http, HttpBankChannel) and over_http.timeout_s == 2.0
    await over_http.close()


@pytest.mark.parametrize(
    "config",
    [
        {}, {"kind": "fix"}, {"kind": "simulated"}, {"kind": "simulated", "store": ""},
        {"kind": "simulated", "store": "x.sqlite", "rate": "7.8"}, {"kind": "http", "base_url": "ftp://bank"},
        {"kind": "http", "base_url": "http://bank", "timeout_s": 0},
        {"kind": "http", "base_url": "http://bank", "timeout_s": True},
    ],
)
def test_registry_refuses_a_bad_config(config: dict) -> None:
    with pytest.raises(BankChannelConfigError):
        build_bank_channel(config)


# --- several processes, one bank ------------------------------------------------------------


@pytest.mark.slow
async def test_two_processes_submitting_the_same_orders_convert_each_once(
    store: Path, bank: SimulatedBankChannel
) -> None:
    order_ids = [f"FX-RACE-{i:03d}" for i in range(20)]
    first, second = await bank_channel_workers.race(str(store), order_ids, "1000")
    # Both processes were told the same thing about every order...
    assert first == second
    assert {(status, to_amount) for _, status, _, to_amount in first} == {("SUCCEEDED", "7812.00")}
    # ...and the bank converted each exactly once, whichever process got there first.
    assert sorted(o.order.order_id for o in await bank.orders()) == order_ids
    for order_id in order_ids:
        log = await bank.request_log(order_id)
        assert sorted(e.outcome for e in log) == ["accepted", "replayed"]
        assert len({e.pid for e in log}) == 2

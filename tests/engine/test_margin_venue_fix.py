"""The liquidation venue over FIX 4.4: ``FixVenue`` against a ``FixAcceptor`` on 127.0.0.1
served by its own simulator on the venue's store (as a venue process would be), with a
second simulator instance on the same store as the venue's own side (settings, faults,
inspection).  The raw messages are checked tag by tag; then the session layer: heartbeats,
test requests, dropped connections mid-order, sequence gaps."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import simplefix

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.margin.venue import (
    CancelRejected, FixAcceptor, FixVenue, SimulatedVenue, UnknownVenueOrder, VenueIdempotencyConflict, VenueOrder,
    VenueSettings, VenueTimeout, VenueUnavailable,
)

D = Decimal
START = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)
CHUNKS = VenueSettings(max_lots_per_fill=2, fill_step_s=5)
# Generous for the behaviour (a loaded machine must not turn an answer into a timeout);
# the lost-answer tests use a short one.
TIMEOUT_S = 5.0
SHORT_TIMEOUT_S = 0.5


def sell(cl_ord_id: str = "LQ-000001-0001", quantity: int = 1000, code: str = "700.HK",
         limit: str = "349.80") -> VenueOrder:
    return VenueOrder(cl_ord_id, "C0001", code, "SELL", quantity, D(limit), "MC-42")


def tags(msg: simplefix.FixMessage) -> dict[int, str]:
    """The message's fields by tag (the first of each)."""
    found: dict[int, str] = {}
    for tag, value in msg.pairs:
        found.setdefault(int(tag), value.decode())
    return found


def of_type(log: Iterable[simplefix.FixMessage], msg_type: str, **where: str) -> list[dict[int, str]]:
    """The messages of ``msg_type`` in ``log`` whose fields match ``where`` (``t150="F"``)."""
    picked = [tags(m) for m in log if m.message_type == msg_type.encode()]
    return [m for m in picked if all(m.get(int(k[1:])) == v for k, v in where.items())]


async def eventually(check: Callable[[], bool], limit_s: float = 3.0) -> None:
    for _ in range(int(limit_s / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    assert check()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def market() -> dict[str, tuple[Decimal, Decimal]]:
    return {"700.HK": (D("350.00"), D("350.20"))}


@pytest.fixture
async def venue_side(tmp_path: Path, clock: FixedClock, market: dict) -> AsyncIterator[SimulatedVenue]:
    """The venue's own side: its settings, faults and books."""
    async with SimulatedVenue(tmp_path / "venue.sqlite", prices=market.get, clock=clock, settings=CHUNKS) as sim:
        await sim.configure(VenueSettings(max_lots_per_fill=2, fill_step_s=5, reject_codes=frozenset({"5.HK"})))
        yield sim


@pytest.fixture
async def acceptor(
    venue_side: SimulatedVenue, clock: FixedClock, market: dict
) -> AsyncIterator[FixAcceptor]:
    async with SimulatedVenue(venue_side.store_path, prices=market.get, clock=clock) as served:
        async with FixAcceptor(served, comp_id="SIMVENUE", poll_s=0.05) as running:
            yield running


def client_for(acceptor: FixAcceptor, *, timeout_s: float = TIMEOUT_S, heartbeat_s: int = 30,
               target: str = "SIMVENUE", sender: str = "WBO") -> FixVenue:
    return FixVenue("127.0.0.1", acceptor.port, sender_comp_id=sender, target_comp_id=target,
                    timeout_s=timeout_s, heartbeat_s=heartbeat_s)


@pytest.fixture
async def client(acceptor: FixAcceptor) -> AsyncIterator[FixVenue]:
    async with client_for(acceptor) as venue:
        yield venue


# --- orders and fills ------------------------------------------------------------------------------


async def test_an_order_fills_over_fix_as_on_the_simulator(
    client: FixVenue, acceptor: FixAcceptor, venue_side: SimulatedVenue, clock: FixedClock
) -> None:
    first = await client.submit(sell())
    assert (first.state, first.venue_order_id, first.filled_quantity, first.leaves_quantity) == (
        "PARTIALLY_FILLED", "SIMV-00000001", 200, 800)

    [logon] = of_type(acceptor.received, "A")
    assert (logon[49], logon[56], logon[34], logon[108], logon[141], logon[98]) == (
        "WBO", "SIMVENUE", "1", "30", "Y", "0")
    [order] = of_type(acceptor.received, "D")
    assert {t: order[t] for t in (11, 1, 55, 207, 54, 38, 40, 44, 59, 58)} == {
        11: "LQ-000001-0001", 1: "C0001", 55: "700.HK", 207: "XHKG", 54: "2", 38: "1000", 40: "2", 44: "349.80",
        59: "0", 58: "MC-42"}
    assert 60 in order and order[8] == "FIX.4.4"
    [ack] = of_type(client.received, "8", t150="0")
    assert {t: ack[t] for t in (37, 11, 39, 38, 151, 14, 54, 55)} == {
        37: "SIMV-00000001", 11: "LQ-000001-0001", 39: "0", 38: "1000", 151: "1000", 14: "0", 54: "2", 55: "700.HK"}
    trade = of_type(client.received, "8", t150="F")[0]
    assert {t: trade[t] for t in (17, 32, 31, 14, 151, 39, 6, 60)} == {
        17: "SIMV-00000001-0001", 32: "200", 31: "350.00", 14: "200", 151: "800", 39: "1", 6: "350.000000",
        60: "20261120-01:30:00.000000"}

    clock.advance(seconds=600)
    done = await client.status("LQ-000001-0001")
    assert done == await venue_side.status("LQ-000001-0001")  # every fill, exec id, price and time
    assert (done.state, done.filled_quantity, len(done.fills)) == ("FILLED", 1000, 5)
    final = of_type(client.received, "8", t150="I")[-1]  # submit asked one status too
    assert (final[39], final[14], final[151]) == ("2", "1000", "0")


async def test_fills_are_pushed_between_calls_and_counted_once(
    client: FixVenue, clock: FixedClock, venue_side: SimulatedVenue
) -> None:
    await client.submit(sell())
    clock.advance(seconds=10)
    # The acceptor's poll finds two more chunks and reports them unasked (no PossResend).
    await eventually(lambda: len(of_type(client.received, "8", t150="F")) >= 4)
    pushed = [m for m in of_type(client.received, "8", t150="F") if 97 not in m]
    assert [m[17] for m in pushed][-2:] == ["SIMV-00000001-0002", "SIMV-00000001-0003"]
    status = await client.status("LQ-000001-0001")
    assert status == await venue_side.status("LQ-000001-0001") and status.filled_quantity == 600


async def test_a_status_request_rebuilds_every_fill_for_a_client_that_never_saw_them(
    client: FixVenue, acceptor: FixAcceptor, clock: FixedClock, venue_side: SimulatedVenue
) -> None:
    await client.submit(sell())
    clock.advance(seconds=15)
    async with client_for(acceptor) as fresh:
        status = await fresh.status("LQ-000001-0001")
        replays = of_type(fresh.received, "8", t150="F")
        [final] = of_type(fresh.received, "8", t150="I")
    assert status == await venue_side.status("LQ-000001-0001") and status.filled_quantity == 800
    assert [(m[17], m[97], m[790]) for m in replays] == [
        (f"SIMV-00000001-000{i}", "Y", final[790]) for i in range(1, 5)]


async def test_resubmitting_is_idempotent_and_other_fields_conflict(
    client: FixVenue, acceptor: FixAcceptor, venue_side: SimulatedVenue
) -> None:
    first = await client.submit(sell())
    assert await client.submit(sell()) == first
    with pytest.raises(VenueIdempotencyConflict):
        await client.submit(sell(quantity=900))  # refused by the client, which knows the order
    async with client_for(acceptor) as other:
        with pytest.raises(VenueIdempotencyConflict):
            await other.submit(sell(quantity=900))  # refused by the venue: 150=8, 103=6
        [dup] = of_type(other.received, "8", t150="8")
        assert dup[103] == "6"
    assert await venue_side.received("LQ-000001-0001", "submit", "accepted") == 1
    assert await client.status("LQ-000001-0001") == first


async def test_a_rejected_order_comes_back_rejected_with_its_reason(client: FixVenue) -> None:
    status = await client.submit(sell(code="5.HK", limit="60.00"))
    assert (status.state, status.reason, status.leaves_quantity) == ("REJECTED", "Security suspended", 0)
    [report] = of_type(client.received, "8", t150="8")
    assert (report[39], report[58]) == ("8", "Security suspended")


# --- cancels ------------------------------------------------------------------------------------------


async def test_a_cancel_keeps_the_fills_and_cancels_the_rest(
    client: FixVenue, acceptor: FixAcceptor, venue_side: SimulatedVenue, clock: FixedClock
) -> None:
    await client.submit(sell())
    clock.advance(seconds=5)
    cancelled = await client.cancel("LQ-000001-0001")
    assert (cancelled.state, cancelled.filled_quantity, cancelled.leaves_quantity) == ("CANCELLED", 400, 0)
    assert cancelled == await venue_side.status("LQ-000001-0001")
    [request] = of_type(acceptor.received, "F")
    assert request[41] == "LQ-000001-0001" and request[11] != request[41] and 60 in request
    [report] = of_type(client.received, "8", t150="4")
    assert (report[11], report[41], report[39], report[151], report[14]) == (request[11], request[41], "4", "0", "400")


async def test_a_client_cancelling_an_order_it_never_saw_gets_every_fill(
    client: FixVenue, acceptor: FixAcceptor, venue_side: SimulatedVenue, clock: FixedClock
) -> None:
    await client.submit(sell())
    clock.advance(seconds=10)
    async with client_for(acceptor) as fresh:
        cancelled = await fresh.cancel("LQ-000001-0001")
        [report] = of_type(fresh.received, "8", t150="4")
    assert cancelled == await venue_side.status("LQ-000001-0001")
    assert (cancelled.state, cancelled.filled_quantity, len(cancelled.fills)) == ("CANCELLED", 600, 3)
    assert (report[1], report[55], report[54]) == ("C0001", "700.HK", "2")  # read from the venue's books


async def test_a_cancel_too_late_is_rejected_with_the_reason_and_the_filled_status(
    client: FixVenue, venue_side: SimulatedVenue
) -> None:
    filled = await client.submit(sell(quantity=200))
    assert filled.state == "FILLED"
    with pytest.raises(CancelRejected) as raised:
        await client.cancel(filled.cl_ord_id)
    assert raised.value.reason == "Too late to cancel: the order is FILLED."
    assert raised.value.status == filled == await venue_side.status(filled.cl_ord_id)
    [reject] = of_type(client.received, "9")
    assert (reject[41], reject[39], reject[102], reject[434], reject[58]) == (
        filled.cl_ord_id, "2", "0", "1", "Too late to cancel: the order is FILLED.")


async def test_an_unknown_order_is_unknown_over_fix(client: FixVenue) -> None:
    with pytest.raises(UnknownVenueOrder):
        await client.status("LQ-NEVER-SENT")
    with pytest.raises(UnknownVenueOrder):
        await client.cancel("LQ-NEVER-SENT")
    assert of_type(client.received, "9")[0][102] == "1"


# --- lost answers and dropped connections ------------------------------------------------------------


@pytest.mark.parametrize("execute", [True, False], ids=["executed", "never-executed"])
async def test_a_connection_dropped_mid_order_is_settled_by_status_and_never_trades_twice(
    client: FixVenue, acceptor: FixAcceptor, venue_side: SimulatedVenue, execute: bool
) -> None:
    await client.ping()  # logged on
    acceptor.drop_after_next_order(execute=execute)
    with pytest.raises(VenueTimeout):  # the order was sent: its fate is unknown
        await client.submit(sell())

    if execute:
        found = await client.status("LQ-000001-0001")  # reconnects, logs on again, asks
        assert (found.state, found.filled_quantity) == ("PARTIALLY_FILLED", 200)
        assert await client.submit(sell()) == found  # the same order again: no second trade
    else:
        with pytest.raises(UnknownVenueOrder):
            await client.status("LQ-000001-0001")
        assert (await client.submit(sell())).filled_quantity == 200  # only now is resending right
    assert await venue_side.received("LQ-000001-0001", "submit", "accepted") == 1
    logons = of_type(client.sent, "A")
    assert [(m[34], m[141]) for m in logons] == [("1", "Y"), ("1", "Y")]  # a new session starts at 1


async def test_a_reconnection_settles_the_orders_still_open(
    client: FixVenue, acceptor: FixAcceptor, clock: FixedClock
) -> None:
    await client.submit(sell())
    for session in acceptor.sessions:
        session.abort("test: the line drops")
    assert client.session is not None
    await client.session.closed.wait()
    clock.advance(seconds=5)
    await client.submit(sell("LQ-000002-0001", 200))
    # The open order was asked after the second logon, before the new order was sent.
    after_logon = list(acceptor.received)[[m.message_type for m in acceptor.received].index(b"A", 1):]
    assert [(m.message_type, tags(m)[11]) for m in after_logon[1:3]] == [(b"H", "LQ-000001-0001"),
                                                                         (b"D", "LQ-000002-0001")]


async def test_a_lost_answer_is_a_timeout_then_found(acceptor: FixAcceptor, venue_side: SimulatedVenue) -> None:
    await venue_side.inject_fault("timeout_after_accept")
    async with client_for(acceptor, timeout_s=SHORT_TIMEOUT_S) as client:
        with pytest.raises(VenueTimeout):
            await client.submit(sell())
        assert (await client.status("LQ-000001-0001")).filled_quantity == 200
    assert await venue_side.received("LQ-000001-0001", "submit", "accepted") == 1


async def test_a_venue_that_is_down_is_unavailable(client: FixVenue, venue_side: SimulatedVenue) -> None:
    await venue_side.down()
    with pytest.raises(VenueUnavailable):
        await client.submit(sell())
    assert of_type(client.received, "j")[0][380] == "4"
    await venue_side.down(False)
    assert await venue_side.orders() == []
    assert (await client.submit(sell())).filled_quantity == 200


async def test_no_listener_or_a_refused_logon_is_unavailable(acceptor: FixAcceptor) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with FixVenue("127.0.0.1", port, sender_comp_id="WBO", target_comp_id="SIMVENUE",
                        timeout_s=SHORT_TIMEOUT_S) as nobody:
        with pytest.raises(VenueUnavailable):
            await nobody.submit(sell())
    async with client_for(acceptor, target="OTHERVENUE", timeout_s=SHORT_TIMEOUT_S) as lost:
        with pytest.raises(VenueUnavailable):
            await lost.status("LQ-000001-0001")
    acceptor.allowed_senders = frozenset({"WBO"})
    async with client_for(acceptor, sender="INTRUDER") as intruder:
        with pytest.raises(VenueUnavailable, match="unknown SenderCompID"):
            await intruder.status("LQ-000001-0001")


# --- the session layer -----------------------------------------------------------------------------------


async def test_test_requests_and_heartbeats(acceptor: FixAcceptor) -> None:
    async with client_for(acceptor, heartbeat_s=1) as client:
        await client.ping()
        [request] = of_type(client.sent, "1")
        assert of_type(client.received, "0", t112=request[112])
        await asyncio.sleep(1.4)  # idle past HeartBtInt: both sides send a Heartbeat
        assert [m for m in of_type(client.received, "0") if 112 not in m]
        assert [m for m in of_type(client.sent, "0") if 112 not in m]
        assert client.session is not None and client.session.is_open
        assert (await client.submit(sell())).filled_quantity == 200


async def test_a_venue_that_falls_silent_is_dropped_after_its_test_request_goes_unanswered() -> None:
    """A venue that logs on and then answers nothing (not even a TestRequest): after 2.5
    heartbeat intervals of silence the client closes the connection."""

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = simplefix.FixParser()
        while (logon := parser.get_message()) is None:
            parser.append_buffer(await reader.read(4096))
        reply = simplefix.FixMessage()
        for tag, value in ((8, "FIX.4.4"), (35, "A"), (49, "SIMVENUE"), (56, "WBO"), (34, 1),
                           (52, "20261120-01:30:00.000"), (98, 0), (108, logon.get(108).decode()), (141, "Y")):
            reply.append_pair(tag, value)
        writer.write(reply.encode())
        while await reader.read(4096):
            pass  # heard, never answered
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with FixVenue("127.0.0.1", port, sender_comp_id="WBO", target_comp_id="SIMVENUE",
                        timeout_s=SHORT_TIMEOUT_S, heartbeat_s=1) as client:
        with pytest.raises(VenueTimeout):
            await client.ping()
        session = client.session
        assert session is not None
        await asyncio.wait_for(session.closed.wait(), 4)
        assert session.close_reason.startswith("no message from the peer")
        assert [m for m in of_type(client.sent, "1") if m[112].startswith("HB-")]  # its own TestRequest
    server.close()
    await server.wait_closed()


async def test_a_gap_from_the_venue_is_gap_filled_and_the_orders_settled(
    client: FixVenue, acceptor: FixAcceptor
) -> None:
    await client.submit(sell())
    acceptor.skip_outgoing_seq(3)  # three messages lost on their way to the client
    await client.submit(sell("LQ-000002-0001", 200))
    session = client.session
    assert session is not None
    [resend] = of_type(client.sent, "2")
    [gap_fill] = of_type(client.received, "4")
    assert (resend[16], gap_fill[34], gap_fill[123], gap_fill[43]) == ("0", resend[7], "Y", "Y")
    await eventually(lambda: session.next_in_seq == acceptor.sessions[0].next_out_seq)
    # The gap may have eaten reports: the open order is asked for again.
    await eventually(lambda: len(of_type(acceptor.received, "H", t11="LQ-000001-0001")) >= 2)
    assert (await client.status("LQ-000001-0001")).filled_quantity == 200
    assert session.is_open and not of_type(client.received, "5")


async def test_a_gap_from_the_client_is_answered_with_a_gap_fill(client: FixVenue, acceptor: FixAcceptor) -> None:
    await client.ping()
    assert client.session is not None
    client.session.skip_outgoing(2)
    assert (await client.submit(sell())).filled_quantity == 200
    [resend] = of_type(acceptor.sent, "2")
    [gap_fill] = of_type(client.sent, "4")
    assert (gap_fill[34], gap_fill[123], gap_fill[43]) == (resend[7], "Y", "Y")
    assert int(gap_fill[36]) > int(resend[7]) + 2  # past the two lost numbers and the order itself
    await eventually(lambda: acceptor.sessions[0].next_in_seq == client.session.next_out_seq)


async def test_a_sequence_number_too_low_ends_the_session_and_the_next_call_reconnects(
    client: FixVenue, acceptor: FixAcceptor
) -> None:
    await client.submit(sell())
    assert client.session is not None
    client.session.next_out_seq -= 1  # a number already used
    with pytest.raises(VenueTimeout):
        await client.status("LQ-000001-0001")
    [logout] = of_type(acceptor.sent, "5")
    assert logout[58].startswith("MsgSeqNum too low")
    assert (await client.status("LQ-000001-0001")).filled_quantity == 200


async def test_a_malformed_order_or_an_unserved_message_is_refused(
    client: FixVenue, acceptor: FixAcceptor, venue_side: SimulatedVenue
) -> None:
    await client.ping()
    session = client.session
    assert session is not None
    without_price = [(11, "LQ-BAD"), (1, "C0001"), (55, "700.HK"), (54, "2"), (38, 100), (40, "2"), (59, "0"),
                     (58, "MC-42")]
    bad = await session.send("D", without_price)
    await session.send("AE", [(571, "R1")])  # a TradeCaptureReport: not this venue's business
    await eventually(lambda: bool(of_type(acceptor.sent, "3")) and bool(of_type(acceptor.sent, "j")))
    [reject] = of_type(acceptor.sent, "3")
    assert (reject[45], reject[371], reject[373]) == (tags(bad)[34], "44", "1")
    assert of_type(acceptor.sent, "j")[0][380] == "3"
    assert await venue_side.orders() == [] and session.is_open


async def test_a_garbled_message_ends_the_session_without_an_answer(acceptor: FixAcceptor) -> None:
    logon = simplefix.FixMessage()
    for tag, value in ((8, "FIX.4.4"), (35, "A"), (49, "WBO"), (56, "SIMVENUE"), (34, 1), (98, 0), (108, 30),
                       (141, "Y")):
        logon.append_pair(tag, value)
    wire = logon.encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", acceptor.port)
    writer.write(wire[:-4] + b"999\x01")  # a wrong CheckSum
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), TIMEOUT_S) == b""
    writer.close()

"""The HTTP gateway against the simulator served on 127.0.0.1: every operation, the
error answers, and lost answers (a timed-out submit is UNKNOWN until its status is
queried; nothing is ever resubmitted behind the caller's back)."""

from __future__ import annotations

import socket
from decimal import Decimal

import httpx
import pytest
from upstream_support import CLIENT_TIMEOUT_S, HOLD_S, START, wait_until

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.upstream import (
    HttpGateway,
    IdempotencyConflict,
    ReasonCode,
    SimulatedUpstream,
    TransferRequest,
    TransferState,
    UnknownAccounts,
    UpstreamGateway,
    UpstreamHttpServer,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from wbo_tui.engine.upstream import wire

D = Decimal


def transfer(key: str, amount: str, destination: str = "HK-002") -> TransferRequest:
    return TransferRequest(key, "HK-001", destination, "HKD", D(amount))


async def _reached(bank: SimulatedUpstream) -> bool:
    return await bank.request_count("submit") > 0


@pytest.fixture
async def bank(sim: SimulatedUpstream) -> SimulatedUpstream:
    await sim.set_balances([("HK-001", "HKD", D("1000.00")), ("HK-001", "USD", D("0.5")), ("HK-002", "HKD", D("0"))])
    return sim


# --- every operation ----------------------------------------------------------------------


async def test_client_is_a_gateway(client: HttpGateway) -> None:
    assert isinstance(client, UpstreamGateway)


async def test_server_binds_loopback_only(server: UpstreamHttpServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server._httpd is not None and server._httpd.server_address[0] == "127.0.0.1"


async def test_balances_over_http_equal_the_simulators(client: HttpGateway, bank: SimulatedUpstream) -> None:
    over_http = await client.fetch_balances(["HK-002", "HK-001"])
    direct = await bank.fetch_balances(["HK-001", "HK-002"])
    assert over_http == direct
    assert [(b.account_no, b.currency, b.available) for b in over_http] == [
        ("HK-001", "HKD", D("1000.00")),
        ("HK-001", "USD", D("0.5")),
        ("HK-002", "HKD", D("0")),
    ]


async def test_a_full_poll_is_one_request(client: HttpGateway, sim: SimulatedUpstream, server: UpstreamHttpServer) -> None:
    accounts = [f"CH-{i:03d}" for i in range(200)]
    await sim.set_balances([(a, f"C{j:02d}", D(f"{j}.25")) for a in accounts for j in range(20)])

    balances = await client.fetch_balances(accounts)

    assert len(balances) == 4000
    assert sum(b.available for b in balances) == 200 * sum(D(f"{j}.25") for j in range(20))
    assert server.received("balances") == 1
    assert await sim.request_count("balances") == 1


async def test_unknown_accounts_over_http(client: HttpGateway, bank: SimulatedUpstream) -> None:
    with pytest.raises(UnknownAccounts) as raised:
        await client.fetch_balances(["HK-002", "GHOST"])
    assert raised.value.account_nos == ("GHOST",)
    assert [(b.account_no, b.available) for b in raised.value.balances] == [("HK-002", D("0"))]


async def test_submit_and_status_over_http(client: HttpGateway, bank: SimulatedUpstream) -> None:
    status = await client.submit_transfer(transfer("K-1", "250.50"))

    assert status.state is TransferState.SUCCEEDED
    assert status.transfer_ref == "SIM-00000001"
    assert status.updated_at == START
    assert await client.transfer_status("K-1") == status
    assert (await bank.balance("HK-002", "HKD")).available == D("250.50")  # type: ignore[union-attr]


async def test_failed_transfer_over_http_keeps_its_reason(client: HttpGateway, bank: SimulatedUpstream) -> None:
    status = await client.submit_transfer(transfer("K-1", "1000.01"))
    assert status.state is TransferState.FAILED
    assert status.reason_code is ReasonCode.INSUFFICIENT_FUNDS
    assert "insufficient" in (status.reason or "").lower()


async def test_pending_then_settled_over_http(client: HttpGateway, bank: SimulatedUpstream, clock: FixedClock) -> None:
    await bank.set_settle_delay(300)
    assert (await client.submit_transfer(transfer("K-1", "10"))).state is TransferState.PENDING
    [source] = [b for b in await client.fetch_balances(["HK-001"]) if b.currency == "HKD"]
    assert (source.available, source.in_transit, source.total) == (D("990.00"), D("10"), D("1000.00"))
    clock.advance(minutes=5)
    assert (await client.transfer_status("K-1")).state is TransferState.SUCCEEDED


async def test_idempotency_over_http(client: HttpGateway, bank: SimulatedUpstream) -> None:
    first = await client.submit_transfer(transfer("K-1", "100"))
    assert await client.submit_transfer(transfer("K-1", "100.0")) == first
    with pytest.raises(IdempotencyConflict):
        await client.submit_transfer(transfer("K-1", "100", destination="HK-009"))
    assert len(await bank.transfers()) == 1
    assert (await bank.balance("HK-001", "HKD")).available == D("900.00")  # type: ignore[union-attr]


async def test_status_of_a_key_never_received_is_not_found(client: HttpGateway, bank: SimulatedUpstream) -> None:
    status = await client.transfer_status("NEVER:SENT.1")
    assert status.state is TransferState.NOT_FOUND
    assert status.idempotency_key == "NEVER:SENT.1"


async def test_channel_down_over_http(client: HttpGateway, bank: SimulatedUpstream) -> None:
    await bank.set_channel_down()
    with pytest.raises(UpstreamUnavailable):
        await client.fetch_balances(["HK-001"])
    with pytest.raises(UpstreamUnavailable):
        await client.submit_transfer(transfer("K-1", "1"))
    with pytest.raises(UpstreamUnavailable):
        await client.transfer_status("K-1")
    await bank.set_channel_down(False)
    assert (await client.transfer_status("K-1")).state is TransferState.NOT_FOUND


async def test_rejection_over_http(client: HttpGateway, bank: SimulatedUpstream) -> None:
    await bank.reject_next(reason="Sanctions screening.")
    status = await client.submit_transfer(transfer("K-1", "1"))
    assert (status.state, status.reason, status.reason_code) == (
        TransferState.FAILED,
        "Sanctions screening.",
        ReasonCode.REJECTED,
    )


# --- lost answers ---------------------------------------------------------------------------


async def test_submit_answer_lost_after_executing_is_unknown_then_succeeded(
    client: HttpGateway, bank: SimulatedUpstream, server: UpstreamHttpServer
) -> None:
    server.inject_delay("submit", HOLD_S, execute=True)

    lost = await client.submit_transfer(transfer("K-1", "100"))

    assert lost.state is TransferState.UNKNOWN  # never assumed failed
    assert lost.reason_code is ReasonCode.TIMEOUT
    # On a slow machine the server may still be executing when the client gives up.
    await wait_until(lambda: _reached(bank), "the held submit to reach the bank")
    resolved = await client.transfer_status("K-1")
    assert resolved.state is TransferState.SUCCEEDED  # the upstream did execute it
    assert (await bank.balance("HK-001", "HKD")).available == D("900.00")  # type: ignore[union-attr]
    # The client did not resubmit on its own: one submit arrived, one reached the bank.
    assert server.received("submit") == 1
    assert await bank.request_count("submit") == 1


async def test_submit_lost_before_reaching_the_upstream_is_not_found(
    client: HttpGateway, bank: SimulatedUpstream, server: UpstreamHttpServer
) -> None:
    server.inject_delay("submit", HOLD_S, execute=False)

    lost = await client.submit_transfer(transfer("K-1", "100"))

    assert lost.state is TransferState.UNKNOWN
    assert (await client.transfer_status("K-1")).state is TransferState.NOT_FOUND
    assert server.received("submit") == 1
    assert await bank.request_count("submit") == 0
    assert (await bank.balance("HK-001", "HKD")).available == D("1000.00")  # type: ignore[union-attr]

    # The caller, told NOT_FOUND, submits again with the same key: exactly one transfer.
    assert (await client.submit_transfer(transfer("K-1", "100"))).state is TransferState.SUCCEEDED
    assert len(await bank.transfers()) == 1
    assert server.received("submit") == 2


async def test_simulator_hang_behind_the_server_times_the_client_out(
    client: HttpGateway, bank: SimulatedUpstream, server: UpstreamHttpServer
) -> None:
    """The simulator's own timeout injection, seen through HTTP: executed, answer lost."""
    await bank.inject_timeout("submit", executed=True, hang_s=HOLD_S)

    lost = await client.submit_transfer(transfer("K-1", "5"))

    assert lost.state is TransferState.UNKNOWN
    await wait_until(lambda: _reached(bank), "the hung submit to reach the bank")
    assert (await client.transfer_status("K-1")).state is TransferState.SUCCEEDED
    assert server.received("submit") == 1


async def test_read_timeouts_raise_and_are_not_retried(
    client: HttpGateway, bank: SimulatedUpstream, server: UpstreamHttpServer
) -> None:
    server.inject_delay("balances", HOLD_S)
    server.inject_delay("status", HOLD_S)
    with pytest.raises(UpstreamTimeout):
        await client.fetch_balances(["HK-001"])
    with pytest.raises(UpstreamTimeout):
        await client.transfer_status("K-1")
    assert server.received("balances") == 1
    assert server.received("status") == 1


async def test_upstream_timeout_behind_the_server_is_a_timeout(client: HttpGateway, bank: SimulatedUpstream) -> None:
    await bank.inject_timeout("balances")  # no hang: the bank behind the server says timeout
    with pytest.raises(UpstreamTimeout):
        await client.fetch_balances(["HK-001"])


async def test_nothing_listening(clock: FixedClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on ``port`` now: the request is never sent.
    async with HttpGateway(f"http://127.0.0.1:{port}", timeout_s=CLIENT_TIMEOUT_S, clock=clock) as gateway:
        with pytest.raises(UpstreamUnavailable):
            await gateway.fetch_balances(["HK-001"])
        with pytest.raises(UpstreamUnavailable, match="not sent"):
            await gateway.submit_transfer(transfer("K-1", "1"))


async def test_stopped_server_closes_its_port(store, clock: FixedClock) -> None:
    served = SimulatedUpstream(store, clock=clock)
    server = UpstreamHttpServer(served).start()
    server.inject_delay("submit", 60, execute=True)  # a request held when stopping
    gateway = HttpGateway(server.base_url, timeout_s=CLIENT_TIMEOUT_S, clock=clock)
    await served.set_balance("HK-001", "HKD", D("10"))
    await served.open_account("HK-002")
    assert (await gateway.submit_transfer(transfer("K-1", "1"))).state is TransferState.UNKNOWN
    url = server.base_url

    server.stop()

    assert not any(t.is_alive() for t in server._threads)
    with pytest.raises(UpstreamUnavailable):
        await HttpGateway(url, timeout_s=CLIENT_TIMEOUT_S).fetch_balances(["HK-001"])
    await gateway.aclose()
    served.close()


# --- the contract's strictness -----------------------------------------------------------------


async def test_server_refuses_numbers_for_amounts(server: UpstreamHttpServer, bank: SimulatedUpstream) -> None:
    body = b'{"idempotency_key":"K-1","from_account":"HK-001","to_account":"HK-002","currency":"HKD","amount":10.5}'
    async with httpx.AsyncClient(base_url=server.base_url) as raw:
        response = await raw.post(wire.TRANSFERS_PATH, content=body, headers={"Content-Type": "application/json"})
        not_found = await raw.get("/v1/nothing")
    assert response.status_code == 400
    assert wire.error_from_wire(response.json())[0] == "BAD_REQUEST"
    assert "number" in response.json()["error"]["message"]
    assert not_found.status_code == 404
    assert await bank.request_count("submit") == 0


def _canned(status: int, body: bytes) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, content=body))


async def test_client_refuses_numbers_in_balances(clock: FixedClock) -> None:
    body = (
        b'{"balances":[{"account_no":"A","currency":"HKD","available":1.5,"in_transit":"0","total":"1.5",'
        b'"as_of":"2026-11-20T09:30:00Z"}],"unknown_accounts":[],"as_of":"2026-11-20T09:30:00Z"}'
    )
    gateway = HttpGateway("http://upstream.test", transport=_canned(200, body), clock=clock)
    with pytest.raises(UpstreamProtocolError, match="number"):
        await gateway.fetch_balances(["A"])


async def test_client_refuses_a_total_that_does_not_add_up(clock: FixedClock) -> None:
    body = (
        b'{"balances":[{"account_no":"A","currency":"HKD","available":"1","in_transit":"1","total":"3",'
        b'"as_of":"2026-11-20T09:30:00Z"}],"unknown_accounts":[],"as_of":"2026-11-20T09:30:00Z"}'
    )
    gateway = HttpGateway("http://upstream.test", transport=_canned(200, body), clock=clock)
    with pytest.raises(UpstreamProtocolError, match="total"):
        await gateway.fetch_balances(["A"])


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"not json"),
        (200, b'{"idempotency_key":"K-1","state":"SUCCEEDED","updated_at":"2026-11-20T09:30:00Z","amount":1}'),
        (200, b'{"idempotency_key":"OTHER","state":"SUCCEEDED","updated_at":"2026-11-20T09:30:00Z"}'),
        (500, b'{"error":{"code":"INTERNAL","message":"boom"}}'),
        (502, b"<html>proxy error</html>"),
    ],
)
async def test_a_garbled_submit_answer_is_unknown_not_failed(clock: FixedClock, status: int, body: bytes) -> None:
    gateway = HttpGateway("http://upstream.test", transport=_canned(status, body), clock=clock)
    result = await gateway.submit_transfer(transfer("K-1", "1"))
    assert result.state is TransferState.UNKNOWN
    assert result.reason_code is ReasonCode.BAD_RESPONSE
    assert result.updated_at == START


async def test_a_dropped_connection_during_submit_is_unknown(clock: FixedClock) -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    gateway = HttpGateway("http://upstream.test", transport=httpx.MockTransport(drop), clock=clock)
    result = await gateway.submit_transfer(transfer("K-1", "1"))
    assert (result.state, result.reason_code) == (TransferState.UNKNOWN, ReasonCode.CONNECTION_LOST)


async def test_a_bare_404_is_never_read_as_not_found(clock: FixedClock) -> None:
    gateway = HttpGateway("http://upstream.test", transport=_canned(404, b"Not Found"), clock=clock)
    with pytest.raises(UpstreamProtocolError):
        await gateway.transfer_status("K-1")

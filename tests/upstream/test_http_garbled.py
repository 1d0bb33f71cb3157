"""A garbled answer is a lost answer (docs/upstream-http-contract.md): a submit comes
back UNKNOWN, to be resolved by a status query, and a read raises the gateway's
protocol error, whatever the garbling (a body that is not the gzip its header says,
JSON nested past any parser's depth).  Before, ``httpx.DecodingError`` and
``RecursionError`` escaped the gateway and stopped the caller's pass."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import pytest
from garbling_server import GarblingServer
from upstream_support import CLIENT_TIMEOUT_S

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.upstream import (
    HttpGateway,
    ReasonCode,
    TransferRequest,
    TransferState,
    UpstreamProtocolError,
)


@pytest.fixture(params=["gzip", "nested"])
def garbler(request: pytest.FixtureRequest) -> Iterator[GarblingServer]:
    with GarblingServer(request.param) as server:
        yield server


@pytest.fixture
async def gateway(garbler: GarblingServer, clock: FixedClock) -> AsyncIterator[HttpGateway]:
    client = HttpGateway(garbler.base_url, timeout_s=CLIENT_TIMEOUT_S * 10, clock=clock)
    yield client
    await client.aclose()


async def test_a_garbled_submit_answer_is_unknown_never_an_exception(
    gateway: HttpGateway, garbler: GarblingServer, clock: FixedClock
) -> None:
    status = await gateway.submit_transfer(TransferRequest("K-1", "HK-001", "HK-002", "HKD", Decimal("5")))

    assert status.state is TransferState.UNKNOWN
    assert status.reason_code is ReasonCode.BAD_RESPONSE
    assert status.reason is not None and "query" in status.reason  # the caller's next step
    assert status.idempotency_key == "K-1" and status.updated_at == clock.now()
    assert garbler.received("submit") == 1  # it was sent once and never resubmitted


async def test_a_garbled_read_is_the_gateways_protocol_error(gateway: HttpGateway, garbler: GarblingServer) -> None:
    with pytest.raises(UpstreamProtocolError, match="settlement channel"):
        await gateway.fetch_balances(["HK-001"])
    with pytest.raises(UpstreamProtocolError, match="settlement channel"):
        await gateway.transfer_status("K-1")
    assert (garbler.received("balances"), garbler.received("status")) == (1, 1)

"""Fixtures for the upstream channel tests: a simulated bank in a real SQLite file per
test, and the same bank served over HTTP on 127.0.0.1 for the HTTP gateway's tests."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# The worker module beside this file is imported by name in spawned processes too
# (they inherit sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from upstream_support import CLIENT_TIMEOUT_S, START  # noqa: E402

from wbo_tui.engine.clock import FixedClock  # noqa: E402
from wbo_tui.engine.upstream import HttpGateway, SimulatedUpstream, UpstreamHttpServer  # noqa: E402


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "bank.sqlite"


@pytest.fixture
async def sim(store: Path, clock: FixedClock) -> AsyncIterator[SimulatedUpstream]:
    simulator = SimulatedUpstream(store, clock=clock)
    yield simulator
    await simulator.aclose()


@pytest.fixture
def server(store: Path, clock: FixedClock) -> Iterator[UpstreamHttpServer]:
    """The bank on loopback, through its own simulator instance on the same store (as a
    separate bank process would be); the test seeds and inspects through ``sim``."""
    served = SimulatedUpstream(store, clock=clock)
    served.open()
    with UpstreamHttpServer(served) as running:
        yield running
    served.close()


@pytest.fixture
async def client(server: UpstreamHttpServer, clock: FixedClock) -> AsyncIterator[HttpGateway]:
    gateway = HttpGateway(server.base_url, timeout_s=CLIENT_TIMEOUT_S, clock=clock)
    yield gateway
    await gateway.aclose()


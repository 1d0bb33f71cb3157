"""Building a channel's gateway from its small configuration, and import hygiene."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.upstream import (
    HttpGateway,
    SimulatedUpstream,
    TransferRequest,
    TransferState,
    UpstreamConfigError,
    UpstreamHttpServer,
    build_gateway,
)


async def test_simulated_config_builds_a_working_simulator(tmp_path: Path, clock: FixedClock) -> None:
    store = tmp_path / "bank.sqlite"
    gateway = build_gateway({"kind": "simulated", "store": str(store), "settle_delay_s": 60}, clock=clock)
    assert isinstance(gateway, SimulatedUpstream)
    await gateway.set_balances([("A", "HKD", Decimal("5")), ("B", "HKD", Decimal("0"))])
    status = await gateway.submit_transfer(TransferRequest("K-1", "A", "B", "HKD", Decimal("1")))
    assert status.state is TransferState.PENDING  # the configured delay applies
    await gateway.aclose()
    assert store.exists()


async def test_http_config_builds_a_client_for_the_served_bank(
    server: UpstreamHttpServer, sim: SimulatedUpstream, clock: FixedClock
) -> None:
    await sim.set_balance("A", "HKD", Decimal("5"))
    gateway = build_gateway({"kind": "http", "base_url": server.base_url, "timeout_s": 2.5}, clock=clock)
    assert isinstance(gateway, HttpGateway) and gateway.timeout_s == 2.5
    assert [b.available for b in await gateway.fetch_balances(["A"])] == [Decimal("5")]
    await gateway.aclose()


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"kind": "carrier-pigeon"}, "kind"),
        ({"kind": "simulated"}, "store"),
        ({"kind": "simulated", "store": "x.db", "base_url": "http://x"}, "no setting base_url"),
        ({"kind": "http", "base_url": "ftp://x"}, "base_url"),
        ({"kind": "http", "base_url": "http://x", "timeout_s": "5"}, "timeout_s"),
        ({"kind": "http", "base_url": "http://x", "timeout_s": 0}, "timeout_s"),
        (["kind", "http"], "mapping"),
    ],
)
def test_bad_configs_are_refused_with_the_reason(config: object, complaint: str) -> None:
    with pytest.raises(UpstreamConfigError, match=complaint):
        build_gateway(config)  # type: ignore[arg-type]


def test_upstream_package_imports_no_ui_library() -> None:
    code = (
        "import sys, wbo_tui.engine.upstream;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'));"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    sources = (Path(__file__).resolve().parents[2] / "wbo_tui" / "engine" / "upstream").glob("*.py")
    for source in sources:
        text = source.read_text()
        assert "import textual" not in text and "from textual" not in text, source
        assert "import rich" not in text and "from rich" not in text, source

"""Build a reference-rate source from its small configuration::

    {"kind": "simulated", "store": "data/rates.sqlite"}
    {"kind": "http", "base_url": "http://127.0.0.1:8766", "timeout_s": 5}

The simulated kind is the default for the demo and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...clock import Clock
from ...integration.config import DEFAULT_TIMEOUT_S, check_simulated_or_http
from .gateway import RateSourceGateway
from .simulator import SimulatedRateSource


class RateSourceConfigError(ValueError):
    """A rate source's configuration is incomplete or wrong."""


def check_rate_source_config(config: Mapping[str, Any]) -> None:
    """Refuse what ``build_rate_source`` would refuse, naming the field and the rule,
    without building anything: no store opened, no HTTP client loaded."""
    check_simulated_or_http(config, what="rate source", error=RateSourceConfigError)


def build_rate_source(config: Mapping[str, Any], *, clock: Clock | None = None) -> RateSourceGateway:
    """The rate source ``config`` describes.  ``clock`` is the simulator's time (the
    record date it stamps and the hour its drift is in)."""
    check_rate_source_config(config)
    if config["kind"] == "simulated":
        return SimulatedRateSource(config["store"], clock=clock)
    from .http_gateway import HttpRateSource  # loads httpx only for a source that uses HTTP

    timeout_s = float(config.get("timeout_s", DEFAULT_TIMEOUT_S))  # seconds, not money
    return HttpRateSource(config["base_url"], timeout_s=timeout_s)

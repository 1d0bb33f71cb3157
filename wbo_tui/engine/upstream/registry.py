"""Build the gateway of a settlement channel from its small configuration::

    {"kind": "simulated", "store": "data/bank.sqlite"}             # optional "settle_delay_s": 60
    {"kind": "http", "base_url": "http://127.0.0.1:8765", "timeout_s": 5}

The simulated kind is the default for the demo and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..clock import Clock, Seconds
from ..integration.config import check_base_url, check_fields, check_store
from .gateway import UpstreamGateway
from .simulator import SimulatedUpstream

_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required, optional)
    "simulated": (frozenset({"store"}), frozenset({"settle_delay_s"})),
    "http": (frozenset({"base_url"}), frozenset({"timeout_s"})),
}
DEFAULT_TIMEOUT_S = 5.0


class UpstreamConfigError(ValueError):
    """A channel's gateway configuration is incomplete or wrong."""


def _number(config: Mapping[str, Any], field: str, default: Seconds | None) -> Seconds | None:
    value = config.get(field, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise UpstreamConfigError(f"{field} must be a non-negative number of seconds, got {value!r}")
    return float(value)  # seconds, not money


def build_gateway(config: Mapping[str, Any], *, clock: Clock | None = None) -> UpstreamGateway:
    """The gateway ``config`` describes.  ``clock`` is the simulator's time (and the
    HTTP client's, for the time it stamps on UNKNOWN answers)."""
    kind = check_fields(config, _FIELDS, what="upstream", error=UpstreamConfigError)
    if kind == "simulated":
        store = check_store(config["store"], UpstreamConfigError)
        return SimulatedUpstream(store, clock=clock, settle_delay_s=_number(config, "settle_delay_s", None))
    base_url = check_base_url(config["base_url"], UpstreamConfigError)
    timeout_s = _number(config, "timeout_s", DEFAULT_TIMEOUT_S)
    if not timeout_s:
        raise UpstreamConfigError("timeout_s must be positive")
    from .http_gateway import HttpGateway  # loads httpx only for a channel that uses HTTP

    return HttpGateway(base_url, timeout_s=timeout_s, clock=clock)

"""Build a reference-rate source from its small configuration::

    {"kind": "simulated", "store": "data/rates.sqlite"}
    {"kind": "http", "base_url": "http://127.0.0.1:8766", "timeout_s": 5}

The simulated kind is the default for the demo and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...clock import Clock
from .gateway import RateSourceGateway
from .simulator import SimulatedRateSource

_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required, optional)
    "simulated": (frozenset({"store"}), frozenset()),
    "http": (frozenset({"base_url"}), frozenset({"timeout_s"})),
}
DEFAULT_TIMEOUT_S = 5.0


class RateSourceConfigError(ValueError):
    """A rate source's configuration is incomplete or wrong."""


def build_rate_source(config: Mapping[str, Any], *, clock: Clock | None = None) -> RateSourceGateway:
    """The rate source ``config`` describes.  ``clock`` is the simulator's time (the
    record date it stamps and the hour its drift is in)."""
    if not isinstance(config, Mapping):
        raise RateSourceConfigError(f"a rate source configuration is a mapping, got {type(config).__name__}")
    kind = config.get("kind")
    if kind not in _FIELDS:
        raise RateSourceConfigError(f"kind must be one of {', '.join(sorted(_FIELDS))}, got {kind!r}")
    required, optional = _FIELDS[kind]
    missing = sorted(required - set(config))
    if missing:
        raise RateSourceConfigError(f"a {kind} rate source needs {', '.join(missing)}")
    extra = sorted(set(config) - required - optional - {"kind"})
    if extra:
        raise RateSourceConfigError(f"a {kind} rate source has no setting {', '.join(extra)}")
    if kind == "simulated":
        store = config["store"]
        if not isinstance(store, str) or not store:
            raise RateSourceConfigError(f"store must be a file path, got {store!r}")
        return SimulatedRateSource(store, clock=clock)
    base_url = config["base_url"]
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise RateSourceConfigError(f"base_url must be an http(s) URL, got {base_url!r}")
    timeout_s = config.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise RateSourceConfigError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    from .http_gateway import HttpRateSource  # loads httpx only for a source that uses HTTP

    return HttpRateSource(base_url, timeout_s=float(timeout_s))  # seconds, not money

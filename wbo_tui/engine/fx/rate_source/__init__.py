"""Reference-rate sources: the gateway boundary, the built-in simulator, and the HTTP
gateway with the server that puts any rate source on loopback.

The HTTP contract is documented in ``docs/rate-source-http-contract.md``.
"""

from __future__ import annotations

from .gateway import (
    PublishedRate,
    RateSnapshot,
    RateSourceError,
    RateSourceGateway,
    RateSourceProtocolError,
    RateSourceTimeout,
    RateSourceUnavailable,
    UnknownRateChannel,
)
from .registry import RateSourceConfigError, build_rate_source, check_rate_source_config
from .simulator import MALFORMED_KINDS, RateRequestLogEntry, SimulatedRate, SimulatedRateSource

__all__ = [
    "MALFORMED_KINDS",
    "HttpRateSource",
    "PublishedRate",
    "RateRequestLogEntry",
    "RateSnapshot",
    "RateSourceConfigError",
    "RateSourceError",
    "RateSourceGateway",
    "RateSourceHttpServer",
    "RateSourceProtocolError",
    "RateSourceTimeout",
    "RateSourceUnavailable",
    "SimulatedRate",
    "SimulatedRateSource",
    "UnknownRateChannel",
    "build_rate_source",
    "check_rate_source_config",
]


def __getattr__(name: str) -> object:
    # The HTTP client (httpx) is loaded only when a rate source is configured to use it.
    # The server is loaded on demand too, so that ``python -m ...rate_source.http_server``
    # does not find its own module already imported by this package.
    if name == "HttpRateSource":
        from .http_gateway import HttpRateSource

        return HttpRateSource
    if name == "RateSourceHttpServer":
        from .http_server import RateSourceHttpServer

        return RateSourceHttpServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

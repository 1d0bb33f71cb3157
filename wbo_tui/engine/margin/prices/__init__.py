"""Market prices for the margin engine: the price-feed gateway boundary, the built-in
simulated market, and the HTTP gateway with the server that puts any feed on loopback.

The HTTP contract is described in ``wire``; the configuration that picks a gateway in
``registry``.
"""

from __future__ import annotations

from .gateway import (
    INSTRUMENT_CODE,
    PriceFeedError,
    PriceFeedTimeout,
    PriceFeedUnavailable,
    PriceGateway,
    PriceProtocolError,
    Quote,
    UnknownInstrument,
    is_stale,
    quote_for,
)
from .registry import PriceGatewayConfigError, build_price_gateway, check_price_gateway_config
from .simulator import FAULT_KINDS, SimulatedPriceFeed

__all__ = [
    "FAULT_KINDS",
    "INSTRUMENT_CODE",
    "HttpPriceGateway",
    "PriceFeedError",
    "PriceFeedHttpServer",
    "PriceFeedTimeout",
    "PriceFeedUnavailable",
    "PriceGateway",
    "PriceGatewayConfigError",
    "PriceProtocolError",
    "Quote",
    "SimulatedPriceFeed",
    "UnknownInstrument",
    "build_price_gateway",
    "check_price_gateway_config",
    "is_stale",
    "quote_for",
]


def __getattr__(name: str) -> object:
    # The HTTP client (httpx) is loaded only when a price feed is configured to use it.
    # The server is loaded on demand too, so that ``python -m ...prices.http_server`` does
    # not find its own module already imported by this package.
    if name == "HttpPriceGateway":
        from .http_gateway import HttpPriceGateway

        return HttpPriceGateway
    if name == "PriceFeedHttpServer":
        from .http_server import PriceFeedHttpServer

        return PriceFeedHttpServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

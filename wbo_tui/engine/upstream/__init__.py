"""Upstream settlement channels: the gateway boundary, the built-in simulator, and the
HTTP gateway with the server that puts any gateway on loopback.

The HTTP contract is documented in ``docs/upstream-http-contract.md``.
"""

from __future__ import annotations

from .gateway import (
    IdempotencyConflict,
    ReasonCode,
    TransferRequest,
    TransferState,
    TransferStatus,
    UnknownAccounts,
    UpstreamBalance,
    UpstreamError,
    UpstreamGateway,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .http_server import UpstreamHttpServer
from .registry import UpstreamConfigError, build_gateway
from .simulator import RequestLogEntry, SimulatedTransfer, SimulatedUpstream

__all__ = [
    "HttpGateway",
    "IdempotencyConflict",
    "ReasonCode",
    "RequestLogEntry",
    "SimulatedTransfer",
    "SimulatedUpstream",
    "TransferRequest",
    "TransferState",
    "TransferStatus",
    "UnknownAccounts",
    "UpstreamBalance",
    "UpstreamConfigError",
    "UpstreamError",
    "UpstreamGateway",
    "UpstreamHttpServer",
    "UpstreamProtocolError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "build_gateway",
]


def __getattr__(name: str) -> object:
    # The HTTP client (httpx, and through it whatever CLI extras happen to be installed) is
    # loaded only when a channel is configured to use it.
    if name == "HttpGateway":
        from .http_gateway import HttpGateway

        return HttpGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

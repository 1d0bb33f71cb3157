"""Bank exchange channels (HSB, ICBCASIA, CIBC): the gateway boundary, the built-in
simulator, and the HTTP gateway with the server that puts any gateway on loopback.

The HTTP contract is documented in ``docs/bank-exchange-http-contract.md``.
"""

from __future__ import annotations

from .gateway import (
    BankChannelError,
    BankChannelTimeout,
    BankChannelUnavailable,
    BankExchangeGateway,
    BankProtocolError,
    ChannelIdempotencyConflict,
    ChannelOrderState,
    ChannelOrderStatus,
    ExchangeOrder,
    UnknownChannelOrder,
)
from .registry import BankChannelConfigError, build_bank_channel, check_bank_channel_config
from .sim_bank import ChannelRequest, SimulatedExchangeOrder
from .simulator import SimulatedBankChannel, convert

__all__ = [
    "BankChannelConfigError",
    "BankChannelError",
    "BankChannelTimeout",
    "BankChannelUnavailable",
    "BankExchangeGateway",
    "BankExchangeHttpServer",
    "BankProtocolError",
    "ChannelIdempotencyConflict",
    "ChannelOrderState",
    "ChannelOrderStatus",
    "ChannelRequest",
    "ExchangeOrder",
    "HttpBankChannel",
    "SimulatedBankChannel",
    "SimulatedExchangeOrder",
    "UnknownChannelOrder",
    "build_bank_channel",
    "check_bank_channel_config",
    "convert",
]


def __getattr__(name: str) -> object:
    # The HTTP client (httpx) is loaded only when a channel is configured to use it.  The
    # server is loaded on demand too, so that ``python -m ….http_server`` does not find
    # its module already imported by this package.
    if name == "HttpBankChannel":
        from .http_gateway import HttpBankChannel

        return HttpBankChannel
    if name == "BankExchangeHttpServer":
        from .http_server import BankExchangeHttpServer

        return BankExchangeHttpServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Build the gateway of a bank exchange channel from its small configuration::

    {"kind": "simulated", "store": "data/fx-bank.sqlite"}
    {"kind": "http", "base_url": "http://127.0.0.1:8766", "timeout_s": 5}

The simulated kind is the default for the demo and the tests; its rates, fill delay and
faults are settings in its store (``SimulatedBankChannel.set_rate`` and friends), not
part of this configuration, so every process that opens the store sees the same bank.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...clock import Clock
from ...integration.config import DEFAULT_TIMEOUT_S, check_simulated_or_http
from .gateway import BankExchangeGateway
from .simulator import SimulatedBankChannel


class BankChannelConfigError(ValueError):
    """A bank exchange channel's configuration is incomplete or wrong."""


def check_bank_channel_config(config: Mapping[str, Any]) -> None:
    """Refuse what ``build_bank_channel`` would refuse, naming the field and the rule,
    without building anything: no store opened, no HTTP client loaded."""
    check_simulated_or_http(config, what="bank exchange channel", error=BankChannelConfigError)


def build_bank_channel(config: Mapping[str, Any], *, clock: Clock | None = None) -> BankExchangeGateway:
    """The gateway ``config`` describes; ``clock`` is the simulator's time."""
    check_bank_channel_config(config)
    if config["kind"] == "simulated":
        return SimulatedBankChannel(config["store"], clock=clock)
    from .http_gateway import HttpBankChannel  # loads httpx only for a channel that uses HTTP

    timeout_s = float(config.get("timeout_s", DEFAULT_TIMEOUT_S))  # seconds, not money
    return HttpBankChannel(config["base_url"], timeout_s=timeout_s)

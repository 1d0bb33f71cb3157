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
from .gateway import BankExchangeGateway
from .simulator import SimulatedBankChannel

_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    # kind: (required, optional)
    "simulated": (frozenset({"store"}), frozenset()),
    "http": (frozenset({"base_url"}), frozenset({"timeout_s"})),
}
DEFAULT_TIMEOUT_S = 5.0


class BankChannelConfigError(ValueError):
    """A bank exchange channel's configuration is incomplete or wrong."""


def build_bank_channel(config: Mapping[str, Any], *, clock: Clock | None = None) -> BankExchangeGateway:
    """The gateway ``config`` describes; ``clock`` is the simulator's time."""
    if not isinstance(config, Mapping):
        raise BankChannelConfigError(f"a bank exchange channel configuration is a mapping, got {type(config).__name__}")
    kind = config.get("kind")
    if kind not in _FIELDS:
        raise BankChannelConfigError(f"kind must be one of {', '.join(sorted(_FIELDS))}, got {kind!r}")
    required, optional = _FIELDS[kind]
    missing = sorted(required - set(config))
    if missing:
        raise BankChannelConfigError(f"a {kind} bank exchange channel needs {', '.join(missing)}")
    extra = sorted(set(config) - required - optional - {"kind"})
    if extra:
        raise BankChannelConfigError(f"a {kind} bank exchange channel has no setting {', '.join(extra)}")
    if kind == "simulated":
        store = config["store"]
        if not isinstance(store, str) or not store:
            raise BankChannelConfigError(f"store must be a file path, got {store!r}")
        return SimulatedBankChannel(store, clock=clock)
    base_url = config["base_url"]
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise BankChannelConfigError(f"base_url must be an http(s) URL, got {base_url!r}")
    timeout_s = config.get("timeout_s", DEFAULT_TIMEOUT_S)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or not timeout_s > 0:
        raise BankChannelConfigError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    from .http_gateway import HttpBankChannel  # loads httpx only for a channel that uses HTTP

    return HttpBankChannel(base_url, timeout_s=float(timeout_s))  # seconds, not money

"""Build the liquidation venue from its small JSON configuration::

    {"kind": "simulator", "path": "data/venue.sqlite", "max_lots_per_fill": 2, "fill_step_s": 5,
     "board_lot": 100, "reject_codes": ["1234.HK"]}
    {"kind": "fix", "host": "127.0.0.1", "port": 9878, "sender_comp_id": "WBO",
     "target_comp_id": "SIMVENUE", "timeout_s": 2, "heartbeat_s": 30}

The simulator is the default for the demo and the tests; every setting but ``path`` is
optional (defaults: the whole remainder per fill, a 1 s step, lots of 100, no suspended
code).  The configuration is the venue's settings: they are written to its store when it is
opened, so every process opening one file with one configuration trades alike.  The FIX kind's
``timeout_s`` (default 5) bounds the connection, the logon and each answer; ``heartbeat_s``
(default 30) is the HeartBtInt asked at logon.

``check_venue_config`` refuses a bad configuration without building anything (no store
opened, no connection made), naming the field and the rule; ``build_venue`` runs it first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ...clock import Clock, Seconds
from ...errors import ValidationFailed
from .gateway import CODE, LiquidationVenue
from .simulator import PriceSource

COMP_ID = re.compile(r"[A-Za-z0-9_.-]{1,32}")
HOST = re.compile(r"[A-Za-z0-9_.:-]{1,253}")
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_HEARTBEAT_S = 30

# kind: (required fields, optional fields), besides "kind" itself.
_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "simulator": (frozenset({"path"}), frozenset({"max_lots_per_fill", "fill_step_s", "board_lot", "reject_codes"})),
    "fix": (frozenset({"host", "port", "sender_comp_id", "target_comp_id"}), frozenset({"timeout_s", "heartbeat_s"})),
}


def _whole(config: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(name, f"must be a whole number from {low} to {high}, got {value!r}")
    return value


def _seconds(config: Mapping[str, Any], name: str, high: Seconds) -> Seconds:
    value = config[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
        raise ValidationFailed(name, f"must be a number of seconds above 0 and at most {high:g}, got {value!r}")
    return float(value)  # seconds, not money


def _text(config: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    value = config[name]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValidationFailed(name, f"must match {pattern.pattern}, got {value!r}")
    return value


def check_venue_config(config: Any) -> dict[str, Any]:  # noqa: ANN401 - JSON of any shape
    """The configuration, checked whole and with its defaults filled in; raises
    ``ValidationFailed(field, rule)`` on the first thing wrong."""
    if not isinstance(config, Mapping):
        raise ValidationFailed("venue", f"configuration must be a mapping, got {type(config).__name__}")
    kind = config.get("kind")
    if kind not in _FIELDS:
        raise ValidationFailed("kind", f"must be one of {', '.join(sorted(_FIELDS))}, got {kind!r}")
    required, optional = _FIELDS[kind]
    missing = sorted(required - set(config))
    if missing:
        raise ValidationFailed(missing[0], f"is required for a {kind} venue")
    extra = sorted(set(config) - required - optional - {"kind"})
    if extra:
        raise ValidationFailed(extra[0], f"is not a setting of a {kind} venue")
    if kind == "simulator":
        path = config["path"]
        if not isinstance(path, str) or not path.strip():
            raise ValidationFailed("path", f"must be a file path, got {path!r}")
        checked: dict[str, Any] = {
            "kind": kind, "path": path, "max_lots_per_fill": None, "fill_step_s": 1.0, "board_lot": 100,
            "reject_codes": [],
        }
        if config.get("max_lots_per_fill") is not None:
            checked["max_lots_per_fill"] = _whole(config, "max_lots_per_fill", 1, 1_000_000)
        if "fill_step_s" in config:
            checked["fill_step_s"] = _seconds(config, "fill_step_s", 3600)
        if "board_lot" in config:
            checked["board_lot"] = _whole(config, "board_lot", 1, 1_000_000)
        if "reject_codes" in config:
            codes = config["reject_codes"]
            if not isinstance(codes, list | tuple) or not all(isinstance(c, str) and CODE.fullmatch(c) for c in codes):
                raise ValidationFailed("reject_codes", f"must be a list of codes such as 700.HK, got {codes!r}")
            checked["reject_codes"] = sorted(set(codes))
        return checked
    return {
        "kind": kind,
        "host": _text(config, "host", HOST),
        "port": _whole(config, "port", 1, 65535),
        "sender_comp_id": _text(config, "sender_comp_id", COMP_ID),
        "target_comp_id": _text(config, "target_comp_id", COMP_ID),
        "timeout_s": _seconds(config, "timeout_s", 600) if "timeout_s" in config else DEFAULT_TIMEOUT_S,
        "heartbeat_s": _whole(config, "heartbeat_s", 1, 3600) if "heartbeat_s" in config else DEFAULT_HEARTBEAT_S,
    }


def build_venue(
    config: Mapping[str, Any], *, clock: Clock | None = None, prices: PriceSource | None = None
) -> LiquidationVenue:
    """The venue ``config`` describes.  ``clock`` is the simulator's time (and the FIX
    client's TransactTime); ``prices`` the market the simulator fills against (required for
    it, unused over FIX, where the venue has its own)."""
    checked = check_venue_config(config)
    if checked["kind"] == "simulator":
        from .sim_store import VenueSettings
        from .simulator import SimulatedVenue

        if prices is None:
            raise TypeError("a simulated venue needs prices: a callable code -> (bid, ask) | None")
        given = {k: v for k, v in checked.items() if k not in ("kind", "path")}
        settings = VenueSettings(**{**given, "reject_codes": frozenset(given["reject_codes"])})
        return SimulatedVenue(checked["path"], prices=prices, clock=clock, settings=settings)
    from .fix_client import FixVenue

    return FixVenue(
        checked["host"], checked["port"], sender_comp_id=checked["sender_comp_id"],
        target_comp_id=checked["target_comp_id"], timeout_s=checked["timeout_s"],
        heartbeat_s=checked["heartbeat_s"], clock=clock,
    )

"""The JSON wire format of the rate-source HTTP contract (``docs/rate-source-http-contract.md``),
shared by the client, the server and the simulator so all three read and write exactly
the same shapes.

The general rules are the upstream contract's, and so are its helpers (``dumps``, decimal
strings, UTC times, error bodies), reused from ``wbo_tui.engine.upstream.wire``.  One
thing differs: a JSON number is not refused while parsing but kept as a ``JsonNumber``
and refused by the field check, so that the error names the field
(``rates[0].bid_rate``) rather than only the number, which is what an operator needs to
report a broken feed.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from ...integration.json_body import JsonNumber, strict_loads
from ...upstream import wire as upstream_wire
from ...upstream.wire import (
    WireFormatError,
    amount_from_wire,
    amount_to_wire,
    dumps,
    error_from_wire,
    error_to_wire,
    time_from_wire,
    time_to_wire,
)
from .gateway import (
    CHANNEL_NAME,
    CURRENCY_CODE,
    RATE_TYPE,
    PublishedRate,
    RateSnapshot,
    check_code,
    check_rate_order,
    check_rate_set,
    check_record_date,
)

__all__ = [
    "RATES_PREFIX",
    "ErrorCode",
    "JsonNumber",
    "RateWireError",
    "dumps",
    "error_from_wire",
    "error_to_wire",
    "loads",
    "rates_path",
    "snapshot_from_wire",
    "snapshot_to_wire",
]

RATES_PREFIX = "/rates"
SNAPSHOT_FIELDS = ("channel_name", "rate_type", "published_at", "hourly", "rates")
RATE_FIELDS = ("base_currency", "other_currency", "bid_rate", "offer_rate", "average_rate", "record_date")
MAX_RATES = 1_000  # far above the currencies any channel quotes; bounds a runaway answer


class ErrorCode(upstream_wire.ErrorCode):
    """The upstream contract's error codes, and the one of this contract."""

    UNKNOWN_RATE_CHANNEL = "UNKNOWN_RATE_CHANNEL"


class RateWireError(WireFormatError):
    """A body that does not follow the contract; ``field`` names where, when it can."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field



def rates_path(channel_name: str, rate_type: str) -> str:
    # Both are codes of a safe alphabet; quoting anyway keeps a bad value from escaping
    # its path segment.
    return f"{RATES_PREFIX}/{quote(channel_name, safe='')}/{quote(rate_type, safe='')}"


# --- JSON -------------------------------------------------------------------------------


def loads(data: bytes | str) -> Any:
    """Parse a body: duplicated keys and ``NaN``/``Infinity`` are refused here, numbers
    are kept as ``JsonNumber`` for the field checks to refuse."""
    return strict_loads(data, RateWireError)


# --- fields -----------------------------------------------------------------------------


def _fields(value: Any, where: str, names: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise RateWireError(f"{where or 'the answer'} must be a JSON object", where or None)
    prefix = f"{where}." if where else ""
    for name in names:
        if name not in value:
            raise RateWireError(f"{prefix}{name} is missing", f"{prefix}{name}")
    extra = sorted(set(value) - set(names))
    if extra:
        raise RateWireError(f"{prefix}{extra[0]} is not a field of this contract", f"{prefix}{extra[0]}")
    return value


def _code(value: Any, pattern: Any, field: str) -> str:
    try:
        return check_code(value, pattern, field)
    except ValueError as exc:
        raise RateWireError(str(exc), field) from exc


def _rate(value: Any, field: str) -> Decimal:
    # A float (or a JSON number) would carry a binary approximation of the rate: refused
    # before anything else is said about the value.
    if isinstance(value, JsonNumber | int | float) and not isinstance(value, bool):
        raise RateWireError(f"{field} must be a decimal string such as \"7.8123\", got the number {value!r}", field)
    try:
        return amount_from_wire(value, field)
    except WireFormatError as exc:
        raise RateWireError(str(exc), field) from exc


def _rate_from_wire(value: Any, where: str) -> PublishedRate:
    obj = _fields(value, where, RATE_FIELDS)
    base = _code(obj["base_currency"], CURRENCY_CODE, f"{where}.base_currency")
    other = _code(obj["other_currency"], CURRENCY_CODE, f"{where}.other_currency")
    if base == other:
        raise RateWireError(f"{where}.other_currency is the standard currency {base} itself", f"{where}.other_currency")
    bid = _rate(obj["bid_rate"], f"{where}.bid_rate")
    offer = _rate(obj["offer_rate"], f"{where}.offer_rate")
    average = _rate(obj["average_rate"], f"{where}.average_rate")
    try:
        check_rate_order(bid, average, offer, f"{where}.")
    except ValueError as exc:
        # The message begins with the offending field's full name.
        raise RateWireError(str(exc), str(exc).split(" ", 1)[0]) from exc
    try:
        record_date = check_record_date(obj["record_date"], f"{where}.record_date")
    except ValueError as exc:
        raise RateWireError(str(exc), f"{where}.record_date") from exc
    return PublishedRate(base, other, bid, offer, average, record_date)


# --- snapshots --------------------------------------------------------------------------


def snapshot_to_wire(snapshot: RateSnapshot) -> dict[str, Any]:
    return {
        "channel_name": snapshot.channel_name,
        "rate_type": snapshot.rate_type,
        "published_at": time_to_wire(snapshot.published_at),
        "hourly": snapshot.hourly,
        "rates": [
            {
                "base_currency": r.base_currency,
                "other_currency": r.other_currency,
                "bid_rate": amount_to_wire(r.bid_rate),
                "offer_rate": amount_to_wire(r.offer_rate),
                "average_rate": amount_to_wire(r.average_rate),
                "record_date": r.record_date,
            }
            for r in snapshot.rates
        ],
    }


def snapshot_from_wire(body: Any) -> RateSnapshot:
    """The snapshot ``body`` describes; ``RateWireError`` naming the field otherwise."""
    obj = _fields(body, "", SNAPSHOT_FIELDS)
    channel_name = _code(obj["channel_name"], CHANNEL_NAME, "channel_name")
    rate_type = _code(obj["rate_type"], RATE_TYPE, "rate_type")
    try:
        published_at = time_from_wire(obj["published_at"], "published_at")
    except WireFormatError as exc:
        raise RateWireError(str(exc), "published_at") from exc
    if not isinstance(obj["hourly"], bool):
        raise RateWireError("hourly must be true or false", "hourly")
    if not isinstance(obj["rates"], list) or not obj["rates"]:
        raise RateWireError("rates must be a non-empty list", "rates")
    if len(obj["rates"]) > MAX_RATES:
        raise RateWireError(f"rates has more than {MAX_RATES} entries", "rates")
    rates = tuple(_rate_from_wire(value, f"rates[{i}]") for i, value in enumerate(obj["rates"]))
    try:
        check_rate_set(rates)
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0] if str(exc).startswith("rates[") else "rates"
        raise RateWireError(str(exc), field) from exc
    return RateSnapshot(channel_name, rate_type, published_at, obj["hourly"], rates)

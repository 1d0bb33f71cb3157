"""The JSON wire format of the bank exchange HTTP contract
(``docs/bank-exchange-http-contract.md``), shared by the client and the server so both
read and write exactly the same shapes.

The strict JSON reader, the decimal-string fields and the error body come from the
settlement channels' wire module: a JSON number anywhere, ``NaN``, a duplicated key, a
missing or unknown field, or an amount not in plain decimal notation is refused with
``WireFormatError`` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ...upstream.wire import (
    MAX_BODY_BYTES,
    WireFormatError,
    amount_from_wire,
    amount_to_wire,
    dumps,
    error_from_wire,
    error_to_wire,
    loads,
)
from .gateway import CHANNEL_ORDER_STATUSES, ChannelOrderState, ExchangeOrder

__all__ = [
    "EXCHANGE_ORDERS_PATH",
    "MAX_BODY_BYTES",
    "ErrorCode",
    "WireFormatError",
    "dumps",
    "error_from_wire",
    "error_to_wire",
    "loads",
    "order_from_wire",
    "order_to_wire",
    "state_from_wire",
    "state_to_wire",
]

EXCHANGE_ORDERS_PATH = "/exchange-orders"

_ORDER_FIELDS = ("order_id", "channel_name", "from_currency", "from_amount", "to_currency")
_STATE_FIELDS = ("order_id", "status", "channel_rate", "to_amount", "serial_no", "reason", "raw_status", "message")


class ErrorCode:
    """The ``error.code`` values of error bodies."""

    BAD_REQUEST = "BAD_REQUEST"
    NO_SUCH_ENDPOINT = "NO_SUCH_ENDPOINT"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    UNAVAILABLE = "UNAVAILABLE"
    CHANNEL_TIMEOUT = "CHANNEL_TIMEOUT"
    BAD_GATEWAY = "BAD_GATEWAY"
    INTERNAL = "INTERNAL"


def _object(value: Any, what: str, fields: Sequence[str]) -> Mapping[str, Any]:
    """``value`` as a JSON object with exactly ``fields`` (nullable ones are present as
    null: an absent field is a sender's bug, not a shorthand)."""
    if not isinstance(value, dict):
        raise WireFormatError(f"{what} must be a JSON object")
    missing = [k for k in fields if k not in value]
    if missing:
        raise WireFormatError(f"{what} lacks {', '.join(missing)}")
    extra = sorted(set(value) - set(fields))
    if extra:
        raise WireFormatError(f"{what} has unknown field(s) {', '.join(extra)}")
    return value


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise WireFormatError(f"{field} must be a string")
    return value


def _optional_string(value: Any, field: str) -> str | None:
    return None if value is None else _string(value, field)


def _optional_decimal(value: Any, field: str) -> Decimal | None:
    return None if value is None else amount_from_wire(value, field)


def _optional_decimal_to_wire(value: Decimal | None) -> str | None:
    return None if value is None else amount_to_wire(value)


def _built(make: Any, *args: Any) -> Any:
    """The dataclass's own checks (a negative amount, a SUCCEEDED state without a rate)
    are contract breaches too, reported as such."""
    try:
        return make(*args)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, WireFormatError):
            raise
        raise WireFormatError(str(exc)) from exc


# --- exchange orders --------------------------------------------------------------------


def order_to_wire(order: ExchangeOrder) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "channel_name": order.channel_name,
        "from_currency": order.from_currency,
        "from_amount": amount_to_wire(order.from_amount),
        "to_currency": order.to_currency,
    }


def order_from_wire(body: Any) -> ExchangeOrder:
    obj = _object(body, "exchange order", _ORDER_FIELDS)
    return _built(
        ExchangeOrder,
        _string(obj["order_id"], "order_id"),
        _string(obj["channel_name"], "channel_name"),
        _string(obj["from_currency"], "from_currency"),
        amount_from_wire(obj["from_amount"], "from_amount"),
        _string(obj["to_currency"], "to_currency"),
    )


# --- order states -----------------------------------------------------------------------


def state_to_wire(state: ChannelOrderState) -> dict[str, Any]:
    return {
        "order_id": state.order_id,
        "status": state.status,
        "channel_rate": _optional_decimal_to_wire(state.channel_rate),
        "to_amount": _optional_decimal_to_wire(state.to_amount),
        "serial_no": state.serial_no,
        "reason": state.reason,
        "raw_status": state.raw_status,
        "message": state.message,
    }


def state_from_wire(body: Any) -> ChannelOrderState:
    obj = _object(body, "exchange order state", _STATE_FIELDS)
    status = _string(obj["status"], "status")
    if status not in CHANNEL_ORDER_STATUSES:
        raise WireFormatError(f"status {status!r} is not one of {', '.join(CHANNEL_ORDER_STATUSES)}")
    return _built(
        ChannelOrderState,
        _string(obj["order_id"], "order_id"),
        status,
        _optional_decimal(obj["channel_rate"], "channel_rate"),
        _optional_decimal(obj["to_amount"], "to_amount"),
        _optional_string(obj["serial_no"], "serial_no"),
        _optional_string(obj["reason"], "reason"),
        _string(obj["raw_status"], "raw_status"),
        _string(obj["message"], "message"),
    )

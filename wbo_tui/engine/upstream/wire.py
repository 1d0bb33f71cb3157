"""The JSON wire format of the upstream HTTP contract (``docs/upstream-http-contract.md``),
shared by the client and the server so both read and write exactly the same shapes.

Parsing is strict: a JSON number anywhere (amounts travel as strings), ``NaN``, a
duplicated key, a missing or extra field, or an amount not in plain decimal notation is
refused with ``WireFormatError`` naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .gateway import ReasonCode, TransferRequest, TransferState, TransferStatus, UpstreamBalance

API_PREFIX = "/v1"
BALANCES_PATH = f"{API_PREFIX}/balances/query"
TRANSFERS_PATH = f"{API_PREFIX}/transfers"
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_ACCOUNTS_PER_QUERY = 10_000

# Plain decimal notation: no exponent, no grouping, no sign other than a leading minus.
# ASCII digits only (``\d`` would take any script's digits), used with ``fullmatch``.
_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class WireFormatError(ValueError):
    """A body that does not follow the contract."""


# --- JSON -------------------------------------------------------------------------------


def _refuse_number(text: str) -> Any:
    raise WireFormatError(f"JSON numbers are not allowed (amounts are strings in plain decimal notation): {text}")


def _refuse_constant(text: str) -> Any:
    raise WireFormatError(f"JSON constant {text} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise WireFormatError(f"duplicate key {key!r}")
        result[key] = value
    return result


def loads(data: bytes | str) -> Any:
    """Parse a body strictly; see the module docstring."""
    try:
        return json.loads(
            data,
            parse_float=_refuse_number,
            parse_int=_refuse_number,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except WireFormatError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireFormatError(f"body is not valid JSON: {exc}") from exc


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


# --- fields -----------------------------------------------------------------------------


def amount_to_wire(amount: Decimal) -> str:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise TypeError(f"amount must be a finite Decimal, got {amount!r}")
    return format(amount, "f")


def amount_from_wire(value: Any, field: str) -> Decimal:
    if not isinstance(value, str):
        raise WireFormatError(f"{field} must be a string in plain decimal notation, got {type(value).__name__}")
    if not _AMOUNT.fullmatch(value):
        raise WireFormatError(f"{field} must be in plain decimal notation such as 1234.50, got {value!r}")
    return Decimal(value)


def time_to_wire(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime on the wire")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def time_from_wire(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise WireFormatError(f"{field} must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise WireFormatError(f"{field} is not an ISO 8601 time: {value!r}") from exc
    if moment.tzinfo is None:
        raise WireFormatError(f"{field} must carry a UTC offset: {value!r}")
    return moment.astimezone(UTC)


def _object(value: Any, what: str, required: Sequence[str], optional: Sequence[str] = ()) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise WireFormatError(f"{what} must be a JSON object")
    if not optional and len(value) == len(required) and all(k in value for k in required):
        return value  # the common case, checked cheaply
    missing = [k for k in required if k not in value]
    if missing:
        raise WireFormatError(f"{what} lacks {', '.join(missing)}")
    extra = sorted(set(value) - set(required) - set(optional))
    if extra:
        raise WireFormatError(f"{what} has unknown field(s) {', '.join(extra)}")
    return value


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise WireFormatError(f"{field} must be a string")
    return value


def _optional_string(value: Any, field: str) -> str | None:
    return None if value is None else _string(value, field)


def _string_list(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WireFormatError(f"{field} must be a list of strings")
    return value


# --- balances ---------------------------------------------------------------------------


def balances_query_to_wire(account_nos: Sequence[str]) -> dict[str, Any]:
    return {"account_nos": list(account_nos)}


def balances_query_from_wire(body: Any) -> list[str]:
    obj = _object(body, "balances query", ["account_nos"])
    account_nos = _string_list(obj["account_nos"], "account_nos")
    if len(account_nos) > MAX_ACCOUNTS_PER_QUERY:
        raise WireFormatError(f"at most {MAX_ACCOUNTS_PER_QUERY} accounts per query")
    return account_nos


def balance_to_wire(balance: UpstreamBalance, times: dict[datetime, str] | None = None) -> dict[str, Any]:
    """``times`` caches formatted timestamps across a batch (a poll shares one as_of)."""
    as_of = times.get(balance.as_of) if times is not None else None
    if as_of is None:
        as_of = time_to_wire(balance.as_of)
        if times is not None:
            times[balance.as_of] = as_of
    return {
        "account_no": balance.account_no,
        "currency": balance.currency,
        "available": format(balance.available, "f"),
        "in_transit": format(balance.in_transit, "f"),
        "total": format(balance.total, "f"),
        "as_of": as_of,
    }


_BALANCE_FIELDS = ("account_no", "currency", "available", "in_transit", "total", "as_of")


def balance_from_wire(value: Any, times: dict[str, datetime] | None = None) -> UpstreamBalance:
    """``times`` caches parsed timestamps across a batch."""
    obj = _object(value, "balance", _BALANCE_FIELDS)
    as_of_text = obj["as_of"]
    as_of = times.get(as_of_text) if times is not None and isinstance(as_of_text, str) else None
    if as_of is None:
        as_of = time_from_wire(as_of_text, "as_of")
        if times is not None:
            times[as_of_text] = as_of
    try:
        return UpstreamBalance(
            account_no=_string(obj["account_no"], "account_no"),
            currency=_string(obj["currency"], "currency"),
            available=amount_from_wire(obj["available"], "available"),
            in_transit=amount_from_wire(obj["in_transit"], "in_transit"),
            total=amount_from_wire(obj["total"], "total"),
            as_of=as_of,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, WireFormatError):
            raise
        raise WireFormatError(str(exc)) from exc


def balances_answer_to_wire(
    balances: Sequence[UpstreamBalance], unknown_accounts: Sequence[str], as_of: datetime
) -> dict[str, Any]:
    times: dict[datetime, str] = {}
    return {
        "balances": [balance_to_wire(b, times) for b in balances],
        "unknown_accounts": list(unknown_accounts),
        "as_of": time_to_wire(as_of),
    }


def balances_answer_from_wire(body: Any) -> tuple[list[UpstreamBalance], list[str]]:
    obj = _object(body, "balances answer", ["balances", "unknown_accounts", "as_of"])
    time_from_wire(obj["as_of"], "as_of")
    if not isinstance(obj["balances"], list):
        raise WireFormatError("balances must be a list")
    times: dict[str, datetime] = {}
    balances = [balance_from_wire(b, times) for b in obj["balances"]]
    return balances, _string_list(obj["unknown_accounts"], "unknown_accounts")


# --- transfers --------------------------------------------------------------------------


def transfer_request_to_wire(request: TransferRequest) -> dict[str, Any]:
    return {
        "idempotency_key": request.idempotency_key,
        "from_account": request.from_account,
        "to_account": request.to_account,
        "currency": request.currency,
        "amount": amount_to_wire(request.amount),
    }


def transfer_request_from_wire(body: Any) -> TransferRequest:
    obj = _object(body, "transfer", ["idempotency_key", "from_account", "to_account", "currency", "amount"])
    try:
        return TransferRequest(
            idempotency_key=_string(obj["idempotency_key"], "idempotency_key"),
            from_account=_string(obj["from_account"], "from_account"),
            to_account=_string(obj["to_account"], "to_account"),
            currency=_string(obj["currency"], "currency"),
            amount=amount_from_wire(obj["amount"], "amount"),
        )
    except WireFormatError:
        raise
    except (TypeError, ValueError) as exc:
        raise WireFormatError(str(exc)) from exc


def status_to_wire(status: TransferStatus) -> dict[str, Any]:
    return {
        "idempotency_key": status.idempotency_key,
        "state": status.state.value,
        "reason": status.reason,
        "reason_code": status.reason_code.value if status.reason_code else None,
        "transfer_ref": status.transfer_ref,
        "updated_at": time_to_wire(status.updated_at),
    }


def status_from_wire(body: Any) -> TransferStatus:
    obj = _object(
        body, "transfer status", ["idempotency_key", "state", "updated_at"], ["reason", "reason_code", "transfer_ref"]
    )
    state = _string(obj["state"], "state")
    if state not in TransferState.__members__:
        raise WireFormatError(f"state {state!r} is not one of {', '.join(TransferState)}")
    code = _optional_string(obj.get("reason_code"), "reason_code")
    if code is not None and code not in ReasonCode.__members__:
        raise WireFormatError(f"reason_code {code!r} is not one of {', '.join(ReasonCode)}")
    return TransferStatus(
        idempotency_key=_string(obj["idempotency_key"], "idempotency_key"),
        state=TransferState(state),
        reason=_optional_string(obj.get("reason"), "reason"),
        transfer_ref=_optional_string(obj.get("transfer_ref"), "transfer_ref"),
        updated_at=time_from_wire(obj["updated_at"], "updated_at"),
        reason_code=ReasonCode(code) if code else None,
    )


# --- errors -----------------------------------------------------------------------------


class ErrorCode:
    """The ``error.code`` values of error bodies."""

    BAD_REQUEST = "BAD_REQUEST"
    NO_SUCH_ENDPOINT = "NO_SUCH_ENDPOINT"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    UNAVAILABLE = "UNAVAILABLE"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    BAD_GATEWAY = "BAD_GATEWAY"
    INTERNAL = "INTERNAL"


def error_to_wire(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_from_wire(body: Any) -> tuple[str, str]:
    """``(code, message)`` of an error body; raises ``WireFormatError`` if it is not one."""
    obj = _object(body, "error body", ["error"])
    err = _object(obj["error"], "error", ["code", "message"])
    return _string(err["code"], "error.code"), _string(err["message"], "error.message")

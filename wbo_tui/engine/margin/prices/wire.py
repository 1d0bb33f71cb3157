"""The JSON wire format of the price-feed HTTP contract, shared by the client and the
server so both read and write exactly the same shapes.

The contract::

    GET /quotes?codes=700.HK,5.HK
    200 {"quotes": [{"code": "700.HK", "bid": "368.00", "ask": "368.20", "last": "368.20",
                     "quoted_at": "2026-11-30T01:30:05.000000Z"}, …]}

* ``codes``: 1 to ``MAX_CODES_PER_REQUEST`` instrument codes, comma-separated; the only
  query parameter.  A client with more codes asks in several requests.
* The answer holds one quote per code the feed quotes, in any order; a code it does not
  quote is left out (never an error for the request).  A code not asked for, or quoted
  twice, breaks the contract.
* Prices are strings in plain decimal notation (``"368.20"``, never a JSON number);
  ``quoted_at`` is ISO 8601 with an offset, written in UTC.  Quotes are positive with
  ``bid <= ask``; ``last`` may lie outside the spread.
* Errors are the other contracts' body, ``{"error": {"code": …, "message": …}}``:
  400 ``BAD_REQUEST`` (a malformed request), 404 ``NO_SUCH_ENDPOINT``, 405, 503
  ``UNAVAILABLE`` (the feed is down), 504 ``UPSTREAM_TIMEOUT`` (the market data behind the
  server did not answer), 502 ``BAD_GATEWAY``, 500 ``INTERNAL``.

The general rules and their helpers (``dumps``, decimal strings, UTC times, error bodies)
are the upstream contract's, from ``wbo_tui.engine.upstream.wire``, as the rate-source
contract reuses them.  As there, a JSON number is not refused while parsing but kept as a
``JsonNumber`` and refused by the field check, so the error names the field
(``quotes[3].bid``): what an operator needs to report a broken feed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from ...integration.json_body import JsonNumber, strict_loads
from ...upstream.wire import (
    ErrorCode,
    WireFormatError,
    amount_from_wire,
    amount_to_wire,
    dumps,
    error_from_wire,
    error_to_wire,
    time_from_wire,
    time_to_wire,
)
from .gateway import Quote, check_code, check_prices

__all__ = [
    "MAX_CODES_PER_REQUEST",
    "QUOTES_PATH",
    "ErrorCode",
    "JsonNumber",
    "PriceWireError",
    "dumps",
    "error_from_wire",
    "error_to_wire",
    "loads",
    "quotes_from_wire",
    "quotes_path",
    "quotes_to_wire",
]

QUOTES_PATH = "/quotes"
MAX_CODES_PER_REQUEST = 500  # 500 codes of up to 16 characters: a URL of at most ~8.5 KB
ANSWER_FIELDS = ("quotes",)
QUOTE_FIELDS = ("code", "bid", "ask", "last", "quoted_at")


class PriceWireError(WireFormatError):
    """A body that does not follow the contract; ``field`` names where, when it can."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field



def quotes_path(codes: Sequence[str]) -> str:
    """The request for ``codes`` (already checked: digits, capitals and dots only, so the
    query needs no escaping and the comma cannot occur inside a code)."""
    return f"{QUOTES_PATH}?codes={','.join(codes)}"


# --- JSON -------------------------------------------------------------------------------


def loads(data: bytes | str) -> Any:
    """Parse a body: duplicated keys and ``NaN``/``Infinity`` are refused here, numbers
    are kept as ``JsonNumber`` for the field checks to refuse."""
    return strict_loads(data, PriceWireError)


# --- fields -----------------------------------------------------------------------------


def _fields(value: Any, where: str, names: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PriceWireError(f"{where or 'the answer'} must be a JSON object", where or None)
    prefix = f"{where}." if where else ""
    for name in names:
        if name not in value:
            raise PriceWireError(f"{prefix}{name} is missing", f"{prefix}{name}")
    extra = sorted(set(value) - set(names))
    if extra:
        raise PriceWireError(f"{prefix}{extra[0]} is not a field of this contract", f"{prefix}{extra[0]}")
    return value


def _price(value: Any, field: str) -> Decimal:
    # A float (or a JSON number) would carry a binary approximation of the price: refused
    # before anything else is said about the value.
    if isinstance(value, JsonNumber | int | float) and not isinstance(value, bool):
        raise PriceWireError(f"{field} must be a decimal string such as \"368.20\", got the number {value!r}", field)
    try:
        return amount_from_wire(value, field)
    except WireFormatError as exc:
        raise PriceWireError(str(exc), field) from exc


def _quote_from_wire(value: Any, where: str) -> Quote:
    obj = _fields(value, where, QUOTE_FIELDS)
    try:
        code = check_code(obj["code"], f"{where}.code")
    except ValueError as exc:
        raise PriceWireError(str(exc), f"{where}.code") from exc
    bid = _price(obj["bid"], f"{where}.bid")
    ask = _price(obj["ask"], f"{where}.ask")
    last = _price(obj["last"], f"{where}.last")
    try:
        check_prices(bid, ask, last, f"{where}.")
    except ValueError as exc:
        # The message begins with the offending field's full name.
        raise PriceWireError(str(exc), str(exc).split(" ", 1)[0]) from exc
    try:
        quoted_at = time_from_wire(obj["quoted_at"], f"{where}.quoted_at")
    except WireFormatError as exc:
        raise PriceWireError(str(exc), f"{where}.quoted_at") from exc
    return Quote(code, bid, ask, last, quoted_at)


# --- answers ----------------------------------------------------------------------------


def quotes_to_wire(quotes: Iterable[Quote]) -> dict[str, Any]:
    return {
        "quotes": [
            {
                "code": q.code,
                "bid": amount_to_wire(q.bid),
                "ask": amount_to_wire(q.ask),
                "last": amount_to_wire(q.last),
                "quoted_at": time_to_wire(q.quoted_at),
            }
            for q in quotes
        ]
    }


def quotes_from_wire(body: Any, asked: Sequence[str]) -> dict[str, Quote]:
    """The quotes ``body`` gives for the codes ``asked``, keyed by code; ``PriceWireError``
    naming the field otherwise (a code not asked for and a code quoted twice included)."""
    obj = _fields(body, "", ANSWER_FIELDS)
    entries = obj["quotes"]
    if not isinstance(entries, list):
        raise PriceWireError("quotes must be a list", "quotes")
    wanted = set(asked)
    if len(entries) > len(wanted):
        raise PriceWireError(f"quotes has {len(entries)} entries for {len(wanted)} codes asked", "quotes")
    result: dict[str, Quote] = {}
    for index, value in enumerate(entries):
        quote = _quote_from_wire(value, f"quotes[{index}]")
        if quote.code not in wanted:
            raise PriceWireError(f"quotes[{index}].code {quote.code} was not asked for", f"quotes[{index}].code")
        if quote.code in result:
            raise PriceWireError(f"quotes[{index}].code {quote.code} is quoted twice", f"quotes[{index}].code")
        result[quote.code] = quote
    return result

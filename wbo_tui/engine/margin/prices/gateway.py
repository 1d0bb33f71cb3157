"""The boundary to a market-price feed: what the margin engine asks of it, and what it
answers.

The margin engine values every client's holdings at market, so it asks the feed for the
quotes of many Hong Kong stocks at once ("700.HK", "9988.HK", "5.HK", …): a bid, an ask,
the last trade and the time the feed quoted them.

Every gateway, the simulator as much as the HTTP client, keeps the same promises:

* Prices are ``Decimal`` throughout; no float crosses this boundary.
* Every quote is checked here, at the boundary, before the engine sees it: a code of the
  instruments table's alphabet, positive prices, ``bid <= ask``, an aware time.  The last
  trade is not required to lie inside the spread: the market may have moved since it was
  made.  A feed answer that breaks any of this raises ``PriceProtocolError`` naming the
  field; nothing half-checked gets through.
* A code the feed does not quote is absent from the answer.  It is never an error for the
  whole batch: one delisted stock must not leave every other client unvalued.
* "No answer in time" (``PriceFeedTimeout``) is distinct from "the feed said it is down
  or could not be reached" (``PriceFeedUnavailable``): the price pass may retry a timeout
  sooner, and the operator reads a different sentence.
* How old a quote may be before it no longer counts is the engine's setting, not the
  feed's; ``is_stale`` is the one rule that applies it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

from ...clock import Seconds
from ...errors import WboError

# An instrument code as the instruments table keeps it (16 characters): digits and capital
# letters in dot-separated parts, "700.HK".  No comma, so a list of codes is one query
# parameter.  Use with ``fullmatch``: ``$`` would let a trailing newline through.
INSTRUMENT_CODE = re.compile(r"(?=[0-9A-Z.]{1,16}\Z)[0-9A-Z]+(?:\.[0-9A-Z]+)*")


# --- errors -----------------------------------------------------------------------------


class PriceFeedError(WboError):
    """Anything that went wrong asking the price feed.  A price pass that catches this
    keeps the prices it has (they age, and ``is_stale`` says when they stop counting)."""


class PriceFeedTimeout(PriceFeedError):
    """The feed did not answer within the time limit.  Deliberately not a kind of
    ``PriceFeedUnavailable``: nothing is known about the feed, only that it was slow."""


class PriceFeedUnavailable(PriceFeedError):
    """The feed is down: it said so (an HTTP 5xx), or the connection was refused."""


class PriceProtocolError(PriceFeedError):
    """The feed answered something that breaks the contract (a missing field, a float
    instead of a decimal string, a non-positive price, a bid above the ask, a code that
    was not asked for).  ``field`` names the offending field (``quotes[2].bid``) when one
    can be named."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownInstrument(PriceFeedError):
    """The feed does not quote this instrument (raised by ``quote_for``, never by a
    gateway: a batch answers what it can)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"The price feed does not quote {code}.")
        self.code = code


# --- checks shared by the dataclass, the gateways and the wire parser -------------------


def check_code(value: object, field: str = "code") -> str:
    """An instrument code, or ``ValueError`` naming ``field``."""
    if not isinstance(value, str) or not INSTRUMENT_CODE.fullmatch(value):
        raise ValueError(f"{field} must be an instrument code such as 700.HK, got {value!r}")
    return value


def check_codes(codes: Sequence[str]) -> list[str]:
    """The distinct codes of a request, in their first order.  A code that is not a code
    at all is a ``ValueError`` (a bug of the caller, not an operating error); a lone
    string is a ``TypeError`` rather than a request for "7", "0", "0", ".", "H", "K"."""
    if isinstance(codes, str | bytes) or not isinstance(codes, Iterable):
        raise TypeError(f"codes must be a sequence of instrument codes, got {type(codes).__name__}")
    seen: dict[str, None] = {}
    for index, code in enumerate(codes):
        seen[check_code(code, f"codes[{index}]")] = None
    return list(seen)


def check_prices(bid: Decimal, ask: Decimal, last: Decimal, where: str = "") -> None:
    """Raises ``TypeError`` for a price that is not a finite Decimal (a float above all),
    ``ValueError`` naming the field that is not positive or out of order."""
    for field, value in (("bid", bid), ("ask", ask), ("last", last)):
        if not isinstance(value, Decimal) or not value.is_finite():
            raise TypeError(f"{where}{field} must be a finite Decimal, got {type(value).__name__} {value!r}")
        if value <= 0:
            raise ValueError(f"{where}{field} must be positive, got {value}")
    if bid > ask:
        raise ValueError(f"{where}bid {bid} is above ask {ask}")


def _utc(moment: object, field: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"{field} must be a timezone-aware datetime, got {moment!r}")
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


# --- data crossing the boundary ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    """One instrument's market: the best ``bid`` and ``ask`` and the ``last`` trade, in
    the instrument's currency, as the feed quoted them at ``quoted_at`` (UTC).

    ``last`` may lie outside ``[bid, ask]``: the book moves after a trade.  The engine
    values a long at the bid and a short at the ask; ``last`` is what the operator sees.
    """

    code: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    quoted_at: datetime

    def __post_init__(self) -> None:
        check_code(self.code)
        check_prices(self.bid, self.ask, self.last)
        object.__setattr__(self, "quoted_at", _utc(self.quoted_at, "quoted_at"))


def quote_for(quotes: Mapping[str, Quote], code: str) -> Quote:
    """The quote of ``code`` in a gateway's answer; ``UnknownInstrument`` when the feed
    did not quote it (for a caller that needs that one price or nothing)."""
    quote = quotes.get(code)
    if quote is None:
        raise UnknownInstrument(code)
    return quote


def is_stale(quote_or_time: Quote | datetime, now: datetime, limit_s: Seconds) -> bool:
    """Whether a quote (or the time it was quoted) is older than ``limit_s`` seconds at
    ``now``.  A quote exactly ``limit_s`` old still counts; one dated after ``now`` (a
    feed's clock slightly ahead) is fresh, not an error.  ``limit_s`` is a duration in
    seconds, not money: a float is right for it."""
    quoted_at = quote_or_time.quoted_at if isinstance(quote_or_time, Quote) else _utc(quote_or_time, "quoted_at")
    now = _utc(now, "now")
    if isinstance(limit_s, bool) or not isinstance(limit_s, int | float) or not limit_s >= 0:
        raise ValueError(f"limit_s must be a non-negative number of seconds, got {limit_s!r}")
    return now - quoted_at > timedelta(seconds=limit_s)


# --- the interface ----------------------------------------------------------------------


@runtime_checkable
class PriceGateway(Protocol):
    """A market-price feed, seen from the margin engine."""

    async def quotes(self, codes: Sequence[str]) -> dict[str, Quote]:
        """The feed's current quotes of ``codes``, keyed by code; a code the feed does not
        quote is absent.  Duplicated codes are asked once; no codes, no request.

        Raises ``PriceFeedTimeout`` when the feed does not answer in time,
        ``PriceFeedUnavailable`` when it is down or unreachable, ``PriceProtocolError`` on
        a malformed answer.  A code that is not an instrument code at all is a
        ``ValueError`` (a bug of the caller, not an operating error)."""
        ...

    async def close(self) -> None:
        """Release connections.  The gateway is unusable afterwards."""
        ...

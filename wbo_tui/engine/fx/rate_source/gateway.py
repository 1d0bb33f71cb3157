"""The boundary to a reference-rate source: what the console asks of it, and what it
answers.

A rate source publishes, per rate channel (``HKEX``, ``IB``, ``HANG_SENG``, ``ICBC``)
and rate type (``BOOK``, ``SPOT``, ``HKEX``), a bid, an offer and an average (mid) rate
for each currency against the standard currency, with the Hong Kong date they are for.
The console asks for one channel and type at a time.

Every gateway, the simulator as much as the HTTP client, keeps the same promises:

* Rates are ``Decimal`` throughout; no float crosses this boundary.
* Every answer is checked here, at the boundary, before the console sees it: positive
  rates, ``bid <= average <= offer``, a real ``YYYYMMDD`` record date, one rate per
  currency, the channel and type that were asked for.  An answer that breaks any of these
  raises ``RateSourceProtocolError`` naming the field; nothing half-checked gets through.
* "No answer in time" (``RateSourceTimeout``) is distinct from "the source said it is
  unavailable or could not be reached" (``RateSourceUnavailable``): a refresh job may
  retry a timeout sooner, and the operator reads a different sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from ...errors import WboError

# Codes travel in URL paths and fit the reference-rate table's columns (channel_name is
# 16 characters, rate_type 8, currencies 12).  Use with ``fullmatch``: ``$`` would let a
# trailing newline through.
CHANNEL_NAME = re.compile(r"[A-Z0-9_]{1,16}")
RATE_TYPE = re.compile(r"[A-Z0-9_]{1,8}")
CURRENCY_CODE = re.compile(r"[A-Z0-9_]{1,12}")
RECORD_DATE = re.compile(r"[0-9]{8}")


# --- errors -----------------------------------------------------------------------------


class RateSourceError(WboError):
    """Anything that went wrong asking a rate source.  A refresh job that catches this
    keeps the rates it has and flags the channel as not refreshed this time."""


class RateSourceTimeout(RateSourceError):
    """The source did not answer within the time limit.  Deliberately not a kind of
    ``RateSourceUnavailable``: nothing is known about the source, only that it was slow."""


class RateSourceUnavailable(RateSourceError):
    """The source is down: it said so (an HTTP 5xx), or the connection was refused."""


class RateSourceProtocolError(RateSourceError):
    """The source answered something that breaks the contract (a missing field, a float
    instead of a decimal string, a non-positive rate, bid above average or average above
    offer, a record date that is not ``YYYYMMDD``).  ``field`` names the offending field
    (``rates[2].bid_rate``) when one can be named."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownRateChannel(RateSourceError):
    """The source does not publish this channel and rate type."""

    def __init__(self, channel_name: str, rate_type: str) -> None:
        super().__init__(f"The rate source does not publish {channel_name} {rate_type} rates.")
        self.channel_name = channel_name
        self.rate_type = rate_type


# --- checks shared by the dataclasses and the wire parser -------------------------------


def check_code(value: object, pattern: re.Pattern[str], field: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{field} must match {pattern.pattern}, got {value!r}")
    return value


def check_record_date(value: object, field: str = "record_date") -> str:
    """A ``YYYYMMDD`` string naming a real calendar day (``20260230`` is refused)."""
    if not isinstance(value, str) or not RECORD_DATE.fullmatch(value):
        raise ValueError(f"{field} must be a date as YYYYMMDD, got {value!r}")
    try:
        date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError as exc:
        raise ValueError(f"{field} {value} is not a calendar date") from exc
    return value


def check_rate_order(bid: Decimal, average: Decimal, offer: Decimal, where: str) -> None:
    """Raises ``ValueError`` naming the field that is out of order or not positive."""
    for field, value in (("bid_rate", bid), ("offer_rate", offer), ("average_rate", average)):
        if not isinstance(value, Decimal) or not value.is_finite():
            raise TypeError(f"{where}{field} must be a finite Decimal, got {type(value).__name__} {value!r}")
        if value <= 0:
            raise ValueError(f"{where}{field} must be positive, got {value}")
    if bid > average:
        raise ValueError(f"{where}bid_rate {bid} is above average_rate {average}")
    if average > offer:
        raise ValueError(f"{where}average_rate {average} is above offer_rate {offer}")


# --- data crossing the boundary ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishedRate:
    """One currency's reference rate: how many ``base_currency`` (the standard currency)
    one unit of ``other_currency`` is worth.  The broker buys ``other_currency`` at
    ``bid_rate`` and sells it at ``offer_rate``; ``average_rate`` is the mid.
    ``record_date`` is the Hong Kong date the rate is for, as ``YYYYMMDD``."""

    base_currency: str
    other_currency: str
    bid_rate: Decimal
    offer_rate: Decimal
    average_rate: Decimal
    record_date: str

    def __post_init__(self) -> None:
        check_code(self.base_currency, CURRENCY_CODE, "base_currency")
        check_code(self.other_currency, CURRENCY_CODE, "other_currency")
        if self.base_currency == self.other_currency:
            raise ValueError(f"a rate needs two currencies, got {self.base_currency} twice")
        check_rate_order(self.bid_rate, self.average_rate, self.offer_rate, "")
        check_record_date(self.record_date)


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    """Everything a source publishes for one channel and rate type at ``published_at``
    (UTC).  ``hourly`` says the channel republishes every hour (the console then refreshes
    it hourly as well as at 13:00 HKT).  ``rates`` are sorted by currency, one per
    currency, all against one standard currency."""

    channel_name: str
    rate_type: str
    published_at: datetime
    hourly: bool
    rates: tuple[PublishedRate, ...]

    def __post_init__(self) -> None:
        check_code(self.channel_name, CHANNEL_NAME, "channel_name")
        check_code(self.rate_type, RATE_TYPE, "rate_type")
        if not isinstance(self.published_at, datetime) or self.published_at.tzinfo is None:
            raise ValueError(f"published_at must be a timezone-aware datetime, got {self.published_at!r}")
        if self.published_at.tzinfo is not UTC:
            object.__setattr__(self, "published_at", self.published_at.astimezone(UTC))
        if not isinstance(self.hourly, bool):
            raise TypeError(f"hourly must be a bool, got {self.hourly!r}")
        rates = tuple(self.rates)
        if not all(isinstance(r, PublishedRate) for r in rates):
            raise TypeError("rates must be PublishedRate values")
        check_rate_set(rates)
        object.__setattr__(self, "rates", tuple(sorted(rates, key=lambda r: r.other_currency)))

    def rate(self, other_currency: str) -> PublishedRate:
        """The rate of ``other_currency``; ``KeyError`` when the snapshot has none."""
        for published in self.rates:
            if published.other_currency == other_currency:
                return published
        raise KeyError(other_currency)


def check_rate_set(rates: tuple[PublishedRate, ...]) -> None:
    """One standard currency for the whole set, and one rate per currency: a source that
    quoted USD twice would leave the console to guess which one counts."""
    if not rates:
        raise ValueError("a snapshot carries at least one rate")
    bases = {r.base_currency for r in rates}
    if len(bases) != 1:
        raise ValueError(f"all rates must be against one standard currency, got {', '.join(sorted(bases))}")
    seen: set[str] = set()
    for index, published in enumerate(rates):
        if published.other_currency in seen:
            raise ValueError(f"rates[{index}].other_currency {published.other_currency} is quoted twice")
        seen.add(published.other_currency)


# --- the interface ----------------------------------------------------------------------


@runtime_checkable
class RateSourceGateway(Protocol):
    """A reference-rate source, seen from the console."""

    async def fetch(self, channel_name: str, rate_type: str) -> RateSnapshot:
        """The rates the source publishes now for ``channel_name`` and ``rate_type``.

        Raises ``UnknownRateChannel`` when the source does not publish that pair,
        ``RateSourceTimeout`` when it does not answer in time, ``RateSourceUnavailable``
        when it is down or unreachable, ``RateSourceProtocolError`` on a malformed answer.
        A channel name or rate type that is not a code at all is a ``ValueError`` (a bug
        of the caller, not an operating error)."""
        ...

    async def close(self) -> None:
        """Release connections and files.  The gateway is unusable afterwards."""
        ...

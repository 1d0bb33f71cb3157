"""A simulated reference-rate source: the default for the demo and the tests.

Its state lives in a SQLite file (``sim_store``), so several console processes, a test
and an HTTP server in front of it all see one source.  Nothing is canned for a
particular test: a test or the demo publishes a channel's base rates, optionally asks
for a deterministic hourly drift, and injects faults; the simulator derives every answer
from that state and the injected clock.

* ``record_date`` is the clock's Hong Kong date at fetch time.
* With a drift set, each hour of the clock moves every currency's rates from the
  published base by a pseudo-random number of basis points drawn from the seed
  (``drift``), the same in every process.  ``published_at`` is then the later of the
  publication and the start of the hour.
* Faults are stored in the file, so one process can arrange what another meets: a
  channel down, the next fetches timing out, the next answers malformed.

A fetch builds the answer as a wire document first and checks it with the very parser the
HTTP client uses, so a malformed answer is refused the same way whether it came over
HTTP or straight from the simulator; ``answer_document`` hands the unchecked document to
the HTTP server, which serves it as is.  Every fetch is written to the request log; the
harness methods (publish, drift, faults, reading the log) are not.
"""

from __future__ import annotations

import asyncio
import decimal
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ...hk_calendar import HONG_KONG
from ...integration.sim_store import ts
from . import drift, wire
from .gateway import (
    CHANNEL_NAME,
    CURRENCY_CODE,
    RATE_TYPE,
    RateSnapshot,
    RateSourceProtocolError,
    RateSourceTimeout,
    RateSourceUnavailable,
    UnknownRateChannel,
    check_code,
    check_rate_order,
)
from .sim_store import RateStore

__all__ = ["MALFORMED_KINDS", "Malformed", "RateRequestLogEntry", "SimulatedRate", "SimulatedRateSource"]

Malformed = Literal["float", "missing_field", "crossed", "non_positive", "record_date"]
MALFORMED_KINDS: tuple[str, ...] = ("float", "missing_field", "crossed", "non_positive", "record_date")


@dataclass(frozen=True, slots=True)
class SimulatedRate:
    """A base rate as published to the simulator; the record date is not part of it,
    because the simulator stamps the Hong Kong date of each fetch."""

    other_currency: str
    bid_rate: Decimal
    offer_rate: Decimal
    average_rate: Decimal
    base_currency: str = "HKD"

    def __post_init__(self) -> None:
        check_code(self.base_currency, CURRENCY_CODE, "base_currency")
        check_code(self.other_currency, CURRENCY_CODE, "other_currency")
        if self.base_currency == self.other_currency:
            raise ValueError(f"a rate needs two currencies, got {self.base_currency} twice")
        check_rate_order(self.bid_rate, self.average_rate, self.offer_rate, f"{self.other_currency} ")


@dataclass(frozen=True, slots=True)
class RateRequestLogEntry:
    """One fetch the simulator received (``pid`` is the calling process's)."""

    seq: int
    channel_name: str
    rate_type: str
    outcome: str  # ok | malformed | unavailable | timeout | unknown
    pid: int
    at: datetime


def _check_pair(channel_name: str, rate_type: str) -> None:
    check_code(channel_name, CHANNEL_NAME, "channel_name")
    check_code(rate_type, RATE_TYPE, "rate_type")


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a whole number of at least 1, got {count!r}")


class SimulatedRateSource(RateStore):
    """The built-in rate source (implements ``RateSourceGateway``).

    ``store_path`` is the SQLite file (created on first use).  Safe to share between tasks
    and threads of one process; other processes open their own instance on the same file.
    """

    # --- the gateway ----------------------------------------------------------------------

    async def fetch(self, channel_name: str, rate_type: str) -> RateSnapshot:
        document = await self.answer_document(channel_name, rate_type)
        try:
            snapshot = wire.snapshot_from_wire(document)
        except wire.RateWireError as exc:
            raise RateSourceProtocolError(f"The rate source sent a malformed answer: {exc}.", exc.field) from exc
        if (snapshot.channel_name, snapshot.rate_type) != (channel_name, rate_type):
            raise RateSourceProtocolError(
                f"Asked for {channel_name} {rate_type}, the rate source answered "
                f"{snapshot.channel_name} {snapshot.rate_type}.",
                "channel_name",
            )
        return snapshot

    async def answer_document(self, channel_name: str, rate_type: str) -> dict[str, Any]:
        """The answer as it would go on the wire, unchecked (possibly malformed on purpose).
        Raises the gateway's errors for a channel that is down, unknown, or timing out."""
        _check_pair(channel_name, rate_type)
        outcome, document, hang_s = await self._run(self._answer, channel_name, rate_type)
        if outcome == "unavailable":
            raise RateSourceUnavailable(f"The rate source is unavailable for {channel_name}.")
        if outcome == "timeout":
            await asyncio.sleep(hang_s)
            raise RateSourceTimeout(f"The rate source did not answer for {channel_name} {rate_type} in time.")
        if outcome == "unknown":
            raise UnknownRateChannel(channel_name, rate_type)
        assert document is not None
        return document

    def _answer(
        self, conn: sqlite3.Connection, channel_name: str, rate_type: str
    ) -> tuple[str, dict[str, Any] | None, float]:
        now = self._now()
        if self._is_down(conn, channel_name):
            self._log(conn, channel_name, rate_type, "unavailable", now)
            return "unavailable", None, 0.0
        timeout = self._take_fault(conn, "timeout")
        if timeout is not None:
            self._log(conn, channel_name, rate_type, "timeout", now)
            return "timeout", None, timeout.hang_s
        publication = conn.execute(
            "SELECT hourly, published_at FROM publications WHERE channel_name = ? AND rate_type = ?",
            (channel_name, rate_type),
        ).fetchone()
        if publication is None:
            self._log(conn, channel_name, rate_type, "unknown", now)
            return "unknown", None, 0.0
        document = self._document(conn, channel_name, rate_type, bool(publication[0]), publication[1], now)
        malformed = self._take_fault(conn, "malformed")
        if malformed is not None:
            _spoil(document, malformed.how or "float")
        self._log(conn, channel_name, rate_type, "malformed" if malformed else "ok", now)
        return "ok", document, 0.0

    def _document(
        self, conn: sqlite3.Connection, channel_name: str, rate_type: str, hourly: bool, published_text: str, now: datetime
    ) -> dict[str, Any]:
        published_at = datetime.fromisoformat(published_text)
        setting = conn.execute(
            "SELECT seed, step_bp FROM drifts WHERE channel_name = ? AND rate_type = ?", (channel_name, rate_type)
        ).fetchone()
        bucket = drift.hour_bucket(now)
        if setting is not None:
            published_at = max(published_at, drift.hour_start(bucket))
        record_date = now.astimezone(HONG_KONG).strftime("%Y%m%d")
        rows = conn.execute(
            "SELECT base_currency, other_currency, bid_rate, offer_rate, average_rate FROM published_rates "
            "WHERE channel_name = ? AND rate_type = ? ORDER BY other_currency",
            (channel_name, rate_type),
        ).fetchall()
        rates = []
        for base, other, *texts in rows:
            bid, offer, average = (Decimal(t) for t in texts)
            if setting is not None:
                bp = drift.drift_bp(int(setting[0]), channel_name, rate_type, other, bucket, setting[1])
                bid, offer, average = drift.move(bid, bp), drift.move(offer, bp), drift.move(average, bp)
            rates.append(
                {
                    "base_currency": base,
                    "other_currency": other,
                    "bid_rate": wire.amount_to_wire(bid),
                    "offer_rate": wire.amount_to_wire(offer),
                    "average_rate": wire.amount_to_wire(average),
                    "record_date": record_date,
                }
            )
        return {
            "channel_name": channel_name,
            "rate_type": rate_type,
            "published_at": wire.time_to_wire(published_at),
            "hourly": hourly,
            "rates": rates,
        }

    async def __aenter__(self) -> SimulatedRateSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the source's side: publishing ------------------------------------------------------

    async def publish(
        self, channel_name: str, rate_type: str, rates: Iterable[SimulatedRate], hourly: bool = False
    ) -> None:
        """Publish ``rates`` as the channel's base rates from now on, replacing whatever it
        published before (a drift set for it stays)."""
        _check_pair(channel_name, rate_type)
        rates = list(rates)
        if not rates or not all(isinstance(r, SimulatedRate) for r in rates):
            raise ValueError("publish takes one or more SimulatedRate values")
        if len({r.base_currency for r in rates}) != 1:
            raise ValueError("all rates of a channel are against one standard currency")
        if len({r.other_currency for r in rates}) != len(rates):
            raise ValueError("each currency is published once")
        if not isinstance(hourly, bool):
            raise TypeError(f"hourly must be a bool, got {hourly!r}")

        def apply(conn: sqlite3.Connection) -> None:
            now = self._now()
            key = (channel_name, rate_type)
            conn.execute("DELETE FROM publications WHERE channel_name = ? AND rate_type = ?", key)
            conn.execute("INSERT INTO publications VALUES (?, ?, ?, ?)", (*key, int(hourly), ts(now)))
            conn.executemany(
                "INSERT INTO published_rates VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (*key, r.other_currency, r.base_currency, *(format(v, "f") for v in (r.bid_rate, r.offer_rate)),
                     format(r.average_rate, "f"))
                    for r in rates
                ],
            )

        await self._run(apply)

    async def unpublish(self, channel_name: str, rate_type: str) -> None:
        """Stop publishing the channel and type: fetching it is then ``UnknownRateChannel``."""
        _check_pair(channel_name, rate_type)
        await self._run(
            lambda conn: conn.execute(
                "DELETE FROM publications WHERE channel_name = ? AND rate_type = ?", (channel_name, rate_type)
            )
        )

    async def set_drift(self, channel_name: str, rate_type: str, seed: int, step_bp: int) -> None:
        """Move the channel's rates every clock hour by up to ``step_bp`` basis points
        either way, drawn from ``seed`` (``step_bp=0`` publishes the base rates, rounded)."""
        _check_pair(channel_name, rate_type)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r}")
        drift.check_step(step_bp)
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO drifts VALUES (?, ?, ?, ?) ON CONFLICT (channel_name, rate_type) DO UPDATE "
                "SET seed = excluded.seed, step_bp = excluded.step_bp",
                (channel_name, rate_type, str(seed), step_bp),
            )
        )

    async def clear_drift(self, channel_name: str, rate_type: str) -> None:
        _check_pair(channel_name, rate_type)
        await self._run(
            lambda conn: conn.execute(
                "DELETE FROM drifts WHERE channel_name = ? AND rate_type = ?", (channel_name, rate_type)
            )
        )

    # --- the source's side: faults ------------------------------------------------------------

    async def down(self, channel_name: str, is_down: bool = True) -> None:
        """While down, every fetch of the channel (any rate type) is ``RateSourceUnavailable``."""
        check_code(channel_name, CHANNEL_NAME, "channel_name")
        sql = (
            "INSERT OR IGNORE INTO down_channels VALUES (?)"
            if is_down
            else "DELETE FROM down_channels WHERE channel_name = ?"
        )
        await self._run(lambda conn: conn.execute(sql, (channel_name,)))

    async def timeout_next(self, count: int = 1, *, hang_s: float = 0.0) -> None:
        """The next ``count`` fetches (any channel) give no answer: after ``hang_s``
        seconds they raise ``RateSourceTimeout``.  Over HTTP, a ``hang_s`` above the
        client's ``timeout_s`` makes the client time out on the wire.  (``hang_s`` is a
        duration in seconds, not money: a float is right for it.)"""
        _check_count(count)
        if hang_s < 0:
            raise ValueError("hang_s cannot be negative")
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO faults (action, remaining, hang_s) VALUES ('timeout', ?, ?)", (count, float(hang_s))
            )
        )

    async def malformed_next(self, count: int = 1, *, how: Malformed = "float") -> None:
        """The next ``count`` answers break the contract in the first rate: ``float`` (the
        bid as a JSON number), ``missing_field`` (no average), ``crossed`` (bid above
        average), ``non_positive`` (a zero average), ``record_date`` (not YYYYMMDD)."""
        _check_count(count)
        if how not in MALFORMED_KINDS:
            raise ValueError(f"how must be one of {', '.join(MALFORMED_KINDS)}, got {how!r}")
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO faults (action, remaining, how) VALUES ('malformed', ?, ?)", (count, how)
            )
        )

    async def clear_faults(self) -> None:
        """Drop pending timeouts and malformed answers, and bring every channel back up."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM faults")
            conn.execute("DELETE FROM down_channels")

        await self._run(apply)

    # --- the source's side: inspection --------------------------------------------------------

    async def request_log(self) -> list[RateRequestLogEntry]:
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT seq, channel_name, rate_type, outcome, pid, at FROM request_log ORDER BY seq"
            ).fetchall()
        )
        return [RateRequestLogEntry(s, c, t, o, p, datetime.fromisoformat(a)) for s, c, t, o, p, a in rows]


def _spoil(document: dict[str, Any], how: str) -> None:
    """Break the first rate of ``document`` the way ``how`` says."""
    first = document["rates"][0]
    if how == "float":
        # The one deliberate float in the project: the fault being simulated is a feed
        # that sends the rate as a binary floating-point number.
        first["bid_rate"] = float(first["bid_rate"])
    elif how == "missing_field":
        del first["average_rate"]
    elif how == "crossed":
        average = Decimal(first["average_rate"])
        first["bid_rate"] = format(decimal.Context(prec=60).add(average, Decimal("0.0001")), "f")
    elif how == "non_positive":
        first["average_rate"] = "0"
    else:
        record_date = first["record_date"]
        first["record_date"] = f"{record_date[:4]}-{record_date[4:6]}-{record_date[6:]}"

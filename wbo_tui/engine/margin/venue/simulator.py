"""A simulated liquidation venue: the default for the demo and the tests.

The venue lives in its own SQLite file (``sim_store``), so several console processes and a
FIX acceptor in front of it share one venue.  Each call is one ``BEGIN IMMEDIATE``
transaction: looking an id up and booking it cannot interleave with another submission of
the same id, and a cancel racing a fill is decided by whichever transaction runs first.

The matching rule.  The venue has no order book and no background worker; it matches
lazily, inside each ``submit``, ``cancel`` and ``status`` call, against the market price the
injected ``prices(code) -> (bid, ask) | None`` gives at that call:

* An order is matched at discrete instants: the moment it is booked, then every
  ``fill_step_s`` seconds after (instant k is ``created_at + k * fill_step_s`` on the
  injected clock).  A call at ``now`` matches the order at every instant up to ``now`` it
  has not yet been matched at, in order, each with the price seen at the call (the venue
  keeps no price history; the price at the call stands for the instants it catches up on).
* At an instant, a SELL is marketable when bid >= limit and fills at the bid; a BUY when
  ask <= limit and fills at the ask (never worse than the limit).  No quote, no fill.
* Each marketable instant fills at most ``max_lots_per_fill`` board lots (all that is left
  when unset), as one execution with its own ``exec_id``, stamped with the instant's time.
* A new order is REJECTED (with a reason) when a ``reject`` fault is armed, when its code
  is in ``reject_codes`` ("Security suspended") or when its limit is off the HKEX spread
  table.  Board lots are the engine's business: an odd quantity is traded as given.

The cancel race.  ``cancel`` first matches the order up to now (the fills due before the
cancel happen first), then cancels whatever is left.  A cancel that finds the order FILLED
(or REJECTED) raises ``CancelRejected`` ("Too late to cancel") carrying the status; a
cancel of an order already cancelled returns its status.  Two processes racing (one asking
the status, which fills, one cancelling) leave exactly one outcome: the loser sees the
state the winner committed.
"""

from __future__ import annotations

import inspect
import os
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from ...clock import Clock, Seconds
from ..ticks import on_grid
from .gateway import (
    CancelRejected,
    UnknownVenueOrder,
    VenueIdempotencyConflict,
    VenueOrder,
    VenueOrderStatus,
    VenueTimeout,
    VenueUnavailable,
    check_id,
    require_decimal,
)
from .sim_store import (
    SUSPENDED_REASON,
    VenueHarness,
    VenueSettings,
    instant,
    ts,
    venue_order_id,
)

__all__ = ["PriceSource", "Quote", "SimulatedVenue"]

# (bid, ask): either side may be missing (no bids, no offers).
Quote = tuple[Decimal | None, Decimal | None]
# The market: sync or async, None when the code has no quote at all.
PriceSource = Callable[[str], Quote | None | Awaitable[Quote | None]]

_TIMEOUTS = ("timeout_before_accept", "timeout_after_accept")


class SimulatedVenue(VenueHarness):
    """The built-in liquidation venue (implements ``LiquidationVenue``).

    ``store_path`` is the SQLite file (created on first use); ``prices`` the market;
    ``clock`` the time matching instants are measured on; ``settings``, when given, are
    written to the store when it is opened (otherwise the stored ones, or the defaults,
    hold).  Safe to share between tasks and threads of one process; other processes open
    their own instance on the same file.
    """

    def __init__(
        self,
        store_path: str | os.PathLike[str],
        *,
        prices: PriceSource,
        clock: Clock | None = None,
        settings: VenueSettings | None = None,
        busy_timeout_s: Seconds = 30.0,
    ) -> None:
        super().__init__(store_path, clock=clock, busy_timeout_s=busy_timeout_s)
        if not callable(prices):
            raise TypeError("prices must be a callable code -> (bid, ask) | None")
        if settings is not None and not isinstance(settings, VenueSettings):
            raise TypeError(f"settings must be VenueSettings, got {type(settings).__name__}")
        self._prices = prices
        self._initial_settings = settings
        self._codes: dict[str, str] = {}  # cl_ord_id -> code: an order's code never changes

    def _on_open(self, conn: sqlite3.Connection) -> None:
        if self._initial_settings is not None:
            for name, value in self._initial_settings.rows():
                self._put_setting(conn, name, value)

    # --- the market ------------------------------------------------------------------------

    async def _quote(self, code: str | None) -> Quote | None:
        """The market for ``code``, asked outside any transaction (the source may await)."""
        if code is None:
            return None
        quote = self._prices(code)
        if inspect.isawaitable(quote):
            quote = await quote
        if quote is None:
            return None
        if not isinstance(quote, tuple) or len(quote) != 2:
            raise TypeError(f"prices({code!r}) must give (bid, ask) or None, got {quote!r}")
        bid, ask = quote
        return (
            None if bid is None else require_decimal(bid, f"the bid of {code}", positive=True),
            None if ask is None else require_decimal(ask, f"the ask of {code}", positive=True),
        )

    async def _code_of(self, cl_ord_id: str) -> str | None:
        if cl_ord_id not in self._codes:
            row = await self._run(self._find, cl_ord_id)
            if row is None:
                return None
            self._codes[cl_ord_id] = row[3]
        return self._codes[cl_ord_id]

    # --- submit ----------------------------------------------------------------------------

    async def submit(self, order: VenueOrder) -> VenueOrderStatus:
        if not isinstance(order, VenueOrder):
            raise TypeError(f"submit takes a VenueOrder, got {type(order).__name__}")
        quote = await self._quote(order.code)
        outcome, status = await self._run(self._submit, order, quote)
        if outcome == "unavailable":
            raise VenueUnavailable(f"The liquidation venue is unavailable; order {order.cl_ord_id} was not taken.")
        if outcome == "timeout":
            # Whatever the venue did stands; only the answer is lost, as over a network.
            raise VenueTimeout(
                f"The liquidation venue did not answer order {order.cl_ord_id} in time; "
                "ask its status before doing anything else."
            )
        if outcome == "conflict":
            raise VenueIdempotencyConflict(order.cl_ord_id, "the venue holds other fields under it")
        self._codes[order.cl_ord_id] = order.code
        assert status is not None
        return status

    def _submit(
        self, conn: sqlite3.Connection, order: VenueOrder, quote: Quote | None
    ) -> tuple[str, VenueOrderStatus | None]:
        now = self._now()
        if self._is_down(conn):
            self._log(conn, "submit", order.cl_ord_id, "unavailable", now)
            return "unavailable", None
        fault = self._take_fault(conn, "submit", _TIMEOUTS)
        if fault is not None and fault[0] == "timeout_before_accept":
            self._log(conn, "submit", order.cl_ord_id, "lost", now, answer_lost=True)
            return "timeout", None
        row = self._find(conn, order.cl_ord_id)
        status = None
        if row is None:
            status = self._book(conn, order, quote, now)
            outcome = "rejected" if status.state == "REJECTED" else "accepted"
        elif not self._order_of(row).same_order(order):
            outcome = "conflict"
        else:
            status, outcome = self._matched(conn, row, quote, now), "replayed"
        self._log(conn, "submit", order.cl_ord_id, outcome, now, answer_lost=fault is not None)
        if fault is not None:
            return "timeout", None
        return ("conflict", None) if outcome == "conflict" else ("ok", status)

    def _book(
        self, conn: sqlite3.Connection, order: VenueOrder, quote: Quote | None, now: datetime
    ) -> VenueOrderStatus:
        """Record a new order, REJECTED or NEW, and match a NEW one at its first instant."""
        settings = self._settings(conn)
        injected = self._take_fault(conn, "submit", ("reject",))
        if injected is not None:
            state, reason = "REJECTED", injected[1] or "Rejected by the venue."
        elif order.code in settings.reject_codes:
            state, reason = "REJECTED", SUSPENDED_REASON
        elif not on_grid(order.limit_price):
            state, reason = "REJECTED", f"Price {order.limit_price} is not on the HKEX spread table"
        else:
            state, reason = "NEW", ""
        conn.execute(
            "INSERT INTO venue_orders (cl_ord_id, account, code, side, quantity, limit_price, call_ref, state, "
            "filled_quantity, reason, next_step, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, 0, ?, ?)",
            (
                order.cl_ord_id, order.account, order.code, order.side, order.quantity,
                format(order.limit_price, "f"), order.call_ref, state, reason, ts(now), ts(now),
            ),
        )
        row = self._find(conn, order.cl_ord_id)
        assert row is not None
        return self._matched(conn, row, quote, now)

    # --- matching --------------------------------------------------------------------------

    def _matched(self, conn: sqlite3.Connection, row: tuple, quote: Quote | None, now: datetime) -> VenueOrderStatus:
        """The order's status once matched at every instant up to ``now`` (the rule is in
        the module's docstring)."""
        seq, side, quantity, limit, state, filled, next_step = row[0], row[4], row[5], row[6], row[8], row[9], row[11]
        if state not in ("NEW", "PARTIALLY_FILLED"):
            return self._status_of(conn, row)
        settings = self._settings(conn)
        created = datetime.fromisoformat(row[12])
        # Whole steps elapsed, counted exactly in microseconds (no float division).
        last = (now - created) // timedelta(seconds=settings.fill_step_s) if now >= created else -1
        if last < next_step:
            return self._status_of(conn, row)
        price = _marketable(side, Decimal(limit), quote)
        step, fills_made = next_step, conn.execute(
            "SELECT count(*) FROM venue_fills WHERE order_seq = ?", (seq,)
        ).fetchone()[0]
        while price is not None and step <= last and filled < quantity:
            chunk = quantity - filled
            if settings.max_per_fill is not None:
                chunk = min(chunk, settings.max_per_fill)
            filled += chunk
            fills_made += 1
            conn.execute(
                "INSERT INTO venue_fills (order_seq, exec_id, quantity, price, at) VALUES (?, ?, ?, ?, ?)",
                (seq, f"{venue_order_id(seq)}-{fills_made:04d}", chunk, format(price, "f"),
                 ts(instant(created, step, settings))),
            )
            step += 1
        state = "FILLED" if filled == quantity else "PARTIALLY_FILLED" if filled else "NEW"
        conn.execute(
            "UPDATE venue_orders SET state = ?, filled_quantity = ?, next_step = ?, updated_at = ? WHERE seq = ?",
            (state, filled, last + 1, ts(now), seq),
        )
        row = self._find(conn, row[1])
        assert row is not None
        return self._status_of(conn, row)

    # --- cancel ----------------------------------------------------------------------------

    async def cancel(self, cl_ord_id: str) -> VenueOrderStatus:
        check_id(cl_ord_id, "cl_ord_id")
        quote = await self._quote(await self._code_of(cl_ord_id))
        outcome, status = await self._run(self._cancel, cl_ord_id, quote)
        self._raise_for(outcome, cl_ord_id, "cancel")
        assert status is not None
        if outcome == "too_late":
            reason = ("Too late to cancel: the order is FILLED." if status.state == "FILLED"
                      else f"Nothing to cancel: the order is {status.state}.")
            raise CancelRejected(cl_ord_id, reason, status)
        return status

    def _cancel(
        self, conn: sqlite3.Connection, cl_ord_id: str, quote: Quote | None
    ) -> tuple[str, VenueOrderStatus | None]:
        def act(row: tuple, now: datetime) -> tuple[str, VenueOrderStatus]:
            status = self._matched(conn, row, quote, now)  # the fills due before the cancel come first
            if not status.is_final:
                conn.execute(
                    "UPDATE venue_orders SET state = 'CANCELLED', updated_at = ? WHERE cl_ord_id = ?",
                    (ts(now), cl_ord_id),
                )
                found = self._find(conn, cl_ord_id)
                assert found is not None
                return "cancelled", self._status_of(conn, found)
            return ("already_cancelled" if status.state == "CANCELLED" else "too_late"), status

        return self._call(conn, "cancel", cl_ord_id, act)

    # --- status ----------------------------------------------------------------------------

    async def status(self, cl_ord_id: str) -> VenueOrderStatus:
        check_id(cl_ord_id, "cl_ord_id")
        quote = await self._quote(await self._code_of(cl_ord_id))
        outcome, status = await self._run(self._status, cl_ord_id, quote)
        self._raise_for(outcome, cl_ord_id, "status")
        assert status is not None
        return status

    def _status(
        self, conn: sqlite3.Connection, cl_ord_id: str, quote: Quote | None
    ) -> tuple[str, VenueOrderStatus | None]:
        return self._call(conn, "status", cl_ord_id, lambda row, now: ("found", self._matched(conn, row, quote, now)))

    # --- shared -----------------------------------------------------------------------------

    def _call(
        self,
        conn: sqlite3.Connection,
        call: str,
        cl_ord_id: str,
        act: Callable[[tuple, datetime], tuple[str, VenueOrderStatus]],
    ) -> tuple[str, VenueOrderStatus | None]:
        """A cancel or status call on a held order: down, faults and unknown ids first."""
        now = self._now()
        if self._is_down(conn):
            self._log(conn, call, cl_ord_id, "unavailable", now)
            return "unavailable", None
        fault = self._take_fault(conn, call, _TIMEOUTS)
        if fault is not None and fault[0] == "timeout_before_accept":
            self._log(conn, call, cl_ord_id, "lost", now, answer_lost=True)
            return "timeout", None
        row = self._find(conn, cl_ord_id)
        outcome, status = ("unknown", None) if row is None else act(row, now)
        self._log(conn, call, cl_ord_id, outcome, now, answer_lost=fault is not None)
        return ("timeout", None) if fault is not None else (outcome, status)

    @staticmethod
    def _raise_for(outcome: str, cl_ord_id: str, call: str) -> None:
        if outcome == "unavailable":
            raise VenueUnavailable(f"The liquidation venue is unavailable; the {call} of {cl_ord_id} was not taken.")
        if outcome == "timeout":
            raise VenueTimeout(f"The liquidation venue did not answer the {call} of {cl_ord_id} in time; ask again.")
        if outcome == "unknown":
            raise UnknownVenueOrder(cl_ord_id)

    async def close(self) -> None:
        await self._close_store_off_loop()

    async def __aenter__(self) -> SimulatedVenue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _marketable(side: str, limit: Decimal, quote: Quote | None) -> Decimal | None:
    """The price an order trades at now, or None: a SELL at the bid when bid >= limit, a
    BUY at the ask when ask <= limit."""
    if quote is None:
        return None
    bid, ask = quote
    if side == "SELL":
        return bid if bid is not None and bid >= limit else None
    return ask if ask is not None and ask <= limit else None

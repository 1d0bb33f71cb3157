"""The boundary to the liquidation venue: what the margin-call module asks of it, and what
it answers.

A liquidation sells a client's long (or buys to cover a short) in HK stocks, as a day limit
order in board lots.  The broker sends each order under its own id (``cl_ord_id``, FIX
ClOrdID), recorded before sending; the venue answers with the order's state and every
execution so far.

Every venue, the built-in simulator as much as the FIX client, keeps the same promises:

* Prices are ``Decimal`` throughout; a float is refused at this boundary.  Quantities are
  whole shares (``int``).
* ``submit`` is idempotent on ``cl_ord_id``: the same order again returns its current
  status and never trades twice; the same id with other fields raises
  ``VenueIdempotencyConflict``.
* Every status carries every fill so far, in order, each with its venue ``exec_id``: the
  engine applies each execution exactly once, whichever answer brought it.
* A lost answer is never guessed at.  ``VenueTimeout`` from ``submit`` means the venue may
  or may not hold the order; the caller settles it with ``status``, which either finds the
  order (use its state, do not resend) or raises ``UnknownVenueOrder`` (the venue never got
  it: only then submit again, with the same id).
* ``cancel`` cancels what is unfilled.  A cancel that loses the race to the last fill (or
  meets a rejected order) raises ``CancelRejected`` carrying the venue's reason and, when it
  could be had, the status after (FILLED, say): the status after is what matters.  Cancelling
  an order already cancelled returns its status, so a cancel may be retried after a lost
  answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol, get_args, runtime_checkable

from ...errors import WboError

Side = Literal["SELL", "BUY"]
SIDES: tuple[str, ...] = get_args(Side)
OrderState = Literal["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELLED", "REJECTED"]
ORDER_STATES: tuple[str, ...] = get_args(OrderState)
FINAL_STATES: frozenset[str] = frozenset({"FILLED", "CANCELLED", "REJECTED"})

# Ids travel in FIX fields (no SOH, no "=" surprises) and in the engine's columns
# (cl_ord_id and venue_order_id are 40 characters there, exec_id 64, code 16, reason 300).
CL_ORD_ID = re.compile(r"[A-Za-z0-9._:-]{1,40}")
EXEC_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
CODE = re.compile(r"[A-Z0-9]{1,11}(\.[A-Z]{1,4})?")
ACCOUNT = re.compile(r"[A-Za-z0-9._:-]{1,32}")
CALL_REF = re.compile(r"[A-Za-z0-9._:-]{1,40}")
REASON_MAX = 300
# More shares than any order could hold (and within SQLite's and PostgreSQL's BIGINT).
MAX_QUANTITY = 10**12


# --- errors -----------------------------------------------------------------------------


class VenueError(WboError):
    """Anything that went wrong talking to the liquidation venue."""


class VenueUnavailable(VenueError):
    """The venue did not take the request: it is down, or the connection failed before
    anything was sent.  Nothing was recorded; submitting again with the same id is safe."""


class VenueTimeout(VenueError):
    """No answer came back for a request that may have reached the venue (or the
    connection dropped after it was sent).

    From ``submit`` the order's fate is unknown: settle it with ``status`` and never resend
    blind.  From ``status`` or ``cancel``, ask again later."""


class VenueProtocolError(VenueError):
    """The venue broke the contract: a garbled message, a missing field, a state that
    cannot be.  After a ``submit`` the order's fate is unknown, as after a timeout."""


class UnknownVenueOrder(VenueError):
    """The venue has no order under this id: it never received it."""

    def __init__(self, cl_ord_id: str) -> None:
        super().__init__(f"The liquidation venue has no order {cl_ord_id}.")
        self.cl_ord_id = cl_ord_id


class VenueIdempotencyConflict(VenueError):
    """The id was already used for an order with other fields."""

    def __init__(self, cl_ord_id: str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(f"Order id {cl_ord_id} was already used for a different liquidation order{extra}.")
        self.cl_ord_id = cl_ord_id


class CancelRejected(VenueError):
    """The venue refused the cancel: the order is already filled (the cancel lost the race
    to the last fill) or was rejected.  ``status`` is the order's status after, when the
    venue could give it (None: call ``status``)."""

    def __init__(self, cl_ord_id: str, reason: str, status: VenueOrderStatus | None = None) -> None:
        super().__init__(f"The venue refused to cancel order {cl_ord_id}: {reason}")
        self.cl_ord_id = cl_ord_id
        self.reason = reason
        self.status = status


# --- data crossing the boundary ---------------------------------------------------------


def require_decimal(value: object, field: str, *, positive: bool) -> Decimal:
    """``value`` if it is a finite Decimal (and positive when asked); floats and ints are
    refused so that no binary fraction or silent conversion reaches a price."""
    if type(value) is not Decimal or not value.is_finite():
        raise TypeError(f"{field} must be a finite Decimal, got {type(value).__name__} {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{field} must be {'positive' if positive else 'zero or more'}, got {value}")
    return value


def require_quantity(value: object, field: str, *, positive: bool) -> int:
    """A whole number of shares (a bool is not one)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be an int, got {type(value).__name__} {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{field} must be {'positive' if positive else 'zero or more'}, got {value}")
    return value


def check_id(value: object, field: str, pattern: re.Pattern[str] = CL_ORD_ID) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{field} must match {pattern.pattern}, got {value!r}")
    return value


def clip_reason(reason: str) -> str:
    """A reason as the engine can store it (its column holds 300 characters)."""
    return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 1] + "…"


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """Sell (or buy) ``quantity`` shares of ``code`` for ``account`` at ``limit_price`` or
    better, for the day, once.  ``cl_ord_id`` is the broker's id and the idempotency key;
    ``call_ref`` names the margin call the liquidation serves ("MC-42")."""

    cl_ord_id: str
    account: str
    code: str
    side: Side
    quantity: int
    limit_price: Decimal
    call_ref: str

    def __post_init__(self) -> None:
        check_id(self.cl_ord_id, "cl_ord_id")
        check_id(self.account, "account", ACCOUNT)
        check_id(self.code, "code", CODE)
        if self.side not in SIDES:
            raise ValueError(f"side must be one of {', '.join(SIDES)}, got {self.side!r}")
        require_quantity(self.quantity, "quantity", positive=True)
        if self.quantity > MAX_QUANTITY:
            raise ValueError(f"quantity must be at most {MAX_QUANTITY}, got {self.quantity}")
        require_decimal(self.limit_price, "limit_price", positive=True)
        check_id(self.call_ref, "call_ref", CALL_REF)

    def same_order(self, other: VenueOrder) -> bool:
        """The same order (the price compared as a number: 350 and 350.00 are one)."""
        return (
            self.cl_ord_id == other.cl_ord_id
            and self.account == other.account
            and self.code == other.code
            and self.side == other.side
            and self.quantity == other.quantity
            and self.limit_price == other.limit_price
            and self.call_ref == other.call_ref
        )


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution: ``quantity`` shares at ``price``, at ``at`` (timezone-aware).
    ``exec_id`` is unique at the venue: the engine applies each one once."""

    exec_id: str
    quantity: int
    price: Decimal
    at: datetime

    def __post_init__(self) -> None:
        check_id(self.exec_id, "exec_id", EXEC_ID)
        require_quantity(self.quantity, "quantity", positive=True)
        require_decimal(self.price, "price", positive=True)
        if not isinstance(self.at, datetime) or self.at.tzinfo is None:
            raise TypeError(f"a fill's time must be a timezone-aware datetime, got {self.at!r}")


@dataclass(frozen=True, slots=True)
class VenueOrderStatus:
    """Where an order stands at the venue.

    Shares are conserved: ``filled_quantity`` is the sum of ``fills``; a live order's
    ``leaves_quantity`` is what remains of it, a final one's is 0.  ``reason`` says why an
    order was rejected (or a cancel refused)."""

    cl_ord_id: str
    venue_order_id: str
    state: OrderState
    filled_quantity: int
    leaves_quantity: int
    fills: tuple[Fill, ...]
    reason: str = ""

    def __post_init__(self) -> None:
        check_id(self.cl_ord_id, "cl_ord_id")
        check_id(self.venue_order_id, "venue_order_id", CL_ORD_ID)
        if self.state not in ORDER_STATES:
            raise ValueError(f"state must be one of {', '.join(ORDER_STATES)}, got {self.state!r}")
        require_quantity(self.filled_quantity, "filled_quantity", positive=False)
        require_quantity(self.leaves_quantity, "leaves_quantity", positive=False)
        if not isinstance(self.fills, tuple) or not all(isinstance(f, Fill) for f in self.fills):
            raise TypeError("fills must be a tuple of Fill")
        if not isinstance(self.reason, str):
            raise TypeError("reason must be a string")
        where = f"order {self.cl_ord_id} ({self.state})"
        if sum(f.quantity for f in self.fills) != self.filled_quantity:
            raise ValueError(f"{where}: the fills do not add up to the filled quantity")
        if len({f.exec_id for f in self.fills}) != len(self.fills):
            raise ValueError(f"{where}: an execution id appears twice")
        final = self.state in FINAL_STATES
        # What a state means for the quantities: a status breaking this would let the
        # engine apply shares the venue never traded (or leave some open for ever).
        if final != (self.leaves_quantity == 0):
            raise ValueError(f"{where}: leaves_quantity must be 0 exactly when the order is final")
        if (self.state in ("NEW", "REJECTED") and self.filled_quantity) or (
            self.state in ("PARTIALLY_FILLED", "FILLED") and not self.filled_quantity
        ):
            raise ValueError(f"{where}: filled_quantity {self.filled_quantity} does not fit the state")

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


# --- the interface ----------------------------------------------------------------------


@runtime_checkable
class LiquidationVenue(Protocol):
    """The liquidation venue, seen from the margin-call engine."""

    async def submit(self, order: VenueOrder) -> VenueOrderStatus:
        """Send the order; returns its status (REJECTED with a reason if the venue refused
        it).  For an id already held, the current status, trading nothing again.

        Raises ``VenueIdempotencyConflict`` (same id, other fields), ``VenueUnavailable``
        (not taken), ``VenueTimeout`` or ``VenueProtocolError`` (fate unknown: ``status``)."""
        ...

    async def cancel(self, cl_ord_id: str) -> VenueOrderStatus:
        """Cancel what is unfilled; returns the CANCELLED status (its fills kept).  Raises
        ``CancelRejected`` when the order is FILLED or REJECTED, ``UnknownVenueOrder``,
        ``VenueTimeout`` / ``VenueUnavailable`` when it cannot answer now."""
        ...

    async def status(self, cl_ord_id: str) -> VenueOrderStatus:
        """The order's current status with every fill so far.  Raises ``UnknownVenueOrder``
        when the venue never received it, ``VenueTimeout`` / ``VenueUnavailable`` when it
        cannot answer now, ``VenueProtocolError`` on a garbled answer."""
        ...

    async def close(self) -> None:
        """Release connections and files.  The venue is unusable afterwards."""
        ...

"""The boundary to a bank exchange channel: what the console asks of it, and what it
answers.

A bank exchange channel (the vendor's channels are ``HSB``, ``ICBCASIA`` and ``CIBC``)
converts money for the broker.  The broker sends an exchange order under its own order
id (the client exchange's ``forex_id``); the bank answers, at once or later, with the
rate it executed at and the target amount, or with a failure and its reason.

Every gateway, the simulator as much as the HTTP client, keeps the same promises:

* Money and rates are ``Decimal`` throughout; a float is refused at this boundary.
* ``submit`` is idempotent on ``order_id``: the same order again returns the order's
  current state and never converts twice; the same id with other fields raises
  ``ChannelIdempotencyConflict``.
* A lost answer is never guessed at.  ``BankChannelTimeout`` from ``submit`` means the
  bank may or may not hold the order; the caller settles it with ``query``, which either
  finds the order (use its state, do not resend) or raises ``UnknownChannelOrder`` (the
  bank never got it: only then submit again, with the same order id).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol, get_args, runtime_checkable

from ...errors import WboError
from ...upstream.gateway import CURRENCY_CODE, IDEMPOTENCY_KEY

# The broker's order id travels in URL paths and is the bank's deduplication key: the
# same safe alphabet as the settlement channels' idempotency keys ("FX-0123ABCD…").
ORDER_ID = IDEMPOTENCY_KEY
CHANNEL_NAME = re.compile(r"[A-Z][A-Z0-9_]{0,31}")

ChannelOrderStatus = Literal["PROCESSING", "SUCCEEDED", "FAILED"]
CHANNEL_ORDER_STATUSES: tuple[str, ...] = get_args(ChannelOrderStatus)


# --- errors -----------------------------------------------------------------------------


class BankChannelError(WboError):
    """Anything that went wrong talking to a bank exchange channel."""


class BankChannelUnavailable(BankChannelError):
    """The bank did not take the request: it is down, or the connection was refused
    before anything was sent.  Nothing was recorded; submitting again later with the
    same order id is safe."""


class BankChannelTimeout(BankChannelError):
    """No answer came back for a request that may have reached the bank.

    From ``submit`` the order's fate is unknown: settle it with ``query`` and never
    resend blind.  From ``query``, nothing changed by asking: ask again later."""


class BankProtocolError(BankChannelError):
    """The bank (or the server in front of it) broke the contract: a garbled answer, a
    missing field, a number where a decimal string belongs.  After a ``submit`` the
    order's fate is unknown, as after a timeout: ``query`` it."""


class UnknownChannelOrder(BankChannelError):
    """The bank has no order under this id: it never received it."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"The bank exchange channel has no order {order_id}.")
        self.order_id = order_id


class ChannelIdempotencyConflict(BankChannelError):
    """The order id was already used for an exchange order with other fields."""

    def __init__(self, order_id: str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(f"Order id {order_id} was already used for a different exchange order{extra}.")
        self.order_id = order_id


# --- data crossing the boundary ---------------------------------------------------------


def require_decimal(value: object, field: str, *, positive: bool) -> Decimal:
    """``value`` if it is a finite Decimal (and positive when asked); floats and ints are
    refused so that no binary fraction or silent conversion reaches the money."""
    if type(value) is not Decimal or not value.is_finite():
        raise TypeError(f"{field} must be a finite Decimal, got {type(value).__name__} {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{field} must be {'positive' if positive else 'zero or more'}, got {value}")
    return value


def check_order_id(order_id: object) -> str:
    if not isinstance(order_id, str) or not ORDER_ID.fullmatch(order_id):
        raise ValueError(f"order_id must be 1-128 of [A-Za-z0-9._:-], got {order_id!r}")
    return order_id


def check_channel_name(channel_name: object) -> str:
    if not isinstance(channel_name, str) or not CHANNEL_NAME.fullmatch(channel_name):
        raise ValueError(f"channel_name must be an upper-case channel code such as HSB, got {channel_name!r}")
    return channel_name


def check_currency(currency: object, field: str = "currency") -> str:
    if not isinstance(currency, str) or not CURRENCY_CODE.fullmatch(currency):
        raise ValueError(f"{field} must be an upper-case currency code, got {currency!r}")
    return currency


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    """Convert ``from_amount`` of ``from_currency`` into ``to_currency`` through the bank
    channel ``channel_name``, once.  ``order_id`` is the broker's own id (the client
    exchange's ``forex_id``), recorded before submitting so that a lost answer is
    settled by a query."""

    order_id: str
    channel_name: str
    from_currency: str
    from_amount: Decimal
    to_currency: str

    def __post_init__(self) -> None:
        check_order_id(self.order_id)
        check_channel_name(self.channel_name)
        check_currency(self.from_currency, "from_currency")
        check_currency(self.to_currency, "to_currency")
        if self.from_currency == self.to_currency:
            raise ValueError(f"an exchange needs two different currencies, got {self.from_currency} twice")
        require_decimal(self.from_amount, "from_amount", positive=True)

    def same_order(self, other: ExchangeOrder) -> bool:
        """The same exchange (the amount compared as a number: 10 and 10.00 are one)."""
        return (
            self.order_id == other.order_id
            and self.channel_name == other.channel_name
            and self.from_currency == other.from_currency
            and self.to_currency == other.to_currency
            and self.from_amount == other.from_amount
        )


@dataclass(frozen=True, slots=True)
class ChannelOrderState:
    """Where an exchange order stands at the bank.

    ``channel_rate`` and ``to_amount`` are the executed rate and the target amount, set
    exactly when the order SUCCEEDED.  ``serial_no`` is the bank's journal number.
    ``reason`` says why a FAILED order failed.  ``raw_status`` is the bank's own status
    word and ``message`` its sentence, kept for the operator and the audit trail."""

    order_id: str
    status: ChannelOrderStatus
    channel_rate: Decimal | None
    to_amount: Decimal | None
    serial_no: str | None
    reason: str | None
    raw_status: str
    message: str

    def __post_init__(self) -> None:
        check_order_id(self.order_id)
        if self.status not in CHANNEL_ORDER_STATUSES:
            raise ValueError(f"status must be one of {', '.join(CHANNEL_ORDER_STATUSES)}, got {self.status!r}")
        # A filled order without its rate and amount (or a pending one with them) would
        # let the caller post money the bank never confirmed.
        if self.status == "SUCCEEDED":
            if self.channel_rate is None or self.to_amount is None:
                raise ValueError(f"order {self.order_id} SUCCEEDED without a channel rate and a target amount")
            require_decimal(self.channel_rate, "channel_rate", positive=True)
            require_decimal(self.to_amount, "to_amount", positive=False)
        elif self.channel_rate is not None or self.to_amount is not None:
            raise ValueError(f"order {self.order_id} is {self.status} but carries a rate or a target amount")
        if (self.status == "FAILED") != (self.reason is not None):
            raise ValueError(f"order {self.order_id}: a reason goes with FAILED and only with FAILED")
        for field in ("serial_no", "reason"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{field} must be a string or None, got {type(value).__name__}")
        if not isinstance(self.raw_status, str) or not isinstance(self.message, str):
            raise TypeError("raw_status and message must be strings")

    @property
    def is_final(self) -> bool:
        return self.status != "PROCESSING"


# --- the interface ----------------------------------------------------------------------


@runtime_checkable
class BankExchangeGateway(Protocol):
    """A bank exchange channel, seen from the console."""

    async def submit(self, order: ExchangeOrder) -> ChannelOrderState:
        """Send the order.  Returns its state (PROCESSING, SUCCEEDED or FAILED); for an
        order id already held, the existing state, converting nothing again.

        Raises ``ChannelIdempotencyConflict`` (same id, other fields),
        ``BankChannelUnavailable`` (not taken), ``BankChannelTimeout`` or
        ``BankProtocolError`` (fate unknown: ``query`` it)."""
        ...

    async def query(self, order_id: str) -> ChannelOrderState:
        """The order's current state.  Raises ``UnknownChannelOrder`` when the bank never
        received it, ``BankChannelTimeout`` / ``BankChannelUnavailable`` when it cannot
        answer now, ``BankProtocolError`` on a garbled answer."""
        ...

    async def close(self) -> None:
        """Release connections and files.  The gateway is unusable afterwards."""
        ...

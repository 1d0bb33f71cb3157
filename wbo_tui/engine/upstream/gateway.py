"""The boundary to an upstream settlement channel: what the console asks of it, and what
it answers.

A settlement channel holds the company's channel accounts.  The console asks it three
things: the balances of many accounts at once, to move money between two accounts
(exactly once, keyed by an idempotency key), and what became of such a transfer.

Every gateway, the simulator as much as the HTTP client, keeps the same promises:

* Money is ``Decimal`` throughout; no float crosses this boundary.
* ``submit_transfer`` never guesses.  When it cannot know whether the upstream acted (a
  timeout, a dropped connection, a garbled answer) it returns state ``UNKNOWN``; it never
  reports such a transfer as failed and never resubmits it on its own.  The caller
  resolves ``UNKNOWN`` with ``transfer_status``: ``NOT_FOUND`` means the upstream never
  received it, and only then is submitting again (with the same key) the next step.
* Resubmitting a key with the same body returns the transfer already made; the same key
  with a different body raises ``IdempotencyConflict``.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from ..errors import WboError

# Keys travel in URL paths and database keys: keep them to a safe alphabet.
# Use with ``fullmatch`` (``$`` would let a trailing newline through).
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ACCOUNT_NO = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
CURRENCY_CODE = re.compile(r"[A-Z0-9_]{1,16}")

# Arithmetic on balances must be exact: a result that would need rounding is a bug, so
# it raises instead of silently losing digits (the ambient context rounds at 28 digits).
EXACT = decimal.Context(
    prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation, decimal.Inexact, decimal.Overflow]
)


class TransferState(StrEnum):
    """Where a transfer stands, as far as the caller can know."""

    PENDING = "PENDING"  # accepted; the amount is in transit, settlement follows
    SUCCEEDED = "SUCCEEDED"  # settled: debited from the source, credited to the destination
    FAILED = "FAILED"  # refused or reversed; no money moved (final for this key)
    UNKNOWN = "UNKNOWN"  # the caller lost the answer; only ``submit_transfer`` returns it
    NOT_FOUND = "NOT_FOUND"  # the upstream never received this key; only ``transfer_status``

    @property
    def is_final(self) -> bool:
        return self in (TransferState.SUCCEEDED, TransferState.FAILED)


class ReasonCode(StrEnum):
    """Machine-readable reasons that go with FAILED and UNKNOWN states."""

    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    REJECTED = "REJECTED"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    TIMEOUT = "TIMEOUT"  # UNKNOWN: no answer within the time limit
    CONNECTION_LOST = "CONNECTION_LOST"  # UNKNOWN: the connection dropped after sending
    BAD_RESPONSE = "BAD_RESPONSE"  # UNKNOWN: an answer that does not follow the contract


# --- errors -----------------------------------------------------------------------------


class UpstreamError(WboError):
    """Anything that went wrong talking to a settlement channel.  A poller that catches
    this flags the channel as failed for this round."""


class UpstreamUnavailable(UpstreamError):
    """The channel did not answer (down, refused the connection, timed out).

    Raised by ``submit_transfer`` only when the upstream certainly did not act on the
    request (connection never established, or the upstream answered "unavailable");
    resubmitting later with the same key is then safe."""


class UpstreamTimeout(UpstreamUnavailable):
    """A read (balances, status) got no answer within the time limit."""


class UpstreamProtocolError(UpstreamError):
    """The channel answered something that breaks the documented contract."""


class IdempotencyConflict(UpstreamError):
    """The idempotency key was already used for a different transfer body."""

    def __init__(self, idempotency_key: str, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Idempotency key {idempotency_key} was already used for a different transfer{extra}."
        )
        self.idempotency_key = idempotency_key


class UnknownAccounts(UpstreamError):
    """Some requested accounts do not exist at the upstream.

    ``fetch_balances`` raises this after answering for the accounts it does know:
    ``balances`` holds those balances (exactly what a call without the unknown accounts
    would have returned) so a poller can keep them and flag only ``account_nos``."""

    def __init__(self, account_nos: Sequence[str], balances: Sequence[UpstreamBalance] = ()) -> None:
        names = ", ".join(account_nos)
        super().__init__(f"The settlement channel does not know the account(s) {names}.")
        self.account_nos: tuple[str, ...] = tuple(account_nos)
        self.balances: list[UpstreamBalance] = list(balances)


# --- data crossing the boundary ---------------------------------------------------------


def _require_aware(moment: datetime, field: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError(f"{field} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def _require_decimal(value: object, field: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"{field} must be a finite Decimal, got {type(value).__name__} {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class UpstreamBalance:
    """One account's balance in one currency, as the upstream reported it at ``as_of``.

    ``in_transit`` is money that has left ``available`` for a transfer not yet settled
    (frozen).  ``total`` is always ``available + in_transit``."""

    account_no: str
    currency: str
    available: Decimal
    in_transit: Decimal
    total: Decimal
    as_of: datetime

    def __post_init__(self) -> None:
        # Cheap checks first: a poll builds thousands of these.
        for field in ("available", "in_transit", "total"):
            value = getattr(self, field)
            if type(value) is not Decimal or not value.is_finite():
                _require_decimal(value, field)
        if EXACT.add(self.available, self.in_transit) != self.total:
            raise ValueError(
                f"balance of {self.account_no} {self.currency}: total {self.total} is not "
                f"available {self.available} + in transit {self.in_transit}"
            )
        if not (isinstance(self.as_of, datetime) and self.as_of.tzinfo is UTC):
            object.__setattr__(self, "as_of", _require_aware(self.as_of, "as_of"))

    @classmethod
    def of(cls, account_no: str, currency: str, available: Decimal, in_transit: Decimal, as_of: datetime) -> UpstreamBalance:
        return cls(account_no, currency, available, in_transit, EXACT.add(available, in_transit), as_of)


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """Move ``amount`` of ``currency`` from ``from_account`` to ``to_account``, once.

    The caller chooses ``idempotency_key`` and records it before submitting, so that a
    crash between submitting and hearing back is resolved by asking for its status."""

    idempotency_key: str
    from_account: str
    to_account: str
    currency: str
    amount: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.idempotency_key, str) or not IDEMPOTENCY_KEY.fullmatch(self.idempotency_key):
            raise ValueError(f"idempotency_key must be 1-128 of [A-Za-z0-9._:-], got {self.idempotency_key!r}")
        for field in ("from_account", "to_account"):
            value = getattr(self, field)
            if not isinstance(value, str) or not ACCOUNT_NO.fullmatch(value):
                raise ValueError(f"{field} must be 1-64 of [A-Za-z0-9._:/-], got {value!r}")
        if self.from_account == self.to_account:
            raise ValueError(f"a transfer needs two different accounts, got {self.from_account} twice")
        if not isinstance(self.currency, str) or not CURRENCY_CODE.fullmatch(self.currency):
            raise ValueError(f"currency must be an upper-case code, got {self.currency!r}")
        _require_decimal(self.amount, "amount")
        if self.amount <= 0:
            raise ValueError(f"amount must be positive, got {self.amount}")

    def same_body(self, other: TransferRequest) -> bool:
        """Same transfer (the amount compared as a number: 10 and 10.00 are one amount)."""
        return (
            self.from_account == other.from_account
            and self.to_account == other.to_account
            and self.currency == other.currency
            and self.amount == other.amount
        )


@dataclass(frozen=True, slots=True)
class TransferStatus:
    """What the caller knows about a transfer at ``updated_at``.

    ``transfer_ref`` is the upstream's own reference (None until it has one).
    ``reason`` is a sentence for the operator; ``reason_code`` is for code."""

    idempotency_key: str
    state: TransferState
    reason: str | None
    transfer_ref: str | None
    updated_at: datetime
    reason_code: ReasonCode | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TransferState(self.state))
        if self.reason_code is not None:
            object.__setattr__(self, "reason_code", ReasonCode(self.reason_code))
        object.__setattr__(self, "updated_at", _require_aware(self.updated_at, "updated_at"))


# --- the interface ----------------------------------------------------------------------


@runtime_checkable
class UpstreamGateway(Protocol):
    """A settlement channel, seen from the console."""

    async def fetch_balances(self, account_nos: Sequence[str]) -> list[UpstreamBalance]:
        """Every (account, currency) balance of the given accounts, in one call, sorted by
        account then currency.  An account known to the upstream but holding no currency
        yields no rows.

        Raises ``UnknownAccounts`` (carrying the known accounts' balances) when some
        accounts are unknown, ``UpstreamUnavailable`` / ``UpstreamTimeout`` when the
        channel does not answer, ``UpstreamProtocolError`` on a garbled answer."""
        ...

    async def submit_transfer(self, request: TransferRequest) -> TransferStatus:
        """Ask for the transfer.  Returns PENDING, SUCCEEDED, FAILED or UNKNOWN (never
        raises for a lost answer).  Raises ``IdempotencyConflict`` for a reused key with
        another body, and ``UpstreamUnavailable`` only when the request certainly did not
        reach the upstream."""
        ...

    async def transfer_status(self, idempotency_key: str) -> TransferStatus:
        """PENDING, SUCCEEDED, FAILED, or NOT_FOUND when the upstream never received the
        key.  Never UNKNOWN: a status query that gets no answer raises
        ``UpstreamTimeout`` / ``UpstreamUnavailable`` instead; ask again later."""
        ...

    async def aclose(self) -> None:
        """Release connections and files.  The gateway is unusable afterwards."""
        ...

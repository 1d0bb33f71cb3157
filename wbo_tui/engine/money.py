"""Money: ``Decimal`` from parsing to storage to display, never float.

A currency is configured data (its amount precision, rounding mode and maximum amount
live in the ``currencies`` table).  Every ``quantize`` names its rounding mode explicitly;
nothing here relies on the ambient decimal context's rounding.

An amount enters the engine in two steps.  A command's amount field (``DecimalAmount``)
takes only plain decimal text in ASCII digits, or a finite ``Decimal``, below the engine's
ceiling (``AMOUNT_CEILING``): what no currency could allow is refused before anything runs.
The handler then checks it against its currency (``Currency.check_amount``): the
currency's precision and its configured maximum, and stores the canonical form that check
returns (exactly the currency's precision: HKD ``100`` is stored as ``100.00``, JPY
``1000.0`` as ``1000``), so one amount always has one stored text.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from typing import Annotated

from pydantic import BeforeValidator

from .errors import ValidationFailed

# The rounding modes an operator may configure for a currency, by their decimal names.
ROUNDING_MODES: frozenset[str] = frozenset(
    {
        decimal.ROUND_HALF_UP,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_DOWN,
        decimal.ROUND_UP,
        decimal.ROUND_FLOOR,
        decimal.ROUND_CEILING,
    }
)

# Wide enough for any amount a brokerage holds at 18 decimal places.
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[InvalidOperation])


# Plain decimal notation in ASCII digits, optionally grouped in thousands: 1234.5,
# 1,234.5, -0.25 (used with fullmatch).  ``\d`` would also take other scripts' digits
# (Arabic-Indic, full-width), which ``Decimal`` then reads as ASCII ones.  A minus sign is
# let through so that each handler refuses it with its own rule ("must be greater than
# zero", "must not be negative"); no amount field of a command takes a negative amount.
# Thousands separators are a documented normalisation: the forms have always shown and
# accepted "1,234.56"; only well-formed groups of three are read.
_AMOUNT_TEXT = re.compile(r"-?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?")

AMOUNT_CEILING = Decimal(10) ** 15
"""No amount at the engine's boundary reaches this, whatever its currency; a currency's
configured maximum must be below it.  It keeps absurd input out before a currency is known."""
MAX_AMOUNT_PLACES = 18  # the largest amount_precision a currency may have (a CHECK)
# The longest text an amount below the ceiling can take: sign, 15 digits, 4 separators,
# point, 18 decimals.  Longer text is refused before it is parsed.
_MAX_AMOUNT_TEXT = 40

DEFAULT_MAX_UNITS = {"fiat": Decimal(10) ** 12, "crypto": Decimal(10) ** 9}
"""A currency configured without a maximum allows amounts below this many whole units,
by kind: 10^12 for fiat (a trillion HKD or yen), 10^9 for crypto (a billion BTC, ETH or
USDT).  Migration 0006 writes these for the seeded currencies; an operator may set others."""


def D(value: str | int | Decimal) -> Decimal:
    """The one way to make a Decimal from text or an integer; floats are refused."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"refusing to build money from {type(value).__name__}: {value!r}")
    if isinstance(value, Decimal):
        return value
    return Decimal(value)


_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(19)}  # precision is 0..18 (a CHECK)


def default_max_amount(kind: str, amount_precision: int) -> Decimal:
    """The largest amount of a currency configured without one: one quantum below
    ``DEFAULT_MAX_UNITS`` of its kind (999,999,999,999.99 for a two-place fiat currency)."""
    units = DEFAULT_MAX_UNITS.get(kind, DEFAULT_MAX_UNITS["crypto"])
    return units - Decimal(1).scaleb(-amount_precision)


@dataclass(frozen=True, slots=True)
class Currency:
    """A currency as configured: code, amount precision, rounding mode and the largest
    amount the engine accepts in it.  ``max_amount`` None (a row without one) is the
    default of its kind (``default_max_amount``); after construction it is always set."""

    code: str
    name: str
    kind: str  # "fiat" or "crypto"
    amount_precision: int
    rounding: str
    max_amount: Decimal | None = None

    def __post_init__(self) -> None:
        if self.max_amount is None:
            object.__setattr__(self, "max_amount", default_max_amount(self.kind, self.amount_precision))
        limit = self.max_amount
        assert isinstance(limit, Decimal)
        # Configuration, not operator input: a broken maximum is a deployment error, said plainly.
        if not (limit.is_finite() and 0 < limit < AMOUNT_CEILING and limit == self.quantize(limit)):
            raise ValueError(f"{self.code}: the configured maximum amount {limit} must be above zero, below "
                             f"{AMOUNT_CEILING:,} and have at most {self.amount_precision} decimal places")

    @property
    def maximum(self) -> Decimal:
        """The largest amount accepted (``max_amount``, resolved)."""
        assert self.max_amount is not None
        return self.max_amount

    @property
    def quantum(self) -> Decimal:
        quantum = _QUANTA.get(self.amount_precision)
        return quantum if quantum is not None else Decimal(1).scaleb(-self.amount_precision)

    def quantize(self, amount: Decimal) -> Decimal:
        """Round ``amount`` to this currency's precision with its configured rounding."""
        return amount.quantize(self.quantum, rounding=self.rounding, context=_CONTEXT)

    def parse_amount(self, text: str, *, field: str, allow_negative: bool = False) -> Decimal:
        """Parse operator input into an exact amount, refusing what would lose value.

        Over-precise input is refused rather than rounded: an operator who types
        ``0.001`` HKD has made a mistake we must not paper over.
        """
        try:
            amount = amount_from_text(text)
        except ValueError as error:
            raise ValidationFailed(field, str(error)) from None
        if amount < 0 and not allow_negative:
            raise ValidationFailed(field, "must not be negative")
        return self.check_amount(amount, field=field)

    def check_amount(self, amount: Decimal, *, field: str) -> Decimal:
        """Refuse an amount this currency cannot hold: more decimal places than its
        precision, or beyond its configured maximum (either sign).  Returns the canonical
        form to store: the same value at exactly the currency's precision (``canonical``)."""
        if not amount.is_finite():
            raise ValidationFailed(field, "must be a finite number")
        if amount != amount.quantize(self.quantum, rounding=decimal.ROUND_DOWN, context=_CONTEXT):
            places = self.amount_precision
            unit = "decimal place" if places == 1 else "decimal places"
            raise ValidationFailed(field, f"allows at most {places} {unit} for {self.code}")
        if amount.copy_abs() > self.maximum:
            raise ValidationFailed(field, f"must not exceed {self.format(self.maximum)} {self.code}, "
                                          f"the largest {self.code} amount this console accepts")
        return self.canonical(amount)

    def canonical(self, amount: Decimal) -> Decimal:
        """``amount`` at exactly this currency's precision, for storage: trailing zeros
        added or dropped, never a digit of value (``check_amount`` has refused an amount
        with more places).  The rule is named, ``ROUND_DOWN``, so that nothing depends on
        the ambient context; on an amount within precision it changes no value.  A zero
        loses its sign: -0.00 and 0.00 are one amount."""
        exact = amount.quantize(self.quantum, rounding=decimal.ROUND_DOWN, context=_CONTEXT)
        if exact != amount:
            raise ValueError(f"{amount} has more than {self.amount_precision} decimal places for {self.code}")
        return exact.copy_abs() if exact.is_zero() else exact

    def check_precision(self, amount: Decimal, *, field: str) -> Decimal:
        """The handlers' name for ``check_amount``: an amount within its currency's
        precision is also checked against the currency's maximum, so every handler that
        checked precision checks the bound too.  Returns the canonical form to store."""
        return self.check_amount(amount, field=field)

    def format(self, amount: Decimal, *, grouping: bool = True) -> str:
        """Display text: always exactly the currency's precision, digits grouped."""
        q = self.quantize(amount)
        return f"{q:,.{self.amount_precision}f}" if grouping else f"{q:.{self.amount_precision}f}"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in one currency.  Arithmetic across currencies is refused."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            raise TypeError(f"Money amount must be Decimal, got {type(self.amount).__name__}")

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount


def amount_from_text(text: str) -> Decimal:
    """An amount typed by an operator, exactly, or ``ValueError`` naming the rule broken.

    Surrounding blanks are dropped (as from every text field of a command); anything else
    that is not plain decimal notation in ASCII digits is refused: blanks inside, other
    scripts' digits, exponents (1e3), NaN and Infinity, "+", "_" and misplaced separators.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("is required")
    if len(stripped) > _MAX_AMOUNT_TEXT:
        raise ValueError(f"is too long for an amount: at most {_MAX_AMOUNT_TEXT} characters")
    if not _AMOUNT_TEXT.fullmatch(stripped):
        if any(c.isdigit() and not c.isascii() for c in stripped):
            raise ValueError(f"must be written with the digits 0-9, not {stripped!r}")
        if any(c.isspace() for c in stripped):
            raise ValueError(f"must not contain blanks, not {stripped!r}")
        raise ValueError(f"must be a plain number such as 1,234.56, not {stripped!r}")
    amount = Decimal(stripped.replace(",", ""))
    if amount.is_zero() and amount.is_signed():
        raise ValueError("must not be negative zero")
    return amount


def _bounded(amount: Decimal) -> Decimal:
    """A finite amount within the engine's ceiling, not a negative zero.  (A currency's
    own precision and maximum are checked later, by ``Currency.check_amount``.)"""
    if not amount.is_finite():
        raise ValueError(f"must be a finite number, not {amount}")
    if amount.is_zero() and amount.is_signed():
        raise ValueError("must not be negative zero")
    if amount.copy_abs() >= AMOUNT_CEILING:
        raise ValueError(f"must be less than {AMOUNT_CEILING:,}, the largest amount any currency may allow")
    if amount.as_tuple().exponent < -MAX_AMOUNT_PLACES:  # type: ignore[operator]
        raise ValueError(f"allows at most {MAX_AMOUNT_PLACES} decimal places")
    return amount


def _command_amount(value: object) -> Decimal:
    """A command's amount: plain decimal text or a Decimal; never a float (pydantic would
    take one, and its binary value is not the amount the operator meant), nor a bool."""
    if isinstance(value, str):
        return _bounded(amount_from_text(value))
    if isinstance(value, Decimal):
        return _bounded(value)
    if type(value) is int:
        return _bounded(Decimal(value))
    raise ValueError(f"must be given as text or Decimal, not {type(value).__name__}")


# A command field holding an amount; the handler checks it against its currency
# (``Currency.check_amount``: precision and maximum).  ``_command_amount`` decides what
# is accepted and always hands pydantic's decimal type a finite Decimal (a before-validator
# rather than a plain one keeps pydantic's decimal serialisation for stored payloads).
DecimalAmount = Annotated[Decimal, BeforeValidator(_command_amount)]

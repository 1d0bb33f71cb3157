"""Money: ``Decimal`` from parsing to storage to display, never float.

A currency is configured data (its amount precision and rounding mode live in the
``currencies`` table).  Every ``quantize`` names its rounding mode explicitly; nothing
here relies on the ambient decimal context's rounding.
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


# Plain decimal notation, optionally grouped in thousands: 1234.5, 1,234.5, -0.25.
_AMOUNT_TEXT = re.compile(r"^-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


def D(value: str | int | Decimal) -> Decimal:
    """The one way to make a Decimal from text or an integer; floats are refused."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"refusing to build money from {type(value).__name__}: {value!r}")
    if isinstance(value, Decimal):
        return value
    return Decimal(value)


_QUANTA = {places: Decimal(1).scaleb(-places) for places in range(19)}  # precision is 0..18 (a CHECK)


@dataclass(frozen=True, slots=True)
class Currency:
    """A currency as configured: code, amount precision and rounding mode."""

    code: str
    name: str
    kind: str  # "fiat" or "crypto"
    amount_precision: int
    rounding: str

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
        stripped = text.strip()
        if not stripped:
            raise ValidationFailed(field, "is required")
        if not _AMOUNT_TEXT.match(stripped):
            raise ValidationFailed(field, f"must be a plain number such as 1,234.56, not {stripped!r}")
        amount = Decimal(stripped.replace(",", ""))
        if amount.is_zero():
            amount = amount.copy_abs()
        if amount < 0 and not allow_negative:
            raise ValidationFailed(field, "must not be negative")
        self.check_precision(amount, field=field)
        return amount

    def check_precision(self, amount: Decimal, *, field: str) -> None:
        if amount != amount.quantize(self.quantum, rounding=decimal.ROUND_DOWN, context=_CONTEXT):
            places = self.amount_precision
            unit = "decimal place" if places == 1 else "decimal places"
            raise ValidationFailed(field, f"allows at most {places} {unit} for {self.code}")

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


def _exact_decimal(value: object) -> object:
    """Commands take amounts as Decimal or text, never float (pydantic would accept one)."""
    if isinstance(value, float) or isinstance(value, bool):
        raise ValueError("must be given as text or Decimal, not a float")
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if not _AMOUNT_TEXT.match(value.strip()):
            raise ValueError(f"must be a plain number such as 1,234.56, not {value.strip()!r}")
        return Decimal(text)
    return value


# A command field holding an amount; its currency's precision is checked by the handler.
DecimalAmount = Annotated[Decimal, BeforeValidator(_exact_decimal)]

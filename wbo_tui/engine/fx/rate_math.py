"""Exchange arithmetic: exact ``Decimal``, every rounding named.

The vendor offers two amount rounding modes per currency (Currency Setup's "Retrieval
Logic", ``amount_round_mode``): ``round`` ("Rounding Off", half up) and ``truncate``
("Truncate Without Rounding", toward zero).  Rates are rounded the same way, to the
currency's ``exchange_rate_precision``.
"""

from __future__ import annotations

import decimal
from decimal import Decimal

ROUND_MODES: dict[str, str] = {"round": decimal.ROUND_HALF_UP, "truncate": decimal.ROUND_DOWN}
ROUND_MODE_LABELS: dict[str, str] = {"round": "Rounding Off", "truncate": "Truncate Without Rounding"}
CUSTOM_RATE_PLACES = 8
"""A custom rate takes at most 8 decimal places (the vendor's limit)."""
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, traps=[decimal.InvalidOperation,
                                                                            decimal.DivisionByZero])


def rounded(value: Decimal, places: int, round_mode: str) -> Decimal:
    """``value`` to ``places`` decimals with the currency's ``round_mode``."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_MODES[round_mode], context=_CONTEXT)


def reference_rate(source_buy: Decimal, target_sell: Decimal, places: int, round_mode: str) -> Decimal:
    """The reference rate of a pair: the buy price of the source currency divided by the
    sell price of the target currency (both against the standard currency), to the rate
    precision with the currency's rounding.  The manual's example: USD → CNH,
    7.8147 ÷ 1.095 = 7.1367 at 4 places."""
    if source_buy <= 0 or target_sell <= 0:
        raise ValueError("rates must be greater than 0")
    return rounded(_CONTEXT.divide(source_buy, target_sell), places, round_mode)


def places_of(value: Decimal) -> int:
    """How many decimal places ``value`` is written with (trailing zeros count)."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0

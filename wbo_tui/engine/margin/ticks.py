"""Hong Kong Exchange price steps (HKEX's spread table "Part A", the one that applies to
equities): a price must be a whole number of steps, and the step grows with the price.

A liquidation's limit price is the best bid (selling a long) or the best ask (covering a
short) moved by a configured number of steps toward the other side, so that it fills;
the simulated market quotes on the same grid.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

# (from this price, the step) in ascending order; the last band runs to the top price.
SPREAD_TABLE: tuple[tuple[Decimal, Decimal], ...] = tuple((Decimal(lo), Decimal(step)) for lo, step in (
    ("0.01", "0.001"), ("0.25", "0.005"), ("0.50", "0.01"), ("10.00", "0.02"), ("20.00", "0.05"),
    ("100.00", "0.10"), ("200.00", "0.20"), ("500.00", "0.50"), ("1000.00", "1.00"), ("2000.00", "2.00"),
    ("5000.00", "5.00"),
))
LOWEST = Decimal("0.01")
HIGHEST = Decimal("9995.00")


def step_at(price: Decimal) -> Decimal:
    """The step of the band ``price`` is in (a price on a band's lower edge is in it)."""
    step = SPREAD_TABLE[0][1]
    for lower, band_step in SPREAD_TABLE:
        if price >= lower:
            step = band_step
        else:
            break
    return step


def on_grid(price: Decimal) -> bool:
    return LOWEST <= price <= HIGHEST and price % step_at(price) == 0


def to_grid(price: Decimal, *, up: bool) -> Decimal:
    """``price`` moved onto the grid: up to the next valid price, or down to the one below,
    within the lowest and highest prices."""
    price = min(max(price, LOWEST), HIGHEST)
    step = step_at(price)
    rounding = ROUND_CEILING if up else ROUND_FLOOR
    snapped = (price / step).to_integral_value(rounding=rounding) * step
    return min(max(snapped, LOWEST), HIGHEST).quantize(step)


def move(price: Decimal, steps: int) -> Decimal:
    """``price`` (on the grid) moved ``steps`` steps up (positive) or down (negative),
    each step the size of the band it is taken in, stopping at the lowest and highest
    prices.  Down from a band's lower edge the step is the band below's: 100.00 less one
    step is 99.95."""
    for _ in range(abs(steps)):
        if steps > 0:
            price = min(HIGHEST, price + step_at(price))
        else:
            price = max(LOWEST, price - _step_below(price))
    return price


def _step_below(price: Decimal) -> Decimal:
    """The step down from ``price``: its band's, or, on a band's lower edge, the band below's."""
    for (lower, _), (_, below_step) in zip(SPREAD_TABLE[1:], SPREAD_TABLE, strict=False):
        if price == lower:
            return below_step
    return step_at(price)

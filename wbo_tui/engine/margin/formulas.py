"""The margin engine's figures: a client's Equity Assets, Liquid Net Assets, Net Asset Ratio,
margin-call and force requirements and Margin to Be Collected, as the vendor's Risk Alerts
list shows them (``risk_alert_logs``: ``total_asset``, ``net_current_assets``,
``net_asset_ratio``, ``mm_margin`` / ``fm_margin``, ``warning_value``).

Pure functions over frozen inputs the engine's database code has already read: the client's
cash per currency, positions with their mark prices and the vendor's per-stock factors
(``instrument_stock_margin_ratios``: percentages), the client's terms and the desk's
warning-value rule (``get_warning_val_cal_rule``).  Nothing here reads a clock, a table or
a price feed, so a snapshot, a what-if and a liquidation plan all compute the same figures.

Money is exact ``Decimal`` throughout, every rounding named:

- each position's market value and each cash line is converted to HKD at the reference
  mid rate ("Reference rates use the mid cross-rate to convert total asset market value")
  and rounded to the cent half up on its own, then summed exactly, so a figure on the
  screen is the sum of the lines beside it;
- requirements and the margin to be collected round *up* to the cent: the broker never
  asks for a cent less than owed;
- the ratio is cut (toward zero) to four places, so 72.22 % is never shown as covered
  better than it is.

The formulas (Margin Call feature overview):

- Equity Assets = total cash + market value of all positions (shorts count negative);
- Liquid Net Assets (LNA) = Equity Assets − market value of delisted and long-suspended
  stocks.  Only *long* illiquid holdings are taken out: a short on a suspended stock is
  still a liability the client owes, and still carries its requirement;
- Net Asset Ratio = LNA / max[LNA, LongMV − DelistedSuspendedMV + |ShortMV|].  LNA sits
  inside the max, so the ratio never exceeds 1 while LNA is positive;
- Margin to Be Collected = max(margin-call margin − net assets + accrued interest +
  outstanding margin deposit − trading limits, over-financing-limit amount), each term
  switched by the warning-value rule, and never below 0.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal

CENT = Decimal("0.01")
RATIO_PLACES = Decimal("0.0001")
HUNDRED = Decimal(100)
_ZERO = Decimal("0.00")
_EXACT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN,
                         traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])
"""Sums and products of money stay exact (60 digits is far beyond any balance); the only
roundings are the named quantizations below."""


@dataclass(frozen=True, slots=True)
class CashLine:
    """The client's cash in one currency (negative: a debit, money the broker lent)."""

    currency: str
    amount: Decimal
    hkd_mid: Decimal
    """HKD per one unit of the currency, the reference mid rate (1 for HKD itself)."""


@dataclass(frozen=True, slots=True)
class PositionLine:
    """One holding of a client, with what the margin engine needs of its instrument."""

    code: str
    """The vendor's counter id, "700.HK"."""
    quantity: int
    """Shares: positive long, negative short, never 0."""
    last: Decimal
    """The mark price, in the instrument's currency."""
    hkd_mid: Decimal
    """HKD per one unit of the instrument's currency."""
    illiquid: bool
    """Delisted, or suspended long enough to count (the caller decides): a long one is taken
    out of the Liquid Net Assets and carries no requirement."""
    tradable: bool
    """False for a suspended or delisted stock: a liquidation plan never touches it."""
    mcm_factor: Decimal
    """Margin-call factor, percent (``Decimal("40")`` is 40 %)."""
    fm_factor: Decimal
    """Force (liquidation) factor, percent; normally at most the margin-call factor."""
    lot_size: int
    """The board lot, at least 1."""
    avg_cost: Decimal
    """Average cost per share, in the instrument's currency (for the unrealised P&L)."""
    bid: Decimal | None = None
    """Best bid, instrument currency; None when unknown."""
    ask: Decimal | None = None
    """Best ask, instrument currency; None when unknown."""
    currency: str = "HKD"
    """The instrument's currency (``instruments.currency``): a liquidation's proceeds are
    credited to the client's cash in it."""


@dataclass(frozen=True, slots=True)
class Terms:
    """The client's margin terms, all HKD, all at least 0."""

    accrued_interest: Decimal = Decimal(0)
    outstanding_deposit: Decimal = Decimal(0)
    """Outstanding margin deposit."""
    trading_limit: Decimal = Decimal(0)
    """The client's trading limit; 0 once expired (limits expire when a margin call occurs)."""
    financing_limit: Decimal | None = None
    """The margin (financing) limit; None: no over-financing check."""
    additional_margin: Decimal = Decimal(0)
    """The per-client additional margin (WBO backend setting), added to the requirement."""


@dataclass(frozen=True, slots=True)
class WarningRule:
    """Which terms Margin to Be Collected counts: the vendor's ``get_warning_val_cal_rule``."""

    margin_owed: bool = True
    """``is_cal_nav``: the (requirement − net assets) term."""
    interest: bool = True
    """``is_cal_in_debt``: the accrued interest term."""
    trading_limit: bool = True
    """``is_max_trade_credit``: subtract the trading limit."""
    over_financing: bool = True
    """``is_cal_over_finance``: the over-financing amount (and it triggers a call)."""


@dataclass(frozen=True, slots=True)
class Valuation:
    """A client's figures at one moment.  Money is HKD to the cent; the ratio a fraction."""

    cash_hkd: Decimal
    long_mv: Decimal
    short_mv: Decimal
    """At most 0."""
    illiquid_mv: Decimal
    """Market value of the *long* positions in illiquid (delisted, long-suspended) stocks."""
    equity: Decimal
    """Equity Assets = cash + long MV + short MV."""
    lna: Decimal
    """Liquid Net Assets = equity − illiquid MV: the "net assets" of the formulas."""
    net_asset_ratio: Decimal
    """LNA / max(LNA, long MV − illiquid MV + |short MV|), cut to 4 places."""
    requirement: Decimal
    """Margin-call margin: Σ |MV| × mcm % over positions that are not illiquid longs, plus
    the additional margin, rounded up to the cent."""
    force_requirement: Decimal
    """The same with the force factor."""
    financing: Decimal
    """What the client borrows: the HKD value of the cash when it is negative."""
    over_financing: Decimal
    """Financing beyond the financing limit (0 without a limit)."""
    margin_to_collect: Decimal
    """Margin to Be Collected (``warning_value``), rounded up to the cent, at least 0."""
    triggered: bool
    """LNA below the requirement, or over the financing limit when the rule counts it."""
    force: bool
    """LNA below the force requirement."""
    cured: bool
    """Not triggered, and nothing to collect."""

    def as_figures(self) -> dict[str, str]:
        """Every field as a string, for a snapshot's JSON: ``str`` of each ``Decimal``
        (``"0.7222"``, ``"130000.00"``), ``"True"`` / ``"False"`` for the flags."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_figures(cls, figures: Mapping[str, str]) -> Valuation:
        """The valuation a snapshot stored with ``as_figures``."""
        values: dict[str, object] = {}
        for f in fields(cls):
            text = figures[f.name]
            values[f.name] = text == "True" if f.type == "bool" else Decimal(text)
        return cls(**values)  # type: ignore[arg-type]


def market_value_hkd(quantity: int, price: Decimal, hkd_mid: Decimal) -> Decimal:
    """A position's market value in HKD (negative for a short), rounded to the cent half
    up on its own; positions are then summed exactly."""
    return _cent(_EXACT.multiply(_EXACT.multiply(Decimal(quantity), price), hkd_mid), ROUND_HALF_UP)


def cash_hkd(line: CashLine) -> Decimal:
    """A cash line in HKD at its mid rate, rounded to the cent half up."""
    return _cent(_EXACT.multiply(line.amount, line.hkd_mid), ROUND_HALF_UP)


def value(cash: Sequence[CashLine], positions: Sequence[PositionLine], terms: Terms = Terms(),
          rule: WarningRule = WarningRule()) -> Valuation:
    """The client's figures from its cash and positions (see the module's formulas).

    A position with quantity 0 (which a caller should not pass) counts for nothing."""
    with decimal.localcontext(_EXACT):
        cash_total = sum((cash_hkd(line) for line in cash), _ZERO)
        long_mv = short_mv = illiquid_mv = _ZERO
        requirement = force_requirement = Decimal(0)
        for position in positions:
            mv = market_value_hkd(position.quantity, position.last, position.hkd_mid)
            if position.quantity > 0:
                long_mv += mv
                if position.illiquid:
                    illiquid_mv += mv
                    continue  # taken out of the LNA instead: no requirement on top
            elif position.quantity < 0:
                short_mv += mv
            requirement += abs(mv) * position.mcm_factor / HUNDRED
            force_requirement += abs(mv) * position.fm_factor / HUNDRED
        equity = cash_total + long_mv + short_mv
        lna = equity - illiquid_mv
        requirement = _cent(requirement + terms.additional_margin, ROUND_UP)
        force_requirement = _cent(force_requirement + terms.additional_margin, ROUND_UP)
        financing = _cent(max(_ZERO, -cash_total), ROUND_UP)
        over_financing = _ZERO
        if terms.financing_limit is not None:
            over_financing = _cent(max(_ZERO, financing - terms.financing_limit), ROUND_UP)
        collect = _margin_to_collect(requirement, lna, over_financing, terms, rule)
        triggered = lna < requirement or (rule.over_financing and over_financing > 0)
        return Valuation(
            cash_hkd=_clean(cash_total), long_mv=_clean(long_mv), short_mv=_clean(short_mv),
            illiquid_mv=_clean(illiquid_mv), equity=_clean(equity), lna=_clean(lna),
            net_asset_ratio=net_asset_ratio(lna, long_mv - illiquid_mv + abs(short_mv)),
            requirement=requirement, force_requirement=force_requirement, financing=financing,
            over_financing=over_financing, margin_to_collect=collect, triggered=triggered,
            force=lna < force_requirement, cured=not triggered and collect == 0)


def net_asset_ratio(lna: Decimal, liquid_positions: Decimal) -> Decimal:
    """LNA / max(LNA, ``liquid_positions``) (long MV − illiquid MV + |short MV|), cut to 4
    places.  With nothing to divide by (no liquid positions and LNA at most 0) the ratio is
    1 when LNA is 0 (nothing owed, nothing held) and 0 when negative: a client with debt
    and no positions.  A negative LNA over liquid positions gives a negative ratio, as the
    formula does."""
    denominator = max(lna, liquid_positions)
    if denominator <= 0:
        return Decimal(1).quantize(RATIO_PLACES) if lna >= 0 else Decimal(0).quantize(RATIO_PLACES)
    return _clean(_EXACT.divide(lna, denominator).quantize(RATIO_PLACES, rounding=ROUND_DOWN))


def _margin_to_collect(requirement: Decimal, lna: Decimal, over_financing: Decimal, terms: Terms,
                       rule: WarningRule) -> Decimal:
    """max(A, B, 0): A = (requirement − LNA) + interest + outstanding deposit − trading
    limit, B = the over-financing amount, each term as the rule switches it."""
    owed = (requirement - lna if rule.margin_owed else 0) + (terms.accrued_interest if rule.interest else 0)
    owed += terms.outstanding_deposit - (terms.trading_limit if rule.trading_limit else 0)
    over = over_financing if rule.over_financing else _ZERO
    return _cent(max(owed, over, _ZERO), ROUND_UP)


def _cent(amount: Decimal, rounding: str) -> Decimal:
    return _clean(amount.quantize(CENT, rounding=rounding, context=_EXACT))


def _clean(amount: Decimal) -> Decimal:
    """No "-0.00" on a screen or in a snapshot."""
    return abs(amount) if amount == 0 else amount

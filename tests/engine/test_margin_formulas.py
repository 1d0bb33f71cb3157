"""The margin engine's figures (``margin.formulas``): the vendor's worked examples from the
Margin Call feature overview, each switch of the warning-value rule, currencies, roundings,
shorts and illiquid stocks.  Pure arithmetic, no database."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from wbo_tui.engine.margin.formulas import (
    CashLine,
    PositionLine,
    Terms,
    Valuation,
    WarningRule,
    cash_hkd,
    market_value_hkd,
    value,
)

D = Decimal
USD_MID, CNH_MID = D("7.8"), D("1.0845")


def hkd(amount: str) -> CashLine:
    return CashLine("HKD", D(amount), D(1))


def position(code: str, quantity: int, last: str, *, mcm: str = "40", fm: str = "30", mid: Decimal = D(1),
             illiquid: bool = False, tradable: bool = True, currency: str = "HKD") -> PositionLine:
    return PositionLine(code=code, quantity=quantity, last=D(last), hkd_mid=mid, illiquid=illiquid,
                        tradable=tradable, mcm_factor=D(mcm), fm_factor=D(fm), lot_size=100, avg_cost=D(last),
                        currency=currency)


# The manual's examples ------------------------------------------------------------------

def test_net_asset_ratio_worked_example_with_a_suspended_stock() -> None:
    """Cash −50,000 (a debit), long MV 200,000 of which 20,000 suspended, no shorts."""
    v = value([hkd("-50000")], [position("700.HK", 500, "360"), position("2799.HK", 20000, "1", illiquid=True)])
    assert (v.cash_hkd, v.long_mv, v.short_mv, v.illiquid_mv) == (D("-50000"), D("200000"), 0, D("20000"))
    assert v.equity == D("150000.00")
    assert v.lna == D("130000.00")
    # denominator max(130,000, 200,000 − 20,000 + 0) = 180,000
    assert v.net_asset_ratio == D("0.7222")
    assert v.financing == D("50000.00")


def test_net_asset_ratio_is_one_with_cash_in_credit() -> None:
    v = value([hkd("50000")], [position("700.HK", 250, "400")])
    assert (v.equity, v.lna) == (D("150000.00"), D("150000.00"))
    assert v.net_asset_ratio == D("1.0000")
    assert v.financing == 0


def _collect_example(financing_limit: Decimal | None = None) -> tuple[list[CashLine], list[PositionLine], Terms]:
    """Requirement 100,000 (MV 250,000 × 40 %), net assets 80,000 (cash −170,000), interest
    500, nothing outstanding, trading limit 5,000."""
    terms = Terms(accrued_interest=D(500), outstanding_deposit=D(0), trading_limit=D(5000),
                  financing_limit=financing_limit)
    return [hkd("-170000")], [position("700.HK", 1000, "250")], terms


def test_margin_to_be_collected_worked_example() -> None:
    cash, positions, terms = _collect_example()
    v = value(cash, positions, terms)
    assert (v.requirement, v.lna) == (D("100000.00"), D("80000.00"))
    assert v.margin_to_collect == D("15500.00")  # 100,000 − 80,000 + 500 + 0 − 5,000
    assert v.triggered and not v.cured
    assert v.over_financing == 0


def test_over_financing_smaller_than_the_margin_owed_leaves_it() -> None:
    cash, positions, terms = _collect_example(financing_limit=D(167000))
    v = value(cash, positions, terms)
    assert v.over_financing == D("3000.00")
    assert v.margin_to_collect == D("15500.00")


def test_over_financing_larger_than_the_margin_owed_wins() -> None:
    cash, positions, terms = _collect_example(financing_limit=D(100000))
    v = value(cash, positions, terms)
    assert v.over_financing == D("70000.00")
    assert v.margin_to_collect == D("70000.00")


# Each switch of the warning-value rule -----------------------------------------------

@pytest.mark.parametrize(("rule", "expected"), [
    (WarningRule(), "15500.00"),
    (WarningRule(margin_owed=False), "3000.00"),  # 500 − 5,000 < 0: the over-financing amount
    (WarningRule(interest=False), "15000.00"),
    (WarningRule(trading_limit=False), "20500.00"),
    (WarningRule(over_financing=False), "15500.00"),
    (WarningRule(margin_owed=False, over_financing=False), "0.00"),
])
def test_each_switch_of_the_warning_rule(rule: WarningRule, expected: str) -> None:
    cash, positions, terms = _collect_example(financing_limit=D(167000))
    assert value(cash, positions, terms, rule).margin_to_collect == D(expected)


def test_over_financing_switch_decides_whether_it_triggers() -> None:
    """Net assets cover the requirement; only the financing limit is exceeded."""
    cash, positions = [hkd("-100000")], [position("700.HK", 1000, "250")]  # LNA 150,000 ≥ 100,000
    terms = Terms(financing_limit=D(90000))
    on = value(cash, positions, terms)
    assert on.triggered and on.margin_to_collect == D("10000.00") and not on.cured
    off = value(cash, positions, terms, WarningRule(over_financing=False))
    assert not off.triggered and off.margin_to_collect == 0 and off.cured
    assert off.over_financing == D("10000.00")  # still reported


def test_outstanding_deposit_and_additional_margin() -> None:
    cash, positions = [hkd("-170000")], [position("700.HK", 1000, "250")]
    v = value(cash, positions, Terms(outstanding_deposit=D(1000), additional_margin=D("2500.50")))
    assert v.requirement == D("102500.50")
    assert v.force_requirement == D("77500.50")  # 250,000 × 30 % + the additional margin
    assert v.margin_to_collect == D("23500.50")  # 102,500.50 − 80,000 + 1,000


def test_force_flag_below_the_force_requirement_only() -> None:
    positions = [position("700.HK", 1000, "250")]  # requirement 100,000, force 75,000
    margin_only = value([hkd("-160000")], positions)  # LNA 90,000
    assert margin_only.triggered and not margin_only.force
    forced = value([hkd("-180000")], positions)  # LNA 70,000
    assert forced.triggered and forced.force


def test_cured_needs_nothing_to_collect_too() -> None:
    """Net assets above the requirement, but interest unpaid beyond the trading limit."""
    v = value([hkd("-100000")], [position("700.HK", 1000, "250")], Terms(accrued_interest=D(60000)))
    assert not v.triggered
    assert v.margin_to_collect == D("10000.00")  # 100,000 − 150,000 + 60,000
    assert not v.cured


# Currencies and roundings ----------------------------------------------------------------

def test_multi_currency_cash_at_the_mid_rate() -> None:
    cash = [hkd("1000"), CashLine("USD", D("-2500.50"), USD_MID), CashLine("CNH", D("333.33"), CNH_MID)]
    assert cash_hkd(cash[1]) == D("-19503.90")
    assert cash_hkd(cash[2]) == D("361.50")  # 361.4964 half up
    v = value(cash, [])
    assert v.cash_hkd == D("1000") - D("19503.90") + D("361.50")
    assert v.financing == D("18142.40")


def test_a_positions_market_value_is_rounded_on_its_own() -> None:
    assert market_value_hkd(333, D("1.234"), USD_MID) == D("3205.19")  # 3,205.1916
    assert market_value_hkd(1, D("0.005"), D(1)) == D("0.01")  # half up, not to even
    assert market_value_hkd(-1, D("0.005"), D(1)) == D("-0.01")
    v = value([], [position("A.HK", 1, "0.005"), position("B.HK", 1, "0.005")])
    assert v.long_mv == D("0.02")  # 0.01 + 0.01, not round(0.010)


def test_usd_stock_valued_in_hkd() -> None:
    v = value([CashLine("USD", D("-10000"), USD_MID)],
              [position("AAPL.US", 100, "190.25", mid=USD_MID, currency="USD", mcm="50")])
    assert v.long_mv == D("148395.00")
    assert v.cash_hkd == D("-78000.00")
    assert v.requirement == D("74197.50")
    assert v.lna == D("70395.00")


def test_requirement_rounds_up_to_the_cent() -> None:
    v = value([], [position("A.HK", 100, "3.3333", mcm="33")])  # 333.33 × 33 % = 109.9989
    assert v.requirement == D("110.00")
    v = value([], [position("A.HK", 100, "3.3333", mcm="33")], Terms(accrued_interest=D("0.001")),
              WarningRule(margin_owed=False))
    assert v.margin_to_collect == D("0.01")


# Shorts and illiquid stocks ------------------------------------------------------------------

def test_short_positions() -> None:
    v = value([hkd("300000")], [position("700.HK", 500, "400"), position("9988.HK", -1000, "80", mcm="50")])
    assert (v.long_mv, v.short_mv) == (D("200000.00"), D("-80000.00"))
    assert v.equity == D("420000.00")
    assert v.lna == v.equity
    assert v.requirement == D("120000.00")  # 200,000 × 40 % + 80,000 × 50 %
    assert v.net_asset_ratio == D("1.0000")  # max(420,000, 280,000)
    thin = value([hkd("-50000")], [position("700.HK", 500, "400"), position("9988.HK", -1000, "80", mcm="50")])
    assert thin.lna == D("70000.00")
    assert thin.net_asset_ratio == D("0.2500")  # 70,000 / (200,000 + 80,000)


def test_a_suspended_short_is_not_taken_out_of_the_liquid_net_assets() -> None:
    v = value([hkd("200000")], [position("2799.HK", -10000, "5", illiquid=True, tradable=False, mcm="100")])
    assert v.short_mv == D("-50000.00")
    assert v.illiquid_mv == 0
    assert v.lna == v.equity == D("150000.00")
    assert v.requirement == D("50000.00")  # still carries its requirement
    assert v.net_asset_ratio == D("1.0000")


def test_an_illiquid_long_carries_no_requirement() -> None:
    v = value([hkd("0")], [position("2799.HK", 10000, "5", illiquid=True, tradable=False)])
    assert v.requirement == 0
    assert v.lna == 0
    assert v.net_asset_ratio == D("1.0000")  # nothing liquid, nothing owed


def test_debt_and_no_positions() -> None:
    v = value([hkd("-1234.56")], [])
    assert v.net_asset_ratio == D("0.0000")
    assert v.triggered and v.margin_to_collect == D("1234.56")
    empty = value([], [])
    assert empty.net_asset_ratio == D("1.0000") and empty.cured


def test_ratio_never_above_one_while_lna_is_positive() -> None:
    for cash in ("-150000", "-1", "0", "1", "500000"):
        v = value([hkd(cash)], [position("700.HK", 500, "400"), position("9988.HK", -1000, "80")])
        if v.lna > 0:
            assert 0 <= v.net_asset_ratio <= 1  # 0 when LNA is a few cents over a large denominator


def test_no_negative_zero() -> None:
    v = value([hkd("0.001")], [position("A.HK", -1, "0.001")])
    assert str(v.short_mv) == "0.00" and str(v.cash_hkd) == "0.00"


def test_figures_for_a_snapshot() -> None:
    cash, positions, terms = _collect_example(financing_limit=D(167000))
    v = value(cash, positions, terms)
    figures = v.as_figures()
    assert set(figures) == set(Valuation.__slots__)  # type: ignore[attr-defined]
    assert all(isinstance(text, str) for text in figures.values())
    assert figures["margin_to_collect"] == "15500.00"
    assert figures["net_asset_ratio"] == "0.3200"
    assert figures["triggered"] == "True"
    assert Valuation.from_figures(json.loads(json.dumps(figures))) == v

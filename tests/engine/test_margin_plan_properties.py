"""Liquidation plans (``margin.plan``): properties over random clients (hypothesis) and the
desk's examples.  A plan only ever reduces positions, in whole board lots, of tradable
stocks, at limit prices on the HKEX grid across the spread; it cures whenever selling
every tradable lot would; its what-if is the engine's own valuation of the filled lines,
and it moves exactly the planned cash and shares.  Pure arithmetic, no database; money is
``Decimal`` built from integers throughout."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wbo_tui.engine.margin import ticks
from wbo_tui.engine.margin.formulas import CashLine, PositionLine, Terms, WarningRule, value
from wbo_tui.engine.margin.plan import (
    ORDER_RULES,
    PlanLine,
    PlanRule,
    fill,
    plan,
    what_if,
)

D = Decimal
MIDS = {"HKD": D(1), "USD": D(78) / 10, "CNH": D(10845) / 10000}
LOTS = (1, 100, 200, 400, 500, 1000, 2000)
Client = tuple[list[CashLine], list[PositionLine], Terms]


def _grid(n: int) -> Decimal:
    return ticks.to_grid(D(n) / 100, up=False)


@st.composite
def positions(draw: st.DrawFn) -> list[PositionLine]:
    count = draw(st.sampled_from((0, 1, 2, 2, 3, 3, 4, 4, 5, 6)))
    result = []
    for i in range(count):
        lot = draw(st.sampled_from(LOTS))
        lots = draw(st.integers(0, 25))
        odd = draw(st.integers(0, lot - 1)) if draw(st.integers(0, 3)) == 0 else 0
        quantity = max(1, lots * lot + odd) * (-1 if draw(st.integers(0, 3)) == 0 else 1)
        currency = draw(st.sampled_from(sorted(MIDS)))
        last = _grid(draw(st.integers(1, 100_000)))
        bid = draw(_sometimes_none(st.integers(-4, 1).map(lambda s, last=last: ticks.move(last, s))))
        ask = draw(_sometimes_none(st.integers(-1, 4).map(lambda s, last=last: ticks.move(last, s))))
        mcm = draw(st.integers(0, 100))
        illiquid = draw(st.integers(0, 9)) == 0
        tradable = not illiquid and draw(st.integers(0, 9)) > 0
        result.append(PositionLine(
            code=f"{i + 1}.HK", quantity=quantity, last=last, hkd_mid=MIDS[currency], illiquid=illiquid,
            tradable=tradable, mcm_factor=D(mcm), fm_factor=D(draw(st.integers(0, mcm))), lot_size=lot,
            avg_cost=D(draw(st.integers(1, 100_000))) / 100, bid=bid, ask=ask, currency=currency))
    return result


def _sometimes_none(values: st.SearchStrategy[Decimal]) -> st.SearchStrategy[Decimal | None]:
    return st.integers(0, 9).flatmap(lambda n: st.none() if n == 0 else values)


@st.composite
def clients(draw: st.DrawFn) -> Client:
    """Positions, then cash and terms on their scale, so that calls are near the edge: the
    HKD cash borrows up to all the longs' value (or holds up to 20 % more) and holds a
    short's proceeds give or take, foreign cash and the terms small beside it, the
    financing limit near the debt."""
    held = draw(positions())
    longs = sum((p.quantity * p.last * p.hkd_mid for p in held if p.quantity > 0), D(0))
    shorts = sum((-p.quantity * p.last * p.hkd_mid for p in held if p.quantity < 0), D(0))
    worth = longs + shorts
    hkd = shorts * draw(st.integers(80, 150)) / 100 - longs * draw(st.integers(-20, 100)) / 100
    cash = [CashLine("HKD", hkd.quantize(D("0.01")), D(1))]
    scale = max(worth, D(1000)) / 1000
    for currency in draw(st.lists(st.sampled_from(["USD", "CNH"]), unique=True, max_size=2)):
        cash.append(CashLine(currency, (scale * draw(st.integers(-50, 50))).quantize(D("0.01")), MIDS[currency]))
    small = st.integers(-30, 30).map(lambda n: (scale * max(n, 0)).quantize(D("0.01")))  # 0 half the time
    limit = st.none() | st.integers(0, 150).map(lambda n: (worth * n / 100).quantize(D("0.01")))
    terms = draw(st.builds(Terms, accrued_interest=small, outstanding_deposit=small, trading_limit=small,
                           financing_limit=limit, additional_margin=small))
    return cash, held, terms


rules_st = st.builds(WarningRule, margin_owed=st.booleans(), interest=st.booleans(), trading_limit=st.booleans(),
                     over_financing=st.booleans())
plan_rules_st = st.builds(PlanRule, order=st.sampled_from(ORDER_RULES), offset_steps=st.integers(0, 3),
                          buffer_pct=st.integers(0, 20).map(D))

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _every_tradable_lot(held: list[PositionLine], offset: int) -> list[PlanLine]:
    """Every whole lot of every tradable position with a quote, at the plan's price rule,
    computed here from the price steps directly."""
    lines = []
    for p in held:
        lots = abs(p.quantity) // p.lot_size
        if not p.tradable or not lots:
            continue
        if p.quantity > 0 and p.bid is not None:
            lines.append(PlanLine(p.code, "SELL", lots * p.lot_size,
                                  ticks.move(ticks.to_grid(p.bid, up=False), -offset), lots))
        elif p.quantity < 0 and p.ask is not None:
            lines.append(PlanLine(p.code, "BUY", lots * p.lot_size,
                                  ticks.move(ticks.to_grid(p.ask, up=True), offset), lots))
    return lines


@PROPERTY
@given(clients(), rules_st, plan_rules_st)
def test_a_plan_reduces_positions_in_whole_lots_across_the_spread(client: Client, rule: WarningRule,
                                                                  plan_rule: PlanRule) -> None:
    cash, held, terms = client
    result = plan(cash, held, terms, rule, plan_rule)
    by_code = {p.code: p for p in held}
    assert len({line.code for line in result.lines}) == len(result.lines)
    for line in result.lines:
        p = by_code[line.code]
        assert p.tradable
        assert line.side == ("SELL" if p.quantity > 0 else "BUY")
        assert 0 < line.quantity <= abs(p.quantity)
        assert line.quantity % p.lot_size == 0 and line.lots * p.lot_size == line.quantity
        assert ticks.on_grid(line.limit_price)
        if line.side == "SELL":
            assert p.bid is not None and line.limit_price <= p.bid
        else:
            assert p.ask is not None and line.limit_price >= p.ask
    if result.before.cured:
        assert result.lines == () and result.after == result.before
    assert result.cures == result.after.cured


@PROPERTY
@given(clients(), rules_st, plan_rules_st)
def test_a_plan_cures_whenever_selling_every_tradable_lot_would(client: Client, rule: WarningRule,
                                                                plan_rule: PlanRule) -> None:
    cash, held, terms = client
    result = plan(cash, held, terms, rule, plan_rule)
    everything = value(*fill(cash, held, _every_tradable_lot(held, plan_rule.offset_steps)), terms, rule)
    if everything.cured:
        assert result.cures
    grow = 1 + plan_rule.buffer_pct / 100
    if everything.cured and everything.lna >= everything.requirement * grow and not result.before.cured:
        assert result.with_buffer


@PROPERTY
@given(clients(), rules_st, plan_rules_st)
def test_what_if_of_the_plan_and_conservation(client: Client, rule: WarningRule, plan_rule: PlanRule) -> None:
    cash, held, terms = client
    result = plan(cash, held, terms, rule, plan_rule)
    again = what_if(cash, held, terms, rule, result.lines, plan_rule=plan_rule)
    assert again.after == result.after and again.before == result.before
    assert (again.cures, again.with_buffer) == (result.cures, result.with_buffer)

    new_cash, new_held = fill(cash, held, result.lines)
    assert value(new_cash, new_held, terms, rule) == result.after
    by_code = {p.code: p for p in held}
    expected_cash: Counter[str] = Counter()
    expected_moves: Counter[str] = Counter()
    for line in result.lines:
        sign = 1 if line.side == "SELL" else -1
        expected_cash[by_code[line.code].currency] += sign * line.quantity * line.limit_price
        expected_moves[line.code] -= sign * line.quantity
    totals_before: Counter[str] = Counter()
    totals_after: Counter[str] = Counter()
    for line in cash:
        totals_before[line.currency] += line.amount
    for line in new_cash:
        totals_after[line.currency] += line.amount
        assert line.hkd_mid == MIDS[line.currency]
    for currency in MIDS:
        assert totals_after[currency] - totals_before[currency] == expected_cash[currency]
    after_by_code = {p.code: p for p in new_held}
    for p in held:
        quantity = p.quantity + expected_moves[p.code]
        if quantity == 0:
            assert p.code not in after_by_code
        else:
            assert after_by_code[p.code].quantity == quantity
            assert (quantity > 0) == (p.quantity > 0)  # never flipped
    assert len(new_held) == len(after_by_code)


@PROPERTY
@given(clients(), rules_st)
def test_valuation_identities(client: Client, rule: WarningRule) -> None:
    cash, held, terms = client
    v = value(cash, held, terms, rule)
    assert v.equity == v.cash_hkd + v.long_mv + v.short_mv
    assert v.lna == v.equity - v.illiquid_mv
    assert v.short_mv <= 0 <= v.illiquid_mv <= v.long_mv
    assert v.margin_to_collect >= 0 and v.financing >= 0 and v.over_financing >= 0
    if v.lna > 0:
        assert 0 <= v.net_asset_ratio <= 1  # 0 when LNA is a few cents over a large denominator
    assert v.cured == (not v.triggered and v.margin_to_collect == 0)


# The desk's examples ----------------------------------------------------------------------

def _stock(code: str, quantity: int, last: str, avg: str, *, lot: int = 100, mcm: str = "40", fm: str = "30",
           bid: str | None = None, ask: str | None = None, tradable: bool = True,
           illiquid: bool = False) -> PositionLine:
    return PositionLine(code=code, quantity=quantity, last=D(last), hkd_mid=D(1), illiquid=illiquid,
                        tradable=tradable, mcm_factor=D(mcm), fm_factor=D(fm), lot_size=lot, avg_cost=D(avg),
                        bid=None if bid is None else D(bid), ask=None if ask is None else D(ask))


CLIENT_CASH = [CashLine("HKD", D(-450000), D(1))]
CLIENT = [
    _stock("5.HK", 4000, "65", "60", lot=400, mcm="30", bid="64.95", ask="65.00"),  # a gain of 20,000
    _stock("700.HK", 300, "380", "500", bid="379.80", ask="380.00"),  # the largest loss, 36,000
    _stock("9988.HK", 3000, "80", "90", mcm="50", fm="40", bid="79.95", ask="80.00"),  # a loss of 30,000
    _stock("2799.HK", 10000, "1.05", "1.20", mcm="100", tradable=False, illiquid=True),  # suspended
]
TERMS = Terms(accrued_interest=D(1200))


def test_the_largest_loss_first_in_board_lots() -> None:
    result = plan(CLIENT_CASH, CLIENT, TERMS, WarningRule(), PlanRule())
    assert result.before.lna == D("164000.00") and result.before.requirement == D("243600.00")
    assert result.before.margin_to_collect == D("80800.00")
    # 700.HK cannot reach the target alone: all 3 lots at the bid less one step (379.60),
    # then the fewest lots of 9988.HK at 79.90: 11 lots bring LNA 163,770 over 154,000 × 1.05.
    assert result.lines == (PlanLine("700.HK", "SELL", 300, D("379.60"), 3),
                            PlanLine("9988.HK", "SELL", 1100, D("79.90"), 11))
    assert result.after.cash_hkd == D("-248230.00")  # −450,000 + 113,880 + 87,890
    assert result.after.requirement == D("154000.00") and result.after.lna == D("163770.00")
    assert result.after.margin_to_collect == 0
    assert result.cures and result.with_buffer
    assert result.skipped == (("2799.HK", "suspended or delisted"),)
    ten_lots = what_if(CLIENT_CASH, CLIENT, TERMS, WarningRule(), (result.lines[0],
                       PlanLine("9988.HK", "SELL", 1000, D("79.90"), 10)))
    assert ten_lots.cures and not ten_lots.with_buffer  # one lot fewer misses the buffer


def test_other_orders() -> None:
    by_value = plan(CLIENT_CASH, CLIENT, TERMS, WarningRule(), PlanRule(order="LARGEST_VALUE"))
    assert by_value.lines[0].code == "5.HK" and by_value.cures  # 260,000, the largest
    by_margin = plan(CLIENT_CASH, CLIENT, TERMS, WarningRule(), PlanRule(order="HIGHEST_MARGIN"))
    assert by_margin.lines[0].code == "9988.HK" and by_margin.cures  # 240,000 × 50 %


def test_a_cured_client_gets_an_empty_plan() -> None:
    result = plan([CashLine("HKD", D(100000), D(1))], CLIENT, Terms(), WarningRule(), PlanRule())
    assert result.lines == () and result.cures and result.after == result.before


def test_an_edited_plan_off_the_board_lot_is_refused() -> None:
    with pytest.raises(ValueError, match=r"700\.HK.*multiple of the board lot 100"):
        what_if(CLIENT_CASH, CLIENT, TERMS, WarningRule(), [PlanLine("700.HK", "SELL", 150, D("379.60"), 1)])


def test_an_edited_plan_selling_more_than_held_is_refused() -> None:
    with pytest.raises(ValueError, match=r"700\.HK: 400 shares is more than the 300 held"):
        what_if(CLIENT_CASH, CLIENT, TERMS, WarningRule(), [PlanLine("700.HK", "SELL", 400, D("379.60"), 4)])
    with pytest.raises(ValueError, match=r"700\.HK: 400 shares is more than the 300 held"):
        what_if(CLIENT_CASH, CLIENT, TERMS, WarningRule(), [PlanLine("700.HK", "SELL", 200, D("379.60"), 2),
                                                            PlanLine("700.HK", "SELL", 200, D("379.60"), 2)])


@pytest.mark.parametrize(("line", "message"), [
    (PlanLine("2799.HK", "SELL", 1000, D("1.05"), 10), r"2799\.HK: suspended or delisted"),
    (PlanLine("700.HK", "BUY", 100, D("380"), 1), r"700\.HK: the client is long, so the line must SELL"),
    (PlanLine("1.HK", "SELL", 100, D("50"), 1), r"1\.HK: the client holds no position"),
    (PlanLine("700.HK", "SELL", 0, D("379.60"), 0), r"700\.HK: 0 shares is not a positive multiple"),
    (PlanLine("700.HK", "SELL", 200, D("379.60"), 1), r"700\.HK: 1 lots of 100 shares are not 200 shares"),
    (PlanLine("700.HK", "SELL", 100, D("379.70"), 1), r"700\.HK: the limit price 379.70 is not on the HKEX"),
])
def test_other_refusals(line: PlanLine, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        what_if(CLIENT_CASH, CLIENT, TERMS, WarningRule(), [line])


def test_a_short_is_bought_back_at_the_ask_plus_steps_and_odd_lots_stay() -> None:
    held = [_stock("9988.HK", -1050, "80", "70", bid="79.95", ask="80.00", mcm="50"),
            _stock("3690.HK", 30, "100", "120", bid="99.95")]  # below one lot
    cash = [CashLine("HKD", D(20000), D(1))]  # LNA 20,000 − 84,000 + 3,000, requirement 43,200
    result = plan(cash, held, Terms(), WarningRule(), PlanRule(offset_steps=2))
    assert result.lines == (PlanLine("9988.HK", "BUY", 1000, D("80.10"), 10),)
    assert ("9988.HK", "odd lot of 50 shares left, below the board lot 100 (odd lots trade on a separate market)"
            ) in result.skipped
    assert any(code == "3690.HK" and why.startswith("odd lot only") for code, why in result.skipped)
    assert result.after.short_mv == D("-4000.00")


def test_a_usd_stock_credits_usd_cash() -> None:
    usd = D(78) / 10
    held = [PositionLine(code="AAPL.US", quantity=100, last=D("190"), hkd_mid=usd, illiquid=False, tradable=True,
                         mcm_factor=D(100), fm_factor=D(80), lot_size=1, avg_cost=D(200), bid=D("189.99"),
                         currency="USD")]
    cash = [CashLine("HKD", D(-150000), D(1)), CashLine("USD", D(1000), usd)]
    result = plan(cash, held, Terms(), WarningRule(), PlanRule(offset_steps=0, buffer_pct=D(0)))
    assert result.cures
    new_cash, _ = fill(cash, held, result.lines)
    line = result.lines[0]
    assert new_cash[0] == cash[0]
    assert new_cash[1].amount == D(1000) + line.quantity * line.limit_price
    assert line.limit_price == D("189.90")  # 189.99 snapped down onto the 0.10 grid


def test_no_bid_and_a_sale_that_only_hurts_are_skipped() -> None:
    held = [_stock("1.HK", 1000, "50", "60", mcm="10", bid="10.00"),  # bid far below the mark
            _stock("2.HK", 1000, "50", "60", mcm="10")]  # no bid
    result = plan([CashLine("HKD", D(-95000), D(1))], held, Terms(), WarningRule(), PlanRule())
    assert result.lines == ()
    assert ("1.HK", "selling does not reduce the call") in result.skipped
    assert ("2.HK", "no best bid") in result.skipped
    assert not result.cures


def test_a_cure_that_needs_two_positions_together() -> None:
    """Selling 1.HK far below its mark frees financing but costs net assets; buying back the
    2.HK short frees requirement but borrows.  Neither alone cures (the greedy order tries
    1.HK first, the larger loss, and finds it only hurts); both together do, so the plan
    starts from every lot and trims back: 9 lots of 2.HK keep the requirement covered with
    all of 1.HK sold, then 7 lots of 1.HK keep the financing within its limit of 0."""
    held = [_stock("1.HK", 1000, "10", "20", mcm="10", fm="5", bid="6.00"),
            _stock("2.HK", -1000, "10", "10", mcm="100", ask="10.00")]
    cash = [CashLine("HKD", D(5000), D(1))]
    result = plan(cash, held, Terms(financing_limit=D(0)), WarningRule(), PlanRule(offset_steps=0, buffer_pct=D(0)))
    assert result.before.margin_to_collect == D("6000.00")
    assert result.lines == (PlanLine("1.HK", "SELL", 700, D("6.00"), 7), PlanLine("2.HK", "BUY", 900, D("10.00"), 9))
    assert result.cures and result.after.cash_hkd == D("200.00") and result.after.requirement == D("1300.00")
    for alone in result.lines:
        assert not what_if(cash, held, Terms(financing_limit=D(0)), WarningRule(), [alone]).cures

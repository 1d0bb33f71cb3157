"""A liquidation plan for one client in margin call: which positions to sell (or, for a
short, buy back), how many board lots of each and at what limit price, and what the
client's figures would be if every line filled (the close-out pop-up's "estimate of how
much the margin call would shrink").

Pure functions over ``formulas``' inputs; the engine reads the client and sends the orders.

The greedy plan takes positions in the desk's order (``ORDER_RULES``): the largest
unrealised loss first (the default), the largest market value, or the largest margin
requirement, ties by code.  For each it looks for the fewest whole lots that bring the
client to the target: cured (nothing to collect, not triggered) *and* Liquid Net Assets at
least the requirement plus a buffer, so that the next tick does not call the client again.
If no number of lots of that position reaches the target, all of its lots are taken when
that *improves* the call, and the plan goes on to the next position.  "Improves" is a
Pareto step: none of the measures of the call grows and at least one shrinks, the measures
being Margin to Be Collected, the shortfall max(0, requirement − LNA) and, while the buffer
is aimed at, the buffered shortfall max(0, requirement × (1 + buffer) − LNA).  A position
whose lots would make any of them worse (a bid far below the mark, say, or a short whose
buy-back costs more financing than it frees) is skipped with the reason.

The target is aimed at in steps, so that the plan sells no more than it must:

1. the greedy plan aiming at the buffered target;
2. if it falls short, the plan "every tradable lot" trimmed back (below) when that reaches
   the buffered target;
3. otherwise the greedy plan aiming at a cure without the buffer, then the trimmed plan
   aiming at a cure;
4. otherwise the greedy plan's best effort, which reduces the call as far as it can but
   does not cure it (the Exception list's case: manual handling).

The greedy order can miss a cure that needs two positions together (one that frees
financing but costs net assets, one the other way round), so step 2 and 3's fallback starts
from selling every tradable lot and trims positions back in reverse order, the least
preferred first, each to the fewest lots that keep the target: a plan that can cure, does.

Every lot count is found by binary search, which needs the target to be monotone in the
lots of one position: it is when each lot helps, as a position's effect on each figure is
linear in its lots up to the cent roundings.  The search only ever settles on a count that
was checked to reach the target, so a non-monotone case costs extra lots, never a wrong
plan.

Prices: a sell's limit is the best bid, on the HKEX grid, moved ``offset_steps`` steps down;
a buy-back's the best ask moved up (``ticks.move``), so the order crosses the spread and
fills.  An odd lot (the shares below one board lot) is never sold: HKEX odd lots trade on a
separate market.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from . import ticks
from .formulas import HUNDRED, CashLine, PositionLine, Terms, Valuation, WarningRule, market_value_hkd, value

ORDER_RULES = ("LARGEST_LOSS", "LARGEST_VALUE", "HIGHEST_MARGIN")
"""The desk's liquidation order: largest unrealised loss first, largest market value first,
largest margin-call requirement first."""
SIDES = ("SELL", "BUY")
_EXACT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN,
                         traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])

Goal = Callable[[Valuation], bool]
Lots = dict[str, int]


@dataclass(frozen=True, slots=True)
class PlanRule:
    """How the desk liquidates."""

    order: str = "LARGEST_LOSS"
    """One of ``ORDER_RULES``."""
    offset_steps: int = 1
    """Limit price: the best bid moved this many HKEX steps down (a sell) or the best ask up
    (a buy-back)."""
    buffer_pct: Decimal = Decimal("5")
    """Aim at LNA ≥ requirement × (1 + buffer / 100), when the holdings allow."""


@dataclass(frozen=True, slots=True)
class PlanLine:
    code: str
    side: str
    """"SELL" reduces a long, "BUY" covers a short."""
    quantity: int
    """Shares: a positive multiple of the board lot, at most the shares held."""
    limit_price: Decimal
    """On the HKEX grid, in the instrument's currency."""
    lots: int


@dataclass(frozen=True, slots=True)
class Plan:
    lines: tuple[PlanLine, ...]
    before: Valuation
    after: Valuation
    """The what-if: the valuation if every line filled at its limit price."""
    cures: bool
    """``after.cured``."""
    with_buffer: bool
    """The buffered target was reached too."""
    skipped: tuple[tuple[str, str], ...]
    """(code, why) for each position the plan could not or would not use, and odd lots left."""


@dataclass(frozen=True, slots=True)
class _Candidate:
    position: PositionLine
    side: str
    price: Decimal
    lots: int


def plan(cash: Sequence[CashLine], positions: Sequence[PositionLine], terms: Terms, rule: WarningRule,
         plan_rule: PlanRule) -> Plan:
    """The liquidation plan for a client (see the module's steps).  Empty when the client is
    cured already (not triggered, nothing to collect)."""
    _check_rule(plan_rule)
    _unique(positions)
    before = value(cash, positions, terms, rule)
    buffered = _buffered(plan_rule.buffer_pct)
    if before.cured:
        return Plan((), before, before, True, buffered(before), ())
    candidates, skipped = _candidates(positions, plan_rule)

    def valued(lots: Lots) -> Valuation:
        return value(*fill(cash, positions, _lines(candidates, lots)), terms, rule)

    def measures(with_buffer: bool) -> Callable[[Valuation], tuple[Decimal, ...]]:
        def of(v: Valuation) -> tuple[Decimal, ...]:
            gaps = (v.margin_to_collect, max(Decimal(0), v.requirement - v.lna))
            return gaps + ((max(Decimal(0), _EXACT.multiply(v.requirement, _grow(plan_rule.buffer_pct)) - v.lna),)
                           if with_buffer else ())
        return of

    every = {c.position.code: c.lots for c in candidates}
    for goal, with_buffer in ((buffered, True), (_cured, False)):
        lots, reasons = _greedy(candidates, valued, goal, measures(with_buffer))
        if goal(valued(lots)):
            break
        if goal(valued(every)):
            lots, reasons = _trim(candidates, valued, goal, every), ()
            break
    lines = _lines(candidates, lots)
    after = valued(lots)
    notes = tuple(skipped) + reasons + _odd_lots_left(candidates, lots)
    return Plan(lines, before, after, after.cured, buffered(after), notes)


def what_if(cash: Sequence[CashLine], positions: Sequence[PositionLine], terms: Terms, rule: WarningRule,
            lines: Sequence[PlanLine], *, plan_rule: PlanRule = PlanRule()) -> Plan:
    """An edited plan re-checked and valued: every line must be a positive multiple of its
    stock's board lot, within the shares held (all lines of a stock together), on the side
    that reduces the position, for a tradable stock, at a price on the HKEX grid.  A line
    that is not raises ``ValueError`` naming the security and the rule.  ``plan_rule``
    gives the buffer ``with_buffer`` is judged by."""
    _check_rule(plan_rule)
    held = _unique(positions)
    taken: dict[str, int] = {}
    for line in lines:
        position = held.get(line.code)
        if position is None or position.quantity == 0:
            raise ValueError(f"{line.code}: the client holds no position in it")
        if not position.tradable:
            raise ValueError(f"{line.code}: suspended or delisted, a plan never trades it")
        side = "SELL" if position.quantity > 0 else "BUY"
        if line.side != side:
            raise ValueError(f"{line.code}: the client is {'long' if side == 'SELL' else 'short'}, "
                             f"so the line must {side} (not {line.side})")
        lot = position.lot_size
        if line.quantity <= 0 or line.quantity % lot:
            raise ValueError(f"{line.code}: {line.quantity} shares is not a positive multiple of the board lot {lot}")
        if line.lots * lot != line.quantity:
            raise ValueError(f"{line.code}: {line.lots} lots of {lot} shares are not {line.quantity} shares")
        taken[line.code] = taken.get(line.code, 0) + line.quantity
        if taken[line.code] > abs(position.quantity):
            raise ValueError(f"{line.code}: {taken[line.code]} shares is more than the "
                             f"{abs(position.quantity)} held")
        if not ticks.on_grid(line.limit_price):
            raise ValueError(f"{line.code}: the limit price {line.limit_price} is not on the HKEX price grid")
    before = value(cash, positions, terms, rule)
    after = value(*fill(cash, positions, lines), terms, rule)
    return Plan(tuple(lines), before, after, after.cured, _buffered(plan_rule.buffer_pct)(after), ())


def fill(cash: Sequence[CashLine], positions: Sequence[PositionLine],
         lines: Sequence[PlanLine]) -> tuple[tuple[CashLine, ...], tuple[PositionLine, ...]]:
    """The client's cash and positions if every line filled at its limit price: a sell
    takes q shares off the long and credits q × price to the cash in the stock's currency, a
    buy-back adds q to the short and debits q × price.  Each currency's proceeds go to the
    client's first cash line in that currency (a new line if there is none); a position
    that reaches 0 is gone.  The lines are not checked here (``what_if`` does)."""
    by_code = {p.code: p for p in positions}
    moved: dict[str, int] = {}
    proceeds: dict[str, tuple[Decimal, Decimal]] = {}
    for line in lines:
        position = by_code[line.code]
        sign = 1 if line.side == "SELL" else -1
        moved[line.code] = moved.get(line.code, 0) - sign * line.quantity
        if position.currency == "HKD" and position.hkd_mid != 1:
            raise ValueError(f"{line.code}: an HKD stock must have the HKD mid rate 1, not {position.hkd_mid}")
        amount, mid = proceeds.get(position.currency, (Decimal(0), position.hkd_mid))
        if mid != position.hkd_mid:
            raise ValueError(f"{line.code}: {position.currency} at {position.hkd_mid} HKD, another stock at {mid}")
        proceeds[position.currency] = (amount + sign * _EXACT.multiply(line.quantity, line.limit_price), mid)
    new_cash = list(cash)
    for currency, (amount, mid) in proceeds.items():
        at = next((i for i, c in enumerate(new_cash) if c.currency == currency), None)
        if at is None:
            new_cash.append(CashLine(currency, amount, mid))
            continue
        line_now = new_cash[at]
        if line_now.hkd_mid != mid:
            raise ValueError(f"{currency}: cash at {line_now.hkd_mid} HKD, a position at {mid}")
        new_cash[at] = CashLine(currency, _EXACT.add(line_now.amount, amount), mid)
    new_positions = []
    for position in positions:
        quantity = position.quantity + moved.get(position.code, 0)
        if quantity != 0:
            new_positions.append(position if quantity == position.quantity else replace(position, quantity=quantity))
    return tuple(new_cash), tuple(new_positions)


def limit_price(position: PositionLine, offset_steps: int) -> Decimal | None:
    """The plan's limit price for ``position``: the best bid snapped down onto the HKEX
    grid and moved ``offset_steps`` steps down for a long, the best ask snapped up and moved
    up for a short; None without a usable quote (none, or off the exchange's price range)."""
    if position.quantity > 0:
        if position.bid is None or position.bid < ticks.LOWEST:
            return None
        return ticks.move(ticks.to_grid(position.bid, up=False), -offset_steps)
    if position.ask is None or position.ask <= 0 or position.ask > ticks.HIGHEST:
        return None
    return ticks.move(ticks.to_grid(position.ask, up=True), offset_steps)


def unrealised(position: PositionLine) -> Decimal:
    """Unrealised P&L in HKD, (last − average cost) × quantity × mid: negative is a loss,
    for a short too (the mark above the average cost)."""
    return _EXACT.multiply(_EXACT.multiply(position.last - position.avg_cost, position.quantity), position.hkd_mid)


def order_key(position: PositionLine, order: str) -> tuple[Decimal, str]:
    """The sort key of ``order`` (ascending; ties by code)."""
    if order == "LARGEST_LOSS":
        return unrealised(position), position.code
    mv = abs(market_value_hkd(position.quantity, position.last, position.hkd_mid))
    if order == "LARGEST_VALUE":
        return -mv, position.code
    return -_EXACT.divide(_EXACT.multiply(mv, position.mcm_factor), HUNDRED), position.code


def _candidates(positions: Sequence[PositionLine],
                plan_rule: PlanRule) -> tuple[list[_Candidate], list[tuple[str, str]]]:
    """The positions a plan may use, in the rule's order, and why the others cannot be."""
    candidates: list[_Candidate] = []
    skipped: list[tuple[str, str]] = []
    for position in sorted((p for p in positions if p.quantity != 0), key=lambda p: order_key(p, plan_rule.order)):
        long = position.quantity > 0
        held_lots = abs(position.quantity) // position.lot_size
        price = limit_price(position, plan_rule.offset_steps)
        if not position.tradable:
            skipped.append((position.code, "suspended or delisted"))
        elif price is None:
            skipped.append((position.code, "no best bid" if long else "no best ask"))
        elif held_lots == 0:
            skipped.append((position.code, f"odd lot only: {abs(position.quantity)} shares, below the board lot "
                                           f"{position.lot_size} (odd lots trade on a separate market)"))
        else:
            candidates.append(_Candidate(position, "SELL" if long else "BUY", price, held_lots))
    return candidates, skipped


def _greedy(candidates: list[_Candidate], valued: Callable[[Lots], Valuation], goal: Goal,
            measures: Callable[[Valuation], tuple[Decimal, ...]]) -> tuple[Lots, tuple[tuple[str, str], ...]]:
    """Positions in order: the fewest lots reaching ``goal``, else all lots when they improve
    the call (every measure no larger, one smaller), else skipped."""
    lots: Lots = {}
    reasons: list[tuple[str, str]] = []
    now = valued(lots)
    for candidate in candidates:
        if goal(now):
            break
        code = candidate.position.code
        trial = dict(lots)
        trial[code] = candidate.lots
        at_all = valued(trial)
        if goal(at_all):
            lots[code] = _fewest(1, candidate.lots, lambda k: goal(valued(lots | {code: k})))
            now = valued(lots)
        elif _improves(measures(now), measures(at_all)):
            lots, now = trial, at_all
        else:
            doing = "selling" if candidate.side == "SELL" else "buying back the short"
            reasons.append((code, f"{doing} does not reduce the call"))
    return lots, tuple(reasons)


def _trim(candidates: list[_Candidate], valued: Callable[[Lots], Valuation], goal: Goal, every: Lots) -> Lots:
    """From ``every`` lot (which reaches ``goal``), each position in reverse order cut to
    the fewest lots that still reach it."""
    lots = dict(every)
    for candidate in reversed(candidates):
        code = candidate.position.code
        lots[code] = _fewest(0, lots[code], lambda k: goal(valued(lots | {code: k})))
    return {code: n for code, n in lots.items() if n}


def _fewest(low: int, high: int, reaches: Callable[[int], bool]) -> int:
    """The smallest count in [low, high] that ``reaches`` (``high`` does, by the caller's
    check): a binary search that only settles on a count it saw reach."""
    while low < high:
        middle = (low + high) // 2
        if reaches(middle):
            high = middle
        else:
            low = middle + 1
    return high


def _improves(before: tuple[Decimal, ...], after: tuple[Decimal, ...]) -> bool:
    return all(a <= b for a, b in zip(after, before, strict=True)) and after != before


def _lines(candidates: list[_Candidate], lots: Lots) -> tuple[PlanLine, ...]:
    return tuple(PlanLine(c.position.code, c.side, lots[c.position.code] * c.position.lot_size, c.price,
                          lots[c.position.code])
                 for c in candidates if lots.get(c.position.code))


def _odd_lots_left(candidates: list[_Candidate], lots: Lots) -> tuple[tuple[str, str], ...]:
    """A note for each position the plan sells every whole lot of and an odd lot remains."""
    notes = []
    for candidate in candidates:
        position = candidate.position
        rest = abs(position.quantity) % position.lot_size
        if rest and lots.get(position.code) == candidate.lots:
            notes.append((position.code, f"odd lot of {rest} shares left, below the board lot {position.lot_size} "
                                         "(odd lots trade on a separate market)"))
    return tuple(notes)


def _cured(v: Valuation) -> bool:
    return v.cured


def _grow(buffer_pct: Decimal) -> Decimal:
    return 1 + _EXACT.divide(buffer_pct, HUNDRED)


def _buffered(buffer_pct: Decimal) -> Goal:
    grow = _grow(buffer_pct)
    return lambda v: v.cured and v.lna >= _EXACT.multiply(v.requirement, grow)


def _check_rule(plan_rule: PlanRule) -> None:
    if plan_rule.order not in ORDER_RULES:
        raise ValueError(f"liquidation order {plan_rule.order!r} is not one of {', '.join(ORDER_RULES)}")
    if plan_rule.offset_steps < 0:
        raise ValueError("the price offset is a number of steps, at least 0")
    if plan_rule.buffer_pct < 0:
        raise ValueError("the buffer is a percentage, at least 0")


def _unique(positions: Sequence[PositionLine]) -> dict[str, PositionLine]:
    held: dict[str, PositionLine] = {}
    for position in positions:
        if position.code in held:
            raise ValueError(f"{position.code}: the client's position is listed twice")
        if position.lot_size < 1:
            raise ValueError(f"{position.code}: the board lot must be at least 1")
        held[position.code] = position
    return held


"""Which exchange strategy serves a request, or why none does.

The checks run in the vendor's order (its FAQ: "why an exchange fails"), each refusal
naming what failed:

1. the exchange switch is on for both currencies (Currency Setup);
2. the pair includes the target (Currency Pairs);
3. an enabled strategy covering the pair is in service now (else: when the next opens);
4. the exchange pool's quota of the target currency covers a pool exchange;
5. a large amount (from the source currency's large-amount criterion) goes to a Large
   Amount strategy and is always reviewed.

Among the strategies in service, a large amount takes a Large Amount strategy, else one
of type None; a small amount takes the pool (Small Amount within the pool) when its quota
covers the target amount, else a bank (Small Amount beyond the pool), else one of type
None (a pool one only when the quota covers it).  Strategies never clash (one per pair,
type and moment), so the choice is determined.

An exchange is reviewed when it is a large amount, or when its value in the standard
currency (at the reference mid rate) reaches the strategy's approval starting point.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from pydantic import Field

from ..commands import Query, handles
from ..dto import DTO
from ..errors import NotFound, ValidationFailed
from ..money import DecimalAmount
from ..uow import UnitOfWork
from . import pool, service_time
from .currency_setup import CurrencySetupDTO, pair_settings
from .large_amount import large_amount_of
from .pairs import require_pair
from .rates import current_rate, standard_currency
from .strategies import CHANGE_TYPES, StrategyDTO, all_strategies, periods_of

INQUIRY = "fx.customer_exchange_inquiry"


class RouteDTO(DTO):
    strategy: StrategyDTO
    large: bool
    standard_amount: Decimal
    """The source amount in the standard currency, at the reference mid rate."""
    review_reasons: tuple[str, ...]
    """Why a checker must review it (none: it executes when submitted)."""

    @property
    def needs_review(self) -> bool:
        return bool(self.review_reasons)


class WhichStrategy(Query):
    """The strategy a request would take now, or the refusal naming why there is none."""

    permission = INQUIRY
    action = "view client exchanges"
    from_currency: str = Field(min_length=1, max_length=12)
    to_currency: str = Field(min_length=1, max_length=12)
    from_amount: DecimalAmount
    to_amount: DecimalAmount


@handles(WhichStrategy)
async def which_strategy(uow: UnitOfWork, q: WhichStrategy) -> RouteDTO:
    return await route(uow, q.from_currency.upper(), q.to_currency.upper(), q.from_amount, q.to_amount, uow.now)


async def route(uow: UnitOfWork, from_currency: str, to_currency: str, from_amount: Decimal, to_amount: Decimal,
                at: datetime, *, setups: tuple[CurrencySetupDTO, CurrencySetupDTO] | None = None) -> RouteDTO:
    """``setups``: both currencies' ``exchange_settings``, when the caller has read them in
    this unit (their exchange switches are then checked already)."""
    if setups is None:
        setups = await pair_settings(uow, from_currency, to_currency)
    await require_pair(uow, from_currency, to_currency)
    covering = [s for s in await all_strategies(uow) if s.enable_flag and s.covers(from_currency, to_currency)]
    if not covering:
        raise ValidationFailed("Exchange strategy", f"none enabled covers {from_currency}/{to_currency}")
    serving = [s for s in covering if service_time.in_service(periods_of(s), at)]
    if not serving:
        openings = [(service_time.next_opening(periods_of(s), at), s) for s in covering]
        soonest = min((o for o in openings if o[0] is not None), default=None, key=lambda o: o[0])
        periods = periods_of(soonest[1]) if soonest else periods_of(covering[0])
        raise ValidationFailed("Exchange strategy", f"{from_currency}/{to_currency} is "
                                                    f"{service_time.closed_reason(periods, at)}")
    threshold = await large_amount_of(uow, from_currency)
    large = threshold is not None and from_amount >= threshold
    chosen = await _choose(uow, serving, large, to_currency, to_amount)
    standard_amount = await _in_standard(uow, setups, from_amount)
    reasons = []
    if large:
        reasons.append(f"large amount ({from_amount:,} {from_currency} ≥ {threshold:,})")
    start = chosen.approval_start_amount
    if start is not None and standard_amount >= start:
        reasons.append(f"worth {standard_amount:,} in the standard currency, at or above strategy {chosen.id}'s "
                       f"approval starting point of {start:,}")
    return RouteDTO(strategy=chosen, large=large, standard_amount=standard_amount, review_reasons=tuple(reasons))


async def _choose(uow: UnitOfWork, serving: list[StrategyDTO], large: bool, to_currency: str,
                  to_amount: Decimal) -> StrategyDTO:
    by_type: dict[int, StrategyDTO] = {}
    for strategy in serving:
        by_type.setdefault(strategy.change_type, strategy)
    if large:
        for change_type in (1, 0):
            if change_type in by_type:
                return by_type[change_type]
        raise ValidationFailed("Exchange strategy", "none in service now takes large amounts "
                                                    f"({CHANGE_TYPES[1]} or {CHANGE_TYPES[0]})")
    shortfall = None
    for change_type in (2, 3, 0):
        strategy = by_type.get(change_type)
        if strategy is None:
            continue
        if strategy.service_strategy == "BATCH":
            shortfall = await _pool_shortfall(uow, to_currency, to_amount)
            if shortfall:
                continue
        return strategy
    if shortfall:
        raise ValidationFailed("Exchange pool", f"{shortfall}, and no bank strategy serves beyond the pool now")
    raise ValidationFailed("Exchange strategy", "none in service now takes small amounts")


async def _pool_shortfall(uow: UnitOfWork, currency: str, amount: Decimal) -> str | None:
    try:
        quota = await pool.get_quota(uow, currency)
    except NotFound:
        return f"{currency} has no exchange-pool quota"
    if quota.remaining_amount < amount:
        return f"{currency} quota is insufficient: {quota.remaining_amount} remaining, {amount} needed"
    return None


async def _in_standard(uow: UnitOfWork, setups: tuple[CurrencySetupDTO, CurrencySetupDTO],
                       amount: Decimal) -> Decimal:
    """``amount`` of the source currency in the standard currency at the reference mid
    rate (HKEX spot), to the cent: what approval starting points are compared with."""
    source, target = setups
    currency = source.currency
    # The setups say which currency is standard when either is (there is one standard).
    if source.standard_money or (not target.standard_money and currency == await standard_currency(uow)):
        return amount
    mid = (await current_rate(uow, "HKEX", "SPOT", currency)).average_rate
    return (amount * mid).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

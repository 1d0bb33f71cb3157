"""Which exchange strategy serves a request, on the demo's own set-up (data/demo_fx.json):
an Exchange Pool strategy for small amounts in HK trading hours, a Hang Seng Bank one for
small amounts beyond the pool on weekdays 09:00-18:00, an ICBC one for large amounts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from engine_support import FRESH_PASSWORD, REPO, login, new_operator

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine.errors import ValidationFailed
from wbo_tui.engine.fx import (
    AdjustPoolQuota,
    ImportReferenceRates,
    ListExchangeStrategies,
    SetStrategyEnabled,
    WhichStrategy,
    template_csv,
)
from wbo_tui.engine.fx.seed_data import seed_fx

# Monday 23 November 2026 (an HKEX trading day), Hong Kong time = UTC + 8; the engine
# fixture's clock starts earlier (Friday 20th), and each test moves it forward.
MONDAY_10_HKT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MONDAY_1730_HKT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SATURDAY_10_HKT = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
DESK = ("fx.customer_exchange_inquiry", "lb_hk_conversion.exchangeserve_query",
        "lb_hk_conversion.exchangeserve_update",
        "lb_hk_conversion.exchange_pool_config_update")


async def desk_at(engine: Engine, clock: FixedClock, moment: datetime):  # noqa: ANN201
    """The demo's FX set-up made at ``moment`` (its rates dated that day), and a desk
    operator logged in then."""
    clock.set(moment)
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup")
    admin = await login(engine, "admin")
    return await new_operator(engine, admin, "fxroute", DESK)


async def later(engine: Engine, clock: FixedClock, moment: datetime):  # noqa: ANN201
    """The same desk operator, logged in again at ``moment`` (sessions expire when idle)."""
    clock.set(moment)
    return await engine.login("fxroute", FRESH_PASSWORD)


def template_header() -> str:
    return template_csv().splitlines(keepends=True)[0]


async def _which(engine: Engine, who, source: str, target: str, amount: str, to_amount: str):  # noqa: ANN001, ANN202
    return await engine.query(who, WhichStrategy(from_currency=source, to_currency=target, from_amount=amount,
                                                 to_amount=to_amount))


async def test_small_amounts_take_the_pool_in_trading_hours_and_the_bank_after(engine: Engine,
                                                                               clock: FixedClock) -> None:
    fx_desk = await desk_at(engine, clock, MONDAY_10_HKT)
    pool_route = await _which(engine, fx_desk, "USD", "HKD", "1000", "7814.70")
    assert (pool_route.strategy.service_strategy, pool_route.strategy.change_type, pool_route.large) == (
        "BATCH", 2, False)
    assert (pool_route.standard_amount, pool_route.needs_review) == (Decimal("7817.30"), False)
    fx_desk = await later(engine, clock, MONDAY_1730_HKT)
    bank = await _which(engine, fx_desk, "USD", "HKD", "1000", "7814.70")
    assert (bank.strategy.service_strategy, bank.strategy.channel_name, bank.strategy.change_type) == (
        "SINGLE", "HSB", 3)


async def test_large_amounts_go_to_the_large_amount_strategy_and_are_reviewed(engine: Engine,
                                                                              clock: FixedClock) -> None:
    fx_desk = await desk_at(engine, clock, MONDAY_10_HKT)
    large = await _which(engine, fx_desk, "USD", "HKD", "100000", "781470")
    assert (large.strategy.channel_name, large.strategy.change_type, large.large) == ("ICBCASIA", 1, True)
    assert large.review_reasons[0] == "large amount (100,000 USD ≥ 100,000.00)"
    # A small amount worth more than the pool strategy's approval starting point (500,000 HKD).
    reviewed = await _which(engine, fx_desk, "USD", "HKD", "70000", "547029")
    assert reviewed.review_reasons == (
        "worth 547,211.00 in the standard currency, at or above strategy 1's approval starting point of 500,000.00",)
    fx_desk = await later(engine, clock, MONDAY_1730_HKT)
    with pytest.raises(ValidationFailed, match="none in service now takes large amounts"):
        await _which(engine, fx_desk, "USD", "HKD", "100000", "781470")


async def test_the_refusals_come_in_the_vendors_order(engine: Engine, clock: FixedClock) -> None:
    fx_desk = await desk_at(engine, clock, SATURDAY_10_HKT)
    with pytest.raises(ValidationFailed, match="JPY does not support exchange"):
        await _which(engine, fx_desk, "USD", "JPY", "10", "1500")
    with pytest.raises(ValidationFailed, match="EUR is not a target of CNH"):
        await _which(engine, fx_desk, "CNH", "EUR", "10", "1")
    with pytest.raises(ValidationFailed, match="USD/HKD is outside service hours; next window Monday 2026-11-30 "
                                               "09:00 HKT"):
        await _which(engine, fx_desk, "USD", "HKD", "10", "78")
    # The pool short of HKD, and the bank strategy off: the pool's shortfall is named.
    clock.set(datetime(2026, 11, 30, 2, 0, tzinfo=UTC))  # Monday 10:00 HKT; rates 2 days old by now
    fx_desk = await engine.login("fxroute", FRESH_PASSWORD)
    today = "HKEX,SPOT,HKD,USD,20261130,7.8147,7.8200,7.8173\n"
    await engine.setup_execute(tool="test-setup", command=ImportReferenceRates(csv_text=template_header() + today))
    await engine.execute(fx_desk, AdjustPoolQuota(currency="HKD", amount="-4990000", remark="drain",
                                                  expected_version=1))
    hsb = next(s for s in await engine.query(fx_desk, ListExchangeStrategies()) if s.channel_name == "HSB")
    routed = await _which(engine, fx_desk, "USD", "HKD", "2000", "15629.40")
    assert routed.strategy.id == hsb.id  # beyond the pool: the bank
    await engine.execute(fx_desk, SetStrategyEnabled(strategy_id=hsb.id, enable_flag=False,
                                                     expected_version=hsb.version))
    with pytest.raises(ValidationFailed, match="Exchange pool HKD quota is insufficient: 10000.00 remaining, "
                                               "15629.40 needed, and no bank strategy serves beyond the pool now"):
        await _which(engine, fx_desk, "USD", "HKD", "2000", "15629.40")

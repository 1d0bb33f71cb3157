"""A markup's calculation step by step (``markup_steps``): the figures the Markups tab shows
are the engine's own, and equal the rate a submitted exchange gets."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from engine_support import REPO, login, new_operator

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine.errors import ValidationFailed
from wbo_tui.engine.fx import (
    ListClients,
    ListCurrencySetup,
    ListExecutedMarkups,
    ListReferenceMarkups,
    ListReferenceRates,
    SubmitClientExchange,
)
from wbo_tui.engine.fx.currency_setup import CurrencySetupDTO
from wbo_tui.engine.fx.markup_steps import markup_quote, markup_steps, pair_quote, target_amount
from wbo_tui.engine.fx.markups import MarkupDTO
from wbo_tui.engine.fx.rates import ReferenceRateDTO
from wbo_tui.engine.fx.seed_data import seed_fx

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DESK = ("lb_hk_conversion.fee_query", "lb_hk_conversion.forex_ib_rates", "fx.reference_rate_inquiry",
        "fx.currency_setup_inquiry", "fx.customer_exchange_operation", "fx.client_inquiry")


def _rate(currency: str, bid: str, offer: str, *, channel: str = "HKEX", age: timedelta = timedelta(0),
          ) -> ReferenceRateDTO:
    return ReferenceRateDTO(id=1, channel_name=channel, rate_type="SPOT", base_currency="HKD", other_currency=currency,
                            record_date="20261123", bid_rate=Decimal(bid), offer_rate=Decimal(offer),
                            average_rate=Decimal(bid), source="IMPORT", version=1, updated_at=NOW - age)


def _setup(currency: str, *, standard: bool = False, mode: str = "round") -> CurrencySetupDTO:
    return CurrencySetupDTO(currency=currency, name=currency, kind="fiat", support_exchange=True, configured=True,
                            exchange_rate_precision=4, amount_precision=2, amount_round_mode=mode,
                            min_exchange_amount=Decimal(1), standard_money=standard, remarks="", version=1)


SETUPS = [_setup("HKD", standard=True), _setup("USD"), _setup("CNH"), _setup("EUR", mode="truncate")]
RATES = [_rate("USD", "7.8147", "7.8200"), _rate("CNH", "1.0890", "1.0950"), _rate("EUR", "8.4120", "8.4480"),
         _rate("USD", "7.8090", "7.8260", channel="HANG_SENG")]


def _markup(kind: str = "REFERENCE", **fields: object) -> MarkupDTO:
    values: dict[str, object] = {
        "id": 7, "kind": kind, "channel_name": "HKEX", "service_strategy": None, "from_currency": "USD",
        "to_currency": "CNH", "spread_mode": "RATE", "bp": Decimal("0.1"), "tiers": (), "default_effective": True,
        "start_time": None, "end_time": None, "version": 1} | fields
    return MarkupDTO(**values)


def test_the_manuals_example_step_by_step() -> None:
    markup = _markup()
    steps = markup_steps(markup, markup_quote(markup, RATES, SETUPS, now=NOW))
    assert steps.steps == (
        "1. Reference rate USD→CNH (Hong Kong Exchange Spot Rate): source bid 7.8147 ÷ target offer 1.0950 = "
        "7.13671232… → 7.1367 (rate precision 4, Rounding Off: half up)",
        "2. Applied when a request is submitted: markup ratio 0.1 % (10 bp): 7.1367 × (1 − 0.001) = 7.1295633 "
        "→ 7.1295 (cut to 4 places, toward the broker)")
    assert (steps.quote.rate, steps.results, steps.summary) == (Decimal("7.1367"), (Decimal("7.1295"),),
                                                                "7.1367 → 7.1295")
    assert steps.formula == "7.8147 ÷ 1.0950 = 7.1367, less the markup: 7.1295"


def test_a_value_markup_on_its_own_channel_and_the_standard_leg() -> None:
    markup = _markup(channel_name="HANG_SENG", to_currency="HKD", spread_mode="VALUE", bp=Decimal("0.0020"))
    steps = markup_steps(markup, markup_quote(markup, RATES, SETUPS, now=NOW))
    assert "Hang Seng Spot Rate" in steps.steps[0]
    assert "source bid 7.8090 ÷ target offer 1 (HKD, the standard currency) = 7.8090 → 7.8090" in steps.steps[0]
    assert steps.steps[1].endswith("markup value 0.0020: 7.8090 − 0.0020 = 7.8070 (cut to 4 places, toward the "
                                   "broker)")
    assert steps.results == (Decimal("7.8070"),)


def test_executed_markups_show_each_tier_on_the_quoting_rate() -> None:
    markup = _markup("EXECUTED", channel_name="HSB", service_strategy="SINGLE", to_currency="HKD", bp=None, tiers=(
        {"start_value": "0", "end_value": "10000", "markup": "0.1"},
        {"start_value": "10000", "end_value": None, "markup": "0.05"}))
    steps = markup_steps(markup, markup_quote(markup, RATES, SETUPS, now=NOW))
    assert steps.quote.channel_name == "HKEX"
    assert steps.results == (Decimal("7.8068"), Decimal("7.8107"))
    assert "0–10,000 USD: markup ratio 0.1 % (10 bp): 7.8147 × (1 − 0.001) = 7.8068853 → 7.8068" in steps.steps[2]
    assert steps.steps[3].startswith("   10,000 USD and above: markup ratio 0.05 % (5 bp)")
    assert steps.steps[-1] == "3. In force: Long-term effectiveness"
    assert steps.summary == "7.8147 → 7.8068 / 7.8107"
    assert steps.formula == "7.8147 ÷ 1 = 7.8147, less each tier's markup: 7.8068, 7.8107"


def test_a_markup_above_the_rate_is_shown_refused_and_stale_rates_are_named() -> None:
    old = [_rate("USD", "7.8147", "7.8200", age=timedelta(hours=30)), *RATES[1:]]
    markup = _markup(to_currency="HKD", spread_mode="VALUE", bp=Decimal("9"))
    steps = markup_steps(markup, markup_quote(markup, old, SETUPS, now=NOW))
    assert steps.results == (None,)
    assert "refused, would leave a rate of" in steps.steps[-1]
    assert steps.quote.stale == ("USD",)
    assert "USD rate older than 26 h" in steps.steps[1]


def test_missing_rates_and_setup_are_refused_naming_what() -> None:
    with pytest.raises(ValidationFailed, match="Hong Kong Exchange has no Spot Rate for JPY"):
        pair_quote(RATES, [*SETUPS, _setup("JPY")], "JPY", "HKD", now=NOW)
    with pytest.raises(ValidationFailed, match="Standard currency is not set"):
        pair_quote(RATES, SETUPS[1:], "USD", "CNH", now=NOW)
    quote = pair_quote(RATES, SETUPS, "EUR", "USD", now=NOW)
    assert (quote.rate, target_amount(quote, SETUPS, Decimal("1000"))) == (Decimal("1.0757"), Decimal("1075.70"))


async def test_the_steps_give_the_rate_a_submitted_exchange_gets(engine: Engine, clock: FixedClock) -> None:
    clock.set(NOW)
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup")
    admin = await login(engine, "admin")
    desk = await new_operator(engine, admin, "fxsteps", DESK)
    rates = await engine.query(desk, ListReferenceRates())
    setups = await engine.query(desk, ListCurrencySetup())
    usd_cnh = next(m for m in await engine.query(desk, ListReferenceMarkups()) if m.to_currency == "CNH")
    steps = markup_steps(usd_cnh, markup_quote(usd_cnh, rates, setups, now=clock.now()))
    client = (await engine.query(desk, ListClients(search="C-100001")))[0].id
    done = await engine.execute(desk, SubmitClientExchange(client_id=client, from_currency="USD", to_currency="CNH",
                                                           amount="1000"))
    assert (done.reference_rate, done.rate) == (steps.quote.rate, steps.results[0])
    (executed,) = await engine.query(desk, ListExecutedMarkups())
    assert markup_steps(executed, markup_quote(executed, rates, setups, now=clock.now())).results == (
        Decimal("7.8068"), Decimal("7.8107"))

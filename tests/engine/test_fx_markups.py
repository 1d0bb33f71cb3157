"""Markups: on the reference rate (applied at submission) and on the executed rate (by
amount tier), as a value or a ratio, always in the broker's favour, validated as the
vendor's API validates them, shown step by step."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from engine_support import REPO, audit_actions, login, new_operator

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine.errors import Conflict, ValidationFailed
from wbo_tui.engine.fx import (
    AddExecutedMarkup,
    AddReferenceMarkup,
    DeleteMarkup,
    ListClients,
    ListExecutedMarkups,
    ListReferenceMarkups,
    SubmitClientExchange,
    TierInput,
    UpdateExecutedMarkup,
    UpdateReferenceMarkup,
)
from wbo_tui.engine.fx.markups import apply, tier_markup
from wbo_tui.engine.fx.seed_data import seed_fx

MONDAY_10_HKT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
DESK = ("lb_hk_conversion.fee_query", "lb_hk_conversion.forex_ib_rates", "lb_hk_conversion.rate_reference_update",
        "lb_hk_conversion.fee_update", "fx.customer_exchange_operation", "fx.client_inquiry")


def test_a_markup_lowers_the_clients_rate_and_cuts_toward_zero() -> None:
    # The manual's USD → CNH reference rate 7.1367 with a 0.1 % ratio markup.
    ratio = apply(Decimal("7.1367"), "RATE", Decimal("0.1"), 4)
    assert (ratio.rate_after, ratio.steps) == (Decimal("7.1295"), "7.1367 × (1 − 0.1 %) = 7.1295 (cut to 4 places)")
    value = apply(Decimal("7.1367"), "VALUE", Decimal("0.0050"), 4)
    assert value.rate_after == Decimal("7.1317")
    with pytest.raises(ValidationFailed, match="the markup exceeds the rate"):
        apply(Decimal("0.0500"), "VALUE", Decimal("1"), 4)


async def _desk(engine: Engine, clock: FixedClock):  # noqa: ANN202
    clock.set(MONDAY_10_HKT)
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup")
    admin = await login(engine, "admin")
    return await new_operator(engine, admin, "fxmarkup", DESK)


async def test_reference_markups_are_validated_and_applied_at_submission(engine: Engine, clock: FixedClock) -> None:
    desk = await _desk(engine, clock)
    usd_cnh = next(m for m in await engine.query(desk, ListReferenceMarkups()) if m.to_currency == "CNH")
    assert (usd_cnh.spread_mode, usd_cnh.bp) == ("RATE", Decimal("0.1"))
    client = (await engine.query(desk, ListClients(search="C-100001")))[0].id
    done = await engine.execute(desk, SubmitClientExchange(client_id=client, from_currency="USD", to_currency="CNH",
                                                           amount="1000"))
    assert (done.reference_rate, done.rate, done.to_amount) == (Decimal("7.1367"), Decimal("7.1295"),
                                                               Decimal("7129.50"))
    assert done.rate_steps == ("Reference rate 7.8147 ÷ 1.0950 = 7.1367 (4 places, Rounding Off); "
                               "markup 7.1367 × (1 − 0.1 %) = 7.1295 (cut to 4 places)")
    for bp, message in (("100.5", "must be from 0 to 100"), ("0.12345", "at most 4 decimal places")):
        with pytest.raises(ValidationFailed, match=message):
            await engine.execute(desk, AddReferenceMarkup(channel_name="IB", from_currency="USD",
                                                          to_currency="HKD", spread_mode="RATE", bp=bp))
    with pytest.raises(ValidationFailed, match="USD/CNH already has a Hong Kong Exchange markup"):
        await engine.execute(desk, AddReferenceMarkup(channel_name="HKEX", from_currency="USD", to_currency="CNH",
                                                      spread_mode="VALUE", bp="0.001"))
    with pytest.raises(ValidationFailed, match="EUR is not a target of CNH"):
        await engine.execute(desk, AddReferenceMarkup(channel_name="HKEX", from_currency="CNH", to_currency="EUR",
                                                      spread_mode="VALUE", bp="0.001"))
    changed = await engine.execute(desk, UpdateReferenceMarkup(markup_id=usd_cnh.id, spread_mode="VALUE",
                                                               bp="0.0050", expected_version=1))
    assert (changed.spread_mode, changed.bp, changed.version) == ("VALUE", Decimal("0.0050"), 2)
    with pytest.raises(Conflict):
        await engine.execute(desk, DeleteMarkup(kind="REFERENCE", markup_id=usd_cnh.id, expected_version=1))
    await engine.execute(desk, DeleteMarkup(kind="REFERENCE", markup_id=usd_cnh.id, expected_version=2))
    plain = await engine.execute(desk, SubmitClientExchange(client_id=client, from_currency="USD", to_currency="CNH",
                                                            amount="100"))
    assert plain.rate == Decimal("7.1367") and plain.rate_steps.endswith("; no markup")
    assert {"fx.markup.add", "fx.markup.update", "fx.markup.delete"} <= set(await audit_actions(engine))


async def test_executed_markup_tiers_cover_every_amount_once(engine: Engine, clock: FixedClock) -> None:
    desk = await _desk(engine, clock)
    hsb = (await engine.query(desk, ListExecutedMarkups()))[0]
    assert [tier_markup(hsb, Decimal(a)) for a in ("0", "9999.99", "10000", "5000000")] == [
        Decimal("0.1"), Decimal("0.1"), Decimal("0.05"), Decimal("0.05")]
    bad = (
        ((TierInput(start_value="1", markup="0.1"),), "Tiers must start at 0"),
        ((TierInput(start_value="0", end_value="100", markup="0.1"),), "the last tier must have no upper limit"),
        ((TierInput(start_value="0", end_value="100", markup="0.1"), TierInput(start_value="90", markup="0.1")),
         "Tier 2 must start where tier 1 ends"),
        ((TierInput(start_value="0", markup="101"),), "Tier 1 markup must be from 0 to 100"),
    )
    for tiers, message in bad:
        with pytest.raises(ValidationFailed, match=message):
            await engine.execute(desk, UpdateExecutedMarkup(markup_id=hsb.id, spread_mode="RATE", tiers=tiers,
                                                            expected_version=hsb.version))
    with pytest.raises(ValidationFailed, match="Effective period needs both a start and an end"):
        await engine.execute(desk, AddExecutedMarkup(
            service_strategy="BATCH", from_currency="USD", to_currency="HKD", spread_mode="VALUE",
            tiers=(TierInput(start_value="0", markup="0.001"),), start_time=MONDAY_10_HKT))
    with pytest.raises(ValidationFailed, match="Channel is left out for Exchange Pool markups"):
        await engine.execute(desk, AddExecutedMarkup(
            service_strategy="BATCH", channel_name="HSB", from_currency="USD", to_currency="HKD",
            spread_mode="VALUE", tiers=(TierInput(start_value="0", markup="0.001"),)))
    pool = await engine.execute(desk, AddExecutedMarkup(
        service_strategy="BATCH", from_currency="USD", to_currency="HKD", spread_mode="VALUE",
        tiers=(TierInput(start_value="0", markup="0.001"),), start_time=MONDAY_10_HKT,
        end_time=datetime(2026, 12, 31, 16, 0, tzinfo=UTC)))
    assert (pool.default_effective, pool.channel_name, pool.tiers) == (
        False, None, ({"start_value": "0", "end_value": None, "markup": "0.001"},))

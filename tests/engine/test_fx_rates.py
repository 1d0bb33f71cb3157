"""Reference rates: the template import (all or nothing, each bad row named), edits with
their history, and the reference rate of a pair as the manual works it out."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_support import audit_actions, login, new_operator, scalar

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine.errors import Conflict, ValidationFailed
from wbo_tui.engine.fx import (
    EditReferenceRate,
    ImportReferenceRates,
    ListReferenceRates,
    ReferenceRateHistory,
    UpdateCurrencySetup,
    template_csv,
)
from wbo_tui.engine.fx.rates import pair_rate
from wbo_tui.engine.uow import Actor, read_unit

RATES = ("fx.reference_rate_inquiry", "fx.reference_rate_operation")
HEADER = "channel_name,rate_type,base_currency,other_currency,record_date,bid_rate,offer_rate,average_rate\n"
# The engine fixture's clock: 2026-11-20 09:30 UTC, 17:30 in Hong Kong.
GOOD = HEADER + ("HKEX,SPOT,HKD,USD,20261120,7.8147,7.8200,7.8173\n"
                 "HKEX,SPOT,HKD,CNH,20261120,1.0890,1.0950,1.0920\n"
                 "HKEX,SPOT,HKD,USD,20261119,7.8000,7.8100,7.8050\n")


async def _set_up_currencies(engine: Engine) -> None:
    for code, standard in (("HKD", True), ("USD", False), ("CNH", False)):
        await engine.setup_execute(tool="test-setup", command=UpdateCurrencySetup(
            currency=code, support_exchange=True, exchange_rate_precision=4, amount_precision=2,
            amount_round_mode="round", min_exchange_amount="1", standard_money=standard, expected_version=0))


async def test_the_template_imports_all_or_nothing_naming_row_and_field(engine: Engine) -> None:
    await _set_up_currencies(engine)
    admin = await login(engine, "admin")
    desk = await new_operator(engine, admin, "rates", RATES)
    assert template_csv().startswith(HEADER)
    bad_rows = (
        ("HKEX,SPOT,HKD,USD,20261120,7.8147,7.8200,\n", "Row 5, average_rate is required"),
        ("NYSE,SPOT,HKD,USD,20261120,1,1,1\n", "Row 5, channel_name must be one of HKEX, IB, HANG_SENG, ICBC"),
        ("HKEX,FWD,HKD,USD,20261120,1,1,1\n", "Row 5, rate_type must be one of BOOK, SPOT, HKEX"),
        ("HKEX,SPOT,USD,HKD,20261120,1,1,1\n", "Row 5, base_currency must be the standard currency HKD"),
        ("HKEX,SPOT,HKD,EUR,20261120,1,1,1\n", "Row 5, other_currency 'EUR' has no Currency Setup"),
        ("HKEX,SPOT,HKD,USD,20261121,1,1,1\n", "Row 5, record_date 20261121 is in the future"),
        ("HKEX,SPOT,HKD,USD,2026-11-20,1,1,1\n", "Row 5, record_date must be a date as YYYYMMDD"),
        ("HKEX,SPOT,HKD,USD,20261118,7.81471,7.82,7.815\n", "Row 5, bid_rate allows at most 4 decimal places"),
        ("HKEX,SPOT,HKD,USD,20261118,7.9,7.82,7.85\n", "Row 5, average_rate must lie between the bid"),
        ("HKEX,SPOT,HKD,USD,20261118,0,7.82,7.81\n", "Row 5, bid_rate must be greater than 0"),
        ("HKEX,SPOT,HKD,USD,20261120,7.81,7.82,7.815\n", "Row 5, record_date repeats row 2"),
        ("HKEX,SPOT,HKD,USD,20261118,7.81,7.82\n", "Row 5 has 7 fields, not 8"),
    )
    for row, message in bad_rows:
        with pytest.raises(ValidationFailed, match=message + ".*nothing was imported"):
            await engine.execute(desk, ImportReferenceRates(csv_text=GOOD + row))
        assert await scalar(engine, "SELECT count(*) FROM fx_reference_rates") == 0
    with pytest.raises(ValidationFailed, match="Header row must be the template's"):
        await engine.execute(desk, ImportReferenceRates(csv_text="a,b\n1,2\n"))
    result = await engine.execute(desk, ImportReferenceRates(csv_text=GOOD))
    assert (result.imported, result.replaced) == (3, 0)
    current = await engine.query(desk, ListReferenceRates())
    assert [(r.other_currency, r.record_date, r.bid_rate) for r in current] == [
        ("CNH", "20261120", Decimal("1.0890")), ("USD", "20261120", Decimal("7.8147"))]
    again = await engine.execute(desk, ImportReferenceRates(csv_text=GOOD))
    assert (again.imported, again.replaced) == (0, 3)
    assert await scalar(engine, "SELECT count(*) FROM fx_reference_rate_journal") == 6
    assert "fx.reference_rate.import" in await audit_actions(engine)


async def test_an_edit_is_versioned_audited_and_kept_in_the_history(engine: Engine) -> None:
    await _set_up_currencies(engine)
    admin = await login(engine, "admin")
    desk = await new_operator(engine, admin, "rates2", RATES)
    await engine.execute(desk, ImportReferenceRates(csv_text=GOOD))
    usd = next(r for r in await engine.query(desk, ListReferenceRates(currency="usd")))
    edited = await engine.execute(desk, EditReferenceRate(rate_id=usd.id, bid_rate="7.8150", offer_rate="7.8210",
                                                          average_rate="7.8180", expected_version=usd.version))
    assert (edited.bid_rate, edited.source, edited.version) == (Decimal("7.8150"), "MANUAL", 2)
    with pytest.raises(Conflict, match="changed by someone else"):
        await engine.execute(desk, EditReferenceRate(rate_id=usd.id, bid_rate="7.8", offer_rate="7.9",
                                                     average_rate="7.85", expected_version=usd.version))
    with pytest.raises(ValidationFailed, match="Offer rate allows at most 4 decimal places"):
        await engine.execute(desk, EditReferenceRate(rate_id=usd.id, bid_rate="7.8", offer_rate="7.90001",
                                                     average_rate="7.85", expected_version=2))
    history = await engine.query(desk, ReferenceRateHistory(other_currency="USD"))
    assert [(h.record_date, h.bid_rate, h.source) for h in history] == [
        ("20261120", Decimal("7.8150"), "MANUAL"), ("20261119", Decimal("7.8000"), "IMPORT"),
        ("20261120", Decimal("7.8147"), "IMPORT")]
    assert "fx.reference_rate.edit" in await audit_actions(engine)


async def test_the_pair_rate_is_the_manuals_and_a_stale_rate_is_not_used(engine: Engine, clock: FixedClock) -> None:
    await _set_up_currencies(engine)
    admin = await login(engine, "admin")
    desk = await new_operator(engine, admin, "rates3", RATES)
    await engine.execute(desk, ImportReferenceRates(csv_text=GOOD))
    async with read_unit(engine.db, Actor.system("test"), engine.services) as uow:
        quote = await pair_rate(uow, "USD", "CNH")
        assert (quote.source_buy, quote.target_sell, quote.rate) == (Decimal("7.8147"), Decimal("1.0950"),
                                                                     Decimal("7.1367"))
        assert quote.steps == "7.8147 ÷ 1.0950 = 7.1367 (4 places, Rounding Off)"
        # Into the standard currency the target side is 1.
        assert (await pair_rate(uow, "USD", "HKD")).rate == Decimal("7.8147")
        with pytest.raises(ValidationFailed, match="IB has no Spot Rate for USD"):
            await pair_rate(uow, "USD", "CNH", channel_name="IB")
    clock.advance(hours=27)
    async with read_unit(engine.db, Actor.system("test"), engine.services) as uow:
        with pytest.raises(ValidationFailed, match=r"USD \(Hong Kong Exchange, Spot Rate\) is 27.0 h old, older "
                                                   r"than the 26 h limit"):
            await pair_rate(uow, "USD", "CNH")

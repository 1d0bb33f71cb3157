"""Client exchanges on the demo's FX set-up: submitted with a hold, executed on the pool
at once (client cash and pool quotas in one transaction), reviewed by a checker when large
or above the approval starting point, rejected or cancelled releasing the hold exactly
once, refused in the vendor's words when a rule is broken."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from engine_support import REPO, audit_actions, login, new_operator, scalar

from wbo_tui.engine import Engine, FixedClock, MakerCheckerViolation
from wbo_tui.engine.errors import Conflict, ValidationFailed
from wbo_tui.engine.fx import (
    CancelClientExchange,
    ClientCash,
    DeleteCurrencyPair,
    ListClientExchanges,
    ListClients,
    ListCurrencyPairs,
    ListPoolQuotas,
    PoolLedger,
    ReviewClientExchange,
    SubmitClientExchange,
)
from wbo_tui.engine.fx.seed_data import seed_fx

MONDAY_10_HKT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
MONDAY_1730_HKT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
MAKER = ("fx.customer_exchange_operation", "fx.customer_exchange_inquiry", "fx.client_inquiry",
         "lb_hk_conversion.exchange_pool_query", "fx.currency_pair_inquiry",
         "lb_hk_conversion.support_currency_update")
CHECKER = ("fx.customer_exchange_approval", "fx.customer_exchange_inquiry")


async def open_desk(engine: Engine, clock: FixedClock, moment: datetime = MONDAY_10_HKT):  # noqa: ANN201
    clock.set(moment)
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup")
    admin = await login(engine, "admin")
    maker = await new_operator(engine, admin, "fxmaker", MAKER)
    checker = await new_operator(engine, admin, "fxchecker", CHECKER)
    other = await new_operator(engine, admin, "fxchecker2", CHECKER)
    return maker, checker, other


async def client_id(engine: Engine, who, account_no: str) -> int:  # noqa: ANN001
    return (await engine.query(who, ListClients(search=account_no)))[0].id


async def cash(engine: Engine, who, client: int) -> dict[str, tuple[Decimal, Decimal]]:  # noqa: ANN001
    detail = await engine.query(who, ClientCash(client_id=client))
    return {c.currency: (c.balance, c.withdrawable) for c in detail.cash}


async def quotas(engine: Engine, who) -> dict[str, Decimal]:  # noqa: ANN001
    return {q.currency: q.remaining_amount for q in await engine.query(who, ListPoolQuotas())}


async def test_a_pool_exchange_settles_at_once_in_client_cash_and_pool(engine: Engine, clock: FixedClock) -> None:
    maker, _, _ = await open_desk(engine, clock)
    client = await client_id(engine, maker, "C-100001")
    done = await engine.execute(maker, SubmitClientExchange(client_id=client, from_currency="USD",
                                                            to_currency="HKD", amount="1000"))
    assert (done.forex_status, done.audit_status, done.service_strategy) == ("SUCCEEDED", "NONE", "BATCH")
    assert (done.rate, done.rate_source, done.to_amount) == (Decimal("7.8147"), "HKEX/SPOT", Decimal("7814.70"))
    assert await cash(engine, maker, client) == {
        "HKD": (Decimal("257814.70"), Decimal("257814.70")), "USD": (Decimal("11000.00"), Decimal("11000.00"))}
    assert await quotas(engine, maker) == {"CNH": Decimal("3000000.00"), "HKD": Decimal("4992185.30"),
                                           "USD": Decimal("601000.00")}
    moves = [(m.currency, m.change_type, m.occurred_amount, m.occurred_from, m.order_no)
             for m in await engine.query(maker, PoolLedger()) if m.order_no == done.forex_id]
    assert sorted(moves) == [("HKD", "EXCHANGE_OUT", Decimal("-7814.70"), "AUTO", done.forex_id),
                             ("USD", "EXCHANGE_IN", Decimal("1000.00"), "AUTO", done.forex_id)]
    # The amount the client receives, typed: what it costs is worked out.
    received = await engine.execute(maker, SubmitClientExchange(client_id=client, from_currency="USD",
                                                                to_currency="HKD", amount="7814.70", fixed_side="TO"))
    assert (received.from_amount, received.to_amount) == (Decimal("1000.00"), Decimal("7814.70"))
    assert {"fx.exchange.submit", "fx.exchange.settle"} <= set(await audit_actions(engine))


async def test_refusals_name_the_rule(engine: Engine, clock: FixedClock) -> None:
    maker, _, _ = await open_desk(engine, clock)
    client = await client_id(engine, maker, "C-100001")
    cases = (
        (dict(amount="20000"), "Amount exceeds the client's withdrawable USD balance of 12000.00"),
        (dict(amount="2"), "Amount is below USD's minimum exchange amount of 3.00"),
        (dict(amount="10.001"), "Amount allows at most 2 decimal places for USD"),
        (dict(amount="0"), "Amount must be greater than 0"),
        (dict(amount="100", custom_rate="7.812345678"), "Custom rate allows at most 8 decimal places; for more, "
                                                         "reject the request and use the adjustment function"),
        (dict(amount="100", to_currency="JPY"), "JPY does not support exchange"),
        (dict(amount="100", to_currency="USD"), "Target currency must differ from the source currency"),
    )
    for fields, message in cases:
        with pytest.raises(ValidationFailed, match=message):
            await engine.execute(maker, SubmitClientExchange(**{
                "client_id": client, "from_currency": "USD", "to_currency": "HKD"} | fields))
    assert await scalar(engine, "SELECT count(*) FROM fx_exchanges") == 0
    assert await scalar(engine, "SELECT count(*) FROM client_cash_holds") == 0
    # A custom rate of 8 places is taken as typed.
    custom = await engine.execute(maker, SubmitClientExchange(client_id=client, from_currency="USD",
                                                              to_currency="HKD", amount="100",
                                                              custom_rate="7.80000001"))
    assert (custom.rate, custom.rate_source, custom.reference_rate, custom.to_amount) == (
        Decimal("7.80000001"), "CUSTOM", None, Decimal("780.00"))


async def test_review_by_another_checker_once_and_never_by_the_maker(engine: Engine, clock: FixedClock) -> None:
    maker, checker, other = await open_desk(engine, clock)
    client = await client_id(engine, maker, "M-200001")
    pending = await engine.execute(maker, SubmitClientExchange(client_id=client, from_currency="USD",
                                                               to_currency="HKD", amount="70000"))
    assert (pending.forex_status, pending.audit_status) == ("SUBMITTED", "PENDING")
    assert pending.review_reasons[0].startswith("worth 547,211.00 in the standard currency")
    assert await cash(engine, maker, client) == {
        "EUR": (Decimal("20000.00"), Decimal("20000.00")), "HKD": (Decimal("1200000.00"), Decimal("1200000.00")),
        "USD": (Decimal("150000.00"), Decimal("80000.00"))}
    assert await scalar(engine, "SELECT count(*) FROM notifications WHERE topic = 'fx.exchange_review'") == 1
    waiting = await engine.query(checker, ListClientExchanges(awaiting_review=True))
    assert [w.forex_id for w in waiting] == [pending.forex_id]
    # The maker, given the approval permission, still may not review their own.
    admin = await login(engine, "admin")
    both = await new_operator(engine, admin, "fxboth", (*MAKER, *CHECKER))
    own = await engine.execute(both, SubmitClientExchange(client_id=client, from_currency="USD", to_currency="HKD",
                                                          amount="70000"))
    with pytest.raises(MakerCheckerViolation):
        await engine.execute(both, ReviewClientExchange(exchange_id=own.id, approve=True))
    approved = await engine.execute(checker, ReviewClientExchange(exchange_id=pending.id, approve=True))
    assert (approved.forex_status, approved.audit_status, approved.checker_id) == ("SUCCEEDED", "APPROVED",
                                                                                  checker.operator_id)
    with pytest.raises(Conflict, match="no longer awaits review"):
        await engine.execute(other, ReviewClientExchange(exchange_id=pending.id, approve=False, audit_remark="late"))
    with pytest.raises(ValidationFailed, match="Audit remark is required when rejecting"):
        await engine.execute(other, ReviewClientExchange(exchange_id=own.id, approve=False))
    rejected = await engine.execute(other, ReviewClientExchange(exchange_id=own.id, approve=False,
                                                                audit_remark="client called: wrong pair"))
    assert (rejected.forex_status, rejected.audit_status) == ("REJECTED", "REJECTED")
    # The rejected one's hold is released, the approved one's posted: 150,000 - 70,000.
    assert (await cash(engine, maker, client))["USD"] == (Decimal("80000.00"), Decimal("80000.00"))


async def test_cancel_releases_the_hold_once_and_only_before_execution(engine: Engine, clock: FixedClock) -> None:
    maker, _, _ = await open_desk(engine, clock)
    client = await client_id(engine, maker, "M-200001")
    pending = await engine.execute(maker, SubmitClientExchange(client_id=client, from_currency="USD",
                                                               to_currency="HKD", amount="70000"))
    # The pair is in use while the request is pending.
    usd = next(c for c in await engine.query(maker, ListCurrencyPairs()) if c.from_currency == "USD")
    usd_hkd = next(t for t in usd.targets if t.to_currency == "HKD")
    with pytest.raises(Conflict, match=f"pending client exchange {pending.forex_id}"):
        await engine.execute(maker, DeleteCurrencyPair(pair_id=usd_hkd.id))
    with pytest.raises(ValidationFailed, match="Reason is required when cancelling"):
        await engine.execute(maker, CancelClientExchange(exchange_id=pending.id, reason=" "))
    cancelled = await engine.execute(maker, CancelClientExchange(exchange_id=pending.id, reason="client withdrew"))
    assert cancelled.forex_status == "CANCELLED"
    assert (await cash(engine, maker, client))["USD"] == (Decimal("150000.00"), Decimal("150000.00"))
    with pytest.raises(Conflict, match="can't be cancelled: it is cancelled"):
        await engine.execute(maker, CancelClientExchange(exchange_id=pending.id, reason="again"))
    done = await engine.execute(maker, SubmitClientExchange(client_id=client, from_currency="USD",
                                                            to_currency="HKD", amount="100"))
    with pytest.raises(Conflict, match="can't be cancelled: it is succeeded"):
        await engine.execute(maker, CancelClientExchange(exchange_id=done.id, reason="too late"))


async def test_after_pool_hours_a_bank_exchange_waits_for_its_channel(engine: Engine, clock: FixedClock) -> None:
    maker, _, _ = await open_desk(engine, clock, MONDAY_1730_HKT)
    client = await client_id(engine, maker, "C-100001")
    bank = await engine.execute(maker, SubmitClientExchange(client_id=client, from_currency="USD",
                                                            to_currency="HKD", amount="1000"))
    assert (bank.forex_status, bank.service_strategy, bank.channel_name) == ("PROCESSING", "SINGLE", "HSB")
    # Held, not yet paid: the channel's answer settles it.
    assert (await cash(engine, maker, client))["USD"] == (Decimal("12000.00"), Decimal("11000.00"))

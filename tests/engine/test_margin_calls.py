"""Margin calls on the demo's book (data/demo_margin.json) at the engine tests' clock
(Friday 20 November 2026, 17:30 in Hong Kong): when calls open, their deadline, live and
incremental re-valuation, force calls, the end of a call, Exception and messages, and
liquidation from plan to fills, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from engine_support import REPO, audit_actions, login, scalar

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine.errors import Conflict, ValidationFailed
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.hk_calendar import HONG_KONG
from wbo_tui.engine import margin
from wbo_tui.engine.margin.orders import drive_due
from wbo_tui.engine.margin.revaluation import price_pass, revalue_clients
from wbo_tui.engine.margin.seed_data import seed_margin


@pytest.fixture
async def desk(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.chdir(tmp_path)
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup")
    await seed_margin(engine, json.loads((REPO / "data" / "demo_margin.json").read_text()), "test-setup", tmp_path)
    await price_pass(engine, "test")
    return engine


async def calls(engine: Engine, **filters: object) -> dict[str, margin.MarginCallDTO]:
    page = await engine.setup_query(margin.ListMarginCalls(**filters))
    return {c.account_no: c for c in page.rows}


async def test_calls_open_where_net_assets_fall_below_the_requirement(desk: Engine) -> None:
    opened = await calls(desk)
    assert set(opened) == {"M-300101", "M-300102", "M-300103", "M-300107"}
    lau = opened["M-300101"]
    assert lau.alert_type == "MARGIN_CALL" and lau.status == "OPEN"
    assert lau.lna < lau.requirement and lau.margin_to_collect > 0
    # Three HKEX trading days after Friday 20 November: Wednesday 25 November, at the close.
    assert lau.deadline.astimezone(HONG_KONG) == datetime(2026, 11, 25, 16, 0, tzinfo=HONG_KONG)
    # A loan and no positions: a force call nobody can liquidate (the Exception case).
    assert opened["M-300107"].alert_type == "FORCE_CALL" and opened["M-300107"].lna == Decimal("-35000.00")
    # Long-term: triggered 120 days back.
    page = await desk.setup_query(margin.ListMarginCalls())
    assert page.long_term_margin_to_collect == opened["M-300102"].margin_to_collect
    assert page.total_margin_to_collect == sum((c.margin_to_collect for c in opened.values()), Decimal(0))
    # The trading limit expired as the call opened, audited; the call's snapshot written.
    terms = await desk.setup_query(margin.GetClientTerms(client_id=lau.client_id))
    assert terms.trading_limit_expired
    assert "margin.trading_limit.expired" in await audit_actions(desk)
    details = await desk.setup_query(margin.GetCallDetails(call_id=lau.id))
    assert [s.reason for s in details.snapshots] == ["TRIGGERED"]


async def test_a_price_change_revalues_only_the_holders_of_that_security(desk: Engine, clock: FixedClock) -> None:
    # 1299.HK is held by M-300102 alone.
    report = await revalue_clients(desk, [])
    assert report.valued == 0
    from wbo_tui.engine.margin.books import holders_of
    from wbo_tui.engine.uow import Actor, read_unit

    async with read_unit(desk.db, Actor.system("t"), desk.services) as uow:
        assert len(await holders_of(uow, ["1299.HK"])) == 1
        assert len(await holders_of(uow, ["700.HK"])) == 3
    clock.advance(seconds=5)
    passed = await price_pass(desk, "test")
    assert passed.revaluation is not None
    holders: set[int] = set()
    async with read_unit(desk.db, Actor.system("t"), desk.services) as uow:
        holders = set(await holders_of(uow, passed.moved))
    assert passed.revaluation.valued == len(holders)
    # The same interval again: another console finds it taken, fetches nothing.
    assert (await price_pass(desk, "other")).outcome == "taken"


async def test_a_call_turns_into_a_force_call_at_its_deadline_and_ends_when_cured(desk: Engine,
                                                                                 clock: FixedClock) -> None:
    lau = (await calls(desk))["M-300101"]
    clock.set(lau.deadline + timedelta(minutes=1))
    await price_pass(desk, "test")
    after = await desk.setup_query(margin.GetMarginCall(call_id=lau.id))
    if after.status == "OPEN":  # the market may have moved it; past its deadline it is a force call
        assert after.alert_type == "FORCE_CALL" and after.force_at is not None
        reasons = [s.reason for s in (await desk.setup_query(margin.GetCallDetails(call_id=lau.id))).snapshots]
        assert "FORCE_CALL" in reasons and "DAILY" in reasons
    # A deposit cures it: the call ends, with its figures before and after.
    from wbo_tui.engine.fx import ledger
    from wbo_tui.engine.uow import Actor, write_unit

    async with write_unit(desk.db, Actor.system("deposit"), desk.services) as uow:
        await ledger.post(uow, lau.client_id, "HKD", Decimal("500000.00"), kind="DEPOSIT", ref="DEP-1")
    await revalue_clients(desk, [lau.client_id])
    ended = await desk.setup_query(margin.GetMarginCall(call_id=lau.id))
    assert ended.status == "ENDED" and ended.end_reason == "CURED" and ended.margin_to_collect == 0
    assert "M-300101" in await calls(desk, history=True)
    assert "M-300101" not in await calls(desk)
    snapshots = (await desk.setup_query(margin.GetCallDetails(call_id=lau.id))).snapshots
    assert snapshots[0].reason == "TRIGGERED" and snapshots[-1].reason == "ENDED"
    assert Decimal(snapshots[0].figures["lna"]) < Decimal(snapshots[-1].figures["lna"])


async def test_exception_stops_messages_and_a_message_past_the_deadline_is_refused(desk: Engine) -> None:
    trader = await login(desk, "trader")
    opened = await calls(desk)
    kwok, ho, lau = opened["M-300107"], opened["M-300102"], opened["M-300101"]
    await desk.execute(trader, margin.EditMarginCall(call_id=kwok.id, status="EXCEPTION", remarks="debt only",
                                                     expected_version=kwok.version))
    with pytest.raises(ValidationFailed, match="M-300107's call is an Exception"):
        await desk.execute(trader, margin.SendMarginMessage(call_ids=(lau.id, kwok.id)))
    with pytest.raises(ValidationFailed, match="M-300102's call is past its deadline"):
        await desk.execute(trader, margin.SendMarginMessage(call_ids=(ho.id,)))
    sent = await desk.execute(trader, margin.SendMarginMessage(call_ids=(lau.id,)))
    assert sent.sent == ("M-300101",)
    reasons = [s.reason for s in (await desk.setup_query(margin.GetCallDetails(call_id=lau.id))).snapshots]
    assert reasons == ["TRIGGERED", "MESSAGE"]
    assert await scalar(desk, "SELECT count(*) FROM notifications WHERE topic = 'margin.client_message'") == 1
    # An edit from a stale screen is refused.
    with pytest.raises(Conflict, match="changed since you opened it"):
        await desk.execute(trader, margin.EditMarginCall(call_id=kwok.id, status="OPEN",
                                                         expected_version=kwok.version))


async def test_follow_up_records_keep_their_author_and_order(desk: Engine) -> None:
    trader, viewer = await login(desk, "trader"), await login(desk, "viewer")
    lau = (await calls(desk))["M-300101"]
    await desk.execute(trader, margin.AddFollowUp(call_id=lau.id, content="Client promises a deposit Monday"))
    await desk.execute(trader, margin.AddFollowUp(call_id=lau.id, content="Deposit not seen; liquidating"))
    records = await desk.query(viewer, margin.ListFollowUps(call_id=lau.id))
    assert [(r.author, r.content) for r in records] == [("trader", "Client promises a deposit Monday"),
                                                        ("trader", "Deposit not seen; liquidating")]
    with pytest.raises(ValidationFailed, match="Content is required"):
        await desk.execute(trader, margin.AddFollowUp(call_id=lau.id, content="   "))


async def test_an_exempt_client_gets_no_call(desk: Engine) -> None:
    # M-300105 is just clear at the demo's prices: an additional margin puts it in call, unless exempt.
    client_id = await scalar(desk, "SELECT id FROM clients WHERE account_no = 'M-300105'")
    terms = await desk.setup_query(margin.GetClientTerms(client_id=client_id))
    await desk.setup_execute(margin.SetClientTerms(client_id=client_id, exempt=True, exempt_reason="staff account",
                                                   additional_margin="100000.00", expected_version=terms.version))
    await revalue_clients(desk, [client_id])
    assert "M-300105" not in await calls(desk)
    await desk.setup_execute(margin.SetClientTerms(client_id=client_id, exempt=False, additional_margin="100000.00",
                                                   expected_version=terms.version + 1))
    await revalue_clients(desk, [client_id])
    assert "M-300105" in await calls(desk)


async def test_liquidation_sends_the_plan_once_and_its_fills_move_positions_and_cash(desk: Engine,
                                                                                   clock: FixedClock) -> None:
    trader = await login(desk, "trader")
    lau = (await calls(desk))["M-300101"]
    plan = await desk.query(trader, margin.PlanLiquidation(call_id=lau.id))
    before = await desk.setup_query(margin.GetCallDetails(call_id=lau.id))
    # The desk's rule: the largest unrealised loss first (at the simulated market's prices now).
    worst = min(before.positions, key=lambda p: p.unrealised_hkd)
    assert plan.lines and plan.lines[0].code == worst.code and plan.lines[0].quantity % worst.lot_size == 0
    assert plan.cures and plan.after.margin_to_collect == 0 < plan.before.margin_to_collect
    lines = tuple(margin.LineInput(code=line.code, quantity=line.quantity) for line in plan.lines)
    await desk.execute(trader, margin.Liquidate(call_id=lau.id, lines=lines))
    # Again: refused (orders in progress, or, once they filled at once, the call cured and ended).
    with pytest.raises(Conflict):
        await desk.execute(trader, margin.Liquidate(call_id=lau.id, lines=lines))
    await desk.after_commit_idle()
    for _ in range(20):
        clock.advance(seconds=3)
        await drive_due(desk, "test")
        orders = await desk.setup_query(margin.ListLiquidationOrders(call_id=lau.id))
        if all(o.state in ("FILLED", "CANCELLED", "REJECTED") for o in orders):
            break
    orders = await desk.setup_query(margin.ListLiquidationOrders(call_id=lau.id))
    assert len(orders) == len(plan.lines) and all(o.state == "FILLED" for o in orders), orders
    sold = {o.code: o.filled_quantity for o in orders}
    proceeds = sum((o.avg_fill_price * o.filled_quantity for o in orders), Decimal(0))
    after = await desk.setup_query(margin.GetCallDetails(call_id=lau.id))
    held_before = {p.code: p.quantity for p in before.positions}
    held_after = {p.code: p.quantity for p in after.positions}
    for code, quantity in held_before.items():
        assert held_after.get(code, 0) == quantity - sold.get(code, 0)
    hkd = {c.currency: c.amount for c in before.cash}["HKD"]
    assert {c.currency: c.amount for c in after.cash}["HKD"] == hkd + proceeds.quantize(Decimal("0.01"))
    # Each fill once, however often the venue is asked again.
    fills = await scalar(desk, "SELECT count(*) FROM liquidation_fills")
    await drive_due(desk, "test")
    assert await scalar(desk, "SELECT count(*) FROM liquidation_fills") == fills


async def test_batch_liquidation_needs_the_toggle_and_skips_what_it_cannot_do(desk: Engine) -> None:
    trader = await login(desk, "trader")
    opened = await calls(desk)
    settings = await desk.setup_query(margin.GetMarginSettings())
    await desk.setup_execute(margin.UpdateMarginSettings(**{**settings.model_dump(
        include={"order_rule", "offset_steps", "buffer_pct"}), "liquidation_enabled": False},
        expected_version=settings.version))
    ids = tuple(c.id for c in opened.values())
    with pytest.raises(ValidationFailed, match="switched off"):
        await desk.execute(trader, margin.BatchLiquidate(call_ids=ids))
    assert await scalar(desk, "SELECT count(*) FROM liquidation_orders") == 0
    settings = await desk.setup_query(margin.GetMarginSettings())
    await desk.setup_execute(margin.UpdateMarginSettings(**{**settings.model_dump(
        include={"order_rule", "offset_steps", "buffer_pct"}), "liquidation_enabled": True},
        expected_version=settings.version))
    result = await desk.execute(trader, margin.BatchLiquidate(call_ids=ids))
    by_client = {o.account_no: o for o in result.outcomes}
    assert by_client["M-300101"].orders >= 1
    assert by_client["M-300107"].orders == 0 and "no plan" in by_client["M-300107"].skipped
    # Suspended Country Garden is never in an order.
    codes = {o.code for o in await desk.setup_query(margin.ListLiquidationOrders())}
    assert "2007.HK" not in codes


async def test_a_cancel_before_sending_cancels_at_once(desk: Engine) -> None:
    trader = await login(desk, "trader")
    lau = (await calls(desk))["M-300101"]
    plan = await desk.query(trader, margin.PlanLiquidation(call_id=lau.id))
    line = plan.lines[0]
    # The venue is down for this test: the order stays PENDING.
    await desk.setup_execute(margin.ConfigureMarginFeeds(
        price_source={"kind": "simulator", "seed": 2026, "step_s": 5},
        venue={"kind": "fix", "host": "127.0.0.1", "port": 9, "sender_comp_id": "WBO", "target_comp_id": "X",
               "timeout_s": 1}))
    await desk.execute(trader, margin.Liquidate(call_id=lau.id, lines=(margin.LineInput(
        code=line.code, quantity=line.quantity),)))
    await desk.after_commit_idle()
    order = (await desk.setup_query(margin.ListLiquidationOrders()))[0]
    assert order.state == "PENDING", order
    # A second trader liquidating the same client meanwhile: one plan is sent.
    with pytest.raises(Conflict, match="already has 1 liquidation order.* sent by trader"):
        await desk.execute(await login(desk, "trader"), margin.Liquidate(call_id=lau.id, lines=(margin.LineInput(
            code=line.code, quantity=line.quantity),)))
    cancelled = await desk.execute(trader, margin.CancelLiquidationOrder(order_id=order.id))
    assert cancelled.state == "CANCELLED"
    with pytest.raises(Conflict, match="nothing left to cancel"):
        await desk.execute(trader, margin.CancelLiquidationOrder(order_id=order.id))


async def test_auto_liquidation_acts_once_at_the_time_set(desk: Engine, clock: FixedClock) -> None:
    from wbo_tui.engine.margin.auto_liquidation import auto_liquidate_due

    trader = await login(desk, "trader")
    opened = await calls(desk)
    lau, tse = opened["M-300101"], opened["M-300103"]
    at = clock.now() + timedelta(hours=1)
    await desk.execute(trader, margin.SetAutoLiquidation(call_ids=(lau.id, tse.id), at=at))
    set_ = await desk.setup_query(margin.GetMarginCall(call_id=lau.id))
    assert set_.auto_liquidate_at == at and set_.deadline == at  # the deadline moves with it
    with pytest.raises(ValidationFailed, match="must be in the future"):
        await desk.execute(trader, margin.SetAutoLiquidation(call_ids=(lau.id,), at=clock.now()))
    await auto_liquidate_due(desk, "test")
    assert await scalar(desk, "SELECT count(*) FROM liquidation_orders") == 0  # not yet
    clock.advance(hours=1, seconds=1)
    await auto_liquidate_due(desk, "test")
    orders = await desk.setup_query(margin.ListLiquidationOrders())
    assert orders and {o.force_type for o in orders} == {"AUTO"} and {o.operator for o in orders} == {
        "auto-liquidation"}
    assert {o.account_no for o in orders} <= {"M-300101", "M-300103"}
    assert "2007.HK" not in {o.code for o in orders}
    assert (await desk.setup_query(margin.GetMarginCall(call_id=lau.id))).auto_liquidate_at is None
    count = len(orders)
    await auto_liquidate_due(desk, "other console")
    assert len(await desk.setup_query(margin.ListLiquidationOrders())) == count  # once
    assert "margin.auto_liquidation" in await audit_actions(desk)


async def test_auto_liquidation_with_the_toggle_off_is_cleared_and_said(desk: Engine, clock: FixedClock) -> None:
    from wbo_tui.engine.margin.auto_liquidation import auto_liquidate_due

    trader = await login(desk, "trader")
    lau = (await calls(desk))["M-300101"]
    settings = await desk.setup_query(margin.GetMarginSettings())
    await desk.setup_execute(margin.UpdateMarginSettings(**{**settings.model_dump(
        include={"order_rule", "offset_steps", "buffer_pct"}), "liquidation_enabled": False},
        expected_version=settings.version))
    await desk.execute(trader, margin.SetAutoLiquidation(call_ids=(lau.id,), at=clock.now() + timedelta(minutes=5)))
    clock.advance(minutes=6)
    await auto_liquidate_due(desk, "test")
    assert await scalar(desk, "SELECT count(*) FROM liquidation_orders") == 0
    assert (await desk.setup_query(margin.GetMarginCall(call_id=lau.id))).auto_liquidate_at is None
    assert await scalar(desk, "SELECT count(*) FROM notifications WHERE topic = 'margin.order_problem' "
                              "AND body LIKE '%switched off%'") == 1


@pytest.mark.parametrize("key", ["margin_to_collect", "net_asset_ratio", "lna", "equity"])
async def test_the_risk_list_sorts_amounts_by_value(desk: Engine, key: str) -> None:
    # Amounts are decimal text on SQLite: sorted as text, 6,905.40 would come after 428,400.00.
    for descending in (True, False):
        page = await desk.setup_query(margin.ListMarginCalls(sort=key, descending=descending))
        figures = [getattr(c, key) for c in page.rows]
        assert figures == sorted(figures, reverse=descending), figures
    assert page.open_total == 4 and page.rows[0].trigger_lna is not None


async def test_figures_moving_with_the_market_leave_an_open_edit_form_valid(desk: Engine, clock: FixedClock) -> None:
    trader = await login(desk, "trader")
    lau = (await calls(desk))["M-300101"]
    clock.advance(minutes=1)
    await price_pass(desk, "test")
    moved = await desk.setup_query(margin.GetMarginCall(call_id=lau.id))
    assert moved.version == lau.version or moved.alert_type != lau.alert_type
    if moved.version == lau.version:
        await desk.execute(trader, margin.EditMarginCall(call_id=lau.id, status="OPEN", remarks="chasing",
                                                         expected_version=lau.version))

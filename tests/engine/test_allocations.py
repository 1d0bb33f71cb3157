"""Fund allocation: rules, the choice of a rule, automatic and manual allocations,
approval, retry, records and explain."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from allocations_support import POOL_NO, allocation_rows, create_rule, open_allocation_desk, rule_fields
from engine_support import login

from wbo_tui.engine import ApproveItem, RejectItem, ValidationFailed, build
from wbo_tui.engine.allocations import (
    CreateAllocationRule,
    CreateManualAllocation,
    EditAllocationRule,
    ExplainTriggers,
    ExportAllocations,
    ListAllocations,
    PreviewRuleEdit,
    PreviewSchedule,
    RetryAllocation,
)
from wbo_tui.engine.allocations.tables import allocation_rules
from wbo_tui.engine.errors import Conflict, PermissionDenied
from wbo_tui.engine.positions import SubmitWithdrawal


@pytest.fixture
async def desk(engine, tmp_path: Path):  # noqa: ANN001, ANN201
    d = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    yield d
    await d.bank.aclose()


@pytest.mark.parametrize(("overrides", "field", "rule"), [
    ({"to_account_id": "pool"}, "Incoming account", "different account"),
    ({"currency": "USDT"}, "Outgoing account", "holds HKD, not USDT"),
    ({"amount_rule": "fixed", "amount": Decimal("-5")}, "Amount", "greater than zero"),
    ({"amount_rule": "fixed", "amount": Decimal("0")}, "Amount", "greater than zero"),
    ({"amount_rule": "fixed", "amount": Decimal("1.001")}, "Amount", "at most 2 decimal places"),
    ({"amount_rule": "fixed"}, "Amount", "is required"),
    ({"trigger_kind": "schedule", "event_kind": None, "schedule_kind": "weekly", "schedule_time": "09:00",
      "amount_rule": "fixed", "amount": Decimal(5)}, "Weekdays", "at least one weekday"),
    ({"trigger_kind": "schedule", "schedule_kind": "daily", "schedule_time": "09:00"}, "Amount rule",
     "no triggering event"),
    ({"currency": "XYZ"}, "Currency", "not a configured currency"),
])
async def test_rule_refusals_name_the_field(desk, overrides: dict, field: str, rule: str) -> None:  # noqa: ANN001
    if overrides.get("to_account_id") == "pool":
        overrides = {**overrides, "to_account_id": desk.accounts["hkd_pool"]}
    with pytest.raises(ValidationFailed) as caught:
        await create_rule(desk, **overrides)
    assert caught.value.field == field
    assert rule in str(caught.value)
    assert await allocation_rows(desk.engine) == []


async def test_edit_shows_a_diff_and_refuses_a_stale_version(desk) -> None:  # noqa: ANN001
    rule = await create_rule(desk)
    edit = EditAllocationRule(**rule_fields(desk, priority=5, name="Top up principal (urgent)"),
                              rule_id=rule.id, expected_version=rule.version)
    preview = await desk.engine.query(desk.maker, PreviewRuleEdit(edit=edit))
    assert [(c.field, c.before, c.after) for c in preview.changes] == [
        ("Name", "Top up principal", "Top up principal (urgent)"), ("Priority", "10", "5"),
    ]
    saved = await desk.engine.execute(desk.maker, edit)
    assert (saved.priority, saved.version) == (5, 2)
    with pytest.raises(Conflict, match="reload it"):
        await desk.engine.execute(desk.maker, edit)


async def test_event_chooses_the_highest_priority_rule_and_explains_the_others(desk) -> None:  # noqa: ANN001
    low = await create_rule(desk, name="Low", priority=20)
    high = await create_rule(desk, name="High", priority=10)
    tie = await create_rule(desk, name="Tie", priority=10)
    manual = await create_rule(desk, name="By hand", priority=1, strategy="manual")
    fee = await create_rule(desk, name="Fee", to_account_id=desk.accounts["hkd_fee"], scenario="withdrawal_fee",
                            event_kind="withdrawal.submitted.fee")
    await desk.engine.execute(desk.maker, SubmitWithdrawal(
        client_id="C-1", channel="settlement_hashkey_hk", currency="HKD", principal=Decimal("250.50"), fee=Decimal(0)))
    report = await desk.engine.run_allocations()
    assert report.allocations == 1
    rows = await allocation_rows(desk.engine)
    assert [(r.rule_id, r.amount, r.status) for r in rows] == [(high.id, Decimal("250.50"), "succeeded")]
    balances = {b.account_no: b.available for b in await desk.bank.fetch_balances([POOL_NO, "HK-PRIN-001"])
                if b.currency == "HKD"}
    assert balances == {POOL_NO: Decimal("999749.50"), "HK-PRIN-001": Decimal("100250.50")}
    [explained] = await desk.engine.query(desk.checker, ExplainTriggers(order_no=rows[0].order_no))
    verdicts = {c["rule"]: (c["verdict"], c["reason"]) for c in explained.explanation["considered"]}
    assert verdicts[high.id][0] == "chosen"
    assert verdicts[low.id] == ("outranked", f"priority 20 is lower than rule {high.id}'s 10")
    assert verdicts[tie.id][1] == f"same priority as rule {high.id}; ties go to the lowest rule id"
    assert verdicts[manual.id][1] == "allocation strategy is manual (used only by hand)"
    assert fee.id not in verdicts  # a rule of another event and account is not part of this decision
    # A second pass decides nothing new: each event once.
    again = await desk.engine.run_allocations()
    assert again.allocations == 0 and len(await allocation_rows(desk.engine)) == 1


async def test_insufficient_outgoing_balance_fails_and_a_retry_pays_once(desk) -> None:  # noqa: ANN001
    await desk.bank.set_balance(POOL_NO, "HKD", Decimal("100"))
    await create_rule(desk)
    await desk.engine.execute(desk.maker, SubmitWithdrawal(
        client_id="C-1", channel="settlement_hashkey_hk", currency="HKD", principal=Decimal("500"), fee=Decimal(0)))
    await desk.engine.run_allocations()
    [row] = await allocation_rows(desk.engine)
    assert row.status == "failed" and "insufficient" in row.failure_reason.lower()
    await desk.bank.set_balance(POOL_NO, "HKD", Decimal("1000"))
    retried = await desk.engine.execute(desk.maker, RetryAllocation(order_no=row.order_no))
    assert retried.order_no == row.order_no
    [row] = await allocation_rows(desk.engine)
    assert (row.status, row.attempt) == ("succeeded", 2)
    with pytest.raises(Conflict, match="Only a failed allocation"):
        await desk.engine.execute(desk.maker, RetryAllocation(order_no=row.order_no))
    pool = [b for b in await desk.bank.fetch_balances([POOL_NO]) if b.currency == "HKD"][0]
    assert pool.available == Decimal("500")


async def test_manual_allocation_is_approved_by_another_operator_and_executed(desk) -> None:  # noqa: ANN001
    created = await desk.engine.execute(desk.maker, CreateManualAllocation(
        from_account_id=desk.accounts["hkd_pool"], to_account_id=desk.accounts["hkd_fee"], currency="HKD",
        amount=Decimal("1234.56"), remarks="Pre-fund fees for the weekend"))
    assert created.status == "pending_approval"
    with pytest.raises(PermissionDenied):  # the maker can't approve (nor could they with the permission)
        await desk.engine.execute(desk.maker, ApproveItem(approval_id=created.approval_id))
    await desk.engine.execute(desk.checker, ApproveItem(approval_id=created.approval_id))
    [row] = await allocation_rows(desk.engine)
    assert (row.status, row.checker, row.maker) == ("succeeded", "checker", "maker")
    page = await desk.engine.query(desk.checker, ListAllocations(status="succeeded"))
    assert [a.order_no for a in page.rows] == [row.order_no]
    csv_text = await desk.engine.query(desk.checker, ExportAllocations())
    assert f"{row.order_no},manual,succeeded,HKD,1234.56,{POOL_NO},HK-FEE-001" in csv_text


async def test_rejected_manual_allocation_stays_rejected(desk) -> None:  # noqa: ANN001
    created = await desk.engine.execute(desk.maker, CreateManualAllocation(
        from_account_id=desk.accounts["hkd_pool"], to_account_id=desk.accounts["hkd_fee"], currency="HKD",
        amount=Decimal("10"), remarks="test"))
    with pytest.raises(ValidationFailed):
        build(RejectItem, approval_id=created.approval_id, reason="  ")
    await desk.engine.execute(desk.checker, RejectItem(approval_id=created.approval_id, reason="Not needed"))
    [row] = await allocation_rows(desk.engine)
    assert row.status == "rejected" and "Not needed" in row.failure_reason
    with pytest.raises(Conflict):
        await desk.engine.execute(desk.maker, RetryAllocation(order_no=row.order_no))


async def test_work_order_rule_goes_to_approval_with_the_system_as_maker(desk) -> None:  # noqa: ANN001
    await create_rule(desk, audit_strategy="work_order")
    await desk.engine.execute(desk.maker, SubmitWithdrawal(
        client_id="C-1", channel="settlement_hashkey_hk", currency="HKD", principal=Decimal("80"), fee=Decimal(0)))
    await desk.engine.run_allocations()
    [row] = await allocation_rows(desk.engine)
    assert (row.status, row.maker) == ("pending_approval", "system")
    decided = await desk.engine.execute(desk.checker, ApproveItem(approval_id=row.approval_id))
    assert decided.maker == "system"
    [row] = await allocation_rows(desk.engine)
    assert (row.status, row.checker) == ("succeeded", "checker")


async def test_schedule_preview_shows_skipped_days_with_reasons(desk) -> None:  # noqa: ANN001
    days = await desk.engine.query(desk.checker, PreviewSchedule(
        schedule_kind="hk_trading_day", schedule_time="09:30", runs=25))
    skipped = {d.day: d.skipped for d in days if d.skipped}
    assert skipped["2026-12-25"] == "HKEX holiday: Christmas"
    assert skipped["2026-11-21"] == "weekend"
    fired = [d for d in days if not d.skipped]
    assert len(fired) == 25
    assert fired[0].fire_at.isoformat() == "2026-11-23T01:30:00+00:00"  # Monday 09:30 HKT


async def test_scheduled_rule_fires_once_per_fire_time_and_skips_missed_backlog(desk, clock) -> None:  # noqa: ANN001
    rule = await desk.engine.execute(desk.maker, CreateAllocationRule(**rule_fields(
        desk, trigger_kind="schedule", event_kind=None, schedule_kind="daily", schedule_time="18:00",
        amount_rule="fixed", amount=Decimal("100"))))
    assert rule.trigger_text == "Every calendar day at 18:00 HKT"
    clock.advance(minutes=60)  # 09:30 UTC + 1h = 18:30 HKT: today's 18:00 fire time is due
    first = await desk.engine.run_allocations()
    second = await desk.engine.run_allocations()
    assert (first.fires, second.fires) == (1, 0)
    clock.advance(days=3)  # nothing ran for three days; now 30 minutes after the last fire time
    late = await desk.engine.run_allocations()
    assert (late.fires, late.missed) == (1, 2)  # the latest runs late (within the hour), two are missed
    clock.advance(days=2, hours=2)  # two more days, and now two hours after the last fire time
    later = await desk.engine.run_allocations()
    assert (later.fires, later.missed) == (0, 2)
    rows = await allocation_rows(desk.engine)
    assert [(r.amount, r.status) for r in rows] == [(Decimal("100.00"), "succeeded")] * 2
    checker = await login(desk.engine, "checker")  # five days on: a new shift, a new session
    missed = [t for t in await desk.engine.query(checker, ExplainTriggers(rule_id=rule.id, limit=50))
              if t.outcome == "missed"]
    assert len(missed) == 4 and "no console was running" in missed[0].explanation["amount_reason"]


async def test_an_idle_pass_commits_nothing(desk, clock, db_url: str) -> None:  # noqa: ANN001
    """Every console runs a pass every 2 s: with no event and no fire time due it must not
    write (a write would take the database's lock and wake every console's list of rules)."""
    rule = await desk.engine.execute(desk.maker, CreateAllocationRule(**rule_fields(
        desk, trigger_kind="schedule", event_kind=None, schedule_kind="daily", schedule_time="18:00",
        amount_rule="fixed", amount=Decimal("100"))))
    clock.advance(minutes=60)
    assert (await desk.engine.run_allocations()).fires == 1  # today's 18:00 HKT, decided
    await _drain_transfers(desk)

    async def cursor() -> object:
        async with desk.engine.db.connect() as conn:
            return (await conn.execute(select(allocation_rules.c.schedule_cursor).where(
                allocation_rules.c.id == rule.id))).scalar_one()

    decided_at = await cursor()
    watcher = sqlite3.connect(db_url.removeprefix("sqlite:///")) if db_url.startswith("sqlite") else None
    try:
        before = watcher.execute("PRAGMA data_version").fetchone() if watcher else None
        for _ in range(3):
            clock.advance(seconds=2)
            report = await desk.engine.run_allocations()
            assert (report.fires, report.missed, report.allocations, report.failures) == (0, 0, 0, [])
        assert await cursor() == decided_at  # not moved: no fire time since
        if watcher is not None:  # no other connection committed anything
            assert watcher.execute("PRAGMA data_version").fetchone() == before
    finally:
        if watcher is not None:
            watcher.close()
    clock.advance(days=1)  # tomorrow's 18:00 HKT is found from the unmoved cursor
    assert (await desk.engine.run_allocations()).fires == 1


async def _drain_transfers(desk) -> None:  # noqa: ANN001
    for _ in range(20):
        if not [r for r in await allocation_rows(desk.engine) if r.status in ("processing", "unknown")]:
            return
        await desk.engine.run_allocations()
    raise AssertionError("transfers still processing after 20 passes")

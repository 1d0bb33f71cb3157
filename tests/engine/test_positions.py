"""Channel accounts, positions, thresholds and alerts, withdrawals and deposits (engine)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from engine_support import audit_actions, audit_head_row, new_operator, snapshot
from positions_support import CHANNEL, open_desk

from wbo_tui.engine import ApproveItem, Conflict, MakerCheckerViolation, RejectItem, ValidationFailed, build
from wbo_tui.engine.notify import ListInbox, UnreadCount
from wbo_tui.engine.positions import (
    BOTH_SHORT,
    FEE_SHORT,
    PRINCIPAL_SHORT,
    ChannelAccountUsage,
    CreateChannelAccount,
    InsufficientChannelBalance,
    ListDeposits,
    ListPositions,
    ListWithdrawals,
    MarkDepositSuccessful,
    MarkWithdrawalFailed,
    RecordDeposit,
    SetThresholds,
    SubmitWithdrawal,
    UpdateChannelAccount,
)
from wbo_tui.engine.positions.polling import slot_for

D = Decimal


@pytest.fixture
async def desk(engine, tmp_path: Path):  # noqa: ANN001, ANN201
    d = await open_desk(engine, tmp_path / "bank.sqlite")
    yield d
    d.bank.close()


async def poll(desk, n: int = 0):  # noqa: ANN001, ANN201
    return await desk.engine.poll_positions(slot=f"test:{n}", holder="tests")


async def events(engine, kind: str) -> list[dict]:  # noqa: ANN001
    from sqlalchemy import select

    from wbo_tui.engine.positions.tables import domain_events

    async with engine.db.connect() as conn:
        rows = await conn.execute(select(domain_events.c.payload).where(domain_events.c.kind == kind)
                                  .order_by(domain_events.c.id))
        return [json.loads(r[0]) for r in rows]


# --- channel accounts ---------------------------------------------------------------------


@pytest.mark.parametrize(("fields", "message"), [
    ({"account_no": "HK-PRIN-001", "scenario": "trading"},
     "Main account number HK-PRIN-001 is already configured for HKD on settlement_hashkey_hk."),
    ({"account_no": "HK-NEW-9", "scenario": "withdrawal_fee"},
     "Business scenario withdrawal_fee already has account HK-FEE-001 for HKD on settlement_hashkey_hk."),
    ({"currency": "XYZ"}, "Currency 'XYZ' is not a configured currency."),
    ({"currency": "BTC"}, "Currency BTC is a crypto currency, not fiat."),
    ({"channel": "settlement_nowhere"}, "Settlement channel 'settlement_nowhere' is not a configured settlement channel."),
])
async def test_channel_account_refusals_name_the_field(desk, fields: dict, message: str) -> None:  # noqa: ANN001
    base = {"channel": CHANNEL, "currency_type": "fiat", "currency": "HKD", "account_no": "HK-NEW-9",
            "scenario": "trading"}
    before = await snapshot(desk.engine)
    with pytest.raises(ValidationFailed) as caught:
        await desk.engine.execute(desk.maker, CreateChannelAccount(**{**base, **fields}))
    assert str(caught.value) == message
    assert await snapshot(desk.engine) == before


@pytest.mark.parametrize(("fields", "label"), [
    ({"account_no": ""}, "Account no"),
    ({"scenario": "lunch"}, "Scenario"),
    ({"currency_type": "gold"}, "Currency type"),
])
def test_empty_or_unknown_fields_are_refused_by_name(fields: dict, label: str) -> None:
    base = {"channel": CHANNEL, "currency_type": "fiat", "currency": "HKD", "account_no": "X-1", "scenario": "trading"}
    with pytest.raises(ValidationFailed) as caught:
        build(CreateChannelAccount, **{**base, **fields})
    assert caught.value.field == label


async def test_edit_shows_usage_and_refuses_a_stale_version(desk) -> None:  # noqa: ANN001
    await poll(desk)
    wd = await desk.engine.execute(desk.maker, SubmitWithdrawal(
        client_id="C-1", channel=CHANNEL, currency="HKD", principal="100.00", fee="1.00"))
    usage = await desk.engine.query(desk.maker, ChannelAccountUsage(account_id=desk.accounts["hkd_principal"]))
    assert usage.pending_withdrawals == (wd.ref,)
    edit = {"account_id": desk.accounts["hkd_deposit"], "channel": CHANNEL, "currency_type": "fiat",
            "currency": "HKD", "account_no": "HK-DEP-002", "scenario": "deposit", "remarks": "renumbered"}
    updated = await desk.engine.execute(desk.maker, UpdateChannelAccount(**edit, expected_version=1))
    assert (updated.account_no, updated.version) == ("HK-DEP-002", 2)
    with pytest.raises(Conflict, match="changed by someone else"):
        await desk.engine.execute(desk.maker, UpdateChannelAccount(**{**edit, "remarks": "x"}, expected_version=1))


# --- polling, thresholds, alerts ----------------------------------------------------------


async def test_poll_records_balances_and_flags_a_channel_that_does_not_answer(desk) -> None:  # noqa: ANN001
    report = await poll(desk)
    assert (report.polled, report.accounts_ok, report.accounts_failed) == (True, 5, 0)
    page = await desk.engine.query(desk.maker, ListPositions(currency="HKD", sort_by="account"))
    assert [(p.account_no, p.available, p.poll_status) for p in page.rows] == [
        ("HK-DEP-001", D("100000"), "OK"), ("HK-FEE-001", D("100000"), "OK"), ("HK-PRIN-001", D("100000"), "OK"),
    ]
    assert (await poll(desk)).polled is False  # same slot: another process already polled it
    await desk.bank.set_channel_down()
    report = await poll(desk, 1)
    assert (report.accounts_ok, report.accounts_failed, report.failed_channels) == (0, 5, (CHANNEL,))
    page = await desk.engine.query(desk.maker, ListPositions())
    assert {p.poll_status for p in page.rows} == {"FAILED"}
    assert all(p.available is not None and p.poll_error for p in page.rows)  # last known kept, flagged


async def test_alerts_fire_once_per_crossing_and_clear_on_recovery(desk) -> None:  # noqa: ANN001
    prin = desk.accounts["hkd_principal"]
    await poll(desk)
    await desk.engine.execute(desk.maker, SetThresholds(
        channel_account_id=prin, threshold_alert="50000", threshold_blocking="20000"))
    await desk.bank.set_balance("HK-PRIN-001", "HKD", D("40000"))
    await poll(desk, 1)
    await poll(desk, 2)  # still below alert: no second alert
    await desk.bank.set_balance("HK-PRIN-001", "HKD", D("10000"))
    await poll(desk, 3)
    await poll(desk, 4)
    await desk.bank.set_balance("HK-PRIN-001", "HKD", D("60000"))
    await poll(desk, 5)
    levels = [json.loads(r.after)["level"] for r in await _audit(desk.engine, "position.level")]
    assert levels == ["ALERT", "BLOCKING", "NORMAL"]
    assert len(await events(desk.engine, "position.below_blocking")) == 1


async def _audit(engine, action: str):  # noqa: ANN001, ANN202
    from engine_support import audit_records

    return await audit_records(engine, action)


@pytest.mark.parametrize(("alert", "blocking", "label", "rule"), [
    ("100", "200", "Blocking threshold", "must not be above the alert threshold"),
    ("-1", None, "Alert threshold", "must not be negative"),
    ("10.001", None, "Alert threshold", "allows at most 2 decimal places for HKD"),
    ("abc", None, "Threshold alert", "must be a plain number"),
])
async def test_inconsistent_or_bad_thresholds_are_refused(desk, alert, blocking, label, rule) -> None:  # noqa: ANN001
    before = await snapshot(desk.engine)
    with pytest.raises(ValidationFailed) as caught:
        await desk.engine.execute(desk.maker, build(
            SetThresholds, channel_account_id=desk.accounts["hkd_principal"], threshold_alert=alert,
            threshold_blocking=blocking))
    assert rule in str(caught.value)
    assert str(caught.value).startswith(label)
    assert await snapshot(desk.engine) == before


# --- withdrawals --------------------------------------------------------------------------


async def _submit(desk, principal: str = "1000.00", fee: str = "10.00"):  # noqa: ANN001, ANN202
    return await desk.engine.execute(desk.maker, SubmitWithdrawal(
        client_id="C-42", channel=CHANNEL, currency="HKD", principal=principal, fee=fee))


async def test_submission_records_principal_and_fee_events(desk) -> None:  # noqa: ANN001
    wd = await _submit(desk)
    assert (wd.status, wd.principal_account, wd.fee_account) == ("PENDING", "HK-PRIN-001", "HK-FEE-001")
    principal = await events(desk.engine, "withdrawal.submitted.principal")
    fee = await events(desk.engine, "withdrawal.submitted.fee")
    assert [(e["withdrawal_ref"], e["amount"]) for e in principal] == [(wd.ref, "1000.00")]
    assert [(e["withdrawal_ref"], e["amount"]) for e in fee] == [(wd.ref, "10.00")]


@pytest.mark.parametrize(("principal_balance", "fee_balance", "message"), [
    ("20500", "100000", PRINCIPAL_SHORT),
    ("100000", "20005", FEE_SHORT),
    ("20500", "20005", BOTH_SHORT),
])
async def test_approval_is_intercepted_with_the_manuals_messages(
    desk, principal_balance: str, fee_balance: str, message: str,  # noqa: ANN001
) -> None:
    for name in ("hkd_principal", "hkd_fee"):
        await desk.engine.execute(desk.maker, SetThresholds(
            channel_account_id=desk.accounts[name], threshold_alert="30000", threshold_blocking="20000"))
    await desk.bank.set_balance("HK-PRIN-001", "HKD", D(principal_balance))
    await desk.bank.set_balance("HK-FEE-001", "HKD", D(fee_balance))
    await poll(desk)
    wd = await _submit(desk)  # 1,000 principal, 10 fee: each would take its account below 20,000
    with pytest.raises(InsufficientChannelBalance) as caught:
        await desk.engine.execute(desk.checker, ApproveItem(approval_id=wd.approval_id))
    assert str(caught.value) == message
    [still] = await desk.engine.query(desk.checker, ListWithdrawals())
    assert still.status == "PENDING"  # refused: nothing decided

    await desk.bank.set_balance("HK-PRIN-001", "HKD", D("100000"))
    await desk.bank.set_balance("HK-FEE-001", "HKD", D("100000"))
    await poll(desk, 1)
    decided = await desk.engine.execute(desk.checker, ApproveItem(approval_id=wd.approval_id))
    assert decided.status == "APPROVED"
    [done] = await desk.engine.query(desk.checker, ListWithdrawals())
    assert done.status == "APPROVED"


async def test_withdrawal_maker_cannot_approve_rejection_and_failure(desk) -> None:  # noqa: ANN001
    await poll(desk)
    both = await new_operator(desk.engine, desk.admin, "supervisor", [
        "assets.withdrawal_application_operation", "assets.withdrawal_application_approval"])
    own = await desk.engine.execute(both, SubmitWithdrawal(
        client_id="C-42", channel=CHANNEL, currency="HKD", principal="5.00", fee="0"))
    with pytest.raises(MakerCheckerViolation):
        await desk.engine.execute(both, ApproveItem(approval_id=own.approval_id))
    await desk.engine.execute(desk.checker, RejectItem(approval_id=own.approval_id, reason="duplicate"))
    wd = await _submit(desk)
    await desk.engine.execute(desk.checker, RejectItem(approval_id=wd.approval_id, reason="client cancelled"))
    rejected = await desk.engine.query(desk.checker, ListWithdrawals(status="REJECTED"))
    assert [r.ref for r in rejected] == [wd.ref, own.ref]

    wd2 = await _submit(desk)
    await desk.engine.execute(desk.checker, ApproveItem(approval_id=wd2.approval_id))
    failed = await desk.engine.execute(desk.maker, MarkWithdrawalFailed(
        withdrawal_ref=wd2.ref, part="fee", reason="fee leg bounced"))
    assert (failed.status, failed.failed_part) == ("FAILED", "fee")
    both = await desk.engine.execute(desk.maker, MarkWithdrawalFailed(
        withdrawal_ref=wd2.ref, part="principal", reason="principal leg bounced"))
    assert both.failed_part == "both"
    assert [e["amount"] for e in await events(desk.engine, "withdrawal.failed.fee")] == ["10.00"]
    assert [e["amount"] for e in await events(desk.engine, "withdrawal.failed.principal")] == ["1000.00"]
    with pytest.raises(Conflict, match="already marked failed"):
        await desk.engine.execute(desk.maker, MarkWithdrawalFailed(withdrawal_ref=wd2.ref, part="fee", reason="x"))


@pytest.mark.parametrize(("principal", "fee", "label", "rule"), [
    ("-5", "1", "Principal amount", "must be greater than zero"),
    ("0.001", "1", "Principal amount", "allows at most 2 decimal places for HKD"),
    ("0", "1", "Principal amount", "must be greater than zero"),
    ("10", "0.005", "Fee", "allows at most 2 decimal places for HKD"),
])
async def test_withdrawal_amounts_are_validated(desk, principal, fee, label, rule) -> None:  # noqa: ANN001
    before = await snapshot(desk.engine)
    with pytest.raises(ValidationFailed) as caught:
        await desk.engine.execute(desk.maker, build(
            SubmitWithdrawal, client_id="C-1", channel=CHANNEL, currency="HKD", principal=principal, fee=fee))
    assert str(caught.value).startswith(label) and rule in str(caught.value)
    assert await snapshot(desk.engine) == before


async def test_unknown_currency_for_withdrawal_is_refused(desk) -> None:  # noqa: ANN001
    with pytest.raises(ValidationFailed, match="Currency 'XYZ' is not a configured currency"):
        await desk.engine.execute(desk.maker, SubmitWithdrawal(
            client_id="C-1", channel=CHANNEL, currency="XYZ", principal="1", fee="0"))
    with pytest.raises(ValidationFailed, match="EUR has no withdrawal principal account"):
        await desk.engine.execute(desk.maker, SubmitWithdrawal(
            client_id="C-1", channel=CHANNEL, currency="EUR", principal="1", fee="0"))


# --- deposits -----------------------------------------------------------------------------


async def test_deposit_marked_successful_once_with_its_event(desk) -> None:  # noqa: ANN001
    dp = await desk.engine.execute(desk.maker, RecordDeposit(
        client_id="C-7", channel_account_id=desk.accounts["hkd_deposit"], amount="2500.50"))
    assert dp.status == "PENDING"
    head, _ = await audit_head_row(desk.engine)
    done = await desk.engine.execute(desk.maker, MarkDepositSuccessful(deposit_ref=dp.ref))
    assert done.status == "SUCCESSFUL"
    assert await audit_actions(desk.engine, head) == ["deposit.success"]
    assert [(e["deposit_ref"], e["amount"]) for e in await events(desk.engine, "deposit.successful")] == [
        (dp.ref, "2500.50")]
    with pytest.raises(Conflict, match="already marked successful"):
        await desk.engine.execute(desk.maker, MarkDepositSuccessful(deposit_ref=dp.ref))
    listed = await desk.engine.query(desk.maker, ListDeposits(status="SUCCESSFUL"))
    assert [d.ref for d in listed] == [dp.ref]


def test_slots_are_interval_aligned() -> None:
    from datetime import UTC, datetime

    assert slot_for(datetime(2026, 11, 20, 9, 33, 20, tzinfo=UTC), 300) == slot_for(
        datetime(2026, 11, 20, 9, 34, 59, tzinfo=UTC), 300)
    assert slot_for(datetime(2026, 11, 20, 9, 35, tzinfo=UTC), 300) != slot_for(
        datetime(2026, 11, 20, 9, 34, 59, tzinfo=UTC), 300)

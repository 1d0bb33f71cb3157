"""Positions › Withdrawals and Deposits: submit, approve (and the three refusals for a short
channel account), reject, mark successful, mark failed; record a deposit and mark it
successful; form refusals that save nothing; the denial panel."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from console_helpers import login, plain, screen_text, settle, type_into, wait_for_screen
from rich.text import Text
from textual.content import Content
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets._toast import Toast, ToastRack
from withdrawal_helpers import (
    CHANNEL,
    SUPERVISOR_PASSWORD,
    Desk,
    choose,
    confirm,
    fill_party,
    notices,
    open_desk,
    open_form,
    open_tab,
    seed_in_thread,
    submit_and_close,
    table_of,
)

from wbo_tui.engine import ListApprovals, QueryAuditLog
from wbo_tui.engine.positions import BOTH_SHORT, FEE_SHORT, PRINCIPAL_SHORT, ListDeposits, MarkWithdrawalFailed
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.screens.permission_request import PermissionRequestScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.reject import RejectScreen
from wbo_tui.screens.positions.withdrawal_forms import DepositScreen, MarkFailedScreen, WithdrawalScreen
from wbo_tui.screens.positions.withdrawals import WithdrawalsPane

WIDE = (160, 48)
SMALL = (80, 24)
D = Decimal


@pytest.fixture
async def desk(engine, tmp_path: Path) -> Desk:  # noqa: ANN001
    d = await open_desk(engine, tmp_path)
    yield d
    d.bank.close()


async def open_withdrawals(pilot: Pilot, username: str, password: str | None = None) -> WithdrawalsPane:
    await login(pilot, username, password)
    await open_tab(pilot, "withdrawals")
    pane = pilot.app.screen.query_one(WithdrawalsPane)
    pane.focus_table()
    return pane


def plain_render(widget: Widget) -> str:
    """The text a widget renders, without styles."""
    rendered = widget.render()
    return rendered.plain if isinstance(rendered, (Text, Content)) else str(rendered)


def row(pilot: Pilot, tab: str, key: str) -> list[str]:
    return [str(c) for c in table_of(pilot, tab).get_row(key)]


def cell_of(pilot: Pilot, tab: str, key: str, label: str) -> str:
    """One cell by its column's label: a narrow table leaves low-priority columns out."""
    table = table_of(pilot, tab)
    return dict(zip((str(c.label) for c in table.ordered_columns), row(pilot, tab, key), strict=True))[label]


async def fill_withdrawal(pilot: Pilot, *, currency: str = "HKD", principal: str = "1,000", fee: str = "10") -> None:
    await fill_party(pilot, "withdrawal", "C-42", currency)
    await type_into(pilot, "#withdrawal-principal", principal, keys=True)
    await type_into(pilot, "#withdrawal-fee", fee, keys=True)


# --- withdrawals ----------------------------------------------------------------------------


async def test_maker_submits_a_withdrawal_through_the_form(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_withdrawals(pilot, "maker")
        assert table_of(pilot, "withdrawals").row_count == 0
        await open_form(pilot, WithdrawalScreen)
        await fill_withdrawal(pilot)
        await submit_and_close(pilot)  # Enter in the last field submits
        [wd] = await desk.withdrawals()
        assert row(pilot, "withdrawals", wd.ref)[:10] == [
            wd.ref, "C-42", CHANNEL, "HKD", "1,000.00", "10.00", "HK-PRIN-001", "HK-FEE-001", "PENDING",
            "2026-11-20 09:30:00"]
        # Amounts are right-aligned in their column (the header "Principal" is wider than the amount).
        table = table_of(pilot, "withdrawals")
        assert " HKD   1,000.00  10.00 " in "".join(s.text for s in table.render_line(1))
        assert f"Withdrawal {wd.ref} submitted for approval ({wd.approval_ref})" in notices(pilot)[-1]

    assert (wd.client_id, wd.principal, wd.fee, wd.status) == ("C-42", D("1000"), D("10"), "PENDING")
    assert [e["amount"] for e in await desk.events("withdrawal.submitted.principal")] == ["1000.00"]  # canonical: HKD has 2 places
    assert [e["amount"] for e in await desk.events("withdrawal.submitted.fee")] == ["10.00"]


async def test_checker_approves_after_seeing_what_was_submitted(make_app, desk) -> None:
    wd = await desk.submit()
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await open_withdrawals(pilot, "checker")
        await pilot.press("a")
        said = await confirm(pilot)
        assert ("Submitted: client C-42, principal 1,000.00 HKD from HK-PRIN-001, fee 10.00 HKD from HK-FEE-001, "
                f"via {CHANNEL}, at 2026-11-20 09:30:00 UTC.") in said
        assert ("minus what is already committed out of it and not yet settled (approved withdrawals, allocations "
                "in flight) minus this withdrawal's own amount would be below the account's blocking threshold") in said
        assert row(pilot, "withdrawals", wd.ref)[8] == "APPROVED"
        assert notices(pilot)[-1] == f"Withdrawal {wd.ref} approved."
        assert not pane.query_one("#withdrawal-refusal").has_class("-shown")
    [done] = await desk.withdrawals()
    assert done.status == "APPROVED"


async def test_help_states_the_threshold_rule_and_the_refusal_messages(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_withdrawals(pilot, "checker")
        _, text = app.screen.help_text()
        text = " ".join(text.split())
        assert ("available balance minus what is already committed out of it and not yet settled (approved "
                "withdrawals, allocations in flight) minus this withdrawal's own amount would be below the "
                "account's blocking threshold") in text
        assert "no blocking threshold uses zero, and an account never polled counts as insufficient" in text
        assert "Please perform a fund allocation first." in text


async def test_a_maker_cannot_approve_their_own_withdrawal(make_app, desk) -> None:
    await desk.add_supervisor()
    wd = await desk.submit(as_user="supervisor", password=SUPERVISOR_PASSWORD)
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await open_withdrawals(pilot, "supervisor", SUPERVISOR_PASSWORD)
        assert pilot.app.screen.active_bindings["a"].enabled is False  # greyed, with the reason below the table
        assert plain(pane.query_one(".pane-hint")).startswith(
            "a Approve, x Reject unavailable: you submitted this withdrawal application; another operator must "
            "decide it")
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ShellScreen)  # nothing opened
        assert notices(pilot)[-1] == ("a Approve is not available: you submitted this withdrawal application; "
                                      "another operator must decide it.")
        assert row(pilot, "withdrawals", wd.ref)[8] == "PENDING"
    [still] = await desk.withdrawals()
    assert still.status == "PENDING"


@pytest.mark.parametrize(("principal_balance", "fee_balance", "message"), [
    ("20500", "100000", PRINCIPAL_SHORT),
    ("100000", "20005", FEE_SHORT),
    ("20500", "20005", BOTH_SHORT),
], ids=["principal", "fee", "both"])
@pytest.mark.parametrize("size", [WIDE, SMALL], ids=["160x48", "80x24"])
async def test_approval_refused_for_a_short_account_shows_the_manuals_message(
    make_app, desk, principal_balance: str, fee_balance: str, message: str, size: tuple[int, int],  # noqa: ANN001
) -> None:
    # 1,000 principal and 10 fee each take their account below the 20,000 blocking threshold.
    await desk.balances(D(principal_balance), D(fee_balance))
    wd = await desk.submit()
    app = make_app()
    async with app.run_test(size=size, notifications=True) as pilot:
        pane = await open_withdrawals(pilot, "checker")
        await pilot.press("a")
        await confirm(pilot)
        refusal = pane.query_one("#withdrawal-refusal")
        assert refusal.has_class("-shown") and refusal.region.height >= 1
        assert plain(refusal) == f"Approval of {wd.ref} refused: {message}"
        assert notices(pilot)[-1] == message
        screen = pilot.app.screen.region
        assert screen.contains_region(refusal.region)
        toast = pilot.app.screen.query_one(ToastRack).query(Toast).last()
        assert message in " ".join(plain_render(toast).split())
        assert screen.contains_region(toast.region)  # the whole toast, wrapped, on screen
        assert cell_of(pilot, "withdrawals", wd.ref, "Status") == "PENDING"
    [still] = await desk.withdrawals()
    assert still.status == "PENDING"
    [item] = await desk.engine.query(await desk.session("checker"), ListApprovals(kind="withdrawal"))
    assert (item.status, item.checker) == ("PENDING", None)  # the refused decision was rolled back


async def test_checker_rejects_with_a_reason(make_app, desk) -> None:
    wd = await desk.submit()
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_withdrawals(pilot, "checker")
        await pilot.press("x")
        await wait_for_screen(pilot, RejectScreen)
        await type_into(pilot, "#typed-confirmation-input", "REJECT 1")
        await pilot.press("enter")  # no reason yet
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == "Reason is required when rejecting."
        await type_into(pilot, "#reject-reason", "client cancelled", keys=True)
        await pilot.press("enter")  # to the confirmation, typed already
        await submit_and_close(pilot)
        assert row(pilot, "withdrawals", wd.ref)[8] == "REJECTED"
        assert notices(pilot)[-1] == f"{wd.approval_ref} rejected: client cancelled"
    [done] = await desk.withdrawals()
    assert done.status == "REJECTED"
    page = await desk.engine.setup_query(tool="test", query=QueryAuditLog(page_size=5))
    assert "withdrawal.reject" in [r.action for r in page.records]


async def mark_failed(pilot: Pilot, part: str, reason: str) -> None:
    await open_form(pilot, MarkFailedScreen, "m")
    await choose(pilot, "#failed-part", part)
    await pilot.press("tab", "enter")  # no reason yet
    await settle(pilot)
    assert screen_text(pilot, "#form-error") == "Reason is required: say what the channel reported."
    await type_into(pilot, "#failed-reason", reason, keys=True)
    await submit_and_close(pilot)


async def test_mark_failed_fee_then_principal_records_the_domain_events(make_app, desk) -> None:
    wd = await desk.submit()
    checker = await desk.session("checker")
    from wbo_tui.engine import ApproveItem

    await desk.engine.execute(checker, ApproveItem(approval_id=wd.approval_id))
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await open_withdrawals(pilot, "maker")
        await mark_failed(pilot, "fee", "fee leg bounced")
        assert row(pilot, "withdrawals", wd.ref)[8:] == ["FAILED", "2026-11-20 09:30:00", "fee: fee leg bounced"]
        await mark_failed(pilot, "principal", "principal leg bounced")
        assert row(pilot, "withdrawals", wd.ref)[10] == "both: principal leg bounced"
        assert notices(pilot)[-1] == f"Withdrawal {wd.ref} marked failed (both)."
        assert pane.check_action("mark_failed", ()) is None  # both parts failed: nothing left to mark
    [done] = await desk.withdrawals()
    assert (done.status, done.failed_part) == ("FAILED", "both")
    assert [(e["withdrawal_ref"], e["amount"], e["reason"]) for e in await desk.events("withdrawal.failed.fee")] == [
        (wd.ref, "10.00", "fee leg bounced")]
    assert [e["amount"] for e in await desk.events("withdrawal.failed.principal")] == ["1000.00"]


async def select_withdrawal(pilot: Pilot, ref: str) -> None:
    table = table_of(pilot, "withdrawals")
    table.move_cursor(row=table.get_row_index(ref))
    await settle(pilot)


async def test_maker_marks_an_approved_withdrawal_successful(make_app, desk) -> None:
    wd = await desk.submit()
    await desk.approve(wd)
    pending = await desk.submit("500.00", "5.00")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await open_withdrawals(pilot, "maker")
        assert pane.selected.ref == pending.ref  # newest first
        assert pane.check_action("mark_successful", ()) is None  # pending: nothing paid yet
        assert app.screen.active_bindings["s"].enabled is False  # the key is shown greyed
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)  # a greyed key opens nothing

        await select_withdrawal(pilot, wd.ref)
        assert app.screen.active_bindings["s"].enabled is True
        await pilot.press("s")
        said = await confirm(pilot)
        assert said.splitlines() == [
            f"• {wd.ref} APPROVED ({wd.approval_ref}): client C-42, 1,000.00 HKD + fee 10.00 via {CHANNEL}; "
            "principal from HK-PRIN-001, fee from HK-FEE-001.",
            f"• {wd.ref} becomes SUCCESSFUL: you record that the channel paid the principal 1,000.00 HKD out of "
            "HK-PRIN-001 and the fee 10.00 HKD out of HK-FEE-001.",
            "• Those amounts keep counting as committed out of their accounts until a poll shows a balance taken "
            "after now; from then on the polled balance itself shows the money gone.",
            "• It can no longer be marked failed. The mark is yours, final, and recorded in the audit log.",
        ]
        assert row(pilot, "withdrawals", wd.ref)[8] == "SUCCESSFUL"
        assert notices(pilot)[-1] == f"Withdrawal {wd.ref} marked successful."
        assert pane.check_action("mark_successful", ()) is None and pane.check_action("mark_failed", ()) is None
    done = {w.ref: w for w in await desk.withdrawals()}
    assert (done[wd.ref].status, done[wd.ref].failed_part) == ("SUCCESSFUL", None)
    assert done[pending.ref].status == "PENDING"
    page = await desk.engine.setup_query(tool="test", query=QueryAuditLog(action_prefix="withdrawal.succeed"))
    assert [(r.operator, r.target_id) for r in page.records] == [("maker", wd.ref)]


async def test_a_withdrawal_failed_in_its_fee_is_marked_successful_for_its_principal(make_app, desk) -> None:
    wd = await desk.submit()
    await desk.approve(wd)
    maker = await desk.session("maker")
    await desk.engine.execute(maker, MarkWithdrawalFailed(withdrawal_ref=wd.ref, part="fee", reason="fee returned"))
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_withdrawals(pilot, "maker")
        await pilot.press("s")
        said = await confirm(pilot)
        assert (f"{wd.ref} becomes SUCCESSFUL: you record that the channel paid the principal 1,000.00 HKD out of "
                "HK-PRIN-001.") in said
        assert "The fee stays recorded as failed: fee returned" in said
        assert row(pilot, "withdrawals", wd.ref)[8:] == ["SUCCESSFUL", "2026-11-20 09:30:00", "fee: fee returned"]
    [done] = await desk.withdrawals()
    assert (done.status, done.failed_part) == ("SUCCESSFUL", "fee")


async def test_f_cycles_the_status_filter_in_the_engine_query(make_app, desk) -> None:
    await _withdrawals_of_each_status(desk)
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_withdrawals(pilot, "checker")
        assert table_of(pilot, "withdrawals").row_count == 4
        for status in ("PENDING", "APPROVED", "SUCCESSFUL", "REJECTED", "FAILED"):
            await pilot.press("f")
            await settle(pilot)
            shown = [str(table_of(pilot, "withdrawals").get_row_at(i)[8])
                     for i in range(table_of(pilot, "withdrawals").row_count)]
            assert shown == ([] if status == "REJECTED" else [status])
            assert f"status {status.lower()} (f cycles" in screen_text(pilot, "#withdrawals-pane .pane-status")
        await pilot.press("f")
        await settle(pilot)
        assert table_of(pilot, "withdrawals").row_count == 4


@pytest.mark.parametrize(("field", "value", "error"), [
    ("principal", "-5", "Principal amount must be greater than zero."),
    ("principal", "0.001", "Principal amount allows at most 2 decimal places for HKD."),
    ("fee", "-1", "Fee must not be negative."),
    ("fee", "0.005", "Fee allows at most 2 decimal places for HKD."),
    ("currency", "XYZ", "Currency 'XYZ' is not a configured currency."),
    ("currency", "USD", f"Currency USD has no withdrawal principal account on {CHANNEL}; configure one under "
                        "Settlement channel accounts."),
    ("principal", "ten", "Principal must be a plain number such as 1,234.56, not 'ten'."),
    ("currency", "", "Currency is required."),
])
async def test_withdrawal_form_refuses_bad_input_and_saves_nothing(make_app, desk, field, value, error) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_withdrawals(pilot, "maker")
        await open_form(pilot, WithdrawalScreen)
        await fill_withdrawal(pilot, **{field: value})
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, WithdrawalScreen)  # still open, to correct the field
        assert screen_text(pilot, "#form-error") == error
    assert await desk.withdrawals() == []
    assert await desk.events("withdrawal.submitted.principal") == []
    assert await desk.engine.query(await desk.session("checker"), ListApprovals(kind="withdrawal")) == ()


# --- deposits -------------------------------------------------------------------------------


async def fill_deposit(pilot: Pilot, *, currency: str = "HKD", amount: str = "2,500.5") -> None:
    await fill_party(pilot, "deposit", "C-7", currency)
    await type_into(pilot, "#deposit-amount", amount, keys=True)


async def test_deposit_recorded_then_marked_successful(make_app, desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await login(pilot, "maker")
        await open_tab(pilot, "deposits")
        await open_form(pilot, DepositScreen)
        await fill_deposit(pilot)
        await submit_and_close(pilot)
        [dp] = await desk.engine.setup_query(tool="test", query=ListDeposits())
        assert (dp.client_id, dp.amount, dp.account_no, dp.status) == ("C-7", D("2500.5"), "HK-DEP-001", "PENDING")
        assert row(pilot, "deposits", dp.ref) == [dp.ref, "C-7", CHANNEL, "HKD", "2,500.50", "HK-DEP-001", "PENDING",
                                                  "2026-11-20 09:30:00", ""]
        assert await desk.events("deposit.successful") == []

        await pilot.press("s")
        said = await confirm(pilot)
        assert f"{dp.ref} PENDING: client C-7, 2,500.50 HKD into HK-DEP-001 on {CHANNEL}." in said
        assert row(pilot, "deposits", dp.ref)[6:] == ["SUCCESSFUL", "2026-11-20 09:30:00", "2026-11-20 09:30:00"]
        assert notices(pilot)[-1] == f"Deposit {dp.ref} marked successful."
    [done] = await desk.engine.setup_query(tool="test", query=ListDeposits())
    assert done.status == "SUCCESSFUL"
    assert [(e["deposit_ref"], e["amount"]) for e in await desk.events("deposit.successful")] == [
        (dp.ref, "2500.50")]


@pytest.mark.parametrize(("field", "value", "error"), [
    ("amount", "-5", "Amount must be greater than zero."),
    ("amount", "0.001", "Amount allows at most 2 decimal places for HKD."),
    ("currency", "XYZ", "Currency 'XYZ' is not a configured currency."),
    ("currency", "USD", f"Currency USD has no deposit account on {CHANNEL}; configure one under Settlement "
                        "channel accounts."),
])
async def test_deposit_form_refuses_bad_input_and_saves_nothing(make_app, desk, field, value, error) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await login(pilot, "maker")
        await open_tab(pilot, "deposits")
        await open_form(pilot, DepositScreen)
        await fill_deposit(pilot, **{field: value})
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DepositScreen)
        assert screen_text(pilot, "#form-error") == error
    assert await desk.engine.setup_query(tool="test", query=ListDeposits()) == ()


# --- permissions ----------------------------------------------------------------------------


@pytest.mark.parametrize(("tab", "permission"), [
    ("withdrawals", "assets.withdrawal_application_inquiry"),
    ("deposits", "assets.deposit_record_inquiry"),
])
async def test_without_the_inquiry_permission_the_tab_shows_the_denial(make_app, desk, tab, permission) -> None:
    await desk.submit()
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await login(pilot, "trader")
        await open_tab(pilot, tab)
        pane = app.screen.query_one(f"#{tab}-pane")
        assert pane.has_class("-denied")
        assert permission in " ".join(plain(w) for w in pane.query(".denied-text"))
        assert table_of(pilot, tab).row_count == 0
        await pilot.press("n")  # no acting on a denied pane
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen)


async def test_viewer_may_list_but_submitting_offers_a_permission_request(make_app, desk) -> None:
    wd = await desk.submit()
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_withdrawals(pilot, "viewer")
        assert table_of(pilot, "withdrawals").row_count == 1
        await open_form(pilot, WithdrawalScreen)
        await fill_withdrawal(pilot)
        await pilot.press("enter")
        await wait_for_screen(pilot, PermissionRequestScreen)
        assert "assets.withdrawal_application_operation" in " ".join(plain(w) for w in app.screen.query("Static"))
    assert [w.ref for w in await desk.withdrawals()] == [wd.ref]


# --- snapshots ------------------------------------------------------------------------------


async def _withdrawals_of_each_status(desk: Desk) -> None:
    """A pending, an approved, a successful and a failed withdrawal, and a deposit of each status."""
    from wbo_tui.engine import ApproveItem
    from wbo_tui.engine.positions import MarkDepositSuccessful, MarkWithdrawalSuccessful, RecordDeposit

    checker = await desk.session("checker")
    maker = await desk.session("maker")
    failed = await desk.submit("25000.00", "25.50")
    approved = await desk.submit("1234.56", "0")
    await desk.engine.execute(checker, ApproveItem(approval_id=failed.approval_id))
    await desk.engine.execute(checker, ApproveItem(approval_id=approved.approval_id))
    await desk.engine.execute(maker, MarkWithdrawalFailed(withdrawal_ref=failed.ref, part="fee",
                                                          reason="fee leg returned by the bank"))
    paid = await desk.submit("5000.00", "12.00")
    await desk.engine.execute(checker, ApproveItem(approval_id=paid.approval_id))
    await desk.engine.execute(maker, MarkWithdrawalSuccessful(withdrawal_ref=paid.ref))
    await desk.submit()
    done = await desk.engine.execute(maker, RecordDeposit(client_id="C-7", channel_account_id=3, amount="2500.5"))
    await desk.engine.execute(maker, MarkDepositSuccessful(deposit_ref=done.ref))
    await desk.engine.execute(maker, RecordDeposit(client_id="C-8", channel_account_id=3, amount="1000000"))


async def _short_fee(desk: Desk) -> None:
    await desk.balances(D("100000"), D("20005"))
    await desk.submit()


def snapshot_steps(username: str, tab: str, *keys: str, confirm_it: bool = False, then=None):  # noqa: ANN001, ANN201
    async def run_before(pilot: Pilot) -> None:
        from console_helpers import no_blink, wait_for_lists

        await login(pilot, username)
        await open_tab(pilot, tab)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        if confirm_it:
            await confirm(pilot)
        if then is not None:
            await then(pilot)
        await wait_for_lists(pilot)  # not before the table has laid its rows out (it once was, under load)
        no_blink(pilot)

    return run_before


def test_snapshot_withdrawals_list(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_in_thread(db_url, tmp_path, _withdrawals_of_each_status)
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=snapshot_steps("checker", "withdrawals"))


def test_snapshot_withdrawals_list_at_80x24(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_in_thread(db_url, tmp_path, _withdrawals_of_each_status)
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=snapshot_steps("checker", "withdrawals"))


def test_snapshot_insufficient_fee_balance(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_in_thread(db_url, tmp_path, _short_fee)
    assert snap_compare(make_app(), terminal_size=WIDE,
                        run_before=snapshot_steps("checker", "withdrawals", "a", confirm_it=True))


def test_snapshot_insufficient_fee_balance_at_80x24(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_in_thread(db_url, tmp_path, _short_fee)
    assert snap_compare(make_app(), terminal_size=SMALL,
                        run_before=snapshot_steps("checker", "withdrawals", "a", confirm_it=True))


def test_snapshot_deposits_list(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_in_thread(db_url, tmp_path, _withdrawals_of_each_status)
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=snapshot_steps("maker", "deposits"))


def test_snapshot_withdrawal_form_refusal_at_80x24(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_in_thread(db_url, tmp_path)

    async def refused(pilot: Pilot) -> None:
        await open_form(pilot, WithdrawalScreen)
        await fill_withdrawal(pilot, principal="0.001")
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SMALL,
                        run_before=snapshot_steps("maker", "withdrawals", then=refused))


def test_snapshot_approve_confirmation_at_80x24(snap_compare, make_app, db_url, tmp_path) -> None:
    seed_in_thread(db_url, tmp_path, _short_fee)

    async def asked(pilot: Pilot) -> None:
        await wait_for_screen(pilot, ConfirmScreen)

    assert snap_compare(make_app(), terminal_size=SMALL,
                        run_before=snapshot_steps("checker", "withdrawals", "a", then=asked))

"""Positions › Withdrawals: withdrawal applications, decided by another operator
(maker-checker), then marked successful when the channel has paid them or failed when it
reports a failed leg: until then an approved withdrawal counts as committed out of its
accounts, and later approvals are judged net of it.

An approval refused because a channel account is short shows the manual's message twice:
as the app's error notification (the one path every engine refusal takes) and in a line
above the table that stays until the next decision, so it can be read at leisure."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static
from textual.worker import Worker

from wbo_tui.engine import ApprovalDTO, ApproveItem, Query
from wbo_tui.engine.positions import (
    InsufficientChannelBalance,
    ListWithdrawals,
    MarkWithdrawalSuccessful,
    WithdrawalDTO,
)

from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.money_pane import MoneyPane
from wbo_tui.widgets.table_pane import cell
from wbo_tui.widgets.moments import when
from wbo_tui.widgets.reject import RejectScreen
from wbo_tui.widgets.row_actions import Unavailable, decision_unavailable
from wbo_tui.screens.positions.withdrawal_forms import MarkFailedScreen, WithdrawalScreen, withdrawal_summary

THRESHOLD_RULE = (
    "Approval is refused when the principal account's (or the fee account's) available balance "
    "minus what is already committed out of it and not yet settled (approved withdrawals, "
    "allocations in flight) minus this withdrawal's own amount would be below the account's "
    "blocking threshold; an account with no blocking threshold uses zero, and an account never "
    "polled counts as insufficient."
)


def parts_in_payment(w: WithdrawalDTO) -> list[tuple[str, Decimal, str]]:
    """(part, amount, account) of each part of an approved withdrawal still being paid: not
    marked failed, and not a zero fee (which moves nothing)."""
    return [(part, amount, account) for part, amount, account in (
        ("principal", w.principal, w.principal_account), ("fee", w.fee, w.fee_account))
        if amount > 0 and w.failed_part not in (part, "both")]


class WithdrawalsPane(MoneyPane):
    COLUMNS = ("Ref", "Client", "Channel", "Ccy", "Principal", "Fee", "Principal account", "Fee account", "Status",
               "Submitted (UTC)", "Failure")
    # At 80 columns: ref, client, currency, principal, fee, status and submission time; the
    # detail line below the table names the accounts, the channel and any failure.
    DROP_ORDER = ("Failure", "Channel", "Fee account", "Principal account", "Submitted (UTC)", "Client")
    NARROW = {"Failure": 20}
    EMPTY = "No withdrawal applications."
    TOPICS = frozenset({"withdrawals", "approvals", "currencies"})
    STATUSES = ("PENDING", "APPROVED", "SUCCESSFUL", "REJECTED", "FAILED")
    HELP = (
        "Withdrawal applications, newest first. n submits one (client, channel, currency, "
        "principal and fee; the principal and fee accounts come from the channel account "
        "configuration) for another operator to approve. a approves the selected pending "
        "application, x rejects it with a reason, s marks an approved one successful once the "
        "channel has paid it, m marks its principal or fee failed, f cycles the status filter. "
        "An approved withdrawal counts as committed out of its accounts until a part is marked "
        "failed (that part stops counting) or it is marked successful and a later poll shows "
        "the balance without it. Needs assets.withdrawal_application_inquiry (n, s and m: "
        "_operation, a and x: _approval). " + THRESHOLD_RULE + " The refusal reads "
        "\"The channel account's principal (or fee, or principal and fee) balance(s) for this "
        "currency ... insufficient. Please perform a fund allocation first.\""
    )
    BINDINGS = [
        Binding("n", "new", "New", id="withdrawal-new", tooltip="Submit a withdrawal application"),
        Binding("a", "approve", "Approve", id="withdrawal-approve", tooltip="Approve the selected application"),
        Binding("x", "reject", "Reject", id="withdrawal-reject", tooltip="Reject the selected application"),
        Binding("s", "mark_successful", "Mark successful", id="withdrawal-successful",
                tooltip="Mark an approved withdrawal paid by the channel"),
        Binding("m", "mark_failed", "Mark failed", id="withdrawal-failed", tooltip="Mark a part failed"),
        Binding("f", "cycle_status", "Status filter", id="withdrawal-filter", tooltip="Cycle the status filter"),
    ]
    ROW_ACTIONS = frozenset({"approve", "reject", "mark_successful", "mark_failed"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self._approving: str | None = None

    def compose(self) -> ComposeResult:
        # Above the table: the notifications that appear bottom-right never cover it.
        yield Static("", id="withdrawal-refusal", markup=False)
        yield from super().compose()

    def list_query(self) -> Query:
        return ListWithdrawals(status=self.status_filter)

    def row_key(self, item: WithdrawalDTO) -> str:
        return item.ref

    def row_cells(self, w: WithdrawalDTO) -> Sequence[object]:
        failure = f"{w.failed_part}: {w.failure_reason}" if w.failed_part else ""
        return (cell(w.ref), cell(w.client_id), cell(w.channel), cell(w.currency), self.money(w.principal, w.currency),
                self.money(w.fee, w.currency), cell(w.principal_account), cell(w.fee_account), cell(w.status),
                cell(when(w.submitted_at)), cell(failure))

    def money_line(self, w: WithdrawalDTO) -> str:
        return f"{self.amount(w.principal, w.currency)} {w.currency} + fee {self.amount(w.fee, w.currency)}"

    def show_detail(self, w: WithdrawalDTO | None) -> None:
        text = ""
        if w is not None:
            text = withdrawal_summary(w, self.money_line(w))
            if w.failed_part:
                text += f" Failed ({w.failed_part}): {w.failure_reason}"
        self.query_one(".pane-detail", Static).update(text)

    def show_refusal(self, text: str) -> None:
        refusal = self.query_one("#withdrawal-refusal", Static)
        refusal.update(text)
        refusal.set_class(bool(text), "-shown")

    def why_not(self, action: str, item: WithdrawalDTO | None) -> Unavailable | str | None:
        if item is None:
            return "no row is selected"
        if action in ("mark_failed", "mark_successful"):
            # A withdrawal failed in one part still has the other being paid: it may fail or succeed.
            if item.status not in ("APPROVED", "FAILED") or not parts_in_payment(item):
                return (f"only an approved withdrawal still being paid is marked; {item.ref} is "
                        f"{item.status.lower()}" + (" in every part" if item.status == "FAILED" else ""))
            session, permission = self.wbo.session, MarkWithdrawalSuccessful.permission
            if session is not None and permission is not None and not session.can(permission):
                return Unavailable(f"you need the permission {permission} to mark withdrawals (R requests it)",
                                   permission=permission, wanted_for="mark withdrawals paid or failed")
            return None
        return decision_unavailable(self.wbo.session, "withdrawal", maker_id=item.maker_id,
                                    what="withdrawal application", pending=item.status == "PENDING",
                                    state=item.status.lower())

    # --- acting ---------------------------------------------------------------------------

    def action_new(self) -> None:
        self.app.push_screen(WithdrawalScreen(), callback=self._submitted)

    def _submitted(self, w: WithdrawalDTO | None) -> None:
        if w is not None:
            self.selected_key = w.ref
            self.app.notify(f"Withdrawal {w.ref} submitted for approval ({w.approval_ref}): "
                            f"{self.money_line(w)} {w.currency}.", markup=False)
            self.load()

    def action_approve(self) -> None:
        w: WithdrawalDTO = self.selected
        consequences = [
            f"Submitted: client {w.client_id}, principal {self.amount(w.principal, w.currency)} {w.currency} from "
            f"{w.principal_account}, fee {self.amount(w.fee, w.currency)} {w.currency} from {w.fee_account}, via "
            f"{w.channel}, at {when(w.submitted_at)} UTC.",
            THRESHOLD_RULE,
            f"Otherwise {w.ref} becomes approved and {w.approval_ref} is marked approved by you; the decision is "
            "final and recorded in the audit log.",
        ]

        def confirmed(yes: bool | None) -> None:
            if yes and not self.busy:
                self.busy = True
                self._approving = w.ref
                self.show_refusal("")
                self._approve(w)

        self.app.push_screen(ConfirmScreen(f"Approve withdrawal {w.ref}?", consequences, "Approve", danger=False,
                                           does="approves it unless an account would fall below its threshold"),
                             callback=confirmed)

    @work(group="act", exit_on_error=False)
    async def _approve(self, w: WithdrawalDTO) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        item: ApprovalDTO = await engine.execute(session, ApproveItem(approval_id=w.approval_id))
        self.busy = False
        if item.status == "APPROVED":
            self.app.notify(f"Withdrawal {w.ref} approved.", markup=False)
        else:
            # The decision stands but the stored command could not run: say so, never "approved".
            self.app.notify(f"{item.ref} decided, but {w.ref} was not approved: {item.outcome}",
                            title="Not done", severity="error", markup=False)
        self.load()

    def action_reject(self) -> None:
        w: WithdrawalDTO = self.selected
        self.app.push_screen(RejectScreen(w.approval_id, withdrawal_summary(w, self.money_line(w)), (
            f"{w.ref} is marked rejected by you and nothing is paid out.",
            f"The maker sees the rejection and your reason under My submissions ({w.approval_ref}).",
            "The decision is final and recorded in the audit log.",
        ), title="Reject withdrawal application"), callback=self._rejected)

    def _rejected(self, item: ApprovalDTO | None) -> None:
        if item is not None:
            self.show_refusal("")
            self.app.notify(f"{item.ref} rejected: {item.reason}", markup=False)
            self.load()

    def action_mark_failed(self) -> None:
        w: WithdrawalDTO = self.selected
        self.app.push_screen(MarkFailedScreen(w, self.money_line(w)), callback=self._failed)

    def _failed(self, w: WithdrawalDTO | None) -> None:
        if w is not None:
            self.app.notify(f"Withdrawal {w.ref} marked failed ({w.failed_part}).", markup=False)
            self.load()

    def action_mark_successful(self) -> None:
        w: WithdrawalDTO = self.selected

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_command(MarkWithdrawalSuccessful(withdrawal_ref=w.ref),
                                 f"Withdrawal {w.ref} marked successful.")

        self.app.push_screen(ConfirmScreen(f"Mark withdrawal {w.ref} successful?", self.success_consequences(w),
                                           "Mark successful", danger=False), callback=confirmed)

    def success_consequences(self, w: WithdrawalDTO) -> list[str]:
        """What marking ``w`` successful does, naming the parts paid and the accounts."""
        paid = " and ".join(f"the {part} {self.amount(amount, w.currency)} {w.currency} out of {account}"
                            for part, amount, account in parts_in_payment(w))
        lines = [withdrawal_summary(w, self.money_line(w)),
                 f"{w.ref} becomes SUCCESSFUL: you record that the channel paid {paid}."]
        if w.failed_part:
            lines.append(f"The {w.failed_part} stays recorded as failed: {w.failure_reason}")
        lines += [
            "Those amounts keep counting as committed out of their accounts until a poll shows a balance taken "
            "after now; from then on the polled balance itself shows the money gone.",
            "It can no longer be marked failed. The mark is yours, final, and recorded in the audit log.",
        ]
        return lines

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        if worker.group == "act" and isinstance(error, InsufficientChannelBalance):
            self.show_refusal(f"Approval of {self._approving} refused: {error}")
        # Not claimed: the app's reporter shows every refusal as its error notification.
        return super().handle_engine_error(worker, error)

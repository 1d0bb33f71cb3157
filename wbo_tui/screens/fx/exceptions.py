"""FX › Exceptions: channel orders that failed, came back unknown or stalled.  s marks one
successful (at the rate the bank applied), m marks it failed, e re-exchanges it; each
handling then waits for another person, who approves (a) or rejects (x) it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine.fx import ExceptionRecordDTO, ListExceptionRecords, ReviewExceptionHandling
from wbo_tui.engine.fx.exceptions import OPERATION
from wbo_tui.engine.fx.review import APPROVAL

from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.money_pane import MoneyPane
from wbo_tui.widgets.moments import when
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import cell
from wbo_tui.screens.fx.exception_forms import HANDLINGS, ExceptionApplyScreen, ExceptionRejectScreen

APPLY_ACTIONS = {"mark_successful": "SUCCESS_APPLY", "mark_failed": "FAILURE_APPLY", "re_exchange": "RETRY_APPLY"}


class ExceptionsPane(MoneyPane):
    COLUMNS = ("Channel order", "Order no", "Channel", "Sells", "Status", "Reason", "Handling", "Review",
               "Sent (UTC)")
    DROP_ORDER = ("Sent (UTC)", "Reason", "Channel", "Order no")
    NARROW = {"Reason": 16}
    EMPTY = "No exception exchange records."
    TOPICS = frozenset({"fx_channel_orders", "fx_exchanges"})
    HELP = (
        "Channel orders that failed, came back unknown, or are still processing after 30 minutes. s marks the "
        "selected one successful at the channel rate the bank applied, m marks it failed (the client's hold is "
        "released), e re-exchanges it on a channel; a handling waits for another person's review: a approves "
        "it (it is then carried out, once), x rejects it with a reason. Needs fx.customer_exchange_inquiry "
        "(s, m, e: fx.exchange_exception_operation; a, x: fx.customer_exchange_approval)."
    )
    BINDINGS = [
        Binding("s", "mark_successful", "Successful", id="fx-exception-success", tooltip="Mark successful"),
        Binding("m", "mark_failed", "Failed", id="fx-exception-failed", tooltip="Mark failed"),
        Binding("e", "re_exchange", "Re-exchange", id="fx-exception-retry", tooltip="Re-exchange on a channel"),
        Binding("a", "approve", "Approve", id="fx-exception-approve", tooltip="Approve the handling"),
        Binding("x", "reject", "Reject", id="fx-exception-reject", tooltip="Reject the handling"),
    ]
    ROW_ACTIONS = frozenset({*APPLY_ACTIONS, "approve", "reject"})

    def list_query(self) -> ListExceptionRecords:
        return ListExceptionRecords()

    def row_key(self, item: ExceptionRecordDTO) -> str:
        return item.order_no

    def row_cells(self, r: ExceptionRecordDTO) -> Sequence[object]:
        review = (r.apply_status or "—").replace("_", " ").lower()
        return (cell(r.order_no), cell(r.forex_id), cell(r.channel_name),
                Text(f"{self.amount(r.from_amount, r.from_currency)} {r.from_currency}", justify="right"),
                cell(r.channel_status.lower()), cell(r.origin_text or "—"),
                cell(HANDLINGS[r.apply_type][0] if r.apply_type else "—"),
                Text(review, style="bold yellow" if r.apply_status == "PENDING_REVIEW" else ""),
                cell(when(r.created_at)))

    def show_detail(self, r: ExceptionRecordDTO | None) -> None:
        text = ""
        if r is not None:
            text = (f"{r.order_no} ({r.forex_id}) on {r.channel_name}: {r.channel_status.lower()}: "
                    f"{r.origin_text or 'no message'}.")
            if r.apply_type:
                extra = f" at {r.apply_channel_rate}" if r.apply_channel_rate else (
                    f" on {r.apply_channel_name}" if r.apply_channel_name else "")
                text += f" Handling: {HANDLINGS[r.apply_type][0]}{extra} ({r.apply_remark}); {r.apply_status}."
        self.query_one(".pane-detail", Static).update(text)

    def status_text(self, items: Sequence[ExceptionRecordDTO]) -> str:
        waiting = sum(1 for r in items if r.apply_status == "PENDING_REVIEW")
        if not items:
            return self.EMPTY
        records = f"{len(items)} exception record{'s' if len(items) != 1 else ''}"
        return f"{records}; {waiting} handling{' awaits' if waiting == 1 else 's await'} review."

    def why_not(self, action: str, item: ExceptionRecordDTO | None) -> Unavailable | str | None:
        if item is None:
            return "no row is selected"
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        pending = item.apply_status == "PENDING_REVIEW"
        if action in APPLY_ACTIONS:
            if pending:
                return f"{item.order_no} has a handling awaiting review"
            if not session.can(OPERATION):
                return Unavailable(f"you need the permission {OPERATION} to handle exceptions (R requests it)",
                                   permission=OPERATION, wanted_for="handle exception exchange records")
            return None
        if not pending:
            return f"{item.order_no} has no handling awaiting review"
        if item.applied_by == session.operator_id:
            return "you applied this handling; another person must review it"
        if not session.can(APPROVAL):
            return Unavailable(f"you need the permission {APPROVAL} to review exception handling (R requests it)",
                               permission=APPROVAL, wanted_for="review exception handling")
        return None

    def _apply(self, apply_type: str) -> None:
        self.app.push_screen(ExceptionApplyScreen(self.selected, apply_type), callback=self._changed)

    def action_mark_successful(self) -> None:
        self._apply("SUCCESS_APPLY")

    def action_mark_failed(self) -> None:
        self._apply("FAILURE_APPLY")

    def action_re_exchange(self) -> None:
        self._apply("RETRY_APPLY")

    def _changed(self, result: object) -> None:
        if result is not None:
            self.app.notify("Saved; it awaits another person's review.", markup=False)
            self.load()

    def action_approve(self) -> None:
        r: ExceptionRecordDTO = self.selected
        label, effect = HANDLINGS[r.apply_type or "FAILURE_APPLY"]
        consequences = [f"{label} on {r.order_no} ({r.forex_id}): {r.apply_remark}.", effect,
                        "The decision is final, carried out once, and recorded in the audit log."]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_command(ReviewExceptionHandling(order_nos=(r.order_no,), review_type="REVIEW_APPROVED"),
                                 f"{r.order_no}: {label.lower()} approved.")

        self.app.push_screen(ConfirmScreen(f"Approve the handling of {r.order_no}?", consequences, "Approve",
                                           danger=False, does="approves it"), callback=confirmed)

    def action_reject(self) -> None:
        self.app.push_screen(ExceptionRejectScreen(self.selected), callback=self._changed)

"""Handling an exception exchange record (mark successful at the rate the bank applied,
mark failed, re-exchange on a channel), and rejecting a handling under review: each with
a required remark and what will happen said first."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Input, Static

from wbo_tui.engine import SessionInfo, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.fx import (
    ApplyExceptionHandling,
    ExceptionRecordDTO,
    ExceptionReviewResult,
    ReviewExceptionHandling,
)
from wbo_tui.engine.fx.strategies import CHANNELS

from wbo_tui.widgets.forms import PositionForm, labelled
from wbo_tui.widgets.typed_confirmation import TypedConfirmation, phrase

HANDLINGS = {
    "SUCCESS_APPLY": ("Mark successful", "The bank's funds did move: the exchange settles at the channel rate you "
                                         "give (less any executed-rate markup) once a reviewer approves."),
    "FAILURE_APPLY": ("Mark failed", "The funds did not and will not move: once a reviewer approves, the exchange "
                                     "fails and the client's hold is released."),
    "RETRY_APPLY": ("Re-exchange", "The funds did not move but the client should get the exchange: once a reviewer "
                                   "approves, a new order goes to the channel you name."),
}


class ExceptionApplyScreen(PositionForm[ExceptionRecordDTO]):
    HELP = ("Fill in the fields and Save: the handling then waits for another person's review (nothing moves "
            "before that). Escape changes nothing.")
    CANCEL_NOTICE = "Nothing was applied."

    def __init__(self, record: ExceptionRecordDTO, apply_type: str) -> None:
        super().__init__()
        self._record = record
        self._type = apply_type
        label, _ = HANDLINGS[apply_type]
        self.FORM_TITLE = f"{label}: {record.order_no} ({record.forex_id})"
        self.SUBMIT_LABEL = f"{label} (for review)"

    def compose_fields(self) -> Iterable[Widget]:
        r = self._record
        yield Static(f"{r.order_no} on {r.channel_name}: {r.from_amount} {r.from_currency} → {r.to_currency}, "
                     f"{r.channel_status.lower()} ({r.origin_text or 'no message'}).", markup=False,
                     classes="what-happens")
        yield Static(HANDLINGS[self._type][1], markup=False, classes="what-happens")
        if self._type == "SUCCESS_APPLY":
            yield from labelled("Channel rate applied by the bank", Input(id="exception-rate"))
        if self._type == "RETRY_APPLY":
            yield from labelled(f"Channel ({', '.join(CHANNELS)})", Input(r.channel_name, id="exception-channel"))
        yield from labelled("Remark (required)", Input(id="exception-remark"))

    async def perform(self, engine: Engine, session: SessionInfo) -> ExceptionRecordDTO:
        fields: dict[str, object] = {"order_no": self._record.order_no, "apply_type": self._type,
                                     "apply_remark": self.value("#exception-remark")}
        if self._type == "SUCCESS_APPLY":
            fields["apply_channel_rate"] = self.value("#exception-rate")
        if self._type == "RETRY_APPLY":
            fields["apply_channel_name"] = self.value("#exception-channel")
        return await engine.execute(session, build(ApplyExceptionHandling, **fields))


class ExceptionRejectScreen(PositionForm[ExceptionReviewResult]):
    SUBMIT_VARIANT = "error"
    SUBMIT_LABEL = "Reject handling"
    CANCEL_NOTICE = "Nothing was rejected."
    HELP = ("Give the reason, then type the confirmation shown; the record stays an exception for a new handling. "
            "Escape changes nothing.")

    def __init__(self, record: ExceptionRecordDTO) -> None:
        super().__init__()
        self._record = record
        self.FORM_TITLE = f"Reject the handling of {record.order_no}"

    def compose_fields(self) -> Iterable[Widget]:
        r = self._record
        yield Static(f"{r.apply_type} applied on {r.order_no} ({r.forex_id}): {r.apply_remark}", markup=False,
                     classes="what-happens")
        yield Static("• The handling is rejected with your reason and nothing moves; the record stays an exception.",
                     markup=False, classes="what-happens")
        yield from labelled("Reason (required)", Input(id="exception-review-remark"))
        yield TypedConfirmation(phrase("reject", 1), "rejects the handling")

    async def perform(self, engine: Engine, session: SessionInfo) -> ExceptionReviewResult:
        return await engine.execute(session, build(
            ReviewExceptionHandling, order_nos=(self._record.order_no,), review_type="REVIEW_REJECTED",
            review_remark=self.value("#exception-review-remark")))

"""Rejecting or cancelling a client exchange: a required reason, what will happen, and a
typed confirmation (REJECT 1 / CANCEL 1), as every destructive decision asks."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Input, Static

from wbo_tui.engine import SessionInfo, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.fx import CancelClientExchange, ExchangeDTO, ReviewClientExchange

from wbo_tui.widgets.forms import PositionForm, labelled
from wbo_tui.widgets.typed_confirmation import TypedConfirmation, phrase


class ExchangeReasonScreen(PositionForm[ExchangeDTO]):
    """``approve`` False: reject a request awaiting review; None: cancel one not executed."""

    SUBMIT_VARIANT = "error"
    HELP = ("Give the reason (the maker and the audit log keep it), then type the confirmation shown: the button "
            "stays disabled until it matches. Escape changes nothing.")

    def __init__(self, exchange: ExchangeDTO, what: str, *, approve: bool | None) -> None:
        super().__init__()
        self._exchange = exchange
        self._what = what
        self._cancel = approve is None
        verb = "Cancel" if self._cancel else "Reject"
        self.FORM_TITLE = f"{verb} client exchange {exchange.forex_id}"
        self.SUBMIT_LABEL = f"{verb} request"
        self.CANCEL_NOTICE = "Nothing was changed."

    def compose_fields(self) -> Iterable[Widget]:
        e = self._exchange
        yield Static(self._what + ".", markup=False, classes="what-happens")
        yield Static("What will happen:", classes="modal-subtitle")
        done = "cancelled" if self._cancel else "rejected"
        yield Static("\n".join(f"• {line}" for line in (
            f"{e.forex_id} is marked {done} with your reason and is never executed.",
            f"The hold of {e.from_amount} {e.from_currency} on {e.client.account_no} is released: it is "
            "withdrawable again.",
            "The decision is final and recorded in the audit log.")), classes="what-happens", markup=False)
        yield from labelled("Reason (required)", Input(id="exchange-reason"))
        yield TypedConfirmation(phrase("cancel" if self._cancel else "reject", 1),
                                "cancels the request" if self._cancel else "rejects it with your reason")

    async def perform(self, engine: Engine, session: SessionInfo) -> ExchangeDTO:
        reason = self.value("#exchange-reason")
        if self._cancel:
            command = build(CancelClientExchange, exchange_id=self._exchange.id, reason=reason)
        else:
            command = build(ReviewClientExchange, exchange_id=self._exchange.id, approve=False, audit_remark=reason)
        return await engine.execute(session, command)

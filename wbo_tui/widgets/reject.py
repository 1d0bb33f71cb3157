"""Reject a pending approval item: a required reason, and exactly what will happen."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Input, Static

from wbo_tui.engine import ApprovalDTO, RejectItem, SessionInfo, build
from wbo_tui.engine.api import Engine

from wbo_tui.widgets.forms import PositionForm, labelled
from wbo_tui.widgets.typed_confirmation import TypedConfirmation, phrase


class RejectScreen(PositionForm[ApprovalDTO]):
    """Any kind of approval item: the caller says what it is and what rejecting does.  On a
    short terminal the reason drops its border, and what is said scrolls above the buttons."""

    SUBMIT_LABEL = "Reject"
    SUBMIT_VARIANT = "error"
    CANCEL_NOTICE = "Nothing was rejected."
    HELP = ("Give the reason the maker will read, then type the confirmation shown (REJECT 1): the Reject "
            "button stays disabled until it matches. Enter in the reason moves to the confirmation; Enter there "
            "rejects once it matches. Escape cancels and changes nothing.")

    def __init__(self, approval_id: int, what: str, consequences: Iterable[str], *,
                 title: str = "Reject request") -> None:
        super().__init__()
        self.FORM_TITLE = title
        self._approval_id = approval_id
        self._what = what
        self._consequences = "\n".join(f"• {line}" for line in consequences)

    @classmethod
    def permission_request(cls, item: ApprovalDTO) -> RejectScreen:
        code = item.payload.get("permission_code", "")
        return cls(item.id, f"{item.ref}: {item.summary}", (
            f"{item.ref} is marked rejected by you; {item.maker} is not granted {code}.",
            f"{item.maker} sees the rejection and your reason under My submissions.",
            "The decision is final and recorded in the audit log; they can file a new request.",
        ))

    def compose_fields(self) -> Iterable[Widget]:
        yield Static(self._what, markup=False, classes="what-happens")
        yield Static("What will happen:", classes="modal-subtitle")
        yield Static(self._consequences, id="reject-consequences", classes="what-happens", markup=False)
        yield from labelled("Reason (required)", Input(id="reject-reason"))
        yield TypedConfirmation(phrase("reject", 1), "rejects it with your reason")

    async def perform(self, engine: Engine, session: SessionInfo) -> ApprovalDTO:
        command = build(RejectItem, approval_id=self._approval_id, reason=self.value("#reject-reason"))
        return await engine.execute(session, command)

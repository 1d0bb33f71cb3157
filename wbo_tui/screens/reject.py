"""Reject a pending item: a required reason, and exactly what will happen."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Input, Static

from wbo_tui.engine import ApprovalDTO, RejectItem, SessionInfo, build
from wbo_tui.engine.api import Engine

from .forms import FormScreen, labelled


class RejectScreen(FormScreen[ApprovalDTO]):
    FORM_TITLE = "Reject request"
    SUBMIT_LABEL = "Reject"
    SUBMIT_VARIANT = "error"

    def __init__(self, item: ApprovalDTO) -> None:
        super().__init__()
        self._item = item

    def compose_fields(self) -> Iterable[Widget]:
        item = self._item
        code = item.payload.get("permission_code", "")
        yield Static(f"{item.ref}: {item.summary}", markup=False, classes="what-happens")
        yield Static("What will happen:", classes="modal-subtitle")
        yield Static(
            f"• {item.ref} is marked rejected by you; {item.maker} is not granted {code}.\n"
            f"• {item.maker} sees the rejection and your reason under My submissions.\n"
            "• The decision is final and recorded in the audit log; they can file a new request.",
            id="reject-consequences", classes="what-happens", markup=False,
        )
        yield from labelled("Reason (required)", Input(id="reject-reason"))

    async def perform(self, engine: Engine, session: SessionInfo) -> ApprovalDTO:
        command = build(RejectItem, approval_id=self._item.id, reason=self.value("#reject-reason"))
        return await engine.execute(session, command)

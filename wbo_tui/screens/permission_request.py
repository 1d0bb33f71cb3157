"""File a permission request for a permission the engine said is missing."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Input, Static

from wbo_tui.engine import ApprovalDTO, PermissionDenied, RequestPermission, SessionInfo, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.permissions import BY_CODE

from wbo_tui.widgets.forms import FormScreen, labelled


class PermissionRequestScreen(FormScreen[ApprovalDTO]):
    FORM_TITLE = "Permission needed"
    SUBMIT_LABEL = "File request"
    HELP = (
        "The engine refused an action because you lack a permission. Say why you need it "
        "and file a request; an administrator approves or rejects it. Once approved, press "
        "F5 in the shell (or enter the area again) and the permission takes effect."
    )

    def __init__(self, error: PermissionDenied) -> None:
        super().__init__()
        self.error = error

    def compose_fields(self) -> Iterable[Widget]:
        known = BY_CODE.get(self.error.permission)
        what = f"{known.description} (module {known.module})" if known else ""
        yield Static(str(self.error), id="request-denial", markup=False)
        yield Static(f"Permission: {self.error.permission}\n{what}", id="request-permission-code",
                     classes="what-happens", markup=False)
        yield from labelled("Reason (required)", Input(id="request-reason", placeholder="why you need it"))

    def help_text(self) -> tuple[str, str]:
        return ("Permission request", self.HELP or "")

    async def perform(self, engine: Engine, session: SessionInfo) -> ApprovalDTO:
        command = build(RequestPermission, permission_code=self.error.permission,
                        reason=self.value("#request-reason"))
        return await engine.execute(session, command)

"""Admin › Permission requests (decide other operators' requests) and My submissions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine import ApprovalDTO, ApproveItem, ListApprovals, MySubmissions, build
from wbo_tui.engine.permissions import BY_CODE

from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.table_pane import TablePane
from wbo_tui.widgets.reject import RejectScreen


def _when(item: ApprovalDTO) -> str:
    return f"{item.submitted_at:%Y-%m-%d %H:%M}"


class RequestsPane(TablePane):
    COLUMNS = ("Ref", "Requested by", "Permission", "Reason", "Submitted (UTC)")
    EMPTY = "No pending permission requests."
    HELP = (
        "Pending permission requests from other operators. a approves the selected request "
        "(the permission is granted to the requester at once); x rejects it with a reason "
        "the requester will read. You cannot decide a request you filed yourself."
    )
    BINDINGS = [
        Binding("a", "approve", "Approve", id="request-approve"),
        Binding("x", "reject", "Reject", id="request-reject"),
    ]
    ROW_ACTIONS = frozenset({"approve", "reject"})

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[ApprovalDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        return await engine.query(session, ListApprovals(kind="permission_request"))

    def row_key(self, item: ApprovalDTO) -> str:
        return str(item.id)

    def row_cells(self, item: ApprovalDTO) -> Sequence[object]:
        return (item.ref, item.maker, item.payload.get("permission_code", ""), item.payload.get("reason", ""),
                _when(item))

    def status_text(self, items: Sequence[Any]) -> str:
        return f"{len(items)} pending." if items else self.EMPTY

    def show_detail(self, item: ApprovalDTO | None) -> None:
        self.query_one(".pane-detail", Static).update(item.summary if item is not None else "")

    def applies(self, action: str, item: ApprovalDTO | None) -> bool:
        session = self.wbo.session
        return item is not None and session is not None and item.maker_id != session.operator_id

    def action_approve(self) -> None:
        item: ApprovalDTO = self.selected
        code = item.payload.get("permission_code", "")
        known = BY_CODE.get(code)
        consequences = [
            f"{item.maker} is granted {code} directly" + (f" ({known.description})." if known else "."),
            "It takes effect at their next refresh (F5) or when they next enter an area.",
            f"{item.ref} is marked approved by you, and the grant is recorded in the audit log.",
        ]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_command(build(ApproveItem, approval_id=item.id),
                                 f"{item.ref} approved: {item.maker} now holds {code}.")

        self.app.push_screen(ConfirmScreen(f"Approve {item.ref}?", consequences, "Approve", danger=False),
                             callback=confirmed)

    def action_reject(self) -> None:
        self.app.push_screen(RejectScreen.permission_request(self.selected), callback=self._rejected)

    def _rejected(self, item: ApprovalDTO | None) -> None:
        if item is not None:
            self.app.notify(f"{item.ref} rejected.", markup=False)
            self.load()


class SubmissionsPane(TablePane):
    COLUMNS = ("Ref", "Kind", "Summary", "Status", "Decided by", "Decided (UTC)", "Reason / outcome")
    EMPTY = "You have not submitted anything."
    HELP = "Everything you submitted for approval, newest first, with its status and the checker's reason."

    async def fetch(self) -> Sequence[ApprovalDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        return await engine.query(session, MySubmissions())

    def row_key(self, item: ApprovalDTO) -> str:
        return str(item.id)

    def row_cells(self, item: ApprovalDTO) -> Sequence[object]:
        decided = f"{item.decided_at:%Y-%m-%d %H:%M}" if item.decided_at else ""
        return (item.ref, item.kind.replace("_", " "), item.summary, item.status.lower(), item.checker or "",
                decided, item.reason or item.outcome or "")

    def status_text(self, items: Sequence[Any]) -> str:
        pending = sum(1 for item in items if item.status == "PENDING")
        return f"{len(items)} submissions, {pending} pending." if items else self.EMPTY

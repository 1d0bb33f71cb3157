"""Admin › Permission requests (decide other operators' requests) and My submissions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.widgets import Static

from wbo_tui.engine import ApprovalDTO, ApproveItem, MySubmissions, build
from wbo_tui.engine.permissions import BY_CODE

from wbo_tui.screens.admin.approval_queue import ApprovalQueuePane, decision_bindings
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.table_pane import TablePane
from wbo_tui.widgets.reject import RejectScreen


def _when(item: ApprovalDTO) -> str:
    return f"{item.submitted_at:%Y-%m-%d %H:%M}"


class RequestsPane(ApprovalQueuePane):
    COLUMNS = ("Ref", "Requested by", "Permission", "Reason", "Submitted (UTC)")
    NARROW = {"Reason": 12, "Permission": 20}
    EMPTY = "No pending permission requests."
    WHAT = "permission request"
    HELP = (
        "Pending permission requests from other operators. a approves the selected request "
        "(the permission is granted to the requester at once); x rejects it with a reason "
        "the requester will read. You cannot decide a request you filed yourself."
    )
    BINDINGS = decision_bindings("request")

    async def fetch(self) -> Sequence[ApprovalDTO]:
        return await self.pending("permission_request")

    def row_cells(self, item: ApprovalDTO) -> Sequence[object]:
        return (item.ref, item.maker, item.payload.get("permission_code", ""), item.payload.get("reason", ""),
                _when(item))

    def status_text(self, items: Sequence[Any]) -> str:
        return f"{len(items)} pending." if items else self.EMPTY

    def show_detail(self, item: ApprovalDTO | None) -> None:
        self.query_one(".pane-detail", Static).update(item.summary if item is not None else "")

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

        self.app.push_screen(ConfirmScreen(f"Approve {item.ref}?", consequences, "Approve", danger=False,
                                           does=f"grants {code} to {item.maker}"), callback=confirmed)

    def action_reject(self) -> None:
        self.app.push_screen(RejectScreen.permission_request(self.selected), callback=self._rejected)


class SubmissionsPane(TablePane):
    COLUMNS = ("Ref", "Kind", "Summary", "Status", "Decided by", "Decided (UTC)", "Reason / outcome")
    DROP_ORDER = ("Decided (UTC)", "Decided by")
    NARROW = {"Reason / outcome": 12, "Summary": 16}
    EMPTY = "You have not submitted anything."
    TOPICS = frozenset({"approvals"})
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

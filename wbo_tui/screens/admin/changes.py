"""Admin › Changes: gains of power that wait for a second administrator — an operator's
new roles, a role's new permissions — with exactly what each would change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual import work
from textual.widgets import Static

from wbo_tui.engine import ApprovalDTO, ApproveItem, build

from wbo_tui.screens.admin.approval_queue import ApprovalQueuePane, decision_bindings
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.reject import RejectScreen
from wbo_tui.widgets.row_actions import Unavailable

OPERATOR_ROLES = "operator_roles"
ROLE_PERMISSIONS = "role_permissions"


def _names(values: Sequence[str]) -> str:
    return ", ".join(values) or "none"


def target(item: ApprovalDTO) -> str:
    """What the item changes, e.g. ``roles of jdoe`` or ``role desk``."""
    if item.kind == OPERATOR_ROLES:
        return f"roles of {item.payload['username']}"
    return f"role {item.payload['role']}"


def brief(item: ApprovalDTO) -> str:
    """The change in a table cell: roles or permissions added (+) and removed (-)."""
    p = item.payload
    new, old = (p["roles"], p["before"]) if item.kind == OPERATOR_ROLES else (p["permissions"], p["before"])
    added = [f"+{name}" for name in sorted(set(new) - set(old))]
    removed = [f"-{name}" for name in sorted(set(old) - set(new))]
    return " ".join(added + removed)


def consequences(item: ApprovalDTO) -> list[str]:
    """What approving ``item`` does, one sentence a line."""
    p = item.payload
    if item.kind == OPERATOR_ROLES:
        return [
            f"{p['username']}'s roles become {_names(p['roles'])} (now: {_names(p['before'])}).",
            f"{p['username']} gains {len(p['gains'])} permission(s): {_names(p['gains'])}.",
        ]
    granted = sorted(set(p["permissions"]) - set(p["before"]))
    revoked = sorted(set(p["before"]) - set(p["permissions"]))
    lines = [f"Role {p['role']} is granted {_names(granted)}."]
    if revoked:
        lines.append(f"It loses {_names(revoked)}.")
    members = p["members"]
    lines.append(f"Every member gets the change: {_names(members)}." if members
                 else "The role has no members yet.")
    return lines


class ChangesPane(ApprovalQueuePane):
    COLUMNS = ("Ref", "Change to", "Submitted by", "Adds (+) / removes (-)", "Submitted (UTC)")
    NARROW = {"Adds (+) / removes (-)": 16}
    EMPTY = "No changes to roles wait for approval."
    WHAT = "change"
    HELP = (
        "Changes that give operators more power wait here for a second administrator: an "
        "operator's new roles, a role's new permissions. The line below the table says exactly "
        "what the selected change does. a approves it (it applies at once, unless what it changes "
        "was changed meanwhile: then it fails and changes nothing); x rejects it with a reason. "
        "You cannot decide a change you submitted, one to your own roles, or one for an operator "
        "whose password you set. Taking roles or permissions away needs no approval."
    )
    BINDINGS = decision_bindings("change")

    async def fetch(self) -> Sequence[ApprovalDTO]:
        items = [*await self.pending(OPERATOR_ROLES), *await self.pending(ROLE_PERMISSIONS)]
        return sorted(items, key=lambda item: item.id)

    def row_cells(self, item: ApprovalDTO) -> Sequence[object]:
        return (item.ref, target(item), item.maker, brief(item), f"{item.submitted_at:%Y-%m-%d %H:%M}")

    def status_text(self, items: Sequence[Any]) -> str:
        return f"{len(items)} waiting for approval." if items else self.EMPTY

    def show_detail(self, item: ApprovalDTO | None) -> None:
        text = f"{item.ref} by {item.maker}: " + " ".join(consequences(item)) if item is not None else ""
        self.query_one(".pane-detail", Static).update(text)

    def why_not(self, action: str, item: ApprovalDTO | None) -> Unavailable | str | None:
        reason = super().why_not(action, item)
        session = self.wbo.session
        if reason is None and item is not None and action == "approve" and session is not None \
                and item.payload.get("username") == session.username:
            return "it changes your own roles; another administrator must approve it"
        return reason

    def action_approve(self) -> None:
        item: ApprovalDTO = self.selected
        lines = [
            *consequences(item),
            "If what it changes was changed after it was submitted, the approval fails and changes nothing.",
            f"{item.ref} is marked approved by you, and the change is recorded in the audit log.",
        ]

        def confirmed(yes: bool | None) -> None:
            if yes and not self.busy:
                self.busy = True
                self._approve(item)

        self.app.push_screen(ConfirmScreen(f"Approve {item.ref}: {target(item)}?", lines, "Approve", danger=False,
                                           does=f"changes the {target(item)} at once"), callback=confirmed)

    @work(group="act", exit_on_error=False)
    async def _approve(self, item: ApprovalDTO) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        decided = await engine.execute(session, build(ApproveItem, approval_id=item.id))
        self.busy = False
        if decided.status == "APPROVED":
            self.app.notify(f"{item.ref} approved: the {target(item)} changed.", markup=False)
        else:
            self.app.notify(f"{item.ref} failed: {decided.outcome}", severity="warning", markup=False)
        self.load()

    def action_reject(self) -> None:
        item: ApprovalDTO = self.selected
        screen = RejectScreen(item.id, f"{item.ref}: {item.summary}", (
            f"{item.ref} is marked rejected by you; nothing changes for the {target(item)}.",
            f"{item.maker} sees the rejection and your reason under My submissions.",
            "The decision is final and recorded in the audit log; they can submit the change again.",
        ), title="Reject change")
        self.app.push_screen(screen, callback=self._rejected)

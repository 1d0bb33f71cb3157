"""Admin › Roles: named sets of permissions; create a role, edit a role's permissions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine import ListRoles, RoleDTO

from wbo_tui.widgets.table_pane import TablePane
from wbo_tui.screens.admin.role_forms import CreateRoleScreen, RolePermissionsScreen


class RolesPane(TablePane):
    COLUMNS = ("Role", "Description", "Permissions", "Members")
    NARROW = {"Description": 16}
    EMPTY = "No roles."
    TOPICS = frozenset({"roles", "role_permissions"})
    HELP = (
        "Roles grant permissions to every operator who has them. n creates a role; e edits "
        "the selected role's permissions from the catalog. Granting a role permissions waits "
        "for a second administrator's approval (Admin › Changes); the Permissions column shows "
        "such a change and its ref. The line below the table lists the selected role's permissions."
    )
    BINDINGS = [
        Binding("n", "new", "New role", id="role-new"),
        Binding("e", "edit", "Edit permissions", id="role-edit"),
    ]
    ROW_ACTIONS = frozenset({"edit"})

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[RoleDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        return await engine.query(session, ListRoles())

    def row_key(self, item: RoleDTO) -> str:
        return item.name

    def row_cells(self, role: RoleDTO) -> Sequence[object]:
        count = str(len(role.permissions))
        if role.pending_approval is not None:
            count += f" → {len(role.pending_permissions or ())} ({role.pending_approval})"
        return (role.name, role.description, count, role.member_count)

    def status_text(self, items: Sequence[Any]) -> str:
        return f"{len(items)} roles."

    def show_detail(self, role: RoleDTO | None) -> None:
        text = ""
        if role is not None:
            text = f"{role.name}: " + (", ".join(role.permissions) or "no permissions")
            if role.pending_approval is not None:
                added = sorted(set(role.pending_permissions or ()) - set(role.permissions))
                text += f". Waiting for approval ({role.pending_approval}): + {', '.join(added)}"
        self.query_one(".pane-detail", Static).update(text)

    def action_new(self) -> None:
        self.app.push_screen(CreateRoleScreen(), callback=self._done)

    def action_edit(self) -> None:
        self.app.push_screen(RolePermissionsScreen(self.selected), callback=self._done)

    def _done(self, message: str | None) -> None:
        if message:
            self.app.notify(message, markup=False)
            self.load()

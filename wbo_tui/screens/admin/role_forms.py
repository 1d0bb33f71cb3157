"""Forms for roles: create a role, edit a role's permissions (a list of the catalog)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Input, SelectionList, Static
from textual.widgets.selection_list import Selection

from wbo_tui.engine import CreateRole, RoleDTO, SessionInfo, SetRolePermissions, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.permissions import CATALOG

from wbo_tui.widgets.forms import FormScreen, labelled


def catalog_list(selected: Iterable[str], *, id: str) -> SelectionList[str]:  # noqa: A002
    chosen = set(selected)
    selections = []
    for permission in CATALOG:
        prompt = Text.assemble((f"{permission.module:<12}", "dim"), (permission.code, "bold"),
                               f"  {permission.description}")
        selections.append(Selection(prompt, permission.code, permission.code in chosen))
    return SelectionList[str](*selections, id=id)


class CreateRoleScreen(FormScreen[str]):
    FORM_TITLE = "New role"
    SUBMIT_LABEL = "Create role"
    HELP = ("Create a role. It exists at once, without permissions; the permissions you pick wait "
            "for another administrator's approval (Admin › Changes).")

    def compose_fields(self) -> Iterable[Widget]:
        yield from labelled("Name", Input(id="role-name"))
        yield from labelled("Description", Input(id="role-description"))
        yield from labelled("Permissions (space toggles)", catalog_list((), id="role-permissions"))

    async def perform(self, engine: Engine, session: SessionInfo) -> str:
        permissions = sorted(self.query_one("#role-permissions", SelectionList).selected)
        role: RoleDTO = await engine.execute(session, build(
            CreateRole, name=self.value("#role-name"), description=self.value("#role-description"),
            permissions=permissions,
        ))
        if role.pending_approval is not None:
            return (f"Role {role.name} created; its {len(role.pending_permissions or ())} permission(s) were "
                    f"submitted for approval as {role.pending_approval}.")
        return f"Role {role.name} created with {len(role.permissions)} permission(s)."


class RolePermissionsScreen(FormScreen[str]):
    FORM_TITLE = "Edit role permissions"
    SUBMIT_LABEL = "Save permissions"

    def __init__(self, role: RoleDTO) -> None:
        super().__init__()
        self._role = role

    def compose_fields(self) -> Iterable[Widget]:
        yield Static(
            f"Permissions of role {self._role.name} ({self._role.member_count} member(s)). "
            "Changes apply to every member at their next action. Taking permissions away applies at "
            "once; granting any waits for another administrator's approval.",
            classes="what-happens", markup=False,
        )
        yield catalog_list(self._role.permissions, id="role-permissions")
        yield Static("", id="permissions-change", classes="what-happens", markup=False)

    def on_mount(self) -> None:
        self.query_one("#role-permissions", SelectionList).focus()
        self._describe_change()

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        self._describe_change()

    def _describe_change(self) -> None:
        chosen = set(self.query_one("#role-permissions", SelectionList).selected)
        current = set(self._role.permissions)
        granted, revoked = sorted(chosen - current), sorted(current - chosen)
        lines = []
        if granted:
            lines.append("Grants: " + ", ".join(granted))
        if revoked:
            lines.append("Revokes: " + ", ".join(revoked))
        self.query_one("#permissions-change", Static).update("\n".join(lines) or "No change yet.")

    async def perform(self, engine: Engine, session: SessionInfo) -> str:
        permissions = sorted(self.query_one("#role-permissions", SelectionList).selected)
        role = await engine.execute(session, build(SetRolePermissions, role=self._role.name, permissions=permissions))
        if role.pending_approval is not None:
            return (f"The permissions of role {role.name} were submitted for approval as {role.pending_approval}; "
                    "another administrator decides.")
        return f"Role {role.name} now has {len(permissions)} permission(s)."

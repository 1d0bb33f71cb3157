"""Admin › Operators: who can log in, with which roles; create, enable, disable, unlock,
reset a password, set roles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine import (
    ListOperators,
    ListRoles,
    OperatorDTO,
    SetOperatorEnabled,
    UnlockOperator,
    build,
)

from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.screens.admin.operator_forms import CreateOperatorScreen, ResetPasswordScreen, SetRolesScreen
from wbo_tui.widgets.table_pane import TablePane


def operator_status(op: OperatorDTO) -> str:
    if not op.enabled:
        return "disabled"
    if op.locked_until is not None:
        return f"locked until {op.locked_until:%H:%M} UTC"
    return "enabled"


def operator_roles(op: OperatorDTO) -> str:
    """The roles an operator holds, and any change of them still waiting for approval."""
    held = ", ".join(op.roles)
    if op.pending_approval is None:
        return held
    return f"{held or 'none'} → {', '.join(op.pending_roles or ()) or 'none'} ({op.pending_approval})"


def created_message(op: OperatorDTO) -> str:
    text = f"Operator {op.username} created; they choose a new password at their first login."
    if op.pending_approval is not None:
        text += (f" Their roles ({', '.join(op.pending_roles or ())}) wait for another administrator's "
                 f"approval as {op.pending_approval}.")
    return text


class OperatorsPane(TablePane):
    COLUMNS = ("Username", "Name", "Status", "Roles", "Direct grants", "Last login (UTC)")
    DROP_ORDER = ("Last login (UTC)", "Direct grants")
    NARROW = {"Name": 12, "Roles": 12}
    EMPTY = "No operators."
    TOPICS = frozenset({"operators", "operator_roles", "operator_permissions", "roles"})
    HELP = (
        "Operators who can log in. n creates one; e and d enable and disable the selected "
        "operator (disabling asks for confirmation); u unlocks an account locked by failed "
        "passwords; p sets a new password, which they must change at their next login; o sets "
        "the operator's roles. Roles that give an operator new permissions wait for a second "
        "administrator's approval (Admin › Changes): the Roles column shows such a change and "
        "its ref. Keys that do not apply to the selected operator are dimmed."
    )
    BINDINGS = [
        Binding("n", "new", "New", id="operator-new", tooltip="Create an operator"),
        Binding("e", "enable", "Enable", id="operator-enable"),
        Binding("d", "disable", "Disable", id="operator-disable"),
        Binding("u", "unlock", "Unlock", id="operator-unlock"),
        Binding("p", "reset_password", "Password", id="operator-reset-password", tooltip="Reset password"),
        Binding("o", "roles", "Roles", id="operator-roles", tooltip="Set roles"),
    ]
    ROW_ACTIONS = frozenset({"enable", "disable", "unlock", "reset_password", "roles"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.role_names: list[str] = []

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[OperatorDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        operators = await engine.query(session, ListOperators())
        self.role_names = [role.name for role in await engine.query(session, ListRoles())]
        return operators

    def row_key(self, item: OperatorDTO) -> str:
        return item.username

    def row_cells(self, op: OperatorDTO) -> Sequence[object]:
        last = f"{op.last_login_at:%Y-%m-%d %H:%M}" if op.last_login_at else "never"
        return (op.username, op.display_name, operator_status(op), operator_roles(op),
                ", ".join(op.direct_permissions), last)

    def status_text(self, items: Sequence[Any]) -> str:
        enabled = sum(1 for op in items if op.enabled)
        return f"{len(items)} operators, {enabled} enabled."

    def show_detail(self, op: OperatorDTO | None) -> None:
        text = ""
        if op is not None:
            admin = " Administrator." if op.is_administrator else ""
            failures = f" {op.failed_logins} failed password(s) since the last success." if op.failed_logins else ""
            change = " Must change the password at the next login." if op.must_change_password else ""
            if op.pending_approval is not None:
                change += (f" Roles {', '.join(op.pending_roles or ()) or 'none'} wait for approval "
                           f"({op.pending_approval}).")
            text = f"{op.display_name} ({op.username}): {operator_status(op)}.{admin}{failures}{change}"
            # What a narrow table leaves out.
            if not self.columns.is_shown("Direct grants") and op.direct_permissions:
                text += f" Direct grants: {', '.join(op.direct_permissions)}."
            if not self.columns.is_shown("Last login (UTC)"):
                text += f" Last login {op.last_login_at:%Y-%m-%d %H:%M} UTC." if op.last_login_at else " Never logged in."
        self.query_one(".pane-detail", Static).update(text)

    def why_not(self, action: str, op: OperatorDTO | None) -> str | None:
        if op is None:
            return "no row is selected"
        session = self.wbo.session
        me = session.operator_id if session else None
        if action == "enable" and op.enabled:
            return f"{op.username} is enabled already"
        if action == "disable" and not op.enabled:
            return f"{op.username} is disabled already"
        if action == "disable" and op.id == me:
            return "you cannot disable your own account"
        if action == "unlock" and op.locked_until is None and op.failed_logins == 0:
            return f"{op.username} is not locked and has no failed passwords"
        return None

    # --- actions ------------------------------------------------------------------------

    def action_new(self) -> None:
        self.app.push_screen(CreateOperatorScreen(self.role_names), callback=self._created)

    def _created(self, op: OperatorDTO | None) -> None:
        if op is not None:
            self.selected_key = op.username
            self.app.notify(created_message(op), markup=False)
            self.load()

    def action_enable(self) -> None:
        op = self.selected
        self.run_command(build(SetOperatorEnabled, username=op.username, enabled=True),
                         f"{op.username} is enabled and can log in again.")

    def action_disable(self) -> None:
        op: OperatorDTO = self.selected
        consequences = [
            f"{op.display_name} ({op.username}) can no longer log in.",
            "If they are logged in now, their next action is refused and their console logs out.",
            "Their roles and grants stay; enabling the account again (e) restores access.",
            "The change is recorded in the audit log under your name.",
        ]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_command(build(SetOperatorEnabled, username=op.username, enabled=False),
                                 f"{op.username} is disabled.")

        self.app.push_screen(ConfirmScreen(f"Disable operator {op.username}?", consequences, "Disable"),
                             callback=confirmed)

    def action_unlock(self) -> None:
        op = self.selected
        self.run_command(build(UnlockOperator, username=op.username),
                         f"{op.username} is unlocked; failed passwords reset to 0.")

    def action_reset_password(self) -> None:
        op = self.selected
        self.app.push_screen(ResetPasswordScreen(op), callback=self._after_form)

    def action_roles(self) -> None:
        op = self.selected
        self.app.push_screen(SetRolesScreen(op, self.role_names), callback=self._after_form)

    def _after_form(self, message: str | None) -> None:
        if message:
            self.app.notify(message, markup=False)
            self.load()

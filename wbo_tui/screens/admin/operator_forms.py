"""Forms for operators: create, reset password, set roles."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import SelectionList, Static
from textual.widgets.selection_list import Selection

from wbo_tui.engine import (
    CreateOperator,
    OperatorDTO,
    ResetOperatorPassword,
    SessionInfo,
    SetOperatorRoles,
    build,
)
from wbo_tui.engine.api import Engine
from wbo_tui.widgets.burst_input import BurstInput

from wbo_tui.widgets.forms import FormScreen, confirmation_matches, labelled


class CreateOperatorScreen(FormScreen[OperatorDTO]):
    FORM_TITLE = "New operator"
    SUBMIT_LABEL = "Create operator"
    HELP = (
        "Create an operator account with a first password and roles. The operator must choose a "
        "new password at their first login. The account is created at once without roles; the "
        "roles you pick wait for another administrator's approval (Admin › Changes). The engine "
        "checks every field."
    )

    def __init__(self, role_names: list[str]) -> None:
        super().__init__()
        self._role_names = role_names

    def compose_fields(self) -> Iterable[Widget]:
        yield from labelled("Username", BurstInput(id="new-username", placeholder="lower-case, e.g. jdoe"))
        yield from labelled("Display name", BurstInput(id="new-display-name"))
        yield from labelled("First password", BurstInput(id="new-password", password=True))
        yield from labelled("Confirm password", BurstInput(id="new-password-confirm", password=True))
        yield from labelled("Roles (space toggles)",
                            SelectionList[str](*(Selection(name, name) for name in self._role_names), id="new-roles"))

    async def perform(self, engine: Engine, session: SessionInfo) -> OperatorDTO:
        password = self.value("#new-password")
        confirmation_matches(password, self.value("#new-password-confirm"))
        command = build(
            CreateOperator, username=self.value("#new-username"), display_name=self.value("#new-display-name"),
            password=password, roles=list(self.query_one("#new-roles", SelectionList).selected),
        )
        return await engine.execute(session, command)


class ResetPasswordScreen(FormScreen[str]):
    FORM_TITLE = "Reset password"
    SUBMIT_LABEL = "Set password"
    SUBMIT_VARIANT = "warning"

    def __init__(self, operator: OperatorDTO) -> None:
        super().__init__()
        self._operator = operator

    def compose_fields(self) -> Iterable[Widget]:
        op = self._operator
        yield Static(
            f"{op.display_name} ({op.username}) gets this password now and must change it at their "
            "next login; their open sessions end, their failed-password count and any lockout are "
            "cleared. Tell them the password through a separate channel.",
            classes="what-happens", markup=False,
        )
        yield from labelled("New password", BurstInput(id="reset-password", password=True))
        yield from labelled("Confirm password", BurstInput(id="reset-password-confirm", password=True))

    async def perform(self, engine: Engine, session: SessionInfo) -> str:
        password = self.value("#reset-password")
        confirmation_matches(password, self.value("#reset-password-confirm"))
        await engine.execute(session, build(ResetOperatorPassword, username=self._operator.username,
                                            new_password=password))
        return f"New password set for {self._operator.username}; they must change it at their next login."


class SetRolesScreen(FormScreen[str]):
    FORM_TITLE = "Set roles"
    SUBMIT_LABEL = "Set roles"

    def __init__(self, operator: OperatorDTO, role_names: list[str]) -> None:
        super().__init__()
        self._operator = operator
        self._role_names = sorted(set(role_names) | set(operator.roles))

    def compose_fields(self) -> Iterable[Widget]:
        op = self._operator
        yield Static(
            f"Roles of {op.display_name} ({op.username}); the list replaces their current roles. Taking "
            "roles away applies at once; a change that gives them any new permission waits for "
            "another administrator's approval.",
            classes="what-happens", markup=False,
        )
        yield SelectionList[str](
            *(Selection(name, name, name in op.roles) for name in self._role_names), id="operator-roles",
        )
        yield Static("", id="roles-change", classes="what-happens", markup=False)

    def on_mount(self) -> None:
        self.query_one("#operator-roles", SelectionList).focus()
        self._describe_change()

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        self._describe_change()

    def _describe_change(self) -> None:
        chosen = set(self.query_one("#operator-roles", SelectionList).selected)
        current = set(self._operator.roles)
        added, removed = sorted(chosen - current), sorted(current - chosen)
        parts = []
        if added:
            parts.append("adds " + ", ".join(added))
        if removed:
            parts.append("removes " + ", ".join(removed))
        self.query_one("#roles-change", Static).update(
            ("This " + " and ".join(parts) + ".") if parts else "No change yet."
        )

    async def perform(self, engine: Engine, session: SessionInfo) -> str:
        roles = sorted(self.query_one("#operator-roles", SelectionList).selected)
        op = await engine.execute(session, build(SetOperatorRoles, username=self._operator.username, roles=roles))
        if op.pending_approval is not None:
            return (f"Roles of {op.username} ({', '.join(roles) or 'none'}) submitted for approval as "
                    f"{op.pending_approval}; another administrator decides.")
        return f"Roles of {op.username}: {', '.join(roles) or 'none'}."

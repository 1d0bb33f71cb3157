"""The Admin area: operators, roles, permission requests and your own submissions."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import TabbedContent, TabPane

from .admin_operators import OperatorsPane
from .admin_requests import RequestsPane, SubmissionsPane
from .admin_roles import RolesPane
from .area import Area
from .pane import TablePane

_TAB_KEYS = Binding.Group("Tabs", compact=True)
TABS = ("tab-operators", "tab-roles", "tab-requests", "tab-submissions")


class AdminArea(Area):
    TITLE = "Admin"
    HELP = (
        "Administration. Each tab asks the engine for its data with your permissions: "
        "Operators and Roles need admin.operator_inquiry, Permission requests needs "
        "admin.permission_request_approval; My submissions is open to everyone. A tab you "
        "may not see says which permission is missing and lets you request it. [ and ] "
        "switch tabs."
    )
    BINDINGS = [
        Binding("left_square_bracket", "tab(-1)", "Previous tab", key_display="[", id="admin-prev-tab",
                group=_TAB_KEYS),
        Binding("right_square_bracket", "tab(1)", "Next tab", key_display="]", id="admin-next-tab",
                group=_TAB_KEYS),
    ]

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="admin-area")
        self._entered = False

    def compose(self) -> ComposeResult:
        with TabbedContent(id="admin-tabs"):
            with TabPane("Operators", id="tab-operators"):
                yield OperatorsPane(id="operators-pane")
            with TabPane("Roles", id="tab-roles"):
                yield RolesPane(id="roles-pane")
            with TabPane("Permission requests", id="tab-requests"):
                yield RequestsPane(id="requests-pane")
            with TabPane("My submissions", id="tab-submissions"):
                yield SubmissionsPane(id="submissions-pane")

    @property
    def active_pane(self) -> TablePane | None:
        pane = self.query_one(TabbedContent).active_pane
        return pane.query_one(TablePane) if pane is not None else None

    def enter(self) -> None:
        self._entered = True
        pane = self.active_pane
        if pane is not None:
            pane.load()

    def focus_default(self) -> None:
        pane = self.active_pane
        if pane is not None:
            pane.focus_table()

    def help_text(self) -> str:
        pane = self.active_pane
        return f"{self.HELP}\n\n{pane.HELP}" if pane is not None and pane.HELP else self.HELP

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        if not self._entered:
            return
        pane = event.pane.query_one(TablePane)
        pane.load()
        pane.focus_table()

    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        index = TABS.index(tabs.active) if tabs.active in TABS else 0
        tabs.active = TABS[(index + step) % len(TABS)]

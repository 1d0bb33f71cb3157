"""The Admin area: operators, roles, permission requests, changes to roles awaiting a
second administrator, your own submissions, message subscriptions and their deliveries."""

from __future__ import annotations

from textual.binding import Binding

from wbo_tui.screens.admin.changes import ChangesPane
from wbo_tui.screens.admin.operators import OperatorsPane
from wbo_tui.screens.admin.requests import RequestsPane, SubmissionsPane
from wbo_tui.screens.admin.roles import RolesPane
from wbo_tui.widgets.area import TAB_KEYS, Tab, TabbedArea
from wbo_tui.screens.admin.subscriptions import DeliveriesPane, SubscriptionsPane


class AdminArea(TabbedArea):
    TITLE = "Admin"
    HELP = (
        "Administration. Each tab asks the engine for its data with your permissions: "
        "Operators and Roles need admin.operator_inquiry, Requests (permission requests) needs "
        "admin.permission_request_approval, Changes (new roles and role permissions waiting for a "
        "second administrator) needs admin.role_operation; Subscriptions and Deliveries need "
        "admin.message_subscription_inquiry; My submissions is open to everyone. A tab you may "
        "not see says which permission is missing and lets you request it. [ and ] (or "
        "Ctrl+T) switch tabs."
    )
    TABS = (
        Tab("Operators", "tab-operators", OperatorsPane),
        Tab("Roles", "tab-roles", RolesPane),
        Tab("Requests", "tab-requests", RequestsPane),
        Tab("Changes", "tab-changes", ChangesPane),
        Tab("Subscriptions", "tab-subscriptions", SubscriptionsPane),
        Tab("Deliveries", "tab-deliveries", DeliveriesPane),
        # Last, so [ from the first tab reaches it: everyone may see their own submissions.
        Tab("My submissions", "tab-submissions", SubmissionsPane),
    )
    BINDINGS = [
        # [ and ] besides Ctrl+T (NEXT_TAB), which ] takes on so the footer shows "[]".
        Binding("left_square_bracket", "tab(-1)", "Previous tab", key_display="[", id="admin-prev-tab",
                group=TAB_KEYS),
        Binding("right_square_bracket,ctrl+t", "tab(1)", "Next tab", key_display="]", id="admin-next-tab",
                group=TAB_KEYS),
    ]

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="admin-area")

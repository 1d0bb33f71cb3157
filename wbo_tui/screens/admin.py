"""The Admin area: operators, roles, permission requests, changes to roles awaiting a
second administrator, your own submissions, message subscriptions and their deliveries."""

from __future__ import annotations

from textual.binding import Binding

from .admin_changes import ChangesPane
from .admin_operators import OperatorsPane
from .admin_requests import RequestsPane, SubmissionsPane
from .admin_roles import RolesPane
from .area import TAB_KEYS, Tab, TabbedArea
from .subscriptions import DeliveriesPane, SubscriptionsPane


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

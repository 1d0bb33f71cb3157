"""Permission denial: the area says which permission is missing, the operator files a
request from there, an administrator approves it, and the access works after a refresh."""

from __future__ import annotations

from console_helpers import PASSWORDS, login, plain, screen_text, settle, table_column, type_into, wait_for_screen
from textual.widgets import DataTable

from wbo_tui.engine import ApproveItem, ListApprovals, MySubmissions, RequestPermission
from wbo_tui.screens.admin.operators import OperatorsPane
from wbo_tui.screens.admin.requests import RequestsPane, SubmissionsPane
from wbo_tui.screens.audit.area import AuditArea
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.screens.admin.operator_forms import CreateOperatorScreen
from wbo_tui.screens.permission_request import PermissionRequestScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.denied import DeniedPanel


async def test_maker_is_denied_the_audit_log_requests_it_and_sees_it_once_approved(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "maker")
        await pilot.press("6")
        await settle(pilot)
        audit = app.screen.query_one(AuditArea)
        denied = audit.query_one(DeniedPanel)
        assert denied.shown and audit.has_class("-denied")
        assert plain(denied.query_one(".denied-text")).startswith(
            "You need the permission admin.audit_log_inquiry to view the audit log."
        )
        assert audit.query_one("#audit-table", DataTable).row_count == 0

        await pilot.click("#request-permission")
        await wait_for_screen(pilot, PermissionRequestScreen)
        assert "admin.audit_log_inquiry" in screen_text(pilot, "#request-permission-code")
        await pilot.click("#submit")  # no reason yet
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == "Reason is required: say why you need the permission."
        await type_into(pilot, "#request-reason", "Month-end audit review")
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)

        admin = await engine.login("admin", PASSWORDS["admin"])
        [pending] = await engine.query(admin, ListApprovals(kind="permission_request"))
        assert pending.maker == "maker" and pending.status == "PENDING"
        assert pending.payload["permission_code"] == "admin.audit_log_inquiry"
        assert pending.payload["reason"] == "Month-end audit review"

        # Another console (here: the engine directly) approves; F5 re-reads the session.
        await engine.execute(admin, ApproveItem(approval_id=pending.id))
        await pilot.press("f5")
        await settle(pilot)
        assert not denied.shown and not audit.has_class("-denied")
        actions = table_column(audit.query_one("#audit-table", DataTable), 3)
        assert actions[:2] == ["approval.approve", "operator.grant_permission"]
        assert app.session is not None and app.session.can("admin.audit_log_inquiry")


async def test_admin_approves_in_a_second_console_and_the_maker_then_sees_operators(make_app, engine) -> None:
    maker = await engine.login("maker", PASSWORDS["maker"])
    await engine.execute(maker, RequestPermission(permission_code="admin.operator_inquiry", reason="Help desk cover"))

    admin_app = make_app()
    async with admin_app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "admin")
        await pilot.press("5", "right_square_bracket", "right_square_bracket")
        await settle(pilot)
        requests = admin_app.screen.query_one(RequestsPane)
        table = requests.query_one(DataTable)
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)][1:4] == ["maker", "admin.operator_inquiry", "Help desk cover"]
        await pilot.press("a")
        await wait_for_screen(pilot, ConfirmScreen)
        consequences = screen_text(pilot, "#confirm-consequences")
        assert "maker is granted admin.operator_inquiry directly" in consequences
        await pilot.click("#confirm")
        await settle(pilot)
        assert table.row_count == 0
        assert plain(requests.query_one(".pane-status")) == "No pending permission requests."

    [decided] = await engine.query(maker, MySubmissions())
    assert decided.status == "APPROVED" and decided.checker == "admin"

    maker_app = make_app()
    async with maker_app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "maker")
        await pilot.press("5")
        await settle(pilot)
        operators = maker_app.screen.query_one(OperatorsPane)
        assert not operators.query_one(DeniedPanel).shown
        assert table_column(operators.query_one(DataTable), 0) == [
            "admin", "admin2", "checker", "maker", "trader", "viewer"]

        # Seeing operators is not creating them: the engine refuses and the console offers a
        # request for exactly the missing permission.
        await pilot.press("n")
        await wait_for_screen(pilot, CreateOperatorScreen)
        await type_into(pilot, "#new-username", "jdoe")
        await type_into(pilot, "#new-display-name", "Jo Doe")
        await type_into(pilot, "#new-password", "Central-Pier-77")
        await type_into(pilot, "#new-password-confirm", "Central-Pier-77")
        await pilot.click("#submit")
        await wait_for_screen(pilot, PermissionRequestScreen)
        assert screen_text(pilot, "#request-denial").startswith(
            "You need the permission admin.operator_operation to create operators."
        )
        await pilot.press("escape")
        await wait_for_screen(pilot, CreateOperatorScreen)


async def test_maker_sees_the_admin_denial_and_their_own_submissions(make_app, engine) -> None:
    maker = await engine.login("maker", PASSWORDS["maker"])
    await engine.execute(maker, RequestPermission(permission_code="admin.operator_inquiry", reason="Help desk cover"))
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "maker")
        await pilot.press("5")
        await settle(pilot)
        operators = app.screen.query_one(OperatorsPane)
        assert operators.query_one(DeniedPanel).shown
        assert "admin.operator_inquiry" in plain(operators.query_one(".denied-text"))
        assert app.screen.focused is operators.query_one("#request-permission")

        await pilot.press("tab")  # from the request button to the tabs
        await pilot.press("left_square_bracket")
        await settle(pilot)
        submissions = app.screen.query_one(SubmissionsPane)
        table = submissions.query_one(DataTable)
        assert table.row_count == 1
        row = [str(c) for c in table.get_row_at(0)]
        assert row[1] == "permission request" and row[3] == "pending"
        assert "requests admin.operator_inquiry" in row[2]

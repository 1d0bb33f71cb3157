"""The Admin area for an administrator: operators, roles, deciding permission requests and
another administrator's changes to roles."""

from __future__ import annotations

from console_helpers import (
    PASSWORDS,
    login,
    operator_row,
    plain,
    screen_text,
    settle,
    table_column,
    type_into,
    wait_for_screen,
)
from textual.widgets import DataTable, SelectionList

from wbo_tui.engine import ApproveItem, ListApprovals, ListRoles, MySubmissions, RequestPermission, SetOperatorRoles
from wbo_tui.screens.admin.changes import ChangesPane
from wbo_tui.screens.admin.operators import OperatorsPane
from wbo_tui.screens.admin.requests import RequestsPane
from wbo_tui.screens.admin.roles import RolesPane
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.screens.admin.operator_forms import CreateOperatorScreen, ResetPasswordScreen, SetRolesScreen
from wbo_tui.widgets.reject import RejectScreen
from wbo_tui.screens.admin.role_forms import CreateRoleScreen, RolePermissionsScreen
from wbo_tui.screens.shell import ShellScreen


async def open_admin(pilot, *tab_steps: str) -> None:  # noqa: ANN001
    await login(pilot, "admin")
    await pilot.press("5", *tab_steps)
    await settle(pilot)


def select_row(pane, key: str) -> None:  # noqa: ANN001
    table = pane.query_one(DataTable)
    table.move_cursor(row=table.get_row_index(key))


async def test_admin_creates_an_operator_who_can_then_log_in(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_admin(pilot)
        pane = app.screen.query_one(OperatorsPane)
        await pilot.press("n")
        await wait_for_screen(pilot, CreateOperatorScreen)
        await type_into(pilot, "#new-username", "J Doe")
        await pilot.click("#submit")
        await settle(pilot)
        assert screen_text(pilot, "#form-error").startswith("Username must be 3–32 characters")

        await type_into(pilot, "#new-username", "jdoe")
        await type_into(pilot, "#new-display-name", "Jo Doe")
        await type_into(pilot, "#new-password", "Central-Pier-77")
        await type_into(pilot, "#new-password-confirm", "Central-Pier-78")
        await pilot.click("#submit")
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == "Confirmation does not match the new password."

        await type_into(pilot, "#new-password-confirm", "Central-Pier-77")
        roles = app.screen.query_one("#new-roles", SelectionList)
        roles.select("viewer")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        assert "jdoe" in table_column(pane.query_one(DataTable), 0)
        assert pane.selected_key == "jdoe"
        # Created at once without roles; the viewer role waits for a second administrator.
        assert str(pane.query_one(DataTable).get_row("jdoe")[3]) == "none → viewer (AP-000001)"
        assert plain(pane.query_one(".pane-detail")) == (
            "Jo Doe (jdoe): enabled. Must change the password at the next login. "
            "Roles viewer wait for approval (AP-000001)."
        )
        assert "Operator jdoe created; they choose a new password at their first login. Their roles (viewer) " \
               "wait for another administrator's approval as AP-000001." in _notices(app)

    session = await engine.login("jdoe", "Central-Pier-77")
    assert session.display_name == "Jo Doe" and session.must_change_password
    assert not session.can("RiskWarningReadOnly")
    await _approve_as_admin2(engine)
    await engine.change_password(session, "Central-Pier-77", "Kowloon-Tong-77")
    assert (await engine.refresh_session(session)).can("RiskWarningReadOnly")  # from the viewer role


def _notices(app) -> list[str]:  # noqa: ANN001
    return [str(n.message) for n in app._notifications]


async def _approve_as_admin2(engine) -> None:  # noqa: ANN001
    """The second administrator approves every pending change (another console)."""
    admin2 = await engine.login("admin2", PASSWORDS["admin2"])
    for kind in ("operator_roles", "role_permissions"):
        for item in await engine.query(admin2, ListApprovals(kind=kind)):
            assert (await engine.execute(admin2, ApproveItem(approval_id=item.id))).status == "APPROVED"


async def test_disabling_an_operator_asks_first_and_then_disables(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_admin(pilot)
        pane = app.screen.query_one(OperatorsPane)
        # Your own account: disabling does not apply, so the key is disabled.
        assert pane.selected_key == "admin"
        assert app.screen.active_bindings["d"].enabled is False
        assert app.screen.active_bindings["e"].enabled is False

        select_row(pane, "maker")
        await settle(pilot)
        assert app.screen.active_bindings["d"].enabled is True
        await pilot.press("d")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "Mei Maker (maker) can no longer log in." in screen_text(pilot, "#confirm-consequences")
        await pilot.press("enter")  # focus starts on Cancel: a stray Enter changes nothing
        await wait_for_screen(pilot, ShellScreen)
        assert (await operator_row(engine, "maker")).enabled is True

        await pilot.press("d")
        await wait_for_screen(pilot, ConfirmScreen)
        await pilot.click("#confirm")
        await settle(pilot)
        assert pane.items["maker"].enabled is False
        assert str(pane.query_one(DataTable).get_row("maker")[2]) == "disabled"
        assert app.screen.active_bindings["e"].enabled is True
    assert (await operator_row(engine, "maker")).enabled is False
    assert "disabled" in (await _login_refusal(engine, "maker"))


async def _login_refusal(engine, username: str) -> str:  # noqa: ANN001
    try:
        await engine.login(username, PASSWORDS[username])
    except Exception as error:  # noqa: BLE001
        return str(error)
    return ""


async def test_unlock_and_reset_password(make_app, engine) -> None:
    for attempt in range(5):
        await _login_refusal_with(engine, "viewer", f"wrong-{attempt}")
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_admin(pilot)
        pane = app.screen.query_one(OperatorsPane)
        assert str(pane.query_one(DataTable).get_row("viewer")[2]) == "locked until 09:45 UTC"
        select_row(pane, "viewer")
        await settle(pilot)
        await pilot.press("u")
        await settle(pilot)
        assert str(pane.query_one(DataTable).get_row("viewer")[2]) == "enabled"

        await pilot.press("p")
        await wait_for_screen(pilot, ResetPasswordScreen)
        await type_into(pilot, "#reset-password", "short")
        await type_into(pilot, "#reset-password-confirm", "short")
        await pilot.click("#submit")
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == "New password must be at least 10 characters long."
        await type_into(pilot, "#reset-password", "Deep-Water-Bay-9")
        await type_into(pilot, "#reset-password-confirm", "Deep-Water-Bay-9")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
    viewer = await engine.login("viewer", "Deep-Water-Bay-9")
    assert viewer.username == "viewer" and viewer.must_change_password


async def _login_refusal_with(engine, username: str, password: str) -> None:  # noqa: ANN001
    try:
        await engine.login(username, password)
    except Exception:  # noqa: BLE001
        pass


async def test_unlock_key_is_disabled_for_an_account_that_is_not_locked(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_admin(pilot)
        select_row(app.screen.query_one(OperatorsPane), "checker")
        await settle(pilot)
        assert app.screen.active_bindings["u"].enabled is False
        assert app.screen.active_bindings["p"].enabled is True


async def test_rejecting_a_request_needs_a_reason_and_states_the_outcome(make_app, engine) -> None:
    maker = await engine.login("maker", PASSWORDS["maker"])
    await engine.execute(maker, RequestPermission(permission_code="RiskWarningFull", reason="Cover for Tom"))
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_admin(pilot, "right_square_bracket", "right_square_bracket")
        pane = app.screen.query_one(RequestsPane)
        assert pane.query_one(DataTable).row_count == 1
        await pilot.press("x")
        await wait_for_screen(pilot, RejectScreen)
        consequences = screen_text(pilot, "#reject-consequences")
        assert "maker is not granted RiskWarningFull" in consequences
        await type_into(pilot, "#typed-confirmation-input", "REJECT 1")
        await pilot.click("#submit")
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == "Reason is required when rejecting."
        await type_into(pilot, "#reject-reason", "Tom is back on Monday")
        await pilot.press("enter", "enter")  # to the confirmation (typed already), then reject
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        assert pane.query_one(DataTable).row_count == 0
    [decided] = await engine.query(maker, MySubmissions())
    assert decided.status == "REJECTED" and decided.reason == "Tom is back on Monday"
    assert not (await engine.refresh_session(maker)).can("RiskWarningFull")


async def test_editing_a_role_shows_the_change_and_saves_it(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_admin(pilot, "right_square_bracket")
        pane = app.screen.query_one(RolesPane)
        select_row(pane, "viewer")
        await settle(pilot)
        await pilot.press("e")
        await wait_for_screen(pilot, RolePermissionsScreen)
        permissions = app.screen.query_one("#role-permissions", SelectionList)
        permissions.select("admin.audit_log_inquiry")
        permissions.deselect("RiskWarningReadOnly")
        await settle(pilot)
        change = screen_text(pilot, "#permissions-change")
        assert change == "Grants: admin.audit_log_inquiry\nRevokes: RiskWarningReadOnly"
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        assert "The permissions of role viewer were submitted for approval as AP-000001; another " \
               "administrator decides." in _notices(app)
        assert str(pane.query_one(DataTable).get_row("viewer")[2]) == "18 → 18 (AP-000001)"
        assert plain(pane.query_one(".pane-detail")).endswith(
            "Waiting for approval (AP-000001): + admin.audit_log_inquiry")
    admin = await engine.login("admin", PASSWORDS["admin"])
    viewer = {role.name: role for role in await engine.query(admin, ListRoles())}["viewer"]
    assert "admin.audit_log_inquiry" not in viewer.permissions
    await _approve_as_admin2(engine)
    viewer = {role.name: role for role in await engine.query(admin, ListRoles())}["viewer"]
    assert "admin.audit_log_inquiry" in viewer.permissions
    assert "RiskWarningReadOnly" not in viewer.permissions


async def test_setting_an_operators_roles(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_admin(pilot)
        pane = app.screen.query_one(OperatorsPane)
        select_row(pane, "trader")
        await settle(pilot)
        await pilot.press("o")
        await wait_for_screen(pilot, SetRolesScreen)
        roles = app.screen.query_one("#operator-roles", SelectionList)
        roles.select("viewer")
        roles.deselect("trader")
        await settle(pilot)
        assert screen_text(pilot, "#roles-change") == "This adds viewer and removes trader."
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        assert str(pane.query_one(DataTable).get_row("trader")[3]) == "trader → viewer (AP-000001)"
        assert "Roles of trader (viewer) submitted for approval as AP-000001; another administrator " \
               "decides." in _notices(app)

        # Taking a role away needs nobody's approval.
        select_row(pane, "maker")
        await settle(pilot)
        await pilot.press("o")
        await wait_for_screen(pilot, SetRolesScreen)
        app.screen.query_one("#operator-roles", SelectionList).deselect("maker")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        assert str(pane.query_one(DataTable).get_row("maker")[3]) == ""
    trader = await engine.login("trader", PASSWORDS["trader"])
    assert trader.can("RiskWarningFull")  # (which includes RiskWarningReadOnly)
    await _approve_as_admin2(engine)
    trader = await engine.refresh_session(trader)
    assert trader.can("RiskWarningReadOnly") and not trader.can("RiskWarningFull")


async def test_creating_a_role_from_the_catalog(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_admin(pilot, "right_square_bracket")
        pane = app.screen.query_one(RolesPane)
        await pilot.press("n")
        await wait_for_screen(pilot, CreateRoleScreen)
        await type_into(pilot, "#role-name", "auditor")
        await type_into(pilot, "#role-description", "Reads the audit log")
        app.screen.query_one("#role-permissions", SelectionList).select("admin.audit_log_inquiry")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        assert "auditor" in table_column(pane.query_one(DataTable), 0)
        assert "Role auditor created; its 1 permission(s) were submitted for approval as AP-000001." \
               in _notices(app)
    admin = await engine.login("admin", PASSWORDS["admin"])
    auditor = {role.name: role for role in await engine.query(admin, ListRoles())}["auditor"]
    assert auditor.permissions == () and auditor.description == "Reads the audit log"
    await _approve_as_admin2(engine)
    auditor = {role.name: role for role in await engine.query(admin, ListRoles())}["auditor"]
    assert auditor.permissions == ("admin.audit_log_inquiry",)


async def test_a_second_administrator_approves_a_role_change_seeing_what_it_changes(make_app, engine) -> None:
    admin = await engine.login("admin", PASSWORDS["admin"])
    await engine.execute(admin, SetOperatorRoles(username="trader", roles=["trader", "viewer"]))
    await engine.execute(admin, SetOperatorRoles(username="admin2", roles=["administrator", "checker"]))
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "admin2")
        await pilot.press("5", "right_square_bracket", "right_square_bracket", "right_square_bracket")
        await settle(pilot)
        pane = app.screen.query_one(ChangesPane)
        table = pane.query_one(DataTable)
        assert [str(c) for c in table.get_row_at(0)][:4] == ["AP-500000", "roles of trader", "admin", "+viewer"]
        assert plain(pane.query_one(".pane-status")) == "2 waiting for approval."
        # admin2's own promotion: only rejecting applies.
        trader_change, own_change = list(pane.items)
        select_row(pane, own_change)
        await settle(pilot)
        assert app.screen.active_bindings["a"].enabled is False and app.screen.active_bindings["x"].enabled
        select_row(pane, trader_change)
        await settle(pilot)
        assert plain(pane.query_one(".pane-detail")).startswith(
            "AP-500000 by admin: trader's roles become trader, viewer (now: trader). trader gains 10 permission(s):")

        await pilot.press("a")
        await wait_for_screen(pilot, ConfirmScreen)
        consequences = screen_text(pilot, "#confirm-consequences")
        assert "trader's roles become trader, viewer (now: trader)." in consequences
        assert "the approval fails and changes nothing" in consequences
        await pilot.click("#confirm")
        await settle(pilot)
        assert "AP-500000 approved: the roles of trader changed." in _notices(app)
        assert table.row_count == 1
    trader = await engine.login("trader", PASSWORDS["trader"])
    assert trader.can("RiskWarningReadOnly")

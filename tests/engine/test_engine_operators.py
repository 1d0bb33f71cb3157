"""Operators: login, lockout, disabling, passwords, the last administrator, permission
requests end to end, and input validation."""

from __future__ import annotations

import pytest
from engine_support import (
    ADMINISTRATION,
    DEMO_DATA,
    FRESH_PASSWORD,
    PASSWORDS,
    audit_actions,
    audit_head_row,
    audit_records,
    grant_directly,
    login,
    new_operator,
    snapshot,
)

from wbo_tui.engine import (
    AccountLocked,
    ApproveItem,
    AuthenticationFailed,
    Conflict,
    CreateOperator,
    CreateRole,
    Engine,
    FixedClock,
    ListApprovals,
    ListCurrencies,
    ListOperators,
    NotAuthenticated,
    PermissionDenied,
    RejectItem,
    RequestPermission,
    ResetOperatorPassword,
    RevokeDirectPermission,
    SequentialIds,
    SessionInfo,
    SetOperatorEnabled,
    SetOperatorRoles,
    SetRolePermissions,
    UnlockOperator,
    ValidationFailed,
    WboError,
    build,
    seed,
)
from wbo_tui.engine.admin import GrantPermission
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.policy import SecurityPolicy

ADMIN_ROLE_PERMISSIONS = [
    "admin.operator_inquiry", "admin.operator_operation", "admin.role_operation",
    "admin.permission_request_approval", "admin.audit_log_inquiry",
]

# --- login --------------------------------------------------------------------------------


async def test_login_returns_the_operators_session(engine: Engine, clock: FixedClock) -> None:
    head, _ = await audit_head_row(engine)
    session = await engine.login("maker", PASSWORDS["maker"])
    assert session.username == "maker"
    assert session.display_name == "Mei Maker"
    assert session.login_at == clock.now()
    assert "fx.customer_exchange_operation" in session.permissions
    assert "admin.operator_inquiry" not in session.permissions
    assert await audit_actions(engine, head) == ["operator.login"]


async def test_wrong_password_and_unknown_user_get_the_same_answer(engine: Engine) -> None:
    head, _ = await audit_head_row(engine)
    with pytest.raises(AuthenticationFailed) as wrong:
        await engine.login("maker", "Star-Ferry-23")
    with pytest.raises(AuthenticationFailed) as unknown:
        await engine.login("nobody", "Star-Ferry-22")
    assert type(wrong.value) is type(unknown.value)
    assert str(wrong.value) == str(unknown.value) == "Wrong username or password."
    # Both attempts are audited, neither reveals which usernames exist.
    assert await audit_actions(engine, head) == ["operator.login_failed", "operator.login_failed"]


@pytest.mark.parametrize(("username", "password"), [("", "x"), ("maker", ""), ("   ", "Star-Ferry-22")])
async def test_login_needs_both_fields(engine: Engine, username: str, password: str) -> None:
    before = await snapshot(engine)
    with pytest.raises(AuthenticationFailed, match="Enter your username and password"):
        await engine.login(username, password)
    assert await snapshot(engine) == before


async def test_lockout_after_threshold_failures_then_expiry(engine: Engine, clock: FixedClock) -> None:
    policy = SecurityPolicy()
    assert engine.services.policy == policy
    for _ in range(policy.lockout_threshold - 1):
        with pytest.raises(AuthenticationFailed):
            await engine.login("viewer", "not-the-password")
    with pytest.raises(AccountLocked, match="locked after too many failed passwords, until 09:45 UTC"):
        await engine.login("viewer", "not-the-password")
    # Locked: even the right password is refused, without checking it.
    with pytest.raises(AccountLocked):
        await engine.login("viewer", PASSWORDS["viewer"])
    assert len(await audit_records(engine, "operator.locked_out")) == 1

    clock.advance(seconds=policy.lockout_duration_s - 1)
    with pytest.raises(AccountLocked):
        await engine.login("viewer", PASSWORDS["viewer"])
    clock.advance(seconds=1)
    session = await engine.login("viewer", PASSWORDS["viewer"])
    assert session.username == "viewer"


async def test_administrator_unlock_clears_a_lockout(engine: Engine) -> None:
    admin = await login(engine, "admin")
    for _ in range(SecurityPolicy().lockout_threshold):
        with pytest.raises((AuthenticationFailed, AccountLocked)):
            await engine.login("trader", "wrong-password")
    with pytest.raises(AccountLocked):
        await engine.login("trader", PASSWORDS["trader"])
    listed = {o.username: o for o in await engine.query(admin, ListOperators())}
    assert listed["trader"].locked_until is not None

    unlocked = await engine.execute(admin, UnlockOperator(username="trader"))
    assert unlocked.locked_until is None and unlocked.failed_logins == 0
    assert (await engine.login("trader", PASSWORDS["trader"])).username == "trader"
    assert (await audit_records(engine, "operator.unlock"))[-1].operator == "admin"


async def test_successful_login_resets_the_failure_count(engine: Engine) -> None:
    threshold = SecurityPolicy().lockout_threshold
    for _ in range(threshold - 1):
        with pytest.raises(AuthenticationFailed):
            await engine.login("viewer", "wrong-password")
    await login(engine, "viewer")
    for _ in range(threshold - 1):
        with pytest.raises(AuthenticationFailed):
            await engine.login("viewer", "wrong-password")
    assert (await login(engine, "viewer")).username == "viewer"


async def test_disabled_operator_cannot_log_in_and_their_session_is_refused(engine: Engine) -> None:
    admin = await login(engine, "admin")
    viewer = await login(engine, "viewer")
    assert await engine.query(viewer, ListCurrencies())
    await engine.execute(admin, SetOperatorEnabled(username="viewer", enabled=False))

    with pytest.raises(AuthenticationFailed, match="disabled"):
        await engine.login("viewer", PASSWORDS["viewer"])
    before = await snapshot(engine)
    with pytest.raises(NotAuthenticated):
        await engine.query(viewer, ListCurrencies())
    with pytest.raises(NotAuthenticated):
        await engine.execute(viewer, RequestPermission(permission_code="admin.operator_inquiry", reason="let me in"))
    with pytest.raises(NotAuthenticated):
        await engine.refresh_session(viewer)
    assert await snapshot(engine) == before

    await engine.execute(admin, SetOperatorEnabled(username="viewer", enabled=True))
    assert (await login(engine, "viewer")).username == "viewer"


# --- passwords ----------------------------------------------------------------------------


async def test_change_password(engine: Engine) -> None:
    maker = await login(engine, "maker")
    old = PASSWORDS["maker"]
    before = await snapshot(engine)
    with pytest.raises(ValidationFailed) as short:
        await engine.change_password(maker, old, "Short-1")
    assert short.value.field == "New password" and "at least 10 characters" in str(short.value)
    with pytest.raises(ValidationFailed, match="must not contain the username"):
        await engine.change_password(maker, old, "I-am-the-MAKER-2026")
    with pytest.raises(WboError, match="must differ"):
        await engine.change_password(maker, old, old)
    assert await snapshot(engine) == before, "refused changes must not touch the database"

    with pytest.raises(AuthenticationFailed, match="Current password is wrong"):
        await engine.change_password(maker, "Not-The-Old-One", "Peak-Tram-Route-9")

    await engine.change_password(maker, old, "Peak-Tram-Route-9")
    with pytest.raises(AuthenticationFailed):
        await engine.login("maker", old)
    assert (await engine.login("maker", "Peak-Tram-Route-9")).username == "maker"
    assert len(await audit_records(engine, "operator.change_password")) == 1


# --- the last administrator ---------------------------------------------------------------


async def _only_admin_left(engine: Engine) -> SessionInfo:
    """The demo has two administrators (admin, admin2): disable admin2 (as a setup tool,
    which leaves no trace among the operators' own actions) so admin is the last one."""
    await engine.setup_execute(SetOperatorEnabled(username="admin2", enabled=False), tool="test-setup")
    return await login(engine, "admin")


async def test_the_last_administrator_cannot_be_disabled(engine: Engine) -> None:
    admin = await _only_admin_left(engine)
    with pytest.raises(Conflict, match="cannot disable your own account"):
        await engine.execute(admin, SetOperatorEnabled(username="admin", enabled=False))
    # An operator manager (not an administrator) tries to disable the only administrator.
    manager = await new_operator(engine, admin, "manager", ["admin.operator_operation"])
    before = await snapshot(engine)
    with pytest.raises(Conflict, match="would leave no enabled administrator"):
        await engine.execute(manager, SetOperatorEnabled(username="admin", enabled=False))
    assert await snapshot(engine) == before

    await new_operator(engine, admin, "deputy", roles=["administrator"])
    disabled = await engine.execute(manager, SetOperatorEnabled(username="admin", enabled=False))
    assert disabled.enabled is False


async def test_the_last_administrator_cannot_lose_the_role(engine: Engine) -> None:
    admin = await _only_admin_left(engine)
    before = await snapshot(engine)
    with pytest.raises(Conflict, match="would leave no enabled administrator"):
        await engine.execute(admin, SetOperatorRoles(username="admin", roles=[]))
    # A swap gains viewer's permissions, so it would wait for approval: it is refused at
    # once all the same, rather than when approved.
    with pytest.raises(Conflict, match="would leave no enabled administrator"):
        await engine.execute(admin, SetOperatorRoles(username="admin", roles=["viewer"]))
    assert await snapshot(engine) == before

    await new_operator(engine, admin, "deputy", roles=["administrator"])
    changed = await engine.execute(admin, SetOperatorRoles(username="admin", roles=[]))
    assert changed.roles == () and not changed.is_administrator and changed.pending_approval is None


async def test_the_administrator_role_cannot_lose_administration(engine: Engine) -> None:
    admin = await _only_admin_left(engine)
    stripped = [p for p in ADMIN_ROLE_PERMISSIONS if p != ADMINISTRATION]
    before = await snapshot(engine)
    with pytest.raises(Conflict, match="would leave no enabled administrator"):
        await engine.execute(admin, SetRolePermissions(role="administrator", permissions=stripped))
    assert await snapshot(engine) == before

    # A second administrator holding administration by a direct grant makes it allowed;
    # taking permissions away applies at once.
    deputy = await new_operator(engine, admin, "deputy")
    await grant_directly(engine, deputy, admin, ADMINISTRATION)
    role = await engine.execute(admin, SetRolePermissions(role="administrator", permissions=stripped))
    assert ADMINISTRATION not in role.permissions and role.pending_approval is None


async def test_the_last_direct_administration_grant_cannot_be_revoked(engine: Engine) -> None:
    admin = await _only_admin_left(engine)
    deputy = await new_operator(engine, admin, "deputy")
    deputy = await grant_directly(engine, deputy, admin, ADMINISTRATION)
    # The deputy, administrator by direct grant, removes the demo admin's role: now the
    # deputy is the only administrator.
    await engine.execute(deputy, SetOperatorRoles(username="admin", roles=[]))
    before = await snapshot(engine)
    with pytest.raises(Conflict, match="would leave no enabled administrator"):
        await engine.execute(deputy, RevokeDirectPermission(username="deputy", permission_code=ADMINISTRATION))
    assert await snapshot(engine) == before

    await engine.setup_execute(SetOperatorEnabled(username="admin2", enabled=True), tool="test-setup")
    revoked = await engine.execute(deputy, RevokeDirectPermission(username="deputy", permission_code=ADMINISTRATION))
    assert revoked.direct_permissions == () and not revoked.is_administrator


async def test_a_disabled_administrator_does_not_count(engine: Engine) -> None:
    admin = await _only_admin_left(engine)
    await new_operator(engine, admin, "deputy", roles=["administrator"])
    await engine.execute(admin, SetOperatorEnabled(username="deputy", enabled=False))
    with pytest.raises(Conflict, match="would leave no enabled administrator"):
        await engine.execute(admin, SetOperatorRoles(username="admin", roles=[]))


# --- permission requests end to end -------------------------------------------------------


async def test_permission_request_flow(engine: Engine) -> None:
    maker = await login(engine, "maker")
    admin = await login(engine, "admin")
    with pytest.raises(PermissionDenied) as denied:
        await engine.query(maker, ListOperators())
    assert denied.value.permission == "admin.operator_inquiry"

    item = await engine.execute(
        maker, RequestPermission(permission_code="admin.operator_inquiry", reason="checking who is on shift")
    )
    assert (item.status, item.maker, item.kind) == ("PENDING", "maker", "permission_request")
    assert item.summary == "maker requests admin.operator_inquiry: checking who is on shift"

    before = await snapshot(engine)
    with pytest.raises(Conflict, match="already have a pending request for admin.operator_inquiry"):
        await engine.execute(maker, RequestPermission(permission_code="admin.operator_inquiry", reason="again"))
    with pytest.raises(Conflict, match="already hold fx.customer_exchange_operation"):
        await engine.execute(maker, RequestPermission(permission_code="fx.customer_exchange_operation", reason="x"))
    with pytest.raises(ValidationFailed) as blank:
        build(RequestPermission, permission_code="admin.audit_log_inquiry", reason="   ")
    assert blank.value.field == "Reason"
    assert await snapshot(engine) == before

    assert [a.id for a in await engine.query(admin, ListApprovals(kind="permission_request"))] == [item.id]
    await engine.execute(admin, ApproveItem(approval_id=item.id))
    maker = await engine.refresh_session(maker)
    assert maker.can("admin.operator_inquiry")
    operators = await engine.query(maker, ListOperators())
    assert {o.username for o in operators} == {"admin", "admin2", "maker", "checker", "trader", "viewer"}
    assert next(o for o in operators if o.username == "maker").direct_permissions == ("admin.operator_inquiry",)


async def test_a_rejected_request_may_be_filed_again(engine: Engine) -> None:
    maker = await login(engine, "maker")
    admin = await login(engine, "admin")
    first = await engine.execute(maker, RequestPermission(permission_code="admin.operator_inquiry", reason="a"))
    await engine.execute(admin, RejectItem(approval_id=first.id, reason="say more"))
    second = await engine.execute(maker, RequestPermission(permission_code="admin.operator_inquiry", reason="b"))
    assert second.id != first.id and second.status == "PENDING"


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"username": "Bad User!"}, "Username", "must be 3–32 characters"),
        ({"username": "ab"}, "Username", "must be 3–32 characters"),
        ({"username": "9lives"}, "Username", "starting with a letter"),
        ({"display_name": "   "}, "Display name", "is required"),
        ({"display_name": "x" * 101}, "Display name", "at most 100 characters"),
        ({"roles": "viewer"}, "Roles", "valid list"),
    ],
)
def test_create_operator_validation_names_the_field(fields: dict, field: str, rule: str) -> None:
    values = {"username": "newbie", "display_name": "New Bie", "password": FRESH_PASSWORD, "roles": []} | fields
    with pytest.raises(ValidationFailed) as caught:
        build(CreateOperator, **values)
    assert caught.value.field == field
    assert rule in caught.value.rule
    assert str(caught.value).startswith(field)


@pytest.mark.parametrize(
    ("model", "fields", "field"),
    [
        (CreateRole, {"name": "desk", "permissions": ["fx.no_such_thing"]}, "Permissions"),
        (SetRolePermissions, {"role": "viewer", "permissions": ["admin.role_operation", "nope"]}, "Permissions"),
        (RequestPermission, {"permission_code": "fx.no_such_thing", "reason": "x"}, "Permission code"),
        (CreateRole, {"name": "", "permissions": []}, "Name"),
        (SetOperatorEnabled, {"username": "viewer", "enabled": "sometimes"}, "Enabled"),
        (RejectItem, {"approval_id": 1, "reason": ""}, "Reason"),
    ],
)
def test_build_validation_names_the_field(model: type, fields: dict, field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build(model, **fields)
    assert caught.value.field == field
    if field == "Permissions":
        assert "unknown permissions" in str(caught.value)


async def test_unknown_role_is_refused_naming_the_field_and_changes_nothing(engine: Engine) -> None:
    """Roles are data, so ``build`` cannot know them; the engine refuses inside the unit."""
    admin = await login(engine, "admin")
    command = build(CreateOperator, username="newbie", display_name="New Bie", password=FRESH_PASSWORD,
                    roles=["viewer", "astronaut"])
    before = await snapshot(engine)
    with pytest.raises(ValidationFailed) as caught:
        await engine.execute(admin, command)
    assert caught.value.field == "Roles" and "astronaut" in str(caught.value)
    with pytest.raises(ValidationFailed) as again:
        await engine.execute(admin, SetOperatorRoles(username="viewer", roles=["astronaut"]))
    assert again.value.field == "Roles"
    assert await snapshot(engine) == before


async def test_create_operator_refuses_weak_password_and_taken_username(engine: Engine) -> None:
    admin = await login(engine, "admin")
    before = await snapshot(engine)
    with pytest.raises(ValidationFailed) as weak:
        await engine.execute(admin, CreateOperator(username="newbie", display_name="N", password="short"))
    assert weak.value.field == "Password"
    with pytest.raises(ValidationFailed, match="must not contain the username"):
        await engine.execute(admin, CreateOperator(username="newbie", display_name="N", password="newbie-2026-ok"))
    with pytest.raises(ValidationFailed) as taken:
        await engine.execute(admin, CreateOperator(username="maker", display_name="N", password=FRESH_PASSWORD))
    assert taken.value.field == "Username" and "already taken" in str(taken.value)
    assert await snapshot(engine) == before


# --- console idle lock, logout, secrets ------------------------------------------------------


async def test_console_unlock_checks_the_password_and_counts_failures(engine: Engine) -> None:
    viewer = await login(engine, "viewer")
    head, _ = await audit_head_row(engine)
    with pytest.raises(AuthenticationFailed, match="Wrong password"):
        await engine.unlock(viewer, "not-it")
    await engine.unlock(viewer, PASSWORDS["viewer"])
    assert await audit_actions(engine, head) == ["operator.login_failed", "operator.unlock_console"]
    for _ in range(SecurityPolicy().lockout_threshold - 1):
        with pytest.raises(AuthenticationFailed):
            await engine.unlock(viewer, "not-it")
    with pytest.raises(AccountLocked):
        await engine.unlock(viewer, "not-it")
    with pytest.raises(AccountLocked):
        await engine.unlock(viewer, PASSWORDS["viewer"])


async def test_console_unlock_refuses_a_disabled_operator(engine: Engine) -> None:
    admin = await login(engine, "admin")
    viewer = await login(engine, "viewer")
    await engine.execute(admin, SetOperatorEnabled(username="viewer", enabled=False))
    with pytest.raises(AuthenticationFailed, match="disabled"):
        await engine.unlock(viewer, PASSWORDS["viewer"])


async def test_logout_is_audited(engine: Engine) -> None:
    maker = await login(engine, "maker")
    head, _ = await audit_head_row(engine)
    await engine.logout(maker)
    assert await audit_actions(engine, head) == ["operator.logout"]


async def test_no_password_or_hash_reaches_the_audit_log_or_approvals(engine: Engine) -> None:
    admin = await login(engine, "admin")
    maker = await login(engine, "maker")
    await engine.execute(admin, CreateOperator(username="newbie", display_name="N", password=FRESH_PASSWORD))
    await engine.execute(admin, ResetOperatorPassword(username="viewer", new_password="Deep-Water-Bay-8"))
    await engine.change_password(maker, PASSWORDS["maker"], "Peak-Tram-Route-9")
    with pytest.raises(AuthenticationFailed):
        await engine.login("trader", "Guess-Work-000")
    dump = repr((await snapshot(engine, everything=True))["audit_log"]) + repr((await snapshot(engine))["approvals"])
    for secret in [*PASSWORDS.values(), FRESH_PASSWORD, "Deep-Water-Bay-8", "Peak-Tram-Route-9", "Guess-Work-000",
                   "$argon2"]:
        assert secret not in dump


async def test_a_grant_payload_cannot_be_executed_directly(engine: Engine) -> None:
    """Grants happen only through an approved request."""
    admin = await login(engine, "admin")
    before = await snapshot(engine)
    with pytest.raises(TypeError, match="not a registered command"):
        await engine.execute(admin, GrantPermission(operator_id=admin.operator_id, permission_code="RiskWarningFull",
                                                    reason="shortcut"))
    assert await snapshot(engine) == before


# --- privilege escalation ---------------------------------------------------------------------


async def test_creating_an_operator_with_roles_needs_administration(engine: Engine) -> None:
    admin = await login(engine, "admin")
    manager = await new_operator(engine, admin, "manager", ["admin.operator_operation"])
    before = await snapshot(engine)
    with pytest.raises(PermissionDenied) as caught:
        await engine.execute(manager, CreateOperator(
            username="sidekick", display_name="Side Kick", password=FRESH_PASSWORD, roles=["administrator"],
        ))
    assert caught.value.permission == ADMINISTRATION
    assert await snapshot(engine) == before


async def test_an_operator_manager_may_create_an_operator_without_roles(engine: Engine) -> None:
    admin = await login(engine, "admin")
    manager = await new_operator(engine, admin, "manager", ["admin.operator_operation"])
    created = await engine.execute(manager, CreateOperator(username="newbie", display_name="N", password=FRESH_PASSWORD))
    assert created.roles == () and not created.is_administrator
    assert created.must_change_password and created.pending_approval is None


async def test_resetting_an_administrators_password_needs_administration(engine: Engine) -> None:
    admin = await login(engine, "admin")
    manager = await new_operator(engine, admin, "manager", ["admin.operator_operation"])
    before = await snapshot(engine)
    with pytest.raises(PermissionDenied) as caught:
        await engine.execute(manager, ResetOperatorPassword(username="admin", new_password="Taken-Over-2026"))
    assert caught.value.permission == ADMINISTRATION
    assert await snapshot(engine) == before


async def test_a_password_with_surrounding_spaces_is_refused_not_silently_changed(engine: Engine) -> None:
    admin = await login(engine, "admin")
    with pytest.raises(ValidationFailed, match="must not start or end with a space"):
        await engine.execute(admin, CreateOperator(username="newbie", display_name="N", password=" Kowloon-Tong-77 "))
    with pytest.raises(AuthenticationFailed):
        await engine.login("newbie", "Kowloon-Tong-77")


async def test_change_password_refuses_surrounding_spaces(engine: Engine) -> None:
    maker = await login(engine, "maker")
    with pytest.raises(ValidationFailed, match="must not start or end with a space"):
        await engine.change_password(maker, PASSWORDS["maker"], " Peak-Tram-Route-9")


async def test_lockout_follows_the_configured_policy(db_url: str, clock: FixedClock) -> None:
    policy = SecurityPolicy(lockout_threshold=2, lockout_duration_s=60, password_min_length=12)
    engine = await Engine.open(db_url, clock=clock, ids=SequentialIds(), hasher=fast_hasher(), policy=policy)
    try:
        await seed.seed(engine, seed.load(DEMO_DATA))
        with pytest.raises(AuthenticationFailed):
            await engine.login("viewer", "wrong-password")
        with pytest.raises(AccountLocked, match="until 09:31 UTC"):
            await engine.login("viewer", "wrong-password")
        clock.advance(seconds=60)
        viewer = await login(engine, "viewer")
        with pytest.raises(ValidationFailed, match="at least 12 characters"):
            await engine.change_password(viewer, PASSWORDS["viewer"], "Eleven-Char")
    finally:
        await engine.close()

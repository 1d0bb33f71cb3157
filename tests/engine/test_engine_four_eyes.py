"""Four eyes do not end at the administrator (issue 9, point 5): roles, role permissions
and operators' roles are maker-checker like any other gain of power; a password an
administrator sets must be changed at first login; nobody approves through an account
whose password they set; ``operator create-admin`` stays the bootstrap."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from engine_support import (
    ADMINISTRATION,
    APPROVAL_PERMISSION,
    FRESH_PASSWORD,
    audit_records,
    login,
    scalar,
    snapshot,
)

from wbo_tui.engine import (
    ApproveItem,
    Conflict,
    CreateOperator,
    CreateRole,
    Engine,
    ListApprovals,
    ListOperators,
    ListRoles,
    MakerCheckerViolation,
    NotAuthenticated,
    PasswordChangeRequired,
    PermissionDenied,
    RejectItem,
    RequestPermission,
    ResetOperatorPassword,
    SetOperatorRoles,
    SetRolePermissions,
)

WITHDRAWAL_APPROVAL = "assets.withdrawal_application_approval"


async def _pending(engine: Engine, kind: str) -> list:
    return list(await engine.query(await login(engine, "admin2"), ListApprovals(kind=kind)))


async def test_an_administrator_cannot_give_itself_a_role_without_a_second_administrator(engine: Engine) -> None:
    admin = await login(engine, "admin")
    result = await engine.execute(admin, SetOperatorRoles(username="admin", roles=["administrator", "checker"]))
    # Nothing changed yet: the change waits, and says so.
    assert result.roles == ("administrator",)
    assert result.pending_roles == ("administrator", "checker") and result.pending_approval
    assert not (await engine.refresh_session(admin)).can(WITHDRAWAL_APPROVAL)
    [item] = await _pending(engine, "operator_roles")
    assert item.ref == result.pending_approval and item.maker == "admin"
    assert WITHDRAWAL_APPROVAL in item.payload["gains"] and item.payload["before"] == ["administrator"]

    checker = await login(engine, "checker")
    before = await snapshot(engine)
    with pytest.raises(MakerCheckerViolation, match=f"You submitted {item.ref}"):
        await engine.execute(admin, ApproveItem(approval_id=item.id))
    with pytest.raises(PermissionDenied) as denied:  # a checker is not an administrator
        await engine.execute(checker, ApproveItem(approval_id=item.id))
    assert denied.value.permission == ADMINISTRATION
    assert await snapshot(engine) == before, "the item stays pending, nothing applied"

    decided = await engine.execute(await login(engine, "admin2"), ApproveItem(approval_id=item.id))
    assert decided.status == "APPROVED" and decided.checker == "admin2"
    assert (await engine.refresh_session(admin)).can(WITHDRAWAL_APPROVAL)
    [record] = await audit_records(engine, "operator.set_roles")
    assert record.operator == "admin2"
    assert json.loads(record.after) == {"roles": ["administrator", "checker"], "approval": item.ref, "maker": "admin"}


async def test_nobody_approves_their_own_promotion_and_a_second_change_waits_its_turn(engine: Engine) -> None:
    admin, admin2 = await login(engine, "admin"), await login(engine, "admin2")
    item_dto = await engine.execute(admin2, SetOperatorRoles(username="admin", roles=["administrator", "trader"]))
    with pytest.raises(Conflict, match=f"already waits for approval \\({item_dto.pending_approval}, by admin2\\)"):
        await engine.execute(admin2, SetOperatorRoles(username="admin", roles=["administrator", "viewer"]))
    [item] = await _pending(engine, "operator_roles")
    with pytest.raises(MakerCheckerViolation, match="your own roles"):
        await engine.execute(admin, ApproveItem(approval_id=item.id))
    assert [i.id for i in await _pending(engine, "operator_roles")] == [item.id]
    # Rejecting one's own promotion gives nobody anything: allowed.
    rejected = await engine.execute(admin, RejectItem(approval_id=item.id, reason="not needed"))
    assert rejected.status == "REJECTED"


async def test_a_role_gains_permissions_only_with_a_second_administrator(engine: Engine) -> None:
    admin, admin2 = await login(engine, "admin"), await login(engine, "admin2")
    created = await engine.execute(admin, CreateRole(name="desk", permissions=[WITHDRAWAL_APPROVAL]))
    assert created.permissions == () and created.pending_permissions == (WITHDRAWAL_APPROVAL,)
    granted = await engine.execute(admin, SetRolePermissions(
        role="administrator", permissions=[*(await _role(engine, "administrator")).permissions, WITHDRAWAL_APPROVAL]))
    assert WITHDRAWAL_APPROVAL not in granted.permissions and granted.pending_approval
    items = {i.payload["role"]: i for i in await _pending(engine, "role_permissions")}
    assert items["administrator"].payload["members"] == ["admin", "admin2"]
    for item in items.values():
        with pytest.raises(MakerCheckerViolation):
            await engine.execute(admin, ApproveItem(approval_id=item.id))
    assert not (await engine.refresh_session(admin)).can(WITHDRAWAL_APPROVAL)

    for item in items.values():
        assert (await engine.execute(admin2, ApproveItem(approval_id=item.id))).status == "APPROVED"
    assert (await _role(engine, "desk")).permissions == (WITHDRAWAL_APPROVAL,)
    assert (await engine.refresh_session(admin)).can(WITHDRAWAL_APPROVAL)


async def _role(engine: Engine, name: str):  # noqa: ANN202
    roles = await engine.query(await login(engine, "admin"), ListRoles())
    return next(r for r in roles if r.name == name)


async def test_taking_power_away_applies_at_once(engine: Engine) -> None:
    admin = await login(engine, "admin")
    trader = await engine.execute(admin, SetOperatorRoles(username="trader", roles=[]))
    assert trader.roles == () and trader.pending_approval is None
    viewer = await engine.execute(admin, SetRolePermissions(role="viewer", permissions=["RiskWarningReadOnly"]))
    assert viewer.permissions == ("RiskWarningReadOnly",) and viewer.pending_approval is None
    assert await _pending(engine, "operator_roles") == [] and await _pending(engine, "role_permissions") == []


async def test_a_change_approved_after_the_world_moved_on_fails_and_applies_nothing(engine: Engine) -> None:
    admin, admin2 = await login(engine, "admin"), await login(engine, "admin2")
    await engine.execute(admin, SetOperatorRoles(username="trader", roles=["trader", "viewer"]))
    await engine.execute(admin, SetOperatorRoles(username="checker", roles=["checker", "viewer"]))
    items = {i.payload["username"]: i for i in await _pending(engine, "operator_roles")}
    # trader's roles change meanwhile (a removal: at once); viewer's role grows (set-up) by
    # a permission the checker lacks.
    await engine.execute(admin2, SetOperatorRoles(username="trader", roles=[]))
    await engine.setup_execute(SetRolePermissions(role="viewer", permissions=[
        *(await _role(engine, "viewer")).permissions, "admin.operator_inquiry"]), tool="test-setup")

    stale = await engine.execute(admin2, ApproveItem(approval_id=items["trader"].id))
    assert stale.status == "FAILED" and "trader's roles changed after" in stale.outcome
    grown = await engine.execute(admin2, ApproveItem(approval_id=items["checker"].id))
    assert grown.status == "FAILED" and "permissions of checker, viewer changed after" in grown.outcome
    operators = {o.username: o for o in await engine.query(admin2, ListOperators())}
    assert operators["trader"].roles == () and operators["checker"].roles == ("checker",)
    # The only role change recorded is trader's removal; neither approval applied anything.
    [removal] = await audit_records(engine, "operator.set_roles")
    assert (removal.target_id, json.loads(removal.after)) == ("trader", {"roles": []})


async def test_a_new_operator_has_no_roles_until_approved_and_must_change_the_password(engine: Engine) -> None:
    admin, admin2 = await login(engine, "admin"), await login(engine, "admin2")
    created = await engine.execute(admin, CreateOperator(
        username="jdoe", display_name="Jo Doe", password=FRESH_PASSWORD, roles=["checker"]))
    assert created.roles == () and created.pending_roles == ("checker",) and created.must_change_password
    record = (await audit_records(engine, "operator.create"))[-1]
    assert json.loads(record.after)["roles"] == [] and json.loads(record.after)["must_change_password"] is True

    jdoe = await engine.login("jdoe", FRESH_PASSWORD)
    assert jdoe.must_change_password and jdoe.permissions == frozenset()
    with pytest.raises(PasswordChangeRequired):
        await engine.execute(jdoe, RequestPermission(permission_code="RiskWarningReadOnly", reason="x"))
    await engine.change_password(jdoe, FRESH_PASSWORD, "Central-Pier-77")
    jdoe = await engine.login("jdoe", "Central-Pier-77")
    assert not jdoe.must_change_password

    [item] = await _pending(engine, "operator_roles")
    with pytest.raises(MakerCheckerViolation):
        await engine.execute(admin, ApproveItem(approval_id=item.id))
    await engine.execute(admin2, ApproveItem(approval_id=item.id))
    assert (await engine.refresh_session(jdoe)).can(WITHDRAWAL_APPROVAL)


async def test_a_reset_password_must_be_changed_and_ends_the_old_sessions(engine: Engine) -> None:
    admin = await login(engine, "admin")
    old_session = await login(engine, "viewer")
    reset = await engine.execute(admin, ResetOperatorPassword(username="viewer", new_password="Deep-Water-Bay-8"))
    assert reset.must_change_password
    with pytest.raises(NotAuthenticated, match="session has ended"):
        await engine.query(old_session, ListRoles())
    viewer = await engine.login("viewer", "Deep-Water-Bay-8")
    assert viewer.must_change_password
    with pytest.raises(PasswordChangeRequired):
        await engine.execute(viewer, RequestPermission(permission_code="RiskWarningFull", reason="x"))
    await engine.change_password(viewer, "Deep-Water-Bay-8", "Peak-Tram-Route-9")
    assert await scalar(engine, "SELECT must_change_password FROM operators WHERE username = 'viewer'") in (0, False)


async def test_no_approval_through_an_account_whose_password_you_set(engine: Engine) -> None:
    """The attack from the acceptance run: create an account, log in as it, ask for power
    through it and approve that yourself; or take over another administrator's account."""
    admin, admin2 = await login(engine, "admin"), await login(engine, "admin2")
    await engine.execute(admin, CreateOperator(username="sock", display_name="Sock", password=FRESH_PASSWORD))
    sock = await engine.login("sock", FRESH_PASSWORD)
    await engine.change_password(sock, FRESH_PASSWORD, "Central-Pier-77")  # the forced change, done by admin
    sock = await engine.login("sock", "Central-Pier-77")
    asked = await engine.execute(sock, RequestPermission(permission_code=APPROVAL_PERMISSION, reason="cover"))
    with pytest.raises(MakerCheckerViolation, match="You set sock's password"):
        await engine.execute(admin, ApproveItem(approval_id=asked.id))
    assert (await engine.execute(admin2, ApproveItem(approval_id=asked.id))).status == "APPROVED"

    # Resetting the other administrator's password and approving as them fails too.
    await engine.execute(admin, ResetOperatorPassword(username="admin2", new_password="Taken-Over-2026"))
    taken = await engine.login("admin2", "Taken-Over-2026")
    await engine.change_password(taken, "Taken-Over-2026", "Still-Taken-2026")
    taken = await engine.login("admin2", "Still-Taken-2026")
    own = await engine.execute(admin, SetRolePermissions(
        role="administrator", permissions=[*(await _role(engine, "administrator")).permissions, WITHDRAWAL_APPROVAL]))
    [item] = await engine.query(taken, ListApprovals(kind="role_permissions"))
    assert item.ref == own.pending_approval
    with pytest.raises(MakerCheckerViolation, match="admin set your password"):
        await engine.execute(taken, ApproveItem(approval_id=item.id))
    assert [i.status for i in await engine.query(taken, ListApprovals(kind="role_permissions"))] == ["PENDING"]


async def test_create_admin_bootstraps_an_empty_database_and_is_audited(db_url: str) -> None:
    """``wbo-tui operator create-admin`` on an empty (migrated) database: the administrator
    can log in with the password they chose, no change forced, and the bootstrap is in
    the audit log under the tool's name.  A second administrator may be bootstrapped (four
    eyes need two), a third is refused."""
    cmd = [sys.executable, "-m", "wbo_tui", "operator", "create-admin", "alice", "--display-name", "Alice Chan",
           "--db", db_url]
    done = subprocess.run(cmd, input="Kowloon-Tong-9\nKowloon-Tong-9\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    engine = await Engine.open(db_url)
    try:
        alice = await engine.login("alice", "Kowloon-Tong-9")
        assert ADMINISTRATION in alice.permissions and not alice.must_change_password
        [created] = await audit_records(engine, "operator.create")
        assert (created.operator_id, created.target_id) == (None, "alice")
        assert json.loads(created.after)["roles"] == ["administrator"]
        assert [r.target_id for r in await audit_records(engine, "role.create")] == ["administrator"]
    finally:
        await engine.close()
    # Four eyes need two people: the bootstrap makes the first two administrators, no more.
    second = subprocess.run([*cmd[:5], "bob", *cmd[6:]], input="Kowloon-Tong-9\nKowloon-Tong-9\n",
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    third = subprocess.run([*cmd[:5], "carol", *cmd[6:]], input="Kowloon-Tong-9\nKowloon-Tong-9\n",
                           capture_output=True, text=True, timeout=120)
    assert third.returncode == 1
    assert "already has its administrators (alice, bob)" in third.stderr + third.stdout

"""The permission matrix: every registered command and query, refused without its
permission, allowed with exactly that permission, refused for a disabled operator.

``EXAMPLES`` holds one valid instance per command and query.  Its keys must equal the
handler registry, so a new command cannot be added without an entry here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from engine_support import (
    ADMINISTRATION,
    ALL_PERMISSIONS,
    APPROVAL_PERMISSION,
    FRESH_PASSWORD,
    audit_head_row,
    grant_directly,
    login,
    new_operator,
    snapshot,
)
from sqlalchemy import select

from wbo_tui.engine import (
    COMMAND_HANDLERS,
    QUERY_HANDLERS,
    ApprovalDTO,
    ApproveItem,
    AuditPage,
    AuditVerifyDTO,
    Command,
    CreateOperator,
    CreateRole,
    Engine,
    ListApprovals,
    ListCurrencies,
    ListOperators,
    ListRoles,
    MySubmissions,
    NotAuthenticated,
    OperatorDTO,
    PermissionCatalog,
    PermissionDenied,
    Query,
    QueryAuditLog,
    RejectItem,
    RequestPermission,
    ResetOperatorPassword,
    RevokeDirectPermission,
    RoleDTO,
    SessionInfo,
    SetOperatorEnabled,
    SetOperatorRoles,
    SetRolePermissions,
    UnlockOperator,
    VerifyAuditLog,
)
from wbo_tui.engine.schema import audit_log


@dataclass
class World:
    engine: Engine
    admin: SessionInfo
    maker: SessionInfo
    viewer: SessionInfo


Message = Command | Query
Example = Callable[[World], Awaitable[Message]]


@dataclass(frozen=True)
class Case:
    permission: str | None
    """What the engine demands.  None: any active operator."""
    example: Example
    """Builds one valid instance, preparing the data it needs (as other operators)."""
    audit_action: str | None = None
    """The audit record a successful command writes (None for queries)."""
    result_type: type | tuple[type, ...] = object
    via_kind: bool = False
    """The permission is not on the class but named by the approval item's kind."""


def _const(message: Message) -> Example:
    async def build(world: World) -> Message:
        return message

    return build


async def _pending_request(world: World) -> int:
    # The request is for the approval permission itself: a checker may only grant what
    # they hold (or be an administrator), and the matrix's checker holds exactly that.
    item = await world.engine.execute(
        world.maker, RequestPermission(permission_code=APPROVAL_PERMISSION, reason="covering approvals")
    )
    return item.id


async def _approve_example(world: World) -> Message:
    return ApproveItem(approval_id=await _pending_request(world))


async def _reject_example(world: World) -> Message:
    return RejectItem(approval_id=await _pending_request(world), reason="not needed for this role")


async def _revoke_example(world: World) -> Message:
    await grant_directly(world.engine, world.viewer, world.admin, "admin.operator_inquiry")
    return RevokeDirectPermission(username="viewer", permission_code="admin.operator_inquiry")


async def _reset_example(world: World) -> Message:
    # An operator manager may reset only passwords of operators who hold nothing beyond
    # the manager's own permissions; a new operator without roles holds nothing.
    await world.engine.execute(world.admin, CreateOperator(
        username="newbie", display_name="New Bie", password=FRESH_PASSWORD,
    ))
    return ResetOperatorPassword(username="newbie", new_password="Another-Pass-77")


OPERATOR_OPERATION = "admin.operator_operation"
OPERATOR_INQUIRY = "admin.operator_inquiry"
AUDIT_INQUIRY = "admin.audit_log_inquiry"

EXAMPLES: dict[type, Case] = {
    # Maker-checker: the permission comes from the item's kind ("permission_request").
    ApproveItem: Case(APPROVAL_PERMISSION, _approve_example, "approval.approve", ApprovalDTO, via_kind=True),
    RejectItem: Case(APPROVAL_PERMISSION, _reject_example, "approval.reject", ApprovalDTO, via_kind=True),
    ListApprovals: Case(APPROVAL_PERMISSION, _const(ListApprovals(kind="permission_request")), None, tuple,
                        via_kind=True),
    # Operators.
    CreateOperator: Case(OPERATOR_OPERATION, _const(CreateOperator(
        username="newcomer", display_name="New Comer", password=FRESH_PASSWORD,
    )), "operator.create", OperatorDTO),
    SetOperatorEnabled: Case(OPERATOR_OPERATION, _const(SetOperatorEnabled(username="viewer", enabled=False)),
                             "operator.disable", OperatorDTO),
    UnlockOperator: Case(OPERATOR_OPERATION, _const(UnlockOperator(username="viewer")), "operator.unlock", OperatorDTO),
    ResetOperatorPassword: Case(OPERATOR_OPERATION, _reset_example, "operator.reset_password", OperatorDTO),
    # Administration.
    SetOperatorRoles: Case(ADMINISTRATION, _const(SetOperatorRoles(username="viewer", roles=["viewer", "trader"])),
                           "operator.set_roles", OperatorDTO),
    RevokeDirectPermission: Case(ADMINISTRATION, _revoke_example, "operator.revoke_permission", OperatorDTO),
    CreateRole: Case(ADMINISTRATION, _const(CreateRole(name="desk", permissions=["fx.currency_pair_inquiry"])),
                     "role.create", RoleDTO),
    SetRolePermissions: Case(ADMINISTRATION, _const(SetRolePermissions(
        role="viewer", permissions=["RiskWarningReadOnly"],
    )), "role.set_permissions", RoleDTO),
    # Any active operator.
    RequestPermission: Case(None, _const(RequestPermission(
        permission_code="fx.reference_rate_operation", reason="covering the rate desk",
    )), "approval.submit", ApprovalDTO),
    MySubmissions: Case(None, _const(MySubmissions()), None, tuple),
    PermissionCatalog: Case(None, _const(PermissionCatalog()), None, tuple),
    ListCurrencies: Case(None, _const(ListCurrencies()), None, tuple),
    # Queries with a permission of their own.
    ListOperators: Case(OPERATOR_INQUIRY, _const(ListOperators()), None, tuple),
    ListRoles: Case(OPERATOR_INQUIRY, _const(ListRoles()), None, tuple),
    QueryAuditLog: Case(AUDIT_INQUIRY, _const(QueryAuditLog(page_size=10)), None, AuditPage),
    VerifyAuditLog: Case(AUDIT_INQUIRY, _const(VerifyAuditLog()), None, AuditVerifyDTO),
}

ALL_NAMES = sorted(cls.__name__ for cls in EXAMPLES)
GUARDED_NAMES = sorted(cls.__name__ for cls, case in EXAMPLES.items() if case.permission is not None)
BY_NAME = {cls.__name__: (cls, case) for cls, case in EXAMPLES.items()}


async def _run(engine: Engine, session: SessionInfo, message: Message) -> Any:
    if isinstance(message, Command):
        return await engine.execute(session, message)
    return await engine.query(session, message)


@pytest.fixture
async def world(engine: Engine) -> World:
    return World(engine, await login(engine, "admin"), await login(engine, "maker"), await login(engine, "viewer"))


def test_matrix_covers_exactly_the_registry() -> None:
    registered = set(COMMAND_HANDLERS) | set(QUERY_HANDLERS)
    assert set(EXAMPLES) == registered, {
        "missing from the matrix": sorted(c.__name__ for c in registered - set(EXAMPLES)),
        "not registered": sorted(c.__name__ for c in set(EXAMPLES) - registered),
    }


def test_matrix_agrees_with_the_declared_permissions() -> None:
    for cls, case in EXAMPLES.items():
        if case.via_kind:
            assert cls.permission is None, cls
        else:
            assert cls.permission == case.permission, cls
        assert (case.audit_action is not None) == issubclass(cls, Command), cls
        if case.permission is not None:
            assert case.permission in ALL_PERMISSIONS, case.permission


@pytest.mark.parametrize("name", GUARDED_NAMES)
async def test_refused_without_its_permission(world: World, name: str) -> None:
    """An operator holding every permission but this one is refused, and nothing changes."""
    cls, case = BY_NAME[name]
    engine = world.engine
    assert case.permission is not None
    probe = await new_operator(engine, world.admin, "probe", [p for p in ALL_PERMISSIONS if p != case.permission])
    message = await case.example(world)
    assert isinstance(message, cls)
    before = await snapshot(engine)
    with pytest.raises(PermissionDenied) as caught:
        await _run(engine, probe, message)
    assert caught.value.permission == case.permission
    assert case.permission in str(caught.value)
    assert await snapshot(engine) == before, "a refused command changed the database"


@pytest.mark.parametrize("name", ALL_NAMES)
async def test_allowed_with_exactly_its_permission(world: World, name: str) -> None:
    """An operator holding only this permission (none at all, where none is needed) is
    allowed; the command is audited under the probe's name, a query writes nothing."""
    cls, case = BY_NAME[name]
    engine = world.engine
    probe = await new_operator(engine, world.admin, "probe", [case.permission] if case.permission else [])
    assert probe.permissions == frozenset([case.permission] if case.permission else [])
    message = await case.example(world)
    head_before, _ = await audit_head_row(engine)
    before = await snapshot(engine)

    result = await _run(engine, probe, message)

    assert isinstance(result, case.result_type), type(result)
    if case.audit_action is None:
        assert await snapshot(engine) == before, "a query changed the database"
        return
    async with engine.db.connect() as conn:
        written = (await conn.execute(
            select(audit_log.c.action, audit_log.c.operator).where(audit_log.c.seq > head_before)
        )).all()
    assert case.audit_action in [action for action, _ in written]
    assert {operator for _, operator in written} == {"probe"}


@pytest.mark.parametrize("name", ALL_NAMES)
async def test_refused_for_a_disabled_operator(world: World, name: str) -> None:
    """Disabling an operator ends their session's authority at once, for every command and
    query, even with every permission held."""
    cls, case = BY_NAME[name]
    engine = world.engine
    probe = await new_operator(engine, world.admin, "probe", ALL_PERMISSIONS)
    message = await case.example(world)
    await engine.execute(world.admin, SetOperatorEnabled(username="probe", enabled=False))
    before = await snapshot(engine)
    with pytest.raises(NotAuthenticated, match="disabled"):
        await _run(engine, probe, message)
    assert await snapshot(engine) == before


# --- the engine trusts the database, not the session snapshot -------------------------------


async def test_a_revoked_permission_is_refused_even_on_an_old_session(world: World) -> None:
    engine = world.engine
    deputy = await new_operator(engine, world.admin, "deputy", roles=["administrator"])
    old_admin_session = world.admin
    await engine.execute(deputy, SetOperatorRoles(username="admin", roles=["viewer"]))
    assert old_admin_session.can(OPERATOR_INQUIRY)  # the stale snapshot still says yes
    with pytest.raises(PermissionDenied):
        await engine.query(old_admin_session, ListOperators())


async def test_a_forged_session_gains_nothing(world: World) -> None:
    forged = world.viewer.model_copy(update={"permissions": frozenset(ALL_PERMISSIONS)})
    before = await snapshot(world.engine)
    with pytest.raises(PermissionDenied):
        await world.engine.execute(forged, CreateRole(name="mine", permissions=list(ALL_PERMISSIONS)))
    assert await snapshot(world.engine) == before


async def test_a_grant_works_before_the_session_is_refreshed(world: World) -> None:
    engine = world.engine
    item = await engine.execute(world.maker, RequestPermission(permission_code=OPERATOR_INQUIRY, reason="shift"))
    await engine.execute(world.admin, ApproveItem(approval_id=item.id))
    assert not world.maker.can(OPERATOR_INQUIRY)
    assert len(await engine.query(world.maker, ListOperators())) == 5

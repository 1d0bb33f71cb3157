"""Operators, roles, grants and permission requests."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator
from sqlalchemy import and_, delete, func, insert, select, update

from . import approvals
from .approvals import ApprovalKind
from .commands import Command, Query, RequiredText, Secret, handles
from .dto import ApprovalDTO, OperatorDTO, RoleDTO
from .errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from .passwords import check_strength, hash_password
from .permissions import ADMINISTRATION, BY_CODE, CATALOG
from .schema import operator_permissions, operator_roles, operators, role_permissions, roles
from .uow import UnitOfWork, effective_permissions

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")


def _known_permissions(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - BY_CODE.keys())
    if unknown:
        raise ValueError(f"names unknown permissions: {', '.join(unknown)}")
    return sorted(set(values))


class _Username(Command):
    permission = None
    action = ""
    username: str

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not USERNAME_RE.match(value):
            raise ValueError("must be 3–32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter")
        return value


class CreateOperator(_Username):
    permission = "admin.operator_operation"
    action = "create operators"
    display_name: str = Field(min_length=1, max_length=100)
    password: Secret
    roles: list[str] = Field(default_factory=list)


class SetOperatorEnabled(_Username):
    permission = "admin.operator_operation"
    action = "enable or disable operators"
    enabled: bool


class UnlockOperator(_Username):
    permission = "admin.operator_operation"
    action = "unlock operators"


class ResetOperatorPassword(_Username):
    permission = "admin.operator_operation"
    action = "reset operators' passwords"
    new_password: Secret


class SetOperatorRoles(_Username):
    permission = ADMINISTRATION
    action = "assign roles"
    roles: list[str]


class RevokeDirectPermission(_Username):
    permission = ADMINISTRATION
    action = "revoke permissions"
    permission_code: str


class CreateRole(Command):
    permission = ADMINISTRATION
    action = "create roles"
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=200)
    permissions: list[str] = Field(default_factory=list)

    _check = field_validator("permissions")(classmethod(lambda cls, v: _known_permissions(v)))


class SetRolePermissions(Command):
    permission = ADMINISTRATION
    action = "grant permissions to roles"
    role: str
    permissions: list[str]

    _check = field_validator("permissions")(classmethod(lambda cls, v: _known_permissions(v)))


class RequestPermission(Command):
    """Any operator may ask for a permission; an administrator decides."""

    permission = None
    action = "request a permission"
    permission_code: str
    reason: Annotated[str, RequiredText(": say why you need the permission")] = Field(max_length=500)

    @field_validator("permission_code")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in BY_CODE:
            raise ValueError(f"{value!r} is not a permission this console knows")
        return value


class GrantPermission(Command):
    """The payload of an approved permission request (never executed directly)."""

    permission = "admin.permission_request_approval"
    action = "grant permissions"
    operator_id: int
    permission_code: str
    reason: str


# --- helpers ---------------------------------------------------------------------------


async def _operator_row(uow: UnitOfWork, username: str):  # noqa: ANN202
    row = (await uow.conn.execute(select(operators).where(operators.c.username == username))).first()
    if row is None:
        raise NotFound(f"There is no operator {username!r}.")
    return row


async def _role_ids(uow: UnitOfWork, names: list[str]) -> dict[str, int]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = (await uow.conn.execute(select(roles.c.name, roles.c.id).where(roles.c.name.in_(wanted)))).all()
    found = {r.name: r.id for r in rows}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ValidationFailed("Roles", f"name roles that do not exist: {', '.join(missing)}")
    return found


async def _roles_of(uow: UnitOfWork, operator_id: int) -> list[str]:
    stmt = (
        select(roles.c.name)
        .join(operator_roles, operator_roles.c.role_id == roles.c.id)
        .where(operator_roles.c.operator_id == operator_id)
        .order_by(roles.c.name)
    )
    return [r[0] for r in await uow.conn.execute(stmt)]


async def administrator_ids(uow: UnitOfWork) -> set[int]:
    """Enabled operators who hold the administration permission, via a role or directly."""
    via_role = (
        select(operator_roles.c.operator_id)
        .join(role_permissions, role_permissions.c.role_id == operator_roles.c.role_id)
        .where(role_permissions.c.permission == ADMINISTRATION)
    )
    direct = select(operator_permissions.c.operator_id).where(operator_permissions.c.permission == ADMINISTRATION)
    holders = via_role.union(direct).subquery()
    stmt = select(operators.c.id).where(operators.c.enabled.is_(True), operators.c.id.in_(select(holders)))
    return {r[0] for r in await uow.conn.execute(stmt)}


async def _keep_an_administrator(uow: UnitOfWork, what: str) -> None:
    """Checked after the change, inside the same transaction: a failing check rolls it back."""
    if not await administrator_ids(uow):
        raise Conflict(f"Refused: {what} would leave no enabled administrator ({ADMINISTRATION}).")


async def operator_dto(uow: UnitOfWork, row) -> OperatorDTO:  # noqa: ANN001
    direct = [
        r[0]
        for r in await uow.conn.execute(
            select(operator_permissions.c.permission)
            .where(operator_permissions.c.operator_id == row.id)
            .order_by(operator_permissions.c.permission)
        )
    ]
    admins = await administrator_ids(uow)
    return OperatorDTO(
        id=row.id, username=row.username, display_name=row.display_name, enabled=row.enabled,
        locked_until=row.locked_until if row.locked_until and row.locked_until > uow.now else None,
        failed_logins=row.failed_logins, roles=tuple(await _roles_of(uow, row.id)),
        direct_permissions=tuple(direct), last_login_at=row.last_login_at, is_administrator=row.id in admins,
    )


def _public(row) -> dict:  # noqa: ANN001
    return {"username": row.username, "display_name": row.display_name, "enabled": row.enabled}


# --- operators ---------------------------------------------------------------------------


@handles(CreateOperator)
async def create_operator(uow: UnitOfWork, cmd: CreateOperator) -> OperatorDTO:
    if cmd.roles:
        # Roles carry permissions: granting them is administration, not operator upkeep.
        await uow.require(ADMINISTRATION, "create operators with roles")
    check_strength(cmd.password, username=cmd.username, min_length=uow.services.policy.password_min_length)
    password_hash = await hash_password(uow.services.hasher, cmd.password)
    exists = (await uow.conn.execute(select(operators.c.id).where(operators.c.username == cmd.username))).first()
    if exists:
        raise ValidationFailed("Username", f"{cmd.username!r} is already taken")
    role_ids = await _role_ids(uow, cmd.roles)
    op_id = (
        await uow.conn.execute(
            insert(operators)
            .values(
                username=cmd.username, display_name=cmd.display_name.strip(), password_hash=password_hash,
                enabled=True, failed_logins=0, password_changed_at=uow.now, created_at=uow.now,
            )
            .returning(operators.c.id)
        )
    ).scalar_one()
    if role_ids:
        await uow.conn.execute(insert(operator_roles), [{"operator_id": op_id, "role_id": rid} for rid in role_ids.values()])
    uow.record("operator.create", "operator", cmd.username, None,
               {"display_name": cmd.display_name, "roles": sorted(role_ids)})
    row = (await uow.conn.execute(select(operators).where(operators.c.id == op_id))).one()
    return await operator_dto(uow, row)


@handles(SetOperatorEnabled)
async def set_operator_enabled(uow: UnitOfWork, cmd: SetOperatorEnabled) -> OperatorDTO:
    row = await _operator_row(uow, cmd.username)
    if row.enabled == cmd.enabled:
        raise Conflict(f"{cmd.username} is already {'enabled' if cmd.enabled else 'disabled'}.")
    if not cmd.enabled and row.id == uow.actor.operator_id:
        raise Conflict("You cannot disable your own account.")
    await uow.conn.execute(update(operators).where(operators.c.id == row.id).values(enabled=cmd.enabled))
    if not cmd.enabled:
        await _keep_an_administrator(uow, f"disabling {cmd.username}")
    uow.record("operator.enable" if cmd.enabled else "operator.disable", "operator", cmd.username,
               {"enabled": row.enabled}, {"enabled": cmd.enabled})
    return await operator_dto(uow, (await uow.conn.execute(select(operators).where(operators.c.id == row.id))).one())


@handles(UnlockOperator)
async def unlock_operator(uow: UnitOfWork, cmd: UnlockOperator) -> OperatorDTO:
    row = await _operator_row(uow, cmd.username)
    await uow.conn.execute(update(operators).where(operators.c.id == row.id).values(failed_logins=0, locked_until=None))
    uow.record("operator.unlock", "operator", cmd.username,
               {"failed_logins": row.failed_logins, "locked_until": row.locked_until},
               {"failed_logins": 0, "locked_until": None})
    return await operator_dto(uow, (await uow.conn.execute(select(operators).where(operators.c.id == row.id))).one())


@handles(ResetOperatorPassword)
async def reset_operator_password(uow: UnitOfWork, cmd: ResetOperatorPassword) -> OperatorDTO:
    row = await _operator_row(uow, cmd.username)
    # Whoever sets a password can log in as that operator: never let it reach beyond the
    # actor's own permissions.
    if not (await effective_permissions(uow.conn, row.id)) <= await uow.permissions():
        await uow.require(ADMINISTRATION, f"reset the password of {cmd.username}, who holds permissions you lack")
    check_strength(cmd.new_password, username=cmd.username, min_length=uow.services.policy.password_min_length,
                   field="New password")
    await uow.conn.execute(update(operators).where(operators.c.id == row.id).values(
        password_hash=await hash_password(uow.services.hasher, cmd.new_password), password_changed_at=uow.now,
        failed_logins=0, locked_until=None,
    ))
    uow.record("operator.reset_password", "operator", cmd.username, None, {"password_changed_at": uow.now})
    return await operator_dto(uow, (await uow.conn.execute(select(operators).where(operators.c.id == row.id))).one())


@handles(SetOperatorRoles)
async def set_operator_roles(uow: UnitOfWork, cmd: SetOperatorRoles) -> OperatorDTO:
    row = await _operator_row(uow, cmd.username)
    before = await _roles_of(uow, row.id)
    role_ids = await _role_ids(uow, cmd.roles)
    await uow.conn.execute(delete(operator_roles).where(operator_roles.c.operator_id == row.id))
    if role_ids:
        await uow.conn.execute(insert(operator_roles), [{"operator_id": row.id, "role_id": r} for r in role_ids.values()])
    await _keep_an_administrator(uow, f"changing {cmd.username}'s roles")
    uow.record("operator.set_roles", "operator", cmd.username, {"roles": before}, {"roles": sorted(role_ids)})
    return await operator_dto(uow, row)


@handles(RevokeDirectPermission)
async def revoke_direct_permission(uow: UnitOfWork, cmd: RevokeDirectPermission) -> OperatorDTO:
    row = await _operator_row(uow, cmd.username)
    gone = await uow.conn.execute(
        delete(operator_permissions).where(
            and_(operator_permissions.c.operator_id == row.id, operator_permissions.c.permission == cmd.permission_code)
        )
    )
    if gone.rowcount != 1:
        raise NotFound(f"{cmd.username} holds no direct grant of {cmd.permission_code}.")
    await _keep_an_administrator(uow, f"revoking {cmd.permission_code} from {cmd.username}")
    uow.record("operator.revoke_permission", "operator", cmd.username, {"permission": cmd.permission_code}, None)
    return await operator_dto(uow, row)


# --- roles -------------------------------------------------------------------------------


async def _role_dto(uow: UnitOfWork, role_id: int) -> RoleDTO:
    row = (await uow.conn.execute(select(roles).where(roles.c.id == role_id))).one()
    perms = [r[0] for r in await uow.conn.execute(
        select(role_permissions.c.permission).where(role_permissions.c.role_id == role_id).order_by(role_permissions.c.permission)
    )]
    members = (await uow.conn.execute(
        select(func.count()).select_from(operator_roles).where(operator_roles.c.role_id == role_id)
    )).scalar_one()
    return RoleDTO(id=row.id, name=row.name, description=row.description, permissions=tuple(perms), member_count=members)


@handles(CreateRole)
async def create_role(uow: UnitOfWork, cmd: CreateRole) -> RoleDTO:
    if (await uow.conn.execute(select(roles.c.id).where(roles.c.name == cmd.name))).first():
        raise ValidationFailed("Name", f"{cmd.name!r} is already a role")
    role_id = (await uow.conn.execute(
        insert(roles).values(name=cmd.name, description=cmd.description, created_at=uow.now).returning(roles.c.id)
    )).scalar_one()
    if cmd.permissions:
        await uow.conn.execute(insert(role_permissions), [{"role_id": role_id, "permission": p} for p in cmd.permissions])
    uow.record("role.create", "role", cmd.name, None, {"permissions": cmd.permissions, "description": cmd.description})
    return await _role_dto(uow, role_id)


@handles(SetRolePermissions)
async def set_role_permissions(uow: UnitOfWork, cmd: SetRolePermissions) -> RoleDTO:
    role_id = (await uow.conn.execute(select(roles.c.id).where(roles.c.name == cmd.role))).scalar()
    if role_id is None:
        raise NotFound(f"There is no role {cmd.role!r}.")
    before = list((await _role_dto(uow, role_id)).permissions)
    await uow.conn.execute(delete(role_permissions).where(role_permissions.c.role_id == role_id))
    if cmd.permissions:
        await uow.conn.execute(insert(role_permissions), [{"role_id": role_id, "permission": p} for p in cmd.permissions])
    await _keep_an_administrator(uow, f"changing the permissions of role {cmd.role}")
    uow.record("role.set_permissions", "role", cmd.role,
               {"permissions": before},
               {"permissions": cmd.permissions,
                "granted": sorted(set(cmd.permissions) - set(before)),
                "revoked": sorted(set(before) - set(cmd.permissions))})
    return await _role_dto(uow, role_id)


# --- permission requests (maker-checker kind "permission_request") ----------------------


@handles(RequestPermission)
async def request_permission(uow: UnitOfWork, cmd: RequestPermission) -> ApprovalDTO:
    await uow.require(None)
    if cmd.permission_code in await uow.permissions():
        raise Conflict(f"You already hold {cmd.permission_code}.")
    me = uow.actor.operator_id
    assert me is not None
    payload = GrantPermission(operator_id=me, permission_code=cmd.permission_code, reason=cmd.reason.strip())
    for item in await approvals.list_pending_payloads(uow, "permission_request", me):
        if item.get("permission_code") == cmd.permission_code:
            raise Conflict(f"You already have a pending request for {cmd.permission_code}.")
    return await approvals.submit(
        uow, "permission_request", payload,
        f"{uow.actor.username} requests {cmd.permission_code}: {cmd.reason.strip()}",
    )


async def _authorize_grant(uow: UnitOfWork, cmd: GrantPermission) -> None:
    """A checker may only hand out what they hold themselves, unless they administer
    roles (and could grant it anyway): otherwise two colluding operators holding only the
    approval permission could make each other administrators."""
    mine = await uow.permissions()
    if cmd.permission_code not in mine and ADMINISTRATION not in mine and uow.actor.operator_id is not None:
        raise PermissionDenied(ADMINISTRATION, f"grant {cmd.permission_code}, which you do not hold yourself")


async def _execute_grant(uow: UnitOfWork, cmd: GrantPermission, item: ApprovalDTO) -> dict:
    row = (await uow.conn.execute(select(operators).where(operators.c.id == cmd.operator_id))).first()
    if row is None or not row.enabled:
        raise Conflict("The requesting operator no longer exists or is disabled.")
    held = (await uow.conn.execute(select(operator_permissions.c.permission).where(
        operator_permissions.c.operator_id == cmd.operator_id, operator_permissions.c.permission == cmd.permission_code
    ))).first()
    if held is None:
        await uow.conn.execute(insert(operator_permissions).values(
            operator_id=cmd.operator_id, permission=cmd.permission_code, granted_at=uow.now, approval_id=item.id,
        ))
    uow.record("operator.grant_permission", "operator", row.username, None,
               {"permission": cmd.permission_code, "approval": item.ref})
    return {"granted": cmd.permission_code, "to": row.username}


approvals.register_kind(ApprovalKind(
    name="permission_request", label="Permission request", payload=GrantPermission,
    approval_permission="admin.permission_request_approval", execute=_execute_grant, authorize=_authorize_grant,
))


# --- queries -----------------------------------------------------------------------------


class ListOperators(Query):
    permission = "admin.operator_inquiry"
    action = "view operators"


@handles(ListOperators)
async def list_operators(uow: UnitOfWork, q: ListOperators) -> tuple[OperatorDTO, ...]:
    rows = (await uow.conn.execute(select(operators).order_by(operators.c.username))).all()
    return tuple([await operator_dto(uow, r) for r in rows])


class ListRoles(Query):
    permission = "admin.operator_inquiry"
    action = "view roles"


@handles(ListRoles)
async def list_roles(uow: UnitOfWork, q: ListRoles) -> tuple[RoleDTO, ...]:
    ids = [r[0] for r in await uow.conn.execute(select(roles.c.id).order_by(roles.c.name))]
    return tuple([await _role_dto(uow, i) for i in ids])


class PermissionCatalog(Query):
    permission = None
    action = "view the permission catalog"


@handles(PermissionCatalog)
async def permission_catalog(uow: UnitOfWork, q: PermissionCatalog) -> tuple[tuple[str, str, str], ...]:
    await uow.require(None)
    return tuple((p.code, p.module, p.description) for p in CATALOG)

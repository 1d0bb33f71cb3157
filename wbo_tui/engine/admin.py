"""Operators: accounts, passwords, enabling and unlocking; and the administration queries.

Roles and how operators gain power live beside this module (``admin_roles``,
``admin_grants``); their commands are re-exported here.  Whoever sets a password can log
in as that operator, so a password set by an administrator (a new account, a reset) must
be changed by the operator at their next login, and the account is created without roles:
the roles asked for wait for a second administrator (``admin_grants.assign_roles``).
Setup tools (``wbo-tui seed``, ``operator create-admin``) create operators with their
roles and chosen passwords directly.
"""

from __future__ import annotations

from pydantic import Field
from sqlalchemy import insert, select, update

from . import sessions
from .admin_common import (
    OPERATOR_ROLES_KIND,
    ROLE_PERMISSIONS_KIND,
    UsernameCommand,
    administrator_ids,
    is_setup,
    keep_an_administrator,
    operator_dto,
    operator_row,
    pending_by_target,
    role_dto,
    role_ids,
)
from .admin_grants import (
    ApplyOperatorRoles,
    GrantPermission,
    RequestPermission,
    RevokeDirectPermission,
    SetOperatorRoles,
    assign_roles,
)
from .admin_roles import ApplyRolePermissions, CreateRole, SetRolePermissions
from .commands import Query, Secret, handles
from .dto import OperatorDTO, RoleDTO
from .errors import Conflict, ValidationFailed
from .passwords import check_strength, hash_password
from .permissions import ADMINISTRATION, CATALOG
from .schema import operator_roles, operators, roles
from .uow import UnitOfWork, effective_permissions


class CreateOperator(UsernameCommand):
    permission = "admin.operator_operation"
    action = "create operators"
    display_name: str = Field(min_length=1, max_length=100)
    password: Secret
    roles: list[str] = Field(default_factory=list)


class SetOperatorEnabled(UsernameCommand):
    permission = "admin.operator_operation"
    action = "enable or disable operators"
    enabled: bool


class UnlockOperator(UsernameCommand):
    permission = "admin.operator_operation"
    action = "unlock operators"


class ResetOperatorPassword(UsernameCommand):
    permission = "admin.operator_operation"
    action = "reset operators' passwords"
    new_password: Secret


async def _reread(uow: UnitOfWork, operator_id: int) -> OperatorDTO:
    return await operator_dto(uow, (await uow.conn.execute(select(operators).where(operators.c.id == operator_id))).one())


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
    ids = await role_ids(uow, cmd.roles)
    setup = is_setup(uow)
    op_id = (
        await uow.conn.execute(
            insert(operators)
            .values(
                username=cmd.username, display_name=cmd.display_name.strip(), password_hash=password_hash,
                enabled=True, failed_logins=0, password_changed_at=uow.now, created_at=uow.now,
                must_change_password=not setup,
            )
            .returning(operators.c.id)
        )
    ).scalar_one()
    if setup and ids:
        await uow.conn.execute(insert(operator_roles), [{"operator_id": op_id, "role_id": rid} for rid in ids.values()])
    uow.record("operator.create", "operator", cmd.username, None,
               {"display_name": cmd.display_name, "roles": sorted(ids) if setup else [],
                "must_change_password": not setup})
    row = (await uow.conn.execute(select(operators).where(operators.c.id == op_id))).one()
    if ids and not setup:
        return await assign_roles(uow, row, cmd.roles)
    return await operator_dto(uow, row, None)


@handles(SetOperatorEnabled)
async def set_operator_enabled(uow: UnitOfWork, cmd: SetOperatorEnabled) -> OperatorDTO:
    row = await operator_row(uow, cmd.username)
    if row.enabled == cmd.enabled:
        raise Conflict(f"{cmd.username} is already {'enabled' if cmd.enabled else 'disabled'}.")
    if not cmd.enabled and row.id == uow.actor.operator_id:
        raise Conflict("You cannot disable your own account.")
    await uow.conn.execute(update(operators).where(operators.c.id == row.id).values(enabled=cmd.enabled))
    ended = 0
    if not cmd.enabled:
        await keep_an_administrator(uow, f"disabling {cmd.username}")
        ended = await sessions.revoke_all(uow, row.id, "disabled")
    uow.record("operator.enable" if cmd.enabled else "operator.disable", "operator", cmd.username,
               {"enabled": row.enabled}, {"enabled": cmd.enabled, **({"sessions_ended": ended} if ended else {})})
    return await _reread(uow, row.id)


@handles(UnlockOperator)
async def unlock_operator(uow: UnitOfWork, cmd: UnlockOperator) -> OperatorDTO:
    row = await operator_row(uow, cmd.username)
    await uow.conn.execute(update(operators).where(operators.c.id == row.id).values(failed_logins=0, locked_until=None))
    uow.record("operator.unlock", "operator", cmd.username,
               {"failed_logins": row.failed_logins, "locked_until": row.locked_until},
               {"failed_logins": 0, "locked_until": None})
    return await _reread(uow, row.id)


@handles(ResetOperatorPassword)
async def reset_operator_password(uow: UnitOfWork, cmd: ResetOperatorPassword) -> OperatorDTO:
    row = await operator_row(uow, cmd.username)
    # Whoever sets a password can log in as that operator: never let it reach beyond the
    # actor's own permissions.
    if not (await effective_permissions(uow.conn, row.id)) <= await uow.permissions():
        await uow.require(ADMINISTRATION, f"reset the password of {cmd.username}, who holds permissions you lack")
    check_strength(cmd.new_password, username=cmd.username, min_length=uow.services.policy.password_min_length,
                   field="New password")
    forced = not is_setup(uow)
    await uow.conn.execute(update(operators).where(operators.c.id == row.id).values(
        password_hash=await hash_password(uow.services.hasher, cmd.new_password), password_changed_at=uow.now,
        failed_logins=0, locked_until=None, must_change_password=forced,
    ))
    # The old password is void, and so is every session opened with it (but the acting
    # administrator's own, should they reset their own password).
    ended = await sessions.revoke_all(uow, row.id, "password reset", keep=uow.actor.session_hash)
    uow.record("operator.reset_password", "operator", cmd.username, None,
               {"password_changed_at": uow.now, "must_change_password": forced, "sessions_ended": ended})
    return await _reread(uow, row.id)


# --- queries -----------------------------------------------------------------------------


class ListOperators(Query):
    permission = "admin.operator_inquiry"
    action = "view operators"


@handles(ListOperators)
async def list_operators(uow: UnitOfWork, q: ListOperators) -> tuple[OperatorDTO, ...]:
    rows = (await uow.conn.execute(select(operators).order_by(operators.c.username))).all()
    pending = await pending_by_target(uow, OPERATOR_ROLES_KIND, "username")
    return tuple([await operator_dto(uow, r, pending.get(r.username)) for r in rows])


class ListRoles(Query):
    permission = "admin.operator_inquiry"
    action = "view roles"


@handles(ListRoles)
async def list_roles(uow: UnitOfWork, q: ListRoles) -> tuple[RoleDTO, ...]:
    rows = (await uow.conn.execute(select(roles.c.id, roles.c.name).order_by(roles.c.name))).all()
    pending = await pending_by_target(uow, ROLE_PERMISSIONS_KIND, "role")
    return tuple([await role_dto(uow, r.id, pending.get(r.name)) for r in rows])


class PermissionCatalog(Query):
    permission = None
    action = "view the permission catalog"


@handles(PermissionCatalog)
async def permission_catalog(uow: UnitOfWork, q: PermissionCatalog) -> tuple[tuple[str, str, str], ...]:
    await uow.require(None)
    return tuple((p.code, p.module, p.description) for p in CATALOG)


__all__ = [
    "ApplyOperatorRoles", "ApplyRolePermissions", "CreateOperator", "CreateRole", "GrantPermission", "ListOperators",
    "ListRoles", "PermissionCatalog", "RequestPermission", "ResetOperatorPassword", "RevokeDirectPermission",
    "SetOperatorEnabled", "SetOperatorRoles", "SetRolePermissions", "UnlockOperator", "administrator_ids",
]

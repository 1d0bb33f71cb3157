"""Roles: named sets of permissions, and how their permissions change.

A role's permissions reach every member, so granting a role a permission is maker-checker
like any other gain of power: the change is stored as an approval item
("role_permissions") and a second administrator's approval applies it, provided the role
still has the permissions the maker saw.  Creating a role is immediate and creates it
empty; the permissions asked for wait for approval the same way.  Taking permissions away
applies at once (the last administrator kept).  Setup tools apply directly.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from sqlalchemy import delete, insert, select

from . import approvals
from .admin_common import (
    ROLE_PERMISSIONS_KIND,
    is_setup,
    keep_an_administrator,
    known_permissions,
    pending_by_target,
    permissions_of_roles,
    refuse_a_second_change,
    role_dto,
    role_members,
    would_keep_an_administrator,
)
from .approvals import ApprovalKind
from .commands import Command, handles
from .dto import ApprovalDTO, RoleDTO
from .errors import Conflict, NotFound, ValidationFailed
from .permissions import ADMINISTRATION
from .schema import role_permissions, roles
from .uow import UnitOfWork


class CreateRole(Command):
    permission = ADMINISTRATION
    action = "create roles"
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=200)
    permissions: list[str] = Field(default_factory=list)

    _check = field_validator("permissions")(classmethod(lambda cls, v: known_permissions(v)))


class SetRolePermissions(Command):
    """Replace a role's permissions.  Applies at once if it grants nothing new; otherwise
    waits for a second administrator."""

    permission = ADMINISTRATION
    action = "grant permissions to roles"
    role: str
    permissions: list[str]

    _check = field_validator("permissions")(classmethod(lambda cls, v: known_permissions(v)))


class ApplyRolePermissions(Command):
    """The payload of a pending change of a role's permissions (never executed directly)."""

    permission = ADMINISTRATION
    action = "grant permissions to roles"
    role: str
    permissions: list[str]
    before: list[str]
    """The role's permissions when the change was submitted."""
    members: list[str]
    """Who held the role then: everyone the change reaches, for the checker to read."""


async def _replace_permissions(uow: UnitOfWork, role_id: int, permissions: list[str]) -> None:
    await uow.conn.execute(delete(role_permissions).where(role_permissions.c.role_id == role_id))
    if permissions:
        await uow.conn.execute(insert(role_permissions), [{"role_id": role_id, "permission": p} for p in permissions])


def _change_record(before: list[str], after: list[str]) -> dict:
    return {"permissions": after, "granted": sorted(set(after) - set(before)),
            "revoked": sorted(set(before) - set(after))}


async def _change_permissions(uow: UnitOfWork, role_id: int, name: str, permissions: list[str],
                              before: list[str]) -> RoleDTO:
    granted = sorted(set(permissions) - set(before))
    what = f"changing the permissions of role {name}"
    if is_setup(uow) or not granted:
        await _replace_permissions(uow, role_id, permissions)
        await keep_an_administrator(uow, what)
        uow.record("role.set_permissions", "role", name, {"permissions": before}, _change_record(before, permissions))
        return await role_dto(uow, role_id)
    refuse_a_second_change((await pending_by_target(uow, ROLE_PERMISSIONS_KIND, "role")).get(name), f"role {name}")
    revoked = sorted(set(before) - set(permissions))
    if revoked:
        await would_keep_an_administrator(uow, lambda: _replace_permissions(uow, role_id, permissions), what)
    members = await role_members(uow, role_id)
    payload = ApplyRolePermissions(role=name, permissions=permissions, before=before, members=members)
    summary = (f"{uow.actor.username} changes role {name} ({len(members)} member(s)): grants {', '.join(granted)}"
               + (f"; revokes {', '.join(revoked)}" if revoked else ""))
    item = await approvals.submit(uow, ROLE_PERMISSIONS_KIND, payload, summary)
    return await role_dto(uow, role_id, item)


@handles(CreateRole)
async def create_role(uow: UnitOfWork, cmd: CreateRole) -> RoleDTO:
    if (await uow.conn.execute(select(roles.c.id).where(roles.c.name == cmd.name))).first():
        raise ValidationFailed("Name", f"{cmd.name!r} is already a role")
    role_id = (await uow.conn.execute(
        insert(roles).values(name=cmd.name, description=cmd.description, created_at=uow.now).returning(roles.c.id)
    )).scalar_one()
    if is_setup(uow):
        await _replace_permissions(uow, role_id, cmd.permissions)
        uow.record("role.create", "role", cmd.name, None, {"permissions": cmd.permissions, "description": cmd.description})
        return await role_dto(uow, role_id, None)
    # An operator's new role starts empty; what it should grant waits for approval.
    uow.record("role.create", "role", cmd.name, None, {"permissions": [], "description": cmd.description})
    if not cmd.permissions:
        return await role_dto(uow, role_id, None)
    return await _change_permissions(uow, role_id, cmd.name, cmd.permissions, [])


@handles(SetRolePermissions)
async def set_role_permissions(uow: UnitOfWork, cmd: SetRolePermissions) -> RoleDTO:
    role_id = (await uow.conn.execute(select(roles.c.id).where(roles.c.name == cmd.role))).scalar()
    if role_id is None:
        raise NotFound(f"There is no role {cmd.role!r}.")
    before = await permissions_of_roles(uow, [role_id])
    if cmd.permissions == before:
        raise Conflict(f"Role {cmd.role} already has exactly these permissions.")
    return await _change_permissions(uow, role_id, cmd.role, cmd.permissions, before)


async def _execute_permissions(uow: UnitOfWork, cmd: ApplyRolePermissions, item: ApprovalDTO) -> dict:
    role_id = (await uow.conn.execute(select(roles.c.id).where(roles.c.name == cmd.role))).scalar()
    if role_id is None:
        raise NotFound(f"There is no role {cmd.role!r} any more.")
    current = await permissions_of_roles(uow, [role_id])
    if current != cmd.before:
        raise Conflict(f"Role {cmd.role}'s permissions changed after {item.ref} was submitted; "
                       "nothing was changed: submit the change again.")
    await _replace_permissions(uow, role_id, cmd.permissions)
    await keep_an_administrator(uow, f"changing the permissions of role {cmd.role}")
    change = _change_record(cmd.before, cmd.permissions)
    uow.record("role.set_permissions", "role", cmd.role, {"permissions": cmd.before},
               change | {"approval": item.ref, "maker": item.maker})
    return {"role": cmd.role, "granted": change["granted"], "revoked": change["revoked"]}


approvals.register_kind(ApprovalKind(
    name=ROLE_PERMISSIONS_KIND, label="Role permissions", payload=ApplyRolePermissions,
    approval_permission=ADMINISTRATION, execute=_execute_permissions,
))

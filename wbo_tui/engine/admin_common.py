"""What the administration modules share: reading operators and roles, the "keep an
administrator" rule, and the DTOs with any change of theirs still waiting for approval."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import field_validator
from sqlalchemy import func, select

from . import approvals
from .commands import Command
from .dto import ApprovalDTO, OperatorDTO, RoleDTO
from .errors import Conflict, NotFound, ValidationFailed
from .permissions import ADMINISTRATION, BY_CODE
from .schema import operator_permissions, operator_roles, operators, role_permissions, roles
from .uow import UnitOfWork

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{2,31}$")

# The approval kinds of administration: what a second administrator decides.
OPERATOR_ROLES_KIND = "operator_roles"
ROLE_PERMISSIONS_KIND = "role_permissions"


def known_permissions(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - BY_CODE.keys())
    if unknown:
        raise ValueError(f"names unknown permissions: {', '.join(unknown)}")
    return sorted(set(values))


class UsernameCommand(Command):
    permission = None
    action = ""
    username: str

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not USERNAME_RE.match(value):
            raise ValueError("must be 3–32 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter")
        return value


def is_setup(uow: UnitOfWork) -> bool:
    """A setup tool (``wbo-tui seed``, ``operator create-admin``) rather than an operator:
    it holds the database's credentials anyway, so its changes apply directly."""
    return uow.actor.operator_id is None


async def operator_row(uow: UnitOfWork, username: str) -> Any:
    row = (await uow.conn.execute(select(operators).where(operators.c.username == username))).first()
    if row is None:
        raise NotFound(f"There is no operator {username!r}.")
    return row


async def role_ids(uow: UnitOfWork, names: list[str]) -> dict[str, int]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    rows = (await uow.conn.execute(select(roles.c.name, roles.c.id).where(roles.c.name.in_(wanted)))).all()
    found = {r.name: r.id for r in rows}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ValidationFailed("Roles", f"name roles that do not exist: {', '.join(missing)}")
    return found


async def roles_of(uow: UnitOfWork, operator_id: int) -> list[str]:
    stmt = (
        select(roles.c.name)
        .join(operator_roles, operator_roles.c.role_id == roles.c.id)
        .where(operator_roles.c.operator_id == operator_id)
        .order_by(roles.c.name)
    )
    return [r[0] for r in await uow.conn.execute(stmt)]


async def permissions_of_roles(uow: UnitOfWork, ids: list[int]) -> list[str]:
    """Every permission the roles ``ids`` carry together, sorted."""
    if not ids:
        return []
    rows = await uow.conn.execute(
        select(role_permissions.c.permission).where(role_permissions.c.role_id.in_(ids)).distinct()
    )
    return sorted(r[0] for r in rows)


async def direct_permissions(uow: UnitOfWork, operator_id: int) -> list[str]:
    return [r[0] for r in await uow.conn.execute(
        select(operator_permissions.c.permission)
        .where(operator_permissions.c.operator_id == operator_id)
        .order_by(operator_permissions.c.permission)
    )]


async def role_members(uow: UnitOfWork, role_id: int) -> list[str]:
    return [r[0] for r in await uow.conn.execute(
        select(operators.c.username)
        .join(operator_roles, operator_roles.c.operator_id == operators.c.id)
        .where(operator_roles.c.role_id == role_id)
        .order_by(operators.c.username)
    )]


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


async def keep_an_administrator(uow: UnitOfWork, what: str) -> None:
    """Checked after the change, inside the same transaction: a failing check rolls it back."""
    if not await administrator_ids(uow):
        raise Conflict(f"Refused: {what} would leave no enabled administrator ({ADMINISTRATION}).")


async def would_keep_an_administrator(uow: UnitOfWork, change: Callable[[], Awaitable[None]], what: str) -> None:
    """Try ``change`` and the rule inside a savepoint that is always rolled back: refuse a
    change that waits for approval now, rather than only when it is approved."""
    savepoint = await uow.conn.begin_nested()
    try:
        await change()
        await keep_an_administrator(uow, what)
    finally:
        await savepoint.rollback()


async def pending_by_target(uow: UnitOfWork, kind: str, key: str) -> dict[str, ApprovalDTO]:
    """Pending items of ``kind`` by what they change (payload ``key``): at most one each,
    since a second change of the same thing is refused while one waits."""
    return {item.payload[key]: item for item in await approvals.pending_items(uow, kind)}


def refuse_a_second_change(pending: ApprovalDTO | None, what: str) -> None:
    if pending is not None:
        raise Conflict(
            f"A change to {what} already waits for approval ({pending.ref}, by {pending.maker}); "
            "another administrator must approve or reject it first."
        )


async def operator_dto(uow: UnitOfWork, row: Any, pending: ApprovalDTO | None | bool = True) -> OperatorDTO:
    """``pending``: the operator's pending role change, or True to look it up."""
    if pending is True:
        pending = (await pending_by_target(uow, OPERATOR_ROLES_KIND, "username")).get(row.username)
    admins = await administrator_ids(uow)
    return OperatorDTO(
        id=row.id, username=row.username, display_name=row.display_name, enabled=row.enabled,
        locked_until=row.locked_until if row.locked_until and row.locked_until > uow.now else None,
        failed_logins=row.failed_logins, roles=tuple(await roles_of(uow, row.id)),
        direct_permissions=tuple(await direct_permissions(uow, row.id)), last_login_at=row.last_login_at,
        is_administrator=row.id in admins, must_change_password=row.must_change_password,
        pending_approval=pending.ref if isinstance(pending, ApprovalDTO) else None,
        pending_roles=tuple(pending.payload["roles"]) if isinstance(pending, ApprovalDTO) else None,
    )


async def role_dto(uow: UnitOfWork, role_id: int, pending: ApprovalDTO | None | bool = True) -> RoleDTO:
    """``pending``: the role's pending permission change, or True to look it up."""
    row = (await uow.conn.execute(select(roles).where(roles.c.id == role_id))).one()
    if pending is True:
        pending = (await pending_by_target(uow, ROLE_PERMISSIONS_KIND, "role")).get(row.name)
    perms = await permissions_of_roles(uow, [role_id])
    members = (await uow.conn.execute(
        select(func.count()).select_from(operator_roles).where(operator_roles.c.role_id == role_id)
    )).scalar_one()
    return RoleDTO(
        id=row.id, name=row.name, description=row.description, permissions=tuple(perms), member_count=members,
        pending_approval=pending.ref if isinstance(pending, ApprovalDTO) else None,
        pending_permissions=tuple(pending.payload["permissions"]) if isinstance(pending, ApprovalDTO) else None,
    )

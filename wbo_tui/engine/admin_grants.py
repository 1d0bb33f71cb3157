"""How operators gain power — roles assigned to them, permissions granted to them
directly — and how they lose it.

Gaining power is maker-checker, the administrator's included: a change that would give an
operator any permission they do not hold is stored as an approval item ("operator_roles")
and applied when a second administrator approves it, after checking that nothing it
relied on has changed since.  A direct grant comes only from an approved permission
request ("permission_request").  Losing power applies at once: taking roles or grants
away gives nobody anything, and an administrator answering an incident must not wait for
a second one.  The last enabled administrator is never removed either way.  Setup tools
(``wbo-tui seed``, ``operator create-admin``) apply directly: they hold the database's
credentials anyway.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from sqlalchemy import and_, delete, insert, select

from . import approvals
from .admin_common import (
    OPERATOR_ROLES_KIND,
    UsernameCommand,
    direct_permissions,
    is_setup,
    keep_an_administrator,
    operator_dto,
    operator_row,
    pending_by_target,
    permissions_of_roles,
    refuse_a_second_change,
    role_ids,
    roles_of,
    would_keep_an_administrator,
)
from .approvals import ApprovalKind
from .commands import Command, RequiredText, handles
from .dto import ApprovalDTO, OperatorDTO
from .errors import Conflict, MakerCheckerViolation, NotFound, PermissionDenied
from .password_custody import password_setter
from .permissions import ADMINISTRATION, BY_CODE
from .schema import operator_permissions, operator_roles, operators
from .uow import UnitOfWork, effective_permissions
from .whole_numbers import Id


class SetOperatorRoles(UsernameCommand):
    """Replace an operator's roles.  Applies at once if the operator gains nothing;
    otherwise waits for a second administrator."""

    permission = ADMINISTRATION
    action = "assign roles"
    roles: list[str]


class ApplyOperatorRoles(Command):
    """The payload of a pending role change (never executed directly): the roles to set
    and what the maker saw, so that approving a world that has changed since is refused."""

    permission = ADMINISTRATION
    action = "assign roles"
    username: str
    roles: list[str]
    before: list[str]
    """The operator's roles when the change was submitted."""
    grants: list[str]
    """Every permission ``roles`` carried then."""
    gains: list[str]
    """The permissions the operator did not hold then and would hold afterwards."""


class RevokeDirectPermission(UsernameCommand):
    permission = ADMINISTRATION
    action = "revoke permissions"
    permission_code: str


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
    operator_id: Id
    permission_code: str
    reason: str


# --- operators' roles ----------------------------------------------------------------------


async def _replace_roles(uow: UnitOfWork, operator_id: int, ids: dict[str, int]) -> None:
    await uow.conn.execute(delete(operator_roles).where(operator_roles.c.operator_id == operator_id))
    if ids:
        await uow.conn.execute(insert(operator_roles), [{"operator_id": operator_id, "role_id": r} for r in ids.values()])


async def assign_roles(uow: UnitOfWork, row: Any, roles: list[str]) -> OperatorDTO:
    """Give the operator ``row`` exactly ``roles``: at once if they gain no permission (or a
    setup tool asks), else as an approval item for a second administrator."""
    before = await roles_of(uow, row.id)
    ids = await role_ids(uow, roles)
    wanted = sorted(ids)
    if wanted == before:
        raise Conflict(f"{row.username} already has exactly these roles.")
    grants = await permissions_of_roles(uow, list(ids.values()))
    held = await effective_permissions(uow.conn, row.id)
    gains = sorted((set(grants) | set(await direct_permissions(uow, row.id))) - held)
    what = f"changing {row.username}'s roles"
    if is_setup(uow) or not gains:
        await _replace_roles(uow, row.id, ids)
        await keep_an_administrator(uow, what)
        uow.record("operator.set_roles", "operator", row.username, {"roles": before}, {"roles": wanted})
        return await operator_dto(uow, row)
    refuse_a_second_change(
        (await pending_by_target(uow, OPERATOR_ROLES_KIND, "username")).get(row.username), f"{row.username}'s roles")
    if set(before) - set(wanted):
        # Say now, not at approval, if the change would leave no administrator.
        await would_keep_an_administrator(uow, lambda: _replace_roles(uow, row.id, ids), what)
    payload = ApplyOperatorRoles(username=row.username, roles=wanted, before=before, grants=grants, gains=gains)
    summary = (f"{uow.actor.username} sets {row.username}'s roles: {', '.join(before) or 'none'} → "
               f"{', '.join(wanted)}; gains {len(gains)} permission(s): {', '.join(gains)}")
    item = await approvals.submit(uow, OPERATOR_ROLES_KIND, payload, summary)
    return await operator_dto(uow, row, item)


@handles(SetOperatorRoles)
async def set_operator_roles(uow: UnitOfWork, cmd: SetOperatorRoles) -> OperatorDTO:
    return await assign_roles(uow, await operator_row(uow, cmd.username), cmd.roles)


async def _authorize_roles(uow: UnitOfWork, cmd: ApplyOperatorRoles) -> None:
    """Nobody approves power for themselves, nor for an operator whose password they set
    (they could be acting as that operator; see ``password_custody``)."""
    if uow.actor.username == cmd.username:
        raise MakerCheckerViolation("You cannot approve a change to your own roles; another administrator must.")
    if await password_setter(uow.conn, cmd.username) == uow.actor.operator_id:
        raise MakerCheckerViolation(
            f"You set {cmd.username}'s password, so you could act as {cmd.username}: "
            "another administrator must approve their roles."
        )


async def _execute_roles(uow: UnitOfWork, cmd: ApplyOperatorRoles, item: ApprovalDTO) -> dict:
    row = await operator_row(uow, cmd.username)
    current = await roles_of(uow, row.id)
    if current != cmd.before:
        raise Conflict(f"{cmd.username}'s roles changed after {item.ref} was submitted (now: "
                       f"{', '.join(current) or 'none'}); nothing was changed: submit the change again.")
    ids = await role_ids(uow, cmd.roles)
    if await permissions_of_roles(uow, list(ids.values())) != cmd.grants:
        raise Conflict(f"The permissions of {', '.join(cmd.roles)} changed after {item.ref} was submitted; "
                       "nothing was changed: submit the change again.")
    await _replace_roles(uow, row.id, ids)
    await keep_an_administrator(uow, f"changing {cmd.username}'s roles")
    uow.record("operator.set_roles", "operator", cmd.username, {"roles": cmd.before},
               {"roles": cmd.roles, "approval": item.ref, "maker": item.maker})
    return {"username": cmd.username, "roles": cmd.roles, "gained": cmd.gains}


approvals.register_kind(ApprovalKind(
    name=OPERATOR_ROLES_KIND, label="Operator roles", payload=ApplyOperatorRoles,
    approval_permission=ADMINISTRATION, execute=_execute_roles, authorize=_authorize_roles,
))


@handles(RevokeDirectPermission)
async def revoke_direct_permission(uow: UnitOfWork, cmd: RevokeDirectPermission) -> OperatorDTO:
    row = await operator_row(uow, cmd.username)
    gone = await uow.conn.execute(
        delete(operator_permissions).where(
            and_(operator_permissions.c.operator_id == row.id, operator_permissions.c.permission == cmd.permission_code)
        )
    )
    if gone.rowcount != 1:
        raise NotFound(f"{cmd.username} holds no direct grant of {cmd.permission_code}.")
    await keep_an_administrator(uow, f"revoking {cmd.permission_code} from {cmd.username}")
    uow.record("operator.revoke_permission", "operator", cmd.username, {"permission": cmd.permission_code}, None)
    return await operator_dto(uow, row)


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
    approval permission could make each other administrators.  (The requester is the
    maker, so maker-checker and ``password_custody`` already keep them and whoever set
    their password from deciding.)"""
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

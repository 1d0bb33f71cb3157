"""Maker-checker, once, for every module.

A command that needs approval is stored as submitted (its JSON payload) and executed
exactly as submitted when a checker approves it.  The decision is one guarded UPDATE —
``… WHERE id = :id AND status = 'PENDING' AND maker_id <> :me`` — so approve and reject
race safely: exactly one wins, the other is told the item was already decided.  A table
CHECK constraint backs the rule that the maker never decides their own item.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import and_, func, insert, or_, select, update

from .commands import Command, Query, RequiredText, handles
from .dto import ApprovalDTO
from .errors import AlreadyDecided, MakerCheckerViolation, NotFound, PermissionDenied, WboError
from .password_custody import refuse_one_person
from .prepared import Prepared
from .notify.tables import message_subscriptions
from .schema import approvals, operators
from .uow import UnitOfWork
from .whole_numbers import Id, PageSize

Executor = Callable[[UnitOfWork, Any, ApprovalDTO], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ApprovalKind:
    name: str
    label: str
    payload: type[Command]
    approval_permission: str
    execute: Executor
    """Runs the stored command for the checker (given the item being approved);
    returns what happened, for the record."""
    authorize: Callable[[UnitOfWork, Any], Awaitable[None]] | None = None
    """Extra checks before an approval takes effect, beyond the approval permission
    (raise a WboError to refuse: the item stays pending)."""
    on_reject: Callable[[UnitOfWork, Any, ApprovalDTO], Awaitable[None]] | None = None
    """What a rejection does to the submitted thing, in the same transaction."""


KINDS: dict[str, ApprovalKind] = {}


def register_kind(kind: ApprovalKind) -> None:
    if kind.name in KINDS:
        raise RuntimeError(f"approval kind {kind.name} registered twice")
    KINDS[kind.name] = kind


_INSERT = Prepared(insert(approvals).returning(approvals.c.id),
                   keys=("ref", "kind", "payload", "summary", "status", "maker_id", "submitted_at"))


async def submit(uow: UnitOfWork, kind_name: str, payload: Command, summary: str) -> ApprovalDTO:
    """Store ``payload`` as a pending item.  Called by a command handler, inside its unit.
    The system itself (e.g. an automatic allocation under work-order approval) submits
    with no maker: any operator holding the approval permission may then decide it."""
    kind = KINDS[kind_name]
    assert isinstance(payload, kind.payload), (kind_name, type(payload))
    ref = uow.ids.new_ref("AP")
    body = payload.model_dump_json()
    approval_id = (await _INSERT.one(uow.conn, dict(
        ref=ref, kind=kind_name, payload=body, summary=summary[:300], status="PENDING",
        maker_id=uow.actor.operator_id, submitted_at=uow.now,
    ), sqlite=uow.sqlite)).id
    stored = json.loads(body)
    uow.record("approval.submit", "approval", ref, None, {"kind": kind_name, "payload": stored})
    await _announce(uow, kind, ref, summary[:300])
    # The row as just written (read back, it would say the same: nobody can have decided
    # it inside this transaction).
    return ApprovalDTO(
        id=approval_id, ref=ref, kind=kind_name, summary=summary[:300], payload=stored, status="PENDING",
        maker_id=uow.actor.operator_id, maker=uow.actor.username if uow.actor.operator_id is not None else SYSTEM_MAKER,
        submitted_at=uow.now, checker=None, decided_at=None, reason=None, outcome=None,
    )


PENDING_TOPIC = "approval.pending"
_SUBSCRIBED = Prepared(select(message_subscriptions.c.id).where(
    message_subscriptions.c.topic == PENDING_TOPIC, message_subscriptions.c.enabled.is_(True)).limit(1))


async def _announce(uow: UnitOfWork, kind: ApprovalKind, ref: str, summary: str) -> None:
    """Tell the subscribers of ``approval.pending`` (an inbox message, an email …) that
    ``ref`` awaits a checker, in the submitting transaction.  Nobody subscribed: nothing is
    written (the approval lists show the item; no notification row for nobody)."""
    if not await _SUBSCRIBED.rows(uow.conn, {}, sqlite=uow.sqlite):
        return
    from .notify.publish import publish

    maker = uow.actor.username if uow.actor.operator_id is not None else SYSTEM_MAKER
    await publish(uow, PENDING_TOPIC, f"{ref} awaits approval: {summary}",
                  f"{kind.label} item {ref} was submitted by {maker} at {uow.now:%Y-%m-%d %H:%M:%S} UTC and "
                  f"awaits a checker holding {kind.approval_permission} (not {maker}): {summary}",
                  source_type="approval", source_id=ref)


async def list_pending_payloads(uow: UnitOfWork, kind: str, maker_id: int) -> list[dict[str, Any]]:
    rows = await uow.conn.execute(
        select(approvals.c.payload).where(
            approvals.c.kind == kind, approvals.c.status == "PENDING", approvals.c.maker_id == maker_id
        )
    )
    return [json.loads(r[0]) for r in rows]


async def pending_items(uow: UnitOfWork, kind: str) -> list[ApprovalDTO]:
    """Every pending item of ``kind``, whoever submitted it, oldest first."""
    rows = await uow.conn.execute(
        _select().where(approvals.c.kind == kind, approvals.c.status == "PENDING").order_by(approvals.c.id)
    )
    return [_dto(r) for r in rows]


SYSTEM_MAKER = "system"
_maker = operators.alias("maker_op")
_checker = operators.alias("checker_op")


def _select() -> Any:
    return (
        select(approvals, func.coalesce(_maker.c.username, SYSTEM_MAKER).label("maker"),
               _checker.c.username.label("checker"))
        .outerjoin(_maker, _maker.c.id == approvals.c.maker_id)
        .outerjoin(_checker, _checker.c.id == approvals.c.checker_id)
    )


def _dto(row: Any) -> ApprovalDTO:
    return ApprovalDTO(
        id=row.id, ref=row.ref, kind=row.kind, summary=row.summary, payload=json.loads(row.payload),
        status=row.status, maker_id=row.maker_id, maker=row.maker, submitted_at=row.submitted_at,
        checker=row.checker, decided_at=row.decided_at, reason=row.reason, outcome=row.outcome,
    )


async def get(uow: UnitOfWork, approval_id: int) -> ApprovalDTO:
    row = (await uow.conn.execute(_select().where(approvals.c.id == approval_id))).first()
    if row is None:
        raise NotFound(f"Approval item {approval_id} does not exist.")
    return _dto(row)


class ApproveItem(Command):
    """Approve a pending item; its stored command then executes as submitted."""

    permission = None  # The item's kind names the approval permission; checked in the handler.
    action = "approve this item"
    approval_id: Id


class RejectItem(Command):
    permission = None
    action = "reject this item"
    approval_id: Id
    reason: Annotated[str, RequiredText(" when rejecting")] = Field(max_length=500)


async def _decide(uow: UnitOfWork, approval_id: int, approve: bool, reason: str | None) -> ApprovalDTO:
    item = await get(uow, approval_id)
    kind = KINDS[item.kind]
    await uow.require(kind.approval_permission, f"decide {kind.label.lower()} items")
    me = uow.actor.operator_id
    if me is None:
        # Four eyes are two people's: the engine's own work and setup tools may submit
        # items, never decide them.
        raise MakerCheckerViolation(f"Only an operator can decide {item.ref}.")
    if item.maker_id == me:
        raise MakerCheckerViolation(f"You submitted {item.ref}; another operator must decide it.")
    command = kind.payload.model_validate_json(json.dumps(item.payload))
    changed = await uow.conn.execute(
        update(approvals)
        .where(and_(approvals.c.id == approval_id, approvals.c.status == "PENDING",
                    or_(approvals.c.maker_id.is_(None), approvals.c.maker_id != me)))
        .values(status="APPROVED" if approve else "REJECTED", checker_id=me, decided_at=uow.now, reason=reason)
    )
    if changed.rowcount != 1:
        now = await get(uow, approval_id)
        raise AlreadyDecided(
            f"{now.ref} was already decided: {now.status.lower()} by {now.checker} "
            f"at {now.decided_at:%Y-%m-%d %H:%M:%S} UTC."
        )
    if approve:
        # After the guarded UPDATE so a lost race reads "already decided"; a refusal
        # here rolls the decision back with the rest of the transaction.  An operator and
        # whoever set their password count as one person (``password_custody``).
        await refuse_one_person(uow.conn, ref=item.ref, maker_id=item.maker_id, maker=item.maker, checker_id=me,
                                checker=uow.actor.username)
        if kind.authorize is not None:
            await kind.authorize(uow, command)
    status, result = ("APPROVED", None) if approve else ("REJECTED", None)
    if approve:
        queued = len(uow._audit)
        try:
            async with uow.conn.begin_nested():
                result = await kind.execute(uow, command, item)
            outcome = json.dumps(result, sort_keys=True, default=str)
        except WboError as exc:
            # The approval stands as a decision, but the stored command could not run
            # (the world changed since it was submitted): record why, run nothing.
            del uow._audit[queued:]
            status, result = "FAILED", {"error": exc.message}
            outcome = exc.message
        await uow.conn.execute(update(approvals).where(approvals.c.id == approval_id).values(status=status, outcome=outcome))
    elif kind.on_reject is not None:
        await kind.on_reject(uow, command, item)
    uow.record(
        "approval.approve" if approve else "approval.reject", "approval", item.ref,
        {"status": "PENDING"}, {"status": status, "reason": reason, "outcome": result, "maker": item.maker},
    )
    return await get(uow, approval_id)


@handles(ApproveItem)
async def approve_item(uow: UnitOfWork, cmd: ApproveItem) -> ApprovalDTO:
    return await _decide(uow, cmd.approval_id, True, None)


@handles(RejectItem)
async def reject_item(uow: UnitOfWork, cmd: RejectItem) -> ApprovalDTO:
    return await _decide(uow, cmd.approval_id, False, cmd.reason.strip())


class ListApprovals(Query):
    """Items of one kind for a checker: needs that kind's approval permission."""

    permission = None
    action = "list approval items"
    kind: str
    status: str | None = "PENDING"
    limit: PageSize = 200


@handles(ListApprovals)
async def list_approvals(uow: UnitOfWork, q: ListApprovals) -> tuple[ApprovalDTO, ...]:
    kind = KINDS.get(q.kind)
    if kind is None:
        raise NotFound(f"There is no approval kind {q.kind!r}.")
    await uow.require(kind.approval_permission, f"list {kind.label.lower()} items")
    stmt = _select().where(approvals.c.kind == q.kind)
    if q.status:
        stmt = stmt.where(approvals.c.status == q.status)
    rows = await uow.conn.execute(stmt.order_by(approvals.c.id.desc()).limit(q.limit))
    return tuple(_dto(r) for r in rows)


class GetApproval(Query):
    """One item of a kind by its id, pending or decided, for a checker: needs that kind's
    approval permission, as listing them does (a dialog reads the item it decides without
    listing every pending one)."""

    permission = None
    action = "view an approval item"
    kind: str
    approval_id: Id


@handles(GetApproval)
async def get_approval(uow: UnitOfWork, q: GetApproval) -> ApprovalDTO:
    kind = KINDS.get(q.kind)
    if kind is None:
        raise NotFound(f"There is no approval kind {q.kind!r}.")
    await uow.require(kind.approval_permission, f"view {kind.label.lower()} items")
    row = (await uow.conn.execute(_select().where(approvals.c.id == q.approval_id, approvals.c.kind == q.kind))).first()
    if row is None:
        raise NotFound(f"There is no {kind.label.lower()} item {q.approval_id}.")
    return _dto(row)


class MySubmissions(Query):
    """What the acting operator submitted, of any kind."""

    permission = None
    action = "list your submissions"
    limit: PageSize = 100


@handles(MySubmissions)
async def my_submissions(uow: UnitOfWork, q: MySubmissions) -> tuple[ApprovalDTO, ...]:
    await uow.require(None)
    rows = await uow.conn.execute(
        _select().where(approvals.c.maker_id == uow.actor.operator_id).order_by(approvals.c.id.desc()).limit(q.limit)
    )
    return tuple(_dto(r) for r in rows)


class AwaitingMyReview(Query):
    """How many pending items the acting operator may decide: not their own, of a kind
    whose approval permission they hold (the header's "Review n")."""

    permission = None
    action = "count the items awaiting your review"


@handles(AwaitingMyReview)
async def awaiting_my_review(uow: UnitOfWork, q: AwaitingMyReview) -> int:
    await uow.require(None)
    held = await uow.permissions()
    kinds = sorted(name for name, kind in KINDS.items() if kind.approval_permission in held)
    if not kinds or uow.actor.operator_id is None:
        return 0
    stmt = select(func.count()).select_from(approvals).where(
        approvals.c.status == "PENDING", approvals.c.kind.in_(kinds),
        or_(approvals.c.maker_id.is_(None), approvals.c.maker_id != uow.actor.operator_id))
    return (await uow.conn.execute(stmt)).scalar_one()


async def pending_count(uow: UnitOfWork, kind: str) -> int:
    stmt = select(func.count()).select_from(approvals).where(approvals.c.kind == kind, approvals.c.status == "PENDING")
    return (await uow.conn.execute(stmt)).scalar_one()


__all__ = ["ApproveItem", "RejectItem", "ListApprovals", "GetApproval", "MySubmissions", "AwaitingMyReview",
           "register_kind", "submit", "KINDS",
           "ApprovalKind", "PermissionDenied"]

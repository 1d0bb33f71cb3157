"""Seeing and steering deliveries: the notification list, the delivery list (failed ones
included, with their last error) and retrying a failed delivery."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import case, func, select, update

from ..commands import Command, Query, handles
from ..errors import Conflict, NotFound
from ..schema import operators
from ..uow import UnitOfWork
from ..whole_numbers import Id, PageSize
from .dto import DeliveryDTO, NotificationDTO
from .subscriptions import INQUIRY, OPERATION
from .tables import deliveries, inbox_messages, notifications

DeliveryStatus = Literal["PENDING", "SENT", "FAILED"]


class ListDeliveries(Query):
    """Deliveries newest first; page back with ``before_id``."""

    permission = INQUIRY
    action = "view notification deliveries"
    status: DeliveryStatus | None = None
    topic: str | None = None
    notification_id: Id | None = None
    before_id: Id | None = None
    limit: PageSize = 100


class RetryDelivery(Command):
    """Put a FAILED delivery back in the queue, due now, with a fresh set of attempts."""

    permission = OPERATION
    action = "retry notification deliveries"
    delivery_id: Id


class ListNotifications(Query):
    """Published notifications newest first, with what became of each."""

    permission = INQUIRY
    action = "view notifications"
    topic: str | None = None
    before_id: Id | None = None
    limit: PageSize = 100


def _delivery_select() -> Any:
    d = deliveries
    return (
        select(d, notifications.c.topic, notifications.c.subject, operators.c.username.label("operator"))
        .join(notifications, notifications.c.id == d.c.notification_id)
        .outerjoin(operators, operators.c.id == d.c.operator_id)
    )


def _delivery_dto(row: Any) -> DeliveryDTO:
    return DeliveryDTO(
        id=row.id, ref=row.ref, notification_id=row.notification_id, topic=row.topic, subject=row.subject,
        subscription_id=row.subscription_id, channel=row.channel, address=row.address, operator=row.operator,
        status=row.status, attempts=row.attempts, next_attempt_at=row.next_attempt_at, claimed_by=row.claimed_by,
        last_error=row.last_error, created_at=row.created_at, sent_at=row.sent_at,
    )


async def get_delivery(uow: UnitOfWork, delivery_id: int) -> DeliveryDTO:
    row = (await uow.conn.execute(_delivery_select().where(deliveries.c.id == delivery_id))).first()
    if row is None:
        raise NotFound(f"There is no delivery {delivery_id}.")
    return _delivery_dto(row)


@handles(ListDeliveries)
async def list_deliveries(uow: UnitOfWork, q: ListDeliveries) -> tuple[DeliveryDTO, ...]:
    d = deliveries
    stmt = _delivery_select()
    if q.status:
        stmt = stmt.where(d.c.status == q.status)
    if q.topic:
        stmt = stmt.where(notifications.c.topic == q.topic)
    if q.notification_id is not None:
        stmt = stmt.where(d.c.notification_id == q.notification_id)
    if q.before_id is not None:
        stmt = stmt.where(d.c.id < q.before_id)
    rows = await uow.conn.execute(stmt.order_by(d.c.id.desc()).limit(q.limit))
    return tuple(_delivery_dto(r) for r in rows)


@handles(RetryDelivery)
async def retry_delivery(uow: UnitOfWork, cmd: RetryDelivery) -> DeliveryDTO:
    d = deliveries
    current = await get_delivery(uow, cmd.delivery_id)
    changed = (await uow.conn.execute(
        update(d).where(d.c.id == cmd.delivery_id, d.c.status == "FAILED")
        .values(status="PENDING", attempts=0, next_attempt_at=uow.now, claimed_by=None, claim_expires_at=None)
    )).rowcount
    if changed != 1:
        raise Conflict(f"{current.ref} is {current.status}; only failed deliveries can be retried.")
    uow.record("delivery.retry", "delivery", current.ref,
               {"status": "FAILED", "attempts": current.attempts, "error": current.last_error},
               {"status": "PENDING", "next_attempt_at": uow.now})
    return await get_delivery(uow, cmd.delivery_id)


@handles(ListNotifications)
async def list_notifications(uow: UnitOfWork, q: ListNotifications) -> tuple[NotificationDTO, ...]:
    n, d = notifications, deliveries
    inbox = (
        select(func.count()).select_from(inbox_messages)
        .where(inbox_messages.c.notification_id == n.c.id).scalar_subquery()
    )

    def by_status(status: str) -> Any:
        return (
            select(func.coalesce(func.sum(case((d.c.status == status, 1), else_=0)), 0))
            .where(d.c.notification_id == n.c.id).scalar_subquery()
        )

    stmt = select(
        n, inbox.label("inbox_count"), by_status("PENDING").label("pending"), by_status("SENT").label("sent"),
        by_status("FAILED").label("failed"),
    )
    if q.topic:
        stmt = stmt.where(n.c.topic == q.topic)
    if q.before_id is not None:
        stmt = stmt.where(n.c.id < q.before_id)
    rows = await uow.conn.execute(stmt.order_by(n.c.id.desc()).limit(q.limit))
    return tuple(
        NotificationDTO(
            id=r.id, topic=r.topic, subject=r.subject, body=r.body, source_type=r.source_type,
            source_id=r.source_id, created_at=r.created_at, inbox_count=r.inbox_count,
            pending=r.pending, sent=r.sent, failed=r.failed,
        )
        for r in rows
    )

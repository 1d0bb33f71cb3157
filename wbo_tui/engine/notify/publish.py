"""Publishing a notification, inside the unit of work of the change that raised it.

The notification, the inbox messages and the deliveries to send are written in the
caller's transaction: if the change rolls back, so does the alert, and if it commits,
the alert cannot be lost between the two.  Inbox delivery is complete at commit (exactly
once: one row per operator and notification, under a unique key).  Email and webhook
deliveries are queued as PENDING rows for the delivery loop (``delivery.deliver_due``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, insert, or_, select

from ..schema import operator_roles, operators
from ..uow import UnitOfWork
from . import topics
from .tables import deliveries, inbox_messages, message_subscriptions, notifications

SUBJECT_MAX = 200


async def publish(
    uow: UnitOfWork, topic: str, subject: str, body: str, *, source_type: str, source_id: str | int
) -> int:
    """Record a notification on ``topic`` and fan it out to the topic's enabled
    subscriptions; returns the notification's id.

    Role subscriptions expand to the role's enabled operators now, at publish time.  An
    operator reached twice (directly and through a role) gets one inbox message; an
    address reached twice gets one email or POST.  A topic nobody subscribes to still
    gets its notification row, so the alert is visible in the notification list.
    """
    if not topics.is_known(topic):
        raise ValueError(f"publish() on unknown topic {topic!r}: add it to notify/topics.py first")
    subject = " ".join(subject.split())[:SUBJECT_MAX]  # one header line, whatever the caller built
    notification_id = (await uow.conn.execute(
        insert(notifications).values(
            topic=topic, subject=subject, body=body, source_type=source_type, source_id=str(source_id),
            created_at=uow.now,
        ).returning(notifications.c.id)
    )).scalar_one()

    inbox_ids = sorted(await _inbox_recipients(uow, topic))
    if inbox_ids:
        await uow.conn.execute(insert(inbox_messages), [
            {"operator_id": op_id, "notification_id": notification_id, "created_at": uow.now} for op_id in inbox_ids
        ])

    queued = await _queue_deliveries(uow, topic, notification_id)
    uow.record("notification.publish", "notification", notification_id, None, {
        "topic": topic, "subject": subject, "source_type": source_type, "source_id": str(source_id),
        "inbox_operators": len(inbox_ids), "deliveries": queued,
    })
    return notification_id


def _enabled_for(topic: str, channel: str) -> Any:
    s = message_subscriptions
    return and_(s.c.topic == topic, s.c.channel == channel, s.c.enabled.is_(True))


async def _inbox_recipients(uow: UnitOfWork, topic: str) -> set[int]:
    s = message_subscriptions
    direct = (
        select(operators.c.id)
        .join(s, s.c.operator_id == operators.c.id)
        .where(_enabled_for(topic, "inbox"), operators.c.enabled.is_(True))
    )
    via_role = (
        select(operators.c.id)
        .join(operator_roles, operator_roles.c.operator_id == operators.c.id)
        .join(s, s.c.role_id == operator_roles.c.role_id)
        .where(_enabled_for(topic, "inbox"), operators.c.enabled.is_(True))
    )
    return {r[0] for r in await uow.conn.execute(direct.union(via_role))}


async def _queue_deliveries(uow: UnitOfWork, topic: str, notification_id: int) -> list[dict[str, Any]]:
    s = message_subscriptions
    rows = (await uow.conn.execute(
        select(s.c.id, s.c.channel, s.c.address, s.c.operator_id)
        .outerjoin(operators, operators.c.id == s.c.operator_id)
        .where(
            s.c.topic == topic, s.c.channel.in_(("email", "webhook")), s.c.enabled.is_(True),
            # An email on behalf of a disabled operator is not sent: they left, or are
            # suspended.  Role and webhook subscriptions have no operator to check.
            or_(s.c.operator_id.is_(None), operators.c.enabled.is_(True)),
        )
        .order_by(s.c.id)
    )).all()
    values: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        key = (row.channel, row.address)
        if key in seen:
            continue
        seen.add(key)
        values.append({
            "ref": uow.ids.new_ref("DL"), "notification_id": notification_id, "subscription_id": row.id,
            "channel": row.channel, "address": row.address, "operator_id": row.operator_id, "status": "PENDING",
            "attempts": 0, "next_attempt_at": uow.now, "created_at": uow.now,
        })
    if values:
        await uow.conn.execute(insert(deliveries), values)
    return [{"ref": v["ref"], "channel": v["channel"], "address": v["address"]} for v in values]

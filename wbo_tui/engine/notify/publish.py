"""Publishing a notification, inside the unit of work of the change that raised it.

The notification, the inbox messages and the deliveries to send are written in the
caller's transaction: if the change rolls back, so does the alert, and if it commits,
the alert cannot be lost between the two.  Inbox delivery is complete at commit (exactly
once: one row per operator and notification, under a unique key).  Email and webhook
deliveries are queued as PENDING rows for the delivery loop (``delivery.deliver_due``).

``publish_many`` writes a batch (a poll's threshold crossings) with one statement per
table and one recipients lookup for all its topics; ``publish`` is a batch of one, so
both write exactly the same rows.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, insert, or_, select

from ..schema import operator_roles, operators
from ..uow import UnitOfWork
from . import topics
from .tables import deliveries, inbox_messages, message_subscriptions, notifications

SUBJECT_MAX = 200


@dataclass(frozen=True, slots=True)
class Message:
    """One notification to publish: what happened (topic, text) and what it is about."""

    topic: str
    subject: str
    body: str
    source_type: str
    source_id: str | int


@dataclass(frozen=True, slots=True)
class _Subscription:
    id: int
    channel: str
    address: str
    operator_id: int | None


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
    (notification_id,) = await publish_many(uow, [Message(topic, subject, body, source_type, source_id)])
    return notification_id


async def publish_many(uow: UnitOfWork, messages: Sequence[Message]) -> list[int]:
    """``publish`` for several messages at once, in order; returns their ids.

    The rows, delivery refs and audit records are those ``publish`` would write for each
    message in turn; only the number of statements differs (one per table, not per message).
    """
    if not messages:
        return []
    unknown = sorted({m.topic for m in messages if not topics.is_known(m.topic)})
    if unknown:
        raise ValueError(f"publish() on unknown topic {unknown[0]!r}: add it to notify/topics.py first")
    subjects = [" ".join(m.subject.split())[:SUBJECT_MAX] for m in messages]  # one header line each
    ids = await _insert_notifications(uow, [
        {"topic": m.topic, "subject": subject, "body": m.body, "source_type": m.source_type,
         "source_id": str(m.source_id), "created_at": uow.now}
        for m, subject in zip(messages, subjects, strict=True)
    ])
    wanted = sorted({m.topic for m in messages})
    inbox_by_topic = await _inbox_recipients(uow, wanted)
    subscriptions_by_topic = await _delivery_subscriptions(uow, wanted)

    inbox_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    for message, subject, notification_id in zip(messages, subjects, ids, strict=True):
        inbox_ids = inbox_by_topic.get(message.topic, [])
        inbox_rows.extend(
            {"operator_id": op_id, "notification_id": notification_id, "created_at": uow.now} for op_id in inbox_ids
        )
        queued = _deliveries_for(uow, subscriptions_by_topic.get(message.topic, []), notification_id)
        delivery_rows.extend(queued)
        uow.record("notification.publish", "notification", notification_id, None, {
            "topic": message.topic, "subject": subject, "source_type": message.source_type,
            "source_id": str(message.source_id), "inbox_operators": len(inbox_ids),
            "deliveries": [{"ref": v["ref"], "channel": v["channel"], "address": v["address"]} for v in queued],
        })
    if inbox_rows:
        await uow.conn.execute(insert(inbox_messages), inbox_rows)
    if delivery_rows:
        await uow.conn.execute(insert(deliveries), delivery_rows)
    return ids


async def _insert_notifications(uow: UnitOfWork, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows with one multi-row INSERT; returns their ids in the rows' order.

    SQLite returns RETURNING rows in no promised order and SQLAlchemy can only sort them
    back by sending one INSERT per row, so each returned row is matched to its values
    instead.  Identical messages are interchangeable; the lower id goes to the earlier.
    """
    n = notifications.c
    content = (n.topic, n.subject, n.body, n.source_type, n.source_id)
    pending: dict[tuple[Any, ...], deque[int]] = defaultdict(deque)
    for index, row in enumerate(rows):
        pending[tuple(row[c.name] for c in content)].append(index)
    result = await uow.conn.execute(insert(notifications).returning(n.id, *content), rows)
    ids = [0] * len(rows)
    for returned in sorted(result.all()):
        ids[pending[tuple(returned[1:])].popleft()] = returned[0]
    return ids


def _enabled_for(wanted: list[str], channel: str) -> Any:
    s = message_subscriptions
    return and_(s.c.topic.in_(wanted), s.c.channel == channel, s.c.enabled.is_(True))


async def _inbox_recipients(uow: UnitOfWork, wanted: list[str]) -> dict[str, list[int]]:
    """Each topic's enabled inbox recipients, sorted, operators reached twice once."""
    s = message_subscriptions
    direct = (
        select(s.c.topic, operators.c.id)
        .join(s, s.c.operator_id == operators.c.id)
        .where(_enabled_for(wanted, "inbox"), operators.c.enabled.is_(True))
    )
    via_role = (
        select(s.c.topic, operators.c.id)
        .join(operator_roles, operator_roles.c.operator_id == operators.c.id)
        .join(s, s.c.role_id == operator_roles.c.role_id)
        .where(_enabled_for(wanted, "inbox"), operators.c.enabled.is_(True))
    )
    found: dict[str, set[int]] = defaultdict(set)
    for topic, operator_id in await uow.conn.execute(direct.union(via_role)):
        found[topic].add(operator_id)
    return {topic: sorted(ids) for topic, ids in found.items()}


async def _delivery_subscriptions(uow: UnitOfWork, wanted: list[str]) -> dict[str, list[_Subscription]]:
    """Each topic's enabled email and webhook subscriptions, in id order."""
    s = message_subscriptions
    rows = await uow.conn.execute(
        select(s.c.topic, s.c.id, s.c.channel, s.c.address, s.c.operator_id)
        .outerjoin(operators, operators.c.id == s.c.operator_id)
        .where(
            s.c.topic.in_(wanted), s.c.channel.in_(("email", "webhook")), s.c.enabled.is_(True),
            # An email on behalf of a disabled operator is not sent: they left, or are
            # suspended.  Role and webhook subscriptions have no operator to check.
            or_(s.c.operator_id.is_(None), operators.c.enabled.is_(True)),
        )
        .order_by(s.c.id)
    )
    found: dict[str, list[_Subscription]] = defaultdict(list)
    for row in rows:
        found[row.topic].append(_Subscription(row.id, row.channel, row.address, row.operator_id))
    return found


def _deliveries_for(uow: UnitOfWork, subscriptions: list[_Subscription], notification_id: int) -> list[dict[str, Any]]:
    """The delivery rows of one notification: one per (channel, address)."""
    values: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for sub in subscriptions:
        key = (sub.channel, sub.address)
        if key in seen:
            continue
        seen.add(key)
        values.append({
            "ref": uow.ids.new_ref("DL"), "notification_id": notification_id, "subscription_id": sub.id,
            "channel": sub.channel, "address": sub.address, "operator_id": sub.operator_id, "status": "PENDING",
            "attempts": 0, "next_attempt_at": uow.now, "created_at": uow.now,
        })
    return values

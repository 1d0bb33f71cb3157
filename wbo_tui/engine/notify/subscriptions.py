"""Message subscriptions: who receives which topic through which channel.

- ``inbox``: the in-console inbox of one operator, or of every enabled operator holding
  a role (expanded when a message is published, so a role's later members receive later
  messages).
- ``email``: an address, on behalf of one operator (skipped while that operator is
  disabled) or of a role (the team's shared mailbox).
- ``webhook``: an http(s) URL that receives a JSON POST.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator
from sqlalchemy import and_, delete, func, insert, select, update

from ..commands import Command, Query, handles
from ..errors import Conflict, NotFound, ValidationFailed
from ..schema import operators, roles
from ..uow import UnitOfWork
from ..whole_numbers import Id
from . import topics
from .dto import SubscriptionDTO
from .tables import CHANNELS, deliveries, message_subscriptions

INQUIRY = "admin.message_subscription_inquiry"
OPERATION = "admin.message_subscription_operation"

# Deliberately plain: one '@', no spaces or header-breaking characters, a dotted domain.
# The SMTP server is the judge of deliverability; this catches typos and injection.
EMAIL_RE = re.compile(
    r"^[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
ADDRESS_MAX = 500


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def check_webhook_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain spaces")
    return value


class CreateSubscription(Command):
    """Subscribe one operator, one role's operators, an email address or a webhook URL
    to one topic."""

    permission = OPERATION
    action = "create message subscriptions"
    topic: str
    channel: str
    operator: str | None = Field(default=None, validate_default=True)
    """Username (inbox and email subscriptions of one operator)."""
    role: str | None = Field(default=None, validate_default=True)
    """Role name (inbox and email subscriptions of a role)."""
    address: str | None = Field(default=None, max_length=ADDRESS_MAX, validate_default=True)
    """Email address (email) or URL (webhook); none for the inbox."""

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not topics.is_known(value):
            known = ", ".join(t.code for t in topics.TOPICS)
            raise ValueError(f"{value!r} is not a topic this console raises (known: {known})")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        value = value.lower()
        if value not in CHANNELS:
            raise ValueError("must be inbox, email or webhook")
        return value

    @field_validator("operator")
    @classmethod
    def _operator(cls, value: str | None) -> str | None:
        return _blank_to_none(value)

    @field_validator("role")
    @classmethod
    def _role(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = _blank_to_none(value)
        channel, operator = info.data.get("channel"), info.data.get("operator")
        if channel == "webhook" and (value or operator):
            raise ValueError("and operator are not used by webhook subscriptions: the URL is the recipient")
        if channel in ("inbox", "email") and (value is None) == (operator is None):
            raise ValueError(f"or operator: name exactly one for an {channel} subscription")
        return value

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = _blank_to_none(value)
        channel = info.data.get("channel")
        if channel == "inbox" and value is not None:
            raise ValueError("is not used by inbox subscriptions")
        if channel == "email":
            if value is None or not EMAIL_RE.match(value):
                raise ValueError("must be an email address such as treasury@example.com")
        if channel == "webhook":
            if value is None:
                raise ValueError("must be the webhook's http:// or https:// URL")
            check_webhook_url(value)
        return value


class DeleteSubscription(Command):
    """Remove a subscription.  Its deliveries still waiting are marked FAILED with the
    reason (visible, never silently dropped); sent ones keep their history."""

    permission = OPERATION
    action = "remove message subscriptions"
    subscription_id: Id


class SetSubscriptionEnabled(Command):
    """Pause or resume a subscription without losing it."""

    permission = OPERATION
    action = "enable or disable message subscriptions"
    subscription_id: Id
    enabled: bool


class ListSubscriptions(Query):
    permission = INQUIRY
    action = "view message subscriptions"
    topic: str | None = None
    channel: str | None = None


# --- helpers ---------------------------------------------------------------------------


def _select() -> Any:
    s = message_subscriptions
    return (
        select(s, operators.c.username.label("operator"), roles.c.name.label("role"))
        .outerjoin(operators, operators.c.id == s.c.operator_id)
        .outerjoin(roles, roles.c.id == s.c.role_id)
    )


def _dto(row: Any) -> SubscriptionDTO:
    return SubscriptionDTO(
        id=row.id, topic=row.topic, channel=row.channel, operator=row.operator, role=row.role,
        address=row.address, enabled=row.enabled, created_at=row.created_at, created_by=row.created_by,
    )


def _described(dto: SubscriptionDTO) -> dict[str, Any]:
    return {
        "topic": dto.topic, "channel": dto.channel, "operator": dto.operator, "role": dto.role,
        "address": dto.address, "enabled": dto.enabled,
    }


async def get_subscription(uow: UnitOfWork, subscription_id: int) -> SubscriptionDTO:
    row = (await uow.conn.execute(_select().where(message_subscriptions.c.id == subscription_id))).first()
    if row is None:
        raise NotFound(f"There is no message subscription {subscription_id}.")
    return _dto(row)


async def _recipient_ids(uow: UnitOfWork, cmd: CreateSubscription) -> tuple[int | None, int | None]:
    operator_id = role_id = None
    if cmd.operator is not None:
        row = (await uow.conn.execute(
            select(operators.c.id, operators.c.enabled).where(operators.c.username == cmd.operator)
        )).first()
        if row is None:
            raise ValidationFailed("Operator", f"{cmd.operator!r} is not an operator")
        if not row.enabled:
            raise ValidationFailed("Operator", f"{cmd.operator!r} is disabled")
        operator_id = row.id
    if cmd.role is not None:
        role_id = (await uow.conn.execute(select(roles.c.id).where(roles.c.name == cmd.role))).scalar()
        if role_id is None:
            raise ValidationFailed("Role", f"{cmd.role!r} is not a role")
    return operator_id, role_id


# --- handlers --------------------------------------------------------------------------


@handles(CreateSubscription)
async def create_subscription(uow: UnitOfWork, cmd: CreateSubscription) -> SubscriptionDTO:
    operator_id, role_id = await _recipient_ids(uow, cmd)
    s = message_subscriptions
    # Compared exactly as the unique index compares them (which backs this check).
    duplicate = (await uow.conn.execute(select(s.c.id).where(and_(
        s.c.topic == cmd.topic, s.c.channel == cmd.channel,
        func.coalesce(s.c.operator_id, 0) == (operator_id or 0),
        func.coalesce(s.c.role_id, 0) == (role_id or 0),
        func.coalesce(s.c.address, "") == (cmd.address or ""),
    )))).scalar()
    if duplicate is not None:
        whom = cmd.operator or (f"role {cmd.role}" if cmd.role else cmd.address)
        raise Conflict(
            f"{whom} is already subscribed to {cmd.topic} by {cmd.channel} (subscription {duplicate})."
        )
    new_id = (await uow.conn.execute(insert(s).values(
        topic=cmd.topic, channel=cmd.channel, operator_id=operator_id, role_id=role_id, address=cmd.address,
        enabled=True, created_at=uow.now, created_by=uow.actor.username,
    ).returning(s.c.id))).scalar_one()
    dto = await get_subscription(uow, new_id)
    uow.record("subscription.create", "subscription", new_id, None, _described(dto))
    return dto


@handles(DeleteSubscription)
async def delete_subscription(uow: UnitOfWork, cmd: DeleteSubscription) -> SubscriptionDTO:
    dto = await get_subscription(uow, cmd.subscription_id)
    cancelled = (await uow.conn.execute(
        update(deliveries)
        .where(deliveries.c.subscription_id == cmd.subscription_id, deliveries.c.status == "PENDING")
        .values(status="FAILED", claimed_by=None, claim_expires_at=None,
                last_error=f"Subscription {cmd.subscription_id} was deleted before this was delivered.")
    )).rowcount
    await uow.conn.execute(delete(message_subscriptions).where(message_subscriptions.c.id == cmd.subscription_id))
    uow.record("subscription.delete", "subscription", cmd.subscription_id, _described(dto),
               {"cancelled_deliveries": cancelled})
    return dto


@handles(SetSubscriptionEnabled)
async def set_subscription_enabled(uow: UnitOfWork, cmd: SetSubscriptionEnabled) -> SubscriptionDTO:
    await get_subscription(uow, cmd.subscription_id)
    changed = (await uow.conn.execute(
        update(message_subscriptions)
        .where(message_subscriptions.c.id == cmd.subscription_id, message_subscriptions.c.enabled != cmd.enabled)
        .values(enabled=cmd.enabled)
    )).rowcount
    if changed != 1:
        raise Conflict(f"Subscription {cmd.subscription_id} is already {'enabled' if cmd.enabled else 'disabled'}.")
    uow.record("subscription.enable" if cmd.enabled else "subscription.disable", "subscription",
               cmd.subscription_id, {"enabled": not cmd.enabled}, {"enabled": cmd.enabled})
    return await get_subscription(uow, cmd.subscription_id)


@handles(ListSubscriptions)
async def list_subscriptions(uow: UnitOfWork, q: ListSubscriptions) -> tuple[SubscriptionDTO, ...]:
    s = message_subscriptions
    stmt = _select()
    if q.topic:
        stmt = stmt.where(s.c.topic == q.topic)
    if q.channel:
        stmt = stmt.where(s.c.channel == q.channel)
    rows = await uow.conn.execute(stmt.order_by(s.c.topic, s.c.channel, s.c.id))
    return tuple(_dto(r) for r in rows)

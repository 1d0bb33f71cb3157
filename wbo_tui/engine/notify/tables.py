"""Tables for message subscriptions and notification delivery (SQLAlchemy Core).

Migration ``0002_notifications`` creates them; these definitions must match it.

- ``message_subscriptions``: who receives which topic through which channel.
- ``notifications``: one row per published message, whether or not anyone subscribes.
- ``inbox_messages``: the in-console inbox, written in the publishing transaction.
- ``deliveries``: one row per message to send outside the database (email, webhook),
  with its retry state and the claim that keeps two delivery loops from sending it twice.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from ..schema import metadata
from ..types import UtcDateTime

CHANNELS = ("inbox", "email", "webhook")
DELIVERY_STATUSES = ("PENDING", "SENT", "FAILED")

# Inbox and email subscriptions name exactly one operator or one role; a webhook names
# only its URL.  Inbox needs no address; email and webhook need one.
RECIPIENT_SHAPE = (
    "(channel = 'webhook' AND operator_id IS NULL AND role_id IS NULL AND address IS NOT NULL)"
    " OR (channel = 'email' AND address IS NOT NULL AND (operator_id IS NULL) <> (role_id IS NULL))"
    " OR (channel = 'inbox' AND address IS NULL AND (operator_id IS NULL) <> (role_id IS NULL))"
)

message_subscriptions = Table(
    "message_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False),
    Column("channel", String(12), nullable=False),
    Column("operator_id", Integer, ForeignKey("operators.id", ondelete="CASCADE"), nullable=True),
    Column("role_id", Integer, ForeignKey("roles.id", ondelete="CASCADE"), nullable=True),
    Column("address", String(500), nullable=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    CheckConstraint("channel IN ('inbox', 'email', 'webhook')", name="channel"),
    CheckConstraint(RECIPIENT_SHAPE, name="recipient_shape"),
    Index("ix_message_subscriptions_topic", "topic", "enabled"),
)

# One subscription per (topic, channel, recipient): NULLs are distinct in a plain unique
# constraint on both backends, so the index compares the recipient through COALESCE.
Index(
    "uq_message_subscriptions_recipient",
    message_subscriptions.c.topic,
    message_subscriptions.c.channel,
    func.coalesce(message_subscriptions.c.operator_id, 0),
    func.coalesce(message_subscriptions.c.role_id, 0),
    func.coalesce(message_subscriptions.c.address, ""),
    unique=True,
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("topic", String(64), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("source_type", String(40), nullable=False),
    Column("source_id", String(80), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_notifications_topic_id", "topic", "id"),
    Index("ix_notifications_source", "source_type", "source_id"),
)

inbox_messages = Table(
    "inbox_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("operator_id", Integer, ForeignKey("operators.id", ondelete="CASCADE"), nullable=False),
    Column("notification_id", Integer, ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime, nullable=True),
    UniqueConstraint("operator_id", "notification_id"),
    # The header's unread count: WHERE operator_id = ? AND read_at IS NULL.
    Index("ix_inbox_messages_operator_read", "operator_id", "read_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Stable across retries: the email Message-ID and the webhook Idempotency-Key.
    Column("ref", String(40), nullable=False, unique=True),
    Column("notification_id", Integer, ForeignKey("notifications.id", ondelete="CASCADE"), nullable=False),
    Column("subscription_id", Integer, ForeignKey("message_subscriptions.id", ondelete="SET NULL"), nullable=True),
    Column("channel", String(12), nullable=False),
    Column("address", String(500), nullable=False),
    # The operator an email is for (operator subscriptions); NULL for roles and webhooks.
    Column("operator_id", Integer, ForeignKey("operators.id", ondelete="SET NULL"), nullable=True),
    Column("status", String(8), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claimed_by", String(120), nullable=True),
    Column("claim_expires_at", UtcDateTime, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    CheckConstraint("channel IN ('email', 'webhook')", name="channel"),
    CheckConstraint("status IN ('PENDING', 'SENT', 'FAILED')", name="status"),
    CheckConstraint("attempts >= 0", name="attempts"),
    UniqueConstraint("notification_id", "channel", "address"),
    # The delivery loop's scan: WHERE status = 'PENDING' AND next_attempt_at <= now.
    Index("ix_deliveries_status_next_attempt", "status", "next_attempt_at"),
    Index("ix_deliveries_notification", "notification_id"),
)

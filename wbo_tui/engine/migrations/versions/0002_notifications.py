"""Notifications: message subscriptions, published notifications, inbox, deliveries.

Revision ID: 0002_notifications
Revises: 0001_foundation
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wbo_tui.engine.types import UtcDateTime

revision = "0002_notifications"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

RECIPIENT_SHAPE = (
    "(channel = 'webhook' AND operator_id IS NULL AND role_id IS NULL AND address IS NOT NULL)"
    " OR (channel = 'email' AND address IS NOT NULL AND (operator_id IS NULL) <> (role_id IS NULL))"
    " OR (channel = 'inbox' AND address IS NULL AND (operator_id IS NULL) <> (role_id IS NULL))"
)


def upgrade() -> None:
    op.create_table(
        "message_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey(
            "operators.id", ondelete="CASCADE", name="fk_message_subscriptions_operator_id_operators"), nullable=True),
        sa.Column("role_id", sa.Integer, sa.ForeignKey(
            "roles.id", ondelete="CASCADE", name="fk_message_subscriptions_role_id_roles"), nullable=True),
        sa.Column("address", sa.String(500), nullable=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_message_subscriptions"),
        sa.CheckConstraint("channel IN ('inbox', 'email', 'webhook')", name="ck_message_subscriptions_channel"),
        sa.CheckConstraint(RECIPIENT_SHAPE, name="ck_message_subscriptions_recipient_shape"),
    )
    op.create_index("ix_message_subscriptions_topic", "message_subscriptions", ["topic", "enabled"])
    op.create_index(
        "uq_message_subscriptions_recipient",
        "message_subscriptions",
        ["topic", "channel", sa.text("coalesce(operator_id, 0)"), sa.text("coalesce(role_id, 0)"),
         sa.text("coalesce(address, '')")],
        unique=True,
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("source_type", sa.String(40), nullable=False),
        sa.Column("source_id", sa.String(80), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    op.create_index("ix_notifications_topic_id", "notifications", ["topic", "id"])
    op.create_index("ix_notifications_source", "notifications", ["source_type", "source_id"])

    op.create_table(
        "inbox_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey(
            "operators.id", ondelete="CASCADE", name="fk_inbox_messages_operator_id_operators"), nullable=False),
        sa.Column("notification_id", sa.Integer, sa.ForeignKey(
            "notifications.id", ondelete="CASCADE", name="fk_inbox_messages_notification_id_notifications"),
            nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("read_at", UtcDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox_messages"),
        sa.UniqueConstraint("operator_id", "notification_id", name="uq_inbox_messages_operator_id_notification_id"),
    )
    op.create_index("ix_inbox_messages_operator_read", "inbox_messages", ["operator_id", "read_at"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(40), nullable=False),
        sa.Column("notification_id", sa.Integer, sa.ForeignKey(
            "notifications.id", ondelete="CASCADE", name="fk_deliveries_notification_id_notifications"),
            nullable=False),
        sa.Column("subscription_id", sa.Integer, sa.ForeignKey(
            "message_subscriptions.id", ondelete="SET NULL", name="fk_deliveries_subscription_id_message_subscriptions"),
            nullable=True),
        sa.Column("channel", sa.String(12), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey(
            "operators.id", ondelete="SET NULL", name="fk_deliveries_operator_id_operators"), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(120), nullable=True),
        sa.Column("claim_expires_at", UtcDateTime, nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("sent_at", UtcDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("ref", name="uq_deliveries_ref"),
        sa.UniqueConstraint("notification_id", "channel", "address",
                            name="uq_deliveries_notification_id_channel_address"),
        sa.CheckConstraint("channel IN ('email', 'webhook')", name="ck_deliveries_channel"),
        sa.CheckConstraint("status IN ('PENDING', 'SENT', 'FAILED')", name="ck_deliveries_status"),
        sa.CheckConstraint("attempts >= 0", name="ck_deliveries_attempts"),
    )
    op.create_index("ix_deliveries_status_next_attempt", "deliveries", ["status", "next_attempt_at"])
    op.create_index("ix_deliveries_notification", "deliveries", ["notification_id"])


def downgrade() -> None:
    for table in ("deliveries", "inbox_messages", "notifications", "message_subscriptions"):
        op.drop_table(table)

"""What the notification services hand out: frozen DTOs, no rows."""

from __future__ import annotations

from datetime import datetime

from ..dto import DTO


class SubscriptionDTO(DTO):
    id: int
    topic: str
    channel: str
    operator: str | None
    """Username, for subscriptions of one operator."""
    role: str | None
    """Role name, for subscriptions of everyone holding a role."""
    address: str | None
    """Email address or webhook URL; None for the inbox."""
    enabled: bool
    created_at: datetime
    created_by: str


class NotificationDTO(DTO):
    id: int
    topic: str
    subject: str
    body: str
    source_type: str
    source_id: str
    created_at: datetime
    inbox_count: int
    pending: int
    sent: int
    failed: int


class DeliveryDTO(DTO):
    id: int
    ref: str
    notification_id: int
    topic: str
    subject: str
    subscription_id: int | None
    channel: str
    address: str
    operator: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class InboxMessageDTO(DTO):
    id: int
    notification_id: int
    topic: str
    subject: str
    body: str
    source_type: str
    source_id: str
    created_at: datetime
    read_at: datetime | None


class DeliveryReport(DTO):
    """What one pass of the delivery loop did."""

    claimed: int = 0
    sent: int = 0
    retry_scheduled: int = 0
    failed: int = 0
    claims_lost: int = 0
    """Sent, but the claim had expired or been withdrawn before the result was recorded
    (another worker may send it again: see ``delivery`` on at-least-once)."""

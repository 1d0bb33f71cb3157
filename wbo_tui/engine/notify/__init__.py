"""Message subscriptions and notification delivery.

Alerts are published inside the unit of work of the change that raised them
(``publish``); the inbox is written there and then, email and webhook deliveries are
queued and sent by the delivery loop (``deliver_due``), which any number of console
processes may run.  Importing this package registers its commands and queries.

The delivery loop and the senders (``smtplib``, ``urllib``) load on first use, so a
console that only reads its inbox does not pay for them at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import delivery_admin, inbox, subscriptions  # noqa: F401  (registers handlers)
from .delivery_admin import ListDeliveries, ListNotifications, RetryDelivery
from .dto import DeliveryDTO, DeliveryReport, InboxMessageDTO, NotificationDTO, SubscriptionDTO
from .inbox import ListInbox, MarkInboxRead, UnreadCount
from .publish import publish
from .subscriptions import (
    CreateSubscription,
    DeleteSubscription,
    ListSubscriptions,
    SetSubscriptionEnabled,
)
from .topics import TOPICS, Topic

_LAZY = {
    **dict.fromkeys(
        ("DeliveryError", "OutgoingMessage", "Sender", "SimulatedSender", "SmtpSender", "SmtpServer",
         "UnconfiguredSender", "WebhookSender", "make_senders", "simulated_senders"),
        "channels",
    ),
    **dict.fromkeys(("RetryPolicy", "claim_due", "deliver_due"), "delivery"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("importlib", "Any")] + list(_LAZY)

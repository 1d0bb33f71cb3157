"""Threshold levels and the alerts that fire when an account crosses one.

An account is at one level: NORMAL, ALERT (available < alert threshold) or BLOCKING
(available < blocking threshold).  Alerts are sent when the level changes, never on
every poll, and a recovery clears the alert with a message of its own.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import update

from ..uow import UnitOfWork
from . import events
from .tables import positions

NORMAL, ALERT, BLOCKING = "NORMAL", "ALERT", "BLOCKING"
SEVERITY = {NORMAL: 0, ALERT: 1, BLOCKING: 2}


def level_for(available: Decimal | None, alert: Decimal | None, blocking: Decimal | None, current: str) -> str:
    """The level an available balance puts an account at.  No balance yet: unchanged."""
    if available is None:
        return current
    if blocking is not None and available < blocking:
        return BLOCKING
    if alert is not None and available < alert:
        return ALERT
    return NORMAL


def _topic(old: str, new: str) -> str:
    if new == BLOCKING:
        return "position.blocking"
    if new == ALERT:
        return "position.alert"
    return "position.recovered"


def _message(account: Any, old: str, new: str, available: Decimal, alert: Any, blocking: Any) -> tuple[str, str]:
    where = f"{account.channel} {account.account_no} {account.currency} ({account.scenario})"
    if new == BLOCKING:
        subject = f"Blocking threshold crossed: {where}"
        body = (f"Available {available} {account.currency} is below the blocking threshold {blocking}. "
                "Withdrawals drawing on this account are intercepted until a fund allocation tops it up.")
    elif new == ALERT:
        subject = f"Alert threshold crossed: {where}"
        body = f"Available {available} {account.currency} is below the alert threshold {alert}."
        if old == BLOCKING:
            body += " It has recovered above the blocking threshold; withdrawals are no longer intercepted."
    else:
        subject = f"Position recovered: {where}"
        body = f"Available {available} {account.currency} is back at or above its thresholds."
    return subject, body


async def apply_level(uow: UnitOfWork, account: Any, old: str, new: str, available: Decimal | None,
                      alert: Decimal | None, blocking: Decimal | None) -> bool:
    """Record a level change with its alert (and domain event) in the caller's transaction.
    ``account`` has channel, account_no, currency, scenario and id.  Returns whether it changed."""
    if new == old:
        return False
    await uow.conn.execute(
        update(positions).where(positions.c.channel_account_id == account.id).values(level=new, level_since=uow.now)
    )
    assert available is not None
    subject, body = _message(account, old, new, available, alert, blocking)
    from ..notify import publish  # the notification service, registered with the engine

    await publish(uow, _topic(old, new), subject, body, source_type="channel_account", source_id=str(account.id))
    if new == BLOCKING:
        await events.emit(uow, events.POSITION_BELOW_BLOCKING, "channel_account", account.id, {
            "channel_account_id": account.id, "currency": account.currency, "available": available,
            "threshold_blocking": blocking,
        })
    uow.record("position.level", "channel_account", account.id, {"level": old},
               {"level": new, "available": available, "threshold_alert": alert, "threshold_blocking": blocking})
    return True

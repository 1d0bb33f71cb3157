"""Threshold levels and the alerts that fire when an account crosses one.

An account is at one level: NORMAL, ALERT (available < alert threshold) or BLOCKING
(available < blocking threshold).  Alerts are sent when the level changes, never on
every poll, and a recovery clears the alert with a message of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, update

from ..notify.publish import Message, publish_many
from ..uow import UnitOfWork
from . import events
from .tables import positions

NORMAL, ALERT, BLOCKING = "NORMAL", "ALERT", "BLOCKING"
SEVERITY = {NORMAL: 0, ALERT: 1, BLOCKING: 2}


@dataclass(frozen=True, slots=True)
class LevelChange:
    """One account moving between levels.  ``account`` has id, channel, account_no,
    currency and scenario; the thresholds are the ones the new level was computed from."""

    account: Any
    old: str
    new: str
    available: Decimal
    alert: Decimal | None
    blocking: Decimal | None


def level_for(available: Decimal | None, alert: Decimal | None, blocking: Decimal | None, current: str) -> str:
    """The level an available balance puts an account at.  No balance yet: unchanged."""
    if available is None:
        return current
    if blocking is not None and available < blocking:
        return BLOCKING
    if alert is not None and available < alert:
        return ALERT
    return NORMAL


def _topic(new: str) -> str:
    if new == BLOCKING:
        return "position.blocking"
    if new == ALERT:
        return "position.alert"
    return "position.recovered"


def _message(change: LevelChange) -> Message:
    account, available = change.account, change.available
    where = f"{account.channel} {account.account_no} {account.currency} ({account.scenario})"
    if change.new == BLOCKING:
        subject = f"Blocking threshold crossed: {where}"
        body = (f"Available {available} {account.currency} is below the blocking threshold {change.blocking}. "
                "Withdrawals drawing on this account are intercepted until a fund allocation tops it up.")
    elif change.new == ALERT:
        subject = f"Alert threshold crossed: {where}"
        body = f"Available {available} {account.currency} is below the alert threshold {change.alert}."
        if change.old == BLOCKING:
            body += " It has recovered above the blocking threshold; withdrawals are no longer intercepted."
    else:
        subject = f"Position recovered: {where}"
        body = f"Available {available} {account.currency} is back at or above its thresholds."
    return Message(_topic(change.new), subject, body, "channel_account", account.id)


async def apply_level(uow: UnitOfWork, account: Any, old: str, new: str, available: Decimal | None,
                      alert: Decimal | None, blocking: Decimal | None) -> bool:
    """Record a level change with its alert (and domain event) in the caller's transaction.
    ``account`` has channel, account_no, currency, scenario and id.  Returns whether it changed."""
    if new == old:
        return False
    assert available is not None
    return await apply_levels(uow, [LevelChange(account, old, new, available, alert, blocking)]) == 1


async def apply_levels(uow: UnitOfWork, changes: Sequence[LevelChange]) -> int:
    """Record several level changes at once, each with its alert, domain event (below
    blocking) and audit record, in the caller's transaction: one statement per table,
    whatever the number of changes.  Returns how many there were."""
    assert all(c.new != c.old for c in changes), "a level change must change the level"
    if not changes:
        return 0
    await uow.conn.execute(
        update(positions).where(positions.c.channel_account_id == bindparam("b_id"))
        .values(level=bindparam("b_level"), level_since=uow.now),
        [{"b_id": c.account.id, "b_level": c.new} for c in changes],
    )
    await publish_many(uow, [_message(c) for c in changes])
    await events.emit_many(uow, [
        events.DomainEvent(events.POSITION_BELOW_BLOCKING, "channel_account", c.account.id, {
            "channel_account_id": c.account.id, "currency": c.account.currency, "available": c.available,
            "threshold_blocking": c.blocking,
        })
        for c in changes if c.new == BLOCKING
    ])
    for c in changes:
        uow.record("position.level", "channel_account", c.account.id, {"level": c.old},
                   {"level": c.new, "available": c.available, "threshold_alert": c.alert,
                    "threshold_blocking": c.blocking})
    return len(changes)

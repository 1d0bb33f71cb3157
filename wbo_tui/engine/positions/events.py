"""Domain events: recorded in the same transaction as the change that caused them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from ..audit import to_json
from ..uow import UnitOfWork
from .tables import domain_events

# What the allocation engine reacts to (position-management.txt, "Event-triggered transfers").
POSITION_BELOW_BLOCKING = "position.below_blocking"
WITHDRAWAL_SUBMITTED_PRINCIPAL = "withdrawal.submitted.principal"
WITHDRAWAL_SUBMITTED_FEE = "withdrawal.submitted.fee"
WITHDRAWAL_FAILED_PRINCIPAL = "withdrawal.failed.principal"
WITHDRAWAL_FAILED_FEE = "withdrawal.failed.fee"
DEPOSIT_SUCCESSFUL = "deposit.successful"


async def emit(uow: UnitOfWork, kind: str, aggregate_type: str, aggregate_id: str | int, payload: dict[str, Any]) -> int:
    result = await uow.conn.execute(
        insert(domain_events)
        .values(kind=kind, occurred_at=uow.now, aggregate_type=aggregate_type, aggregate_id=str(aggregate_id),
                payload=to_json(payload))
        .returning(domain_events.c.id)
    )
    return result.scalar_one()

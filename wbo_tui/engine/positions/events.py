"""Domain events: recorded in the same transaction as the change that caused them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """An event to record: its kind, the aggregate it happened to, and what consumers need."""

    kind: str
    aggregate_type: str
    aggregate_id: str | int
    payload: dict[str, Any]


def _row(uow: UnitOfWork, event: DomainEvent) -> dict[str, Any]:
    return {"kind": event.kind, "occurred_at": uow.now, "aggregate_type": event.aggregate_type,
            "aggregate_id": str(event.aggregate_id), "payload": to_json(event.payload)}


async def emit(uow: UnitOfWork, kind: str, aggregate_type: str, aggregate_id: str | int, payload: dict[str, Any]) -> int:
    result = await uow.conn.execute(
        insert(domain_events).values(_row(uow, DomainEvent(kind, aggregate_type, aggregate_id, payload)))
        .returning(domain_events.c.id)
    )
    return result.scalar_one()


async def emit_many(uow: UnitOfWork, batch: Sequence[DomainEvent]) -> None:
    """Record several events, in order, with one statement (a poll's crossings)."""
    if batch:
        await uow.conn.execute(insert(domain_events), [_row(uow, event) for event in batch])

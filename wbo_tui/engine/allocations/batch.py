"""Deciding many events in one unit of work, set-based ("batch mode").

The same decision as ``triggers.decide`` (``decide.choose`` and ``decide.compute_amount``,
the same rows and audit records), but each kind of read is one query per batch and each
kind of write one ``executemany``: accounts, balances, currencies and existing trigger
keys are read once; allocations, trigger rows and audit records are written together.
A round trip to the database costs far more than a decision, so this is what makes a
burst of events (a bank's end-of-day deposit file) cheap.  Work-order rules still go
through the approval path one by one (``approvals.submit``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select

from ..audit import to_json
from ..currencies import load_currencies
from ..positions.tables import channel_accounts, positions
from ..uow import UnitOfWork
from .decide import Balance, Decision, Trigger, choose, compute_amount
from .execution import insert_allocation
from .manual import submit_for_approval
from .rules import EVENT_LABELS, RuleDTO
from .tables import allocation_triggers, allocations


def event_trigger(event: Any, payload: dict[str, Any], account: Any) -> Trigger:
    amount = payload.get("amount")
    return Trigger(
        key=f"event:{event.id}",
        label=f"{EVENT_LABELS[event.kind]} (event {event.id}, {event.aggregate_type} {event.aggregate_id})",
        kind="event", account_id=payload["channel_account_id"], account_scenario=account.scenario,
        currency=account.currency, event_kind=event.kind, event_id=event.id,
        event_amount=Decimal(amount) if amount is not None else None,
    )


async def decide_events(uow: UnitOfWork, events: Sequence[Any], rules: list[RuleDTO]) -> list[Decision]:
    """Decide every event of ``events`` not decided yet; returns the decisions made."""
    keys = [f"event:{e.id}" for e in events]
    done = {r.trigger_key for r in await uow.conn.execute(
        select(allocation_triggers.c.trigger_key).where(allocation_triggers.c.trigger_key.in_(keys)))}
    payloads = {e.id: json.loads(e.payload) for e in events}
    account_ids = {p.get("channel_account_id") for p in payloads.values()}
    account_ids |= {r.from_account_id for r in rules} | {r.to_account_id for r in rules}
    accounts = {r.id: r for r in await uow.conn.execute(
        select(channel_accounts.c.id, channel_accounts.c.scenario, channel_accounts.c.currency)
        .where(channel_accounts.c.id.in_(account_ids)))}
    balances = {r.channel_account_id: Balance(r.available, r.threshold_blocking) for r in await uow.conn.execute(
        select(positions.c.channel_account_id, positions.c.available, positions.c.threshold_blocking)
        .where(positions.c.channel_account_id.in_(account_ids)))}
    money = await load_currencies(uow)
    by_account: dict[tuple[str, int], list[RuleDTO]] = {}
    for rule in rules:
        by_account.setdefault((rule.event_kind or "", rule.served_account_id), []).append(rule)
    unknown = Balance(None, None)

    decisions: list[Decision] = []
    for event in events:
        payload = payloads[event.id]
        account = accounts.get(payload.get("channel_account_id"))
        if account is None or f"event:{event.id}" in done:
            continue
        trigger = event_trigger(event, payload, account)
        decision = choose(by_account.get((event.kind, trigger.account_id), []), trigger)
        rule = decision.chosen
        if rule is not None:
            compute_amount(decision, money[rule.currency], balances.get(rule.from_account_id, unknown),
                           balances.get(rule.to_account_id, unknown))
        decisions.append(decision)
    await record_decisions(uow, decisions)
    return decisions


async def record_decisions(uow: UnitOfWork, decisions: list[Decision]) -> None:
    """Write the allocations, trigger rows and audit records of ``decisions``."""
    money = await load_currencies(uow)
    rows: list[dict[str, Any]] = []
    order_of: dict[str, str] = {}  # trigger key -> order number
    allocation_id_of: dict[str, int] = {}
    for d in decisions:
        rule = d.chosen
        if rule is None or d.amount is None:
            continue
        remarks = f"Rule {rule.id} {rule.name}: {d.amount_reason}"[:300]
        if rule.audit_strategy == "work_order":
            allocation_id, order_no = await insert_allocation(
                uow, origin="automatic", rule_id=rule.id, trigger=d.trigger.label, trigger_key=d.trigger.key,
                from_id=rule.from_account_id, to_id=rule.to_account_id, currency=rule.currency, amount=d.amount,
                remarks=remarks, status="pending_approval", maker="system")
            await submit_for_approval(uow, allocation_id, order_no, (
                f"Automatic fund allocation {order_no} (work order of rule {rule.id} {rule.name}): "
                f"{money[rule.currency].format(d.amount)} {rule.currency} from {rule.from_account} to "
                f"{rule.to_account}; trigger: {d.trigger.label}"))
            allocation_id_of[d.trigger.key] = allocation_id
            continue
        order_no = uow.ids.new_ref("FA")
        order_of[d.trigger.key] = order_no
        rows.append(dict(
            order_no=order_no, origin="automatic", rule_id=rule.id, trigger=d.trigger.label[:120],
            trigger_key=d.trigger.key, from_account_id=rule.from_account_id, to_account_id=rule.to_account_id,
            currency=rule.currency, amount=d.amount, remarks=remarks, status="processing", failure_reason=None,
            attempt=1, attempt_key=f"{order_no}.1", maker="system", created_at=uow.now, updated_at=uow.now,
        ))
        uow.record("allocation.create", "allocation", order_no, None, {
            "origin": "automatic", "rule": rule.id, "trigger": d.trigger.label, "from_account": rule.from_account_id,
            "to_account": rule.to_account_id, "currency": rule.currency, "amount": d.amount, "status": "processing",
            "remarks": remarks,
        })
    if rows:
        await uow.conn.execute(insert(allocations), rows)
        ids = {r.order_no: r.id for r in await uow.conn.execute(
            select(allocations.c.id, allocations.c.order_no).where(allocations.c.order_no.in_(order_of.values())))}
        allocation_id_of.update({key: ids[order] for key, order in order_of.items()})
    if decisions:
        await uow.conn.execute(insert(allocation_triggers), [dict(
            trigger_key=d.trigger.key, trigger=d.trigger.label[:120], event_id=d.trigger.event_id,
            fire_at=d.trigger.fire_at, decided_at=uow.now, outcome=d.outcome,
            allocation_id=allocation_id_of.get(d.trigger.key), explanation=to_json(d.explanation()),
        ) for d in decisions])

"""Deciding many events in one unit of work, set-based ("batch mode").

The same decision as ``triggers.decide`` (``decide.choose`` and ``decide.compute_amount``,
the same rows and audit records), but each kind of read is one query per batch and each
kind of write one ``executemany``: accounts, balances, currencies and existing trigger
keys are read once; allocations, trigger rows and audit records are written together.
A round trip to the database costs far more than a decision, so this is what makes a
burst of events (a bank's end-of-day deposit file) cheap.  Work-order rules still go
through the approval path one by one (``approvals.submit``).

An automatic allocation commits its amount out of the outgoing account when it is decided
(it goes straight to ``processing``), so that is when it is checked against the account's
last polled balance net of what is already committed out of it (``positions.reservations``):
one statement per batch for the rules' outgoing accounts, then a running total as the
batch's own decisions commit more.  One the account cannot cover is recorded as skipped,
with the figures, and allocates nothing; a manual allocation is the way on once the account
is funded (as the manual says of an automatic allocation that fails for want of funds).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select

from ..audit import json_string, to_json
from ..bulk import insert_many
from ..currencies import load_currencies
from ..positions.reservations import Funds, committed_out, load_funds
from ..positions.tables import channel_accounts, positions
from ..prepared import Prepared
from ..uow import UnitOfWork
from .decide import Balance, Decision, Trigger, choose, compute_amount
from .execution import insert_allocation, new_order_no
from .manual import submit_for_approval
from .rules import EVENT_LABELS, RuleDTO
from .tables import allocation_triggers, allocations


YIELD_EVERY = 250
_DECIDED = Prepared(select(allocation_triggers.c.event_id).where(
    allocation_triggers.c.event_id.between(bindparam("first"), bindparam("last"))))


def event_trigger(event: Any, payload: dict[str, Any], account: Any) -> Trigger:
    amount = payload.get("amount")
    return Trigger(
        key=f"event:{event.id}",
        label=f"{EVENT_LABELS[event.kind]} (event {event.id}, {event.aggregate_type} {event.aggregate_id})",
        kind="event", account_id=payload["channel_account_id"], account_scenario=account.scenario,
        currency=account.currency, event_kind=event.kind, event_id=event.id,
        event_amount=Decimal(amount) if amount is not None else None,
    )


async def decide_events(uow: UnitOfWork, events: Sequence[Any], rules: list[RuleDTO],
                        choices: dict[Any, Decision] | None = None) -> list[Decision]:
    """Decide every event of ``events`` not decided yet; returns the decisions made.
    ``choices``: rule choices made earlier with these same ``rules`` (kept by the caller
    across batches, see ``RuleCache.memo``)."""
    # Already decided (normally none: the cursor moves with the decisions): one range of
    # the event index, rather than a thousand key probes.
    ids = [e.id for e in events]
    done = {r.event_id for r in await _DECIDED.rows(uow.conn, {"first": min(ids), "last": max(ids)},
                                                      sqlite=uow.sqlite)}
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
    choices = {} if choices is None else choices
    funds = await _outgoing_funds(uow, rules, balances)

    decisions: list[Decision] = []
    for n, event in enumerate(events, 1):
        if n % YIELD_EVERY == 0:
            # Statements run on the event loop (sqlite_inline): let the console draw.
            await asyncio.sleep(0)
        payload = payloads[event.id]
        account = accounts.get(payload.get("channel_account_id"))
        if account is None or event.id in done:
            continue
        trigger = event_trigger(event, payload, account)
        # Which rule takes an event depends only on its kind and account (the account
        # fixes currency and scenario): choose once per pair, then compute each amount.
        key = (event.kind, trigger.account_id)
        choice = choices.get(key)
        if choice is None:
            choice = choices[key] = choose(by_account.get(key, []), trigger)
        decision = Decision(trigger, choice.considered, choice.chosen)
        rule = decision.chosen
        if rule is not None:
            source = funds.get(rule.from_account_id)
            compute_amount(decision, money[rule.currency], balances.get(rule.from_account_id, unknown),
                           balances.get(rule.to_account_id, unknown), source.committed if source else None)
            _reserve(decision, source)
        decisions.append(decision)
    await record_decisions(uow, decisions, reserved=True)
    return decisions


async def _outgoing_funds(uow: UnitOfWork, rules: list[RuleDTO], balances: dict[int, Balance]) -> dict[int, Funds]:
    """The outgoing accounts of the rules that allocate at once, with what is committed out
    of them: one statement for the batch, and none when no such account was ever polled."""
    polled = {r.from_account_id for r in rules if r.enabled and r.strategy == "automatic"
              and r.audit_strategy != "work_order" and balances.get(r.from_account_id) is not None
              and balances[r.from_account_id].available is not None}
    if not polled:
        return {}
    committed = await committed_out(uow, polled)
    return {a: Funds(a, balances[a].available, balances[a].threshold_blocking, committed[a]) for a in polled}


def _reserve(decision: Decision, source: Funds | None) -> None:
    """Commit an allocating decision's amount out of its outgoing account, or turn it into
    a skip that says why the account cannot cover it.  Work orders are checked when they
    are approved; an account never polled is left to the channel's own funds check."""
    rule = decision.chosen
    if rule is None or decision.amount is None or rule.audit_strategy == "work_order":
        return
    if source is None or source.available is None:
        return
    if source.covers(decision.amount):
        source.take(decision.amount)
        return
    decision.amount_reason = (
        f"{decision.amount_reason}, but the outgoing account cannot cover it: {source.shortfall(decision.amount)}; "
        "a manual allocation is needed once it is funded")
    decision.amount = None


async def record_decisions(uow: UnitOfWork, decisions: list[Decision], *, reserved: bool = False) -> None:
    """Write the allocations, trigger rows and audit records of ``decisions``.
    ``reserved``: their amounts were already checked and committed against the outgoing
    accounts (``decide_events``); otherwise that happens here, first."""
    if not reserved:
        sources = {d.chosen.from_account_id for d in decisions if d.chosen is not None and d.amount is not None}
        funds = await load_funds(uow, sources) if sources else {}
        for d in decisions:
            _reserve(d, funds.get(d.chosen.from_account_id) if d.chosen is not None else None)
    money: dict[str, Any] | None = None  # only a work order's summary needs the formats
    rows: list[tuple[Any, ...]] = []  # in the order of _ALLOCATION_COLUMNS
    order_of: dict[str, str] = {}  # trigger key -> order number
    allocation_id_of: dict[str, int] = {}
    for d in decisions:
        rule = d.chosen
        if rule is None or d.amount is None:
            continue
        remarks = f"Rule {rule.id} {rule.name}: {d.amount_reason}"[:300]
        if rule.audit_strategy == "work_order":
            money = money or await load_currencies(uow)
            order_no = new_order_no(uow)
            item = await submit_for_approval(uow, order_no, (
                f"Automatic fund allocation {order_no} (work order of rule {rule.id} {rule.name}): "
                f"{money[rule.currency].format(d.amount)} {rule.currency} from {rule.from_account} to "
                f"{rule.to_account}; trigger: {d.trigger.label}"))
            allocation_id_of[d.trigger.key], _ = await insert_allocation(
                uow, origin="automatic", rule_id=rule.id, trigger=d.trigger.label, trigger_key=d.trigger.key,
                from_id=rule.from_account_id, to_id=rule.to_account_id, currency=rule.currency, amount=d.amount,
                remarks=remarks, status="pending_approval", maker="system", order_no=order_no, approval_id=item.id)
            continue
        order_no = new_order_no(uow)
        order_of[d.trigger.key] = order_no
        label = d.trigger.label
        rows.append((order_no, "automatic", rule.id, label[:120], d.trigger.key, rule.from_account_id,
                     rule.to_account_id, rule.currency, d.amount, remarks, "processing", 1, f"{order_no}.1", "system",
                     uow.now, uow.now))
        uow.record_json("allocation.create", "allocation", order_no, None,
                        created_json(rule, d.amount, remarks, label, "processing"))
    if rows:
        # This unit holds the write lock, so the rows above the highest id now are ours.
        before = (await uow.conn.execute(select(func.coalesce(func.max(allocations.c.id), 0)))).scalar_one()
        await insert_many(uow.conn, allocations, _ALLOCATION_COLUMNS, rows)
        ids = {r.order_no: r.id for r in await uow.conn.execute(
            select(allocations.c.id, allocations.c.order_no).where(allocations.c.id > before))}
        allocation_id_of.update({key: ids[order] for key, order in order_of.items()})
    considered: dict[int, str] = {}  # decisions of one choice share its list: encode it once
    await insert_many(uow.conn, allocation_triggers, _TRIGGER_COLUMNS, [(
        d.trigger.key, d.trigger.label[:120], d.trigger.event_id, d.trigger.fire_at, uow.now, d.outcome,
        allocation_id_of.get(d.trigger.key), d.explanation_json(
            considered.get(id(d.considered)) or considered.setdefault(id(d.considered), to_json(d.considered))),
    ) for d in decisions])


def created_json(rule: RuleDTO, amount: Decimal, remarks: str, trigger: str, status: str) -> str:
    """The audit record of an automatic allocation: ``audit.to_json`` of
    {origin, rule, trigger, from_account, to_account, currency, amount, status, remarks}
    (as ``execution.insert_allocation`` records it), written out directly for speed
    (checked equal by ``tests/engine/test_audit_encoding.py``)."""
    return (f'{{"amount":{json_string(format(amount, "f"))},"currency":{json_string(rule.currency)},'
            f'"from_account":{int(rule.from_account_id)},"origin":"automatic","remarks":{json_string(remarks)},'
            f'"rule":{int(rule.id)},"status":{json_string(status)},"to_account":{int(rule.to_account_id)},'
            f'"trigger":{json_string(trigger)}}}')


_ALLOCATION_COLUMNS = ("order_no", "origin", "rule_id", "trigger", "trigger_key", "from_account_id", "to_account_id",
                       "currency", "amount", "remarks", "status", "attempt", "attempt_key", "maker", "created_at",
                       "updated_at")
_TRIGGER_COLUMNS = ("trigger_key", "trigger", "event_id", "fire_at", "decided_at", "outcome", "allocation_id",
                    "explanation")

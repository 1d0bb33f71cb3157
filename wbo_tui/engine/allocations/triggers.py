"""Automatic allocations: deciding each event and each schedule fire time exactly once.

Every console process runs ``run_pass`` on a short interval.  A trigger is decided in
one write transaction that first looks for its row in ``allocation_triggers`` (unique
``trigger_key``) and, if absent, records the decision — and the allocation it creates —
together.  Write transactions are serialised (``BEGIN IMMEDIATE`` on SQLite, the audit
head row lock on PostgreSQL) and the unique key backs that up, so N processes, restarts
and scheduler misfires still decide each trigger once.  Submitting the transfer happens
after the commit (``execution.drive``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..audit import to_json
from ..currencies import load_currency
from ..positions.tables import channel_accounts, domain_events, positions
from ..prepared import Prepared
from ..uow import UnitOfWork, write_unit
from .batch import decide_events, record_decisions
from .calendar import hkex
from .decide import Balance, Decision, Trigger, choose, compute_amount, relevant
from .execution import SYSTEM, drive_due
from .rules import RuleCache, RuleDTO, load_rules
from .schedule import HONG_KONG, MAX_MISSED_RECORDED, Schedule, split_due
from .tables import EVENT_KINDS, allocation_cursor, allocation_rules, allocation_triggers

log = logging.getLogger(__name__)
EVENT_BATCH = 1000
MISSED = "missed: no console was running; only a run at most an hour late is caught up"


@dataclass(slots=True)
class PassReport:
    events: int = 0
    fires: int = 0
    missed: int = 0
    allocations: int = 0
    driven: dict[str, int] = field(default_factory=dict)


async def _exists(uow: UnitOfWork, key: str) -> bool:
    return (await uow.conn.execute(
        select(allocation_triggers.c.id).where(allocation_triggers.c.trigger_key == key))).first() is not None


async def _balance(uow: UnitOfWork, account_id: int) -> Balance:
    row = (await uow.conn.execute(select(positions.c.available, positions.c.threshold_blocking).where(
        positions.c.channel_account_id == account_id))).first()
    return Balance(row.available, row.threshold_blocking) if row else Balance(None, None)


async def decide(uow: UnitOfWork, trigger: Trigger, rules: list[RuleDTO]) -> Decision:
    """Decide one trigger (a schedule fire time) and record it in this unit."""
    decision = choose(relevant(rules, trigger), trigger)
    rule = decision.chosen
    if rule is not None:
        compute_amount(decision, await load_currency(uow, rule.currency), await _balance(uow, rule.from_account_id),
                       await _balance(uow, rule.to_account_id))
    await record_decisions(uow, [decision])
    return decision


# --- events -----------------------------------------------------------------------------


_NEW_EVENTS = Prepared(
    select(domain_events.c.id, domain_events.c.kind, domain_events.c.aggregate_type, domain_events.c.aggregate_id,
           domain_events.c.payload)
    .where(domain_events.c.id > bindparam("after"),
           domain_events.c.kind.in_([bindparam(f"kind_{i}", kind) for i, kind in enumerate(EVENT_KINDS)]))
    .order_by(domain_events.c.id).limit(EVENT_BATCH))
_CURSOR = Prepared(select(allocation_cursor.c.last_event_id).where(allocation_cursor.c.id == 1))


async def consume_events(engine: Any, report: PassReport) -> None:
    """Decide every allocation event not yet decided, oldest first, ``EVENT_BATCH`` per unit."""
    rules = RuleCache(allocation_rules.c.trigger_kind == "event")
    while True:
        async with write_unit(engine.db, SYSTEM, engine.services) as uow:
            found = await _CURSOR.rows(uow.conn, {}, sqlite=uow.sqlite)
            cursor = found[0].last_event_id if found else None
            events = await _NEW_EVENTS.rows(uow.conn, {"after": cursor or 0}, sqlite=uow.sqlite)
            if not events:
                return
            for decision in await decide_events(uow, events, await rules.current(uow), rules.memo):
                report.events += 1
                report.allocations += decision.amount is not None
            last = events[-1].id
            if cursor is None:
                await uow.conn.execute(insert(allocation_cursor).values(id=1, last_event_id=last))
            else:
                await uow.conn.execute(update(allocation_cursor).where(allocation_cursor.c.id == 1)
                                       .values(last_event_id=last))
        if len(events) < EVENT_BATCH:
            return


# --- schedules --------------------------------------------------------------------------


def _schedule(rule: RuleDTO) -> Schedule:
    return Schedule.of(rule.schedule_kind or "daily", rule.schedule_time or "00:00", rule.schedule_days)


def _schedule_trigger(rule: RuleDTO, scenario: str, fire: datetime) -> Trigger:
    account = rule.served_account_id
    return Trigger(
        key=f"schedule:{account}:{fire:%Y-%m-%dT%H:%MZ}", kind="schedule", account_id=account,
        account_scenario=scenario, currency=rule.currency, fire_at=fire,
        label=f"Schedule {fire:%Y-%m-%d %H:%M} UTC ({rule.trigger_text}) for account {account}",
    )


async def run_schedules(engine: Any, report: PassReport) -> None:
    async with engine.db.connect() as conn:
        any_trading_day = (await conn.execute(select(func.count()).where(
            allocation_rules.c.enabled.is_(True), allocation_rules.c.schedule_kind == "hk_trading_day"))).scalar()
    if any_trading_day:
        await hkex().load()  # off the event loop, once per process
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        now = uow.now
        rules = await load_rules(uow, allocation_rules.c.trigger_kind == "schedule")
        scenarios = {r.id: r.scenario for r in await uow.conn.execute(
            select(channel_accounts.c.id, channel_accounts.c.scenario))}
        cursors = {r.id: r.schedule_cursor for r in await uow.conn.execute(
            select(allocation_rules.c.id, allocation_rules.c.schedule_cursor))}
        for rule in rules:
            if not rule.enabled or rule.strategy != "automatic":
                continue
            cursor = cursors[rule.id] or now
            run, missed = split_due(_schedule(rule).fire_times(cursor, now), now)
            scenario = scenarios[rule.served_account_id]
            for fire in missed[-MAX_MISSED_RECORDED:]:
                trigger = _schedule_trigger(rule, scenario, fire)
                if not await _exists(uow, trigger.key):
                    await uow.conn.execute(insert(allocation_triggers).values(
                        trigger_key=trigger.key, trigger=trigger.label[:120], fire_at=fire, decided_at=now,
                        outcome="missed", explanation=to_json({
                            "trigger": trigger.label, "chosen": None, "amount": None, "amount_reason": MISSED,
                            "considered": [{"rule": rule.id, "name": rule.name, "priority": rule.priority,
                                            "verdict": "missed", "reason": MISSED}],
                        })))
                    report.missed += 1
            if run is not None:
                trigger = _schedule_trigger(rule, scenario, run)
                if not await _exists(uow, trigger.key):
                    due_here = [r for r in rules if _fires_at(r, run)]
                    decision = await decide(uow, trigger, due_here)
                    report.fires += 1
                    report.allocations += decision.amount is not None
            await uow.conn.execute(update(allocation_rules).where(allocation_rules.c.id == rule.id)
                                   .values(schedule_cursor=now))


def _fires_at(rule: RuleDTO, instant: datetime) -> bool:
    """Whether a scheduled rule fires at ``instant`` (a candidate for that fire time)."""
    schedule = _schedule(rule)
    day = instant.astimezone(HONG_KONG).date()
    return schedule.fire_at(day) == instant and schedule.skip_reason(day) is None


async def run_pass(engine: Any, holder: str) -> PassReport:
    """One pass of the allocation engine in this process: events, schedules, transfers."""
    report = PassReport()
    try:
        await consume_events(engine, report)
        await run_schedules(engine, report)
    except IntegrityError:
        # Another process decided the same trigger between our check and insert (only
        # possible where writes are not serialised); the next pass sees its row.
        log.info("Allocation trigger decided concurrently by another process")
    report.driven = await drive_due(engine, holder)
    return report

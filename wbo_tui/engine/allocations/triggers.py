"""Automatic allocations: deciding each event and each schedule fire time exactly once.

Every console process runs ``run_pass`` on a short interval.  A trigger is decided in
one write transaction that first looks for its row in ``allocation_triggers`` (unique
``trigger_key``) and, if absent, records the decision — and the allocation it creates —
together.  Write transactions are serialised (``BEGIN IMMEDIATE`` on SQLite, the audit
head row lock on PostgreSQL) and the unique key backs that up, so N processes, restarts
and scheduler misfires still decide each trigger once.  Submitting the transfer happens
after the commit (``execution.drive``).

One trigger that cannot be decided never holds up the others (``passes``).  A batch of
events that fails is decided again event by event, each in a savepoint; a schedule rule
is evaluated in a savepoint of its own.  What still fails gets an ``error`` row under its
trigger key (the event's own, or ``schedule-rule:<id>``): the explain view shows why, and
the pass tries it again after a back-off (``retry_at``), replacing the row by the
decision once it succeeds.  The three stages of a pass (events, schedules, transfers)
are isolated from each other too.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from ..audit import to_json
from ..currencies import load_currency
from ..passes import Backoff, ItemFailure, PassRun
from ..positions.tables import channel_accounts, domain_events, positions
from ..prepared import Prepared
from ..uow import UnitOfWork, read_unit, write_unit
from .batch import decide_events, record_decisions
from ..hk_calendar import hkex
from .decide import Balance, Decision, Trigger, choose, compute_amount, relevant
from .execution import SYSTEM, drive_due
from .pass_gate import PassGate
from .rules import RuleCache, RuleDTO, load_rules
from .schedule import HONG_KONG, MAX_MISSED_RECORDED, Schedule, split_due
from .tables import EVENT_KINDS, allocation_cursor, allocation_rules, allocation_triggers

log = logging.getLogger(__name__)
EVENT_BATCH = 1000
MISSED = "missed: no console was running; only a run at most an hour late is caught up"
# After a trigger could not be decided: 30 s, 2 min, 10 min, 30 min, then hourly.
DECISION_BACKOFF = Backoff()


@dataclass(slots=True)
class PassReport:
    events: int = 0
    fires: int = 0
    missed: int = 0
    allocations: int = 0
    driven: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    """One line per item (or stage) that failed in this pass."""

    def count(self, decisions: list[Decision]) -> None:
        self.events += len(decisions)
        self.allocations += sum(d.amount is not None for d in decisions)


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


async def _next_events(uow: UnitOfWork) -> tuple[int | None, list[Any]]:
    found = await _CURSOR.rows(uow.conn, {}, sqlite=uow.sqlite)
    cursor = found[0].last_event_id if found else None
    return cursor, list(await _NEW_EVENTS.rows(uow.conn, {"after": cursor or 0}, sqlite=uow.sqlite))


async def _new_events_waiting(engine: Any) -> bool:
    """Whether an event past the cursor waits, read without the write lock (the write unit
    reads the cursor again under it: another console may have decided them meanwhile)."""
    cursor = select(allocation_cursor.c.last_event_id).where(allocation_cursor.c.id == 1).scalar_subquery()
    waiting = (select(domain_events.c.id)
               .where(domain_events.c.id > func.coalesce(cursor, 0), domain_events.c.kind.in_(EVENT_KINDS))
               .limit(1))
    async with engine.db.connect() as conn:
        return (await conn.execute(waiting)).first() is not None


async def _advance(uow: UnitOfWork, cursor: int | None, last: int) -> None:
    if cursor is None:
        await uow.conn.execute(insert(allocation_cursor).values(id=1, last_event_id=last))
    else:
        await uow.conn.execute(update(allocation_cursor).where(allocation_cursor.c.id == 1).values(last_event_id=last))


async def consume_events(engine: Any, report: PassReport, run: PassRun | None = None) -> None:
    """Decide every allocation event not yet decided, oldest first, ``EVENT_BATCH`` per unit;
    first the failed ones whose retry time has come."""
    run = run or PassRun("allocation events")
    rules = RuleCache(allocation_rules.c.trigger_kind == "event")
    await _retry_failed_events(engine, report, rules, run)
    if not await _new_events_waiting(engine):
        return  # an idle pass reads two index entries and takes no write lock
    while True:
        events: list[Any] = []
        try:
            async with write_unit(engine.db, SYSTEM, engine.services) as uow:
                cursor, events = await _next_events(uow)
                if not events:
                    return
                decisions = await decide_events(uow, events, await rules.current(uow), rules.memo)
                await _advance(uow, cursor, events[-1].id)
            report.count(decisions)
        except Exception:
            if not events:
                raise  # nothing was read: the database itself failed (the stage reports it)
            log.warning("%d events could not be decided in one batch; deciding them one by one",
                        len(events), exc_info=True)
            events = await _decide_one_by_one(engine, report, rules, run)
        if len(events) < EVENT_BATCH:
            return


def _event_label(event: Any) -> str:
    return f"Event {event.id} ({event.kind}, {event.aggregate_type} {event.aggregate_id})"


async def _decide_one_by_one(engine: Any, report: PassReport, rules: RuleCache, run: PassRun) -> list[Any]:
    """The next batch again, each event in a savepoint: the ones that fail get an error
    row (tried again later) and the cursor moves past the batch.  Only after a failure."""
    decided: list[Decision] = []
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        cursor, events = await _next_events(uow)
        if not events:
            return events
        current = await rules.current(uow)
        for event in events:
            result = await run.item_in_unit(uow, f"event {event.id}", functools.partial(
                decide_events, uow, [event], current))
            if isinstance(result, ItemFailure):
                await record_error(uow, f"event:{event.id}", _event_label(event), result, event_id=event.id)
            else:
                decided += result
        await _advance(uow, cursor, events[-1].id)
    report.count(decided)
    return events


_FAILED_EVENT_COLUMNS = (domain_events.c.id, domain_events.c.kind, domain_events.c.aggregate_type,
                         domain_events.c.aggregate_id, domain_events.c.payload)


async def _retry_failed_events(engine: Any, report: PassReport, rules: RuleCache, run: PassRun) -> None:
    """Decide again the events whose error row is due.  An idle pass costs one indexed read."""
    t = allocation_triggers
    due = select(t.c.trigger_key).where(t.c.retry_at <= engine.clock.now(), t.c.event_id.is_not(None))
    async with engine.db.connect() as conn:
        if (await conn.execute(due.limit(1))).first() is None:
            return
    decided: list[Decision] = []
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        # Read again under the write lock: another console may have retried them meanwhile.
        failed = (await uow.conn.execute(
            select(t.c.trigger_key, t.c.failures, *_FAILED_EVENT_COLUMNS)
            .join(domain_events, domain_events.c.id == t.c.event_id)
            .where(t.c.retry_at <= uow.now).order_by(t.c.id).limit(EVENT_BATCH))).all()
        current = await rules.current(uow) if failed else []
        for row in failed:
            async def again(row: Any = row) -> list[Decision]:
                await uow.conn.execute(delete(t).where(t.c.trigger_key == row.trigger_key))
                return await decide_events(uow, [row], current)

            result = await run.item_in_unit(uow, f"event {row.id}", again)
            if isinstance(result, ItemFailure):
                await record_error(uow, row.trigger_key, _event_label(row), result, event_id=row.id,
                                   failures=row.failures)
            else:
                decided += result
    report.count(decided)


async def record_error(uow: UnitOfWork, key: str, label: str, failure: ItemFailure, *, event_id: int | None = None,
                       failures: int | None = None, rule: RuleDTO | None = None) -> None:
    """Write (``failures`` None) or update the error row of trigger ``key``: why it could
    not be decided, and when it is tried again."""
    failures = (failures or 0) + 1
    retry_at = DECISION_BACKOFF.next_attempt(uow.now, failures)
    again = f"Next attempt after {retry_at:%Y-%m-%d %H:%M:%S} UTC" + (
        f" ({failures} failed in a row)." if failures > 1 else ".")
    considered = [] if rule is None else [{"rule": rule.id, "name": rule.name, "priority": rule.priority,
                                           "verdict": "error", "reason": failure.error}]
    values = dict(trigger=label[:120], decided_at=uow.now, outcome="error", failures=failures, retry_at=retry_at,
                  explanation=to_json({"trigger": label, "chosen": None, "amount": None, "considered": considered,
                                       "amount_reason": f"not decided: {failure.error} {again}",
                                       "error": failure.error, "failures": failures, "retry_at": retry_at}))
    if failures == 1:
        await uow.conn.execute(insert(allocation_triggers).values(trigger_key=key, event_id=event_id, **values))
    else:
        await uow.conn.execute(update(allocation_triggers).where(allocation_triggers.c.trigger_key == key)
                               .values(**values))


# --- schedules --------------------------------------------------------------------------


def _schedule_trigger(rule: RuleDTO, scenario: str, fire: datetime) -> Trigger:
    account = rule.served_account_id
    return Trigger(
        key=f"schedule:{account}:{fire:%Y-%m-%dT%H:%MZ}", kind="schedule", account_id=account,
        account_scenario=scenario, currency=rule.currency, fire_at=fire,
        label=f"Schedule {fire:%Y-%m-%d %H:%M} UTC ({rule.trigger_text}) for account {account}",
    )


async def run_schedules(engine: Any, report: PassReport, run: PassRun | None = None) -> None:
    """Decide the scheduled rules' due fire times (and record the missed ones), each rule
    in its own savepoint.  A pass with nothing due reads the rules and takes no write lock
    and writes nothing: a rule's cursor moves only when its fire times were decided (the
    fire times after an unmoved cursor are the same ones), so an idle console neither
    holds the database nor wakes every other console's list of rules."""
    run = run or PassRun("allocation schedules")
    where = allocation_rules.c.trigger_kind == "schedule"
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        rules, (cursors, failed), now = await load_rules(uow, where), await _schedule_state(uow), uow.now
    if any(r.enabled and r.schedule_kind == "hk_trading_day" for r in rules):
        await hkex().load()  # off the event loop, once per process
    if not any(_schedule_waiting(rule, cursors, failed, now) for rule in rules):
        return
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        rules = await load_rules(uow, where)
        scenarios = {r.id: r.scenario for r in await uow.conn.execute(
            select(channel_accounts.c.id, channel_accounts.c.scenario))}
        cursors, failed = await _schedule_state(uow)
        t = allocation_triggers
        # One rule's counts reach the report only once its savepoint has been released.
        for rule in rules:
            if not _schedule_waiting(rule, cursors, failed, uow.now):
                continue
            key = f"schedule-rule:{rule.id}"
            error = failed.get(key)
            counts = PassReport()
            result = await run.item_in_unit(uow, f"schedule of rule {rule.id}", functools.partial(
                _run_rule_schedule, uow, rule, rules, scenarios[rule.served_account_id], cursors[rule.id], counts))
            if isinstance(result, ItemFailure):
                await record_error(uow, key, f"Schedule of rule {rule.id} {rule.name}", result, rule=rule,
                                   failures=error.failures if error is not None else None)
                continue
            report.fires, report.missed = report.fires + counts.fires, report.missed + counts.missed
            report.allocations += counts.allocations
            if error is not None:
                await uow.conn.execute(delete(t).where(t.c.trigger_key == key))


async def _schedule_state(uow: UnitOfWork) -> tuple[dict[int, datetime | None], dict[str, Any]]:
    """Each scheduled rule's cursor, and the schedules that failed and await their retry."""
    t = allocation_triggers
    cursors = {r.id: r.schedule_cursor for r in await uow.conn.execute(
        select(allocation_rules.c.id, allocation_rules.c.schedule_cursor))}
    failed = {r.trigger_key: r for r in await uow.conn.execute(
        select(t.c.trigger_key, t.c.failures, t.c.retry_at)
        .where(t.c.retry_at.is_not(None), t.c.trigger_key.startswith("schedule-rule:")))}
    return cursors, failed


def _schedule_waiting(rule: RuleDTO, cursors: dict[int, datetime | None], failed: dict[str, Any],
                      now: datetime) -> bool:
    """Whether a scheduled rule has work now: enabled and automatic, not backing off after
    a failure, and a fire time past its cursor (or a failure whose retry is due, or no
    cursor yet).  A schedule that cannot be read has work: its item fails and says why."""
    if not rule.enabled or rule.strategy != "automatic":
        return False
    error = failed.get(f"schedule-rule:{rule.id}")
    if error is not None:
        return bool(error.retry_at <= now)
    cursor = cursors.get(rule.id)
    if cursor is None:
        return True
    try:
        return bool(Schedule.of_rule(rule).fire_times(cursor, now))
    except Exception:  # noqa: BLE001 - reported by that rule's own item (run_schedules)
        return True


async def _run_rule_schedule(uow: UnitOfWork, rule: RuleDTO, rules: list[RuleDTO], scenario: str,
                             cursor: datetime | None, report: PassReport) -> None:
    """Record the rule's missed fire times, decide its due one, move its cursor to now."""
    now = uow.now
    run, missed = split_due(Schedule.of_rule(rule).fire_times(cursor or now, now), now)
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
            due_here = [r for r in rules if _fires_at(r, run)]  # the rules that compete for it
            decision = await decide(uow, trigger, due_here)
            report.fires += 1
            report.allocations += decision.amount is not None
    if cursor is None or run is not None or missed:
        await uow.conn.execute(update(allocation_rules).where(allocation_rules.c.id == rule.id)
                               .values(schedule_cursor=now))


def _fires_at(rule: RuleDTO, instant: datetime) -> bool:
    """Whether a scheduled rule fires at ``instant`` (a candidate for that fire time).  A
    rule whose schedule cannot be read does not: its own item fails and says why, and
    must not take the other rules down with it."""
    try:
        schedule = Schedule.of_rule(rule)
        day = instant.astimezone(HONG_KONG).date()
        return schedule.fire_at(day) == instant and schedule.skip_reason(day) is None
    except Exception:  # noqa: BLE001 - reported by that rule's own item (run_schedules)
        return False


async def run_pass(engine: Any, holder: str, gate: PassGate | None = None) -> PassReport:
    """One pass of the allocation engine in this process: events, schedules, transfers.
    A stage that fails as a whole (the database unreachable, say) is logged and the next
    stage runs; failed items are in ``report.failures``.  With a ``gate``, a pass that would
    find nothing ends after one read."""
    report = PassReport()
    if gate is not None and not await gate.has_work(engine):
        return report  # one read: nothing to decide or drive (``pass_gate``)
    run = PassRun("allocation pass")
    await run.item("new events", functools.partial(consume_events, engine, report, run))
    await run.item("schedules", functools.partial(run_schedules, engine, report, run))
    driven = await run.item("transfers", functools.partial(drive_due, engine, holder, run))
    report.driven = {"error": 1} if isinstance(driven, ItemFailure) else driven
    report.failures = [f"{f.item}: {f.error}" for f in run.failures]
    return report

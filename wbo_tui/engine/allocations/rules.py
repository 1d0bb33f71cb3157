"""Fund allocation rules ("Funds Allocation Configuration"): create, edit (with a
field-by-field diff shown first), copy, list, and a preview of a schedule's next runs.

A rule moves money between two channel accounts of one settlement channel, in one
currency.  It fires on a schedule (every calendar day, every HKEX trading day, or weekly
on chosen days, at a Hong Kong time) or on an event.  The *served account* is the one the
trigger is about: the incoming account for a top-up (schedules, below blocking
threshold, withdrawal submitted), the outgoing account for a sweep, a withdrawal that
failed or a deposit that succeeded.  Priority 1 is the highest.

The vocabulary (DTOs, commands, queries) is in ``rule_types``, reading in
``rule_reading``, field validation and edit diffs in ``rule_validation``; this module
holds the handlers and keeps every public name importable from here.
"""

from __future__ import annotations

from sqlalchemy import insert, update

from ..commands import handles
from ..errors import Conflict, ValidationFailed
from ..uow import UnitOfWork
from ..hk_calendar import hkex
from .rule_reading import RuleCache, get_rule, load_rules, open_allocations, rule_dto
from .rule_types import (
    AMOUNT_LABELS,
    EVENT_LABELS,
    INQUIRY,
    LABELS,
    OPERATION,
    OUTGOING_EVENTS,
    SCHEDULE_LABELS,
    CreateAllocationRule,
    EditAllocationRule,
    EventKind,
    GetAllocationRule,
    HkTime,
    ListAllocationRules,
    PreviewRuleEdit,
    PreviewSchedule,
    RuleChange,
    RuleDTO,
    RuleEditPreviewDTO,
    RuleFields,
    ScheduleDayDTO,
    Weekdays,
    served_account,
)
from .rule_validation import rule_changes, validate_rule, values_of
from .schedule import WEEKDAYS, Schedule
from .tables import allocation_rules
from .transfer_checks import validate_transfer

__all__ = [
    "AMOUNT_LABELS", "EVENT_LABELS", "INQUIRY", "LABELS", "OPERATION", "OUTGOING_EVENTS", "SCHEDULE_LABELS",
    "CreateAllocationRule", "EditAllocationRule", "EventKind", "GetAllocationRule", "HkTime", "ListAllocationRules",
    "PreviewRuleEdit", "PreviewSchedule", "RuleCache", "RuleChange", "RuleDTO", "RuleEditPreviewDTO", "RuleFields",
    "ScheduleDayDTO", "Weekdays", "get_rule", "load_rules", "rule_dto", "served_account", "validate_transfer",
]


@handles(CreateAllocationRule)
async def create_rule(uow: UnitOfWork, cmd: CreateAllocationRule) -> RuleDTO:
    values = await validate_rule(uow, cmd)
    if cmd.copied_from is not None:
        await get_rule(uow, cmd.copied_from)
    who = uow.actor.username
    rule_id = (await uow.conn.execute(insert(allocation_rules).values(
        **values, schedule_cursor=uow.now, version=1, created_by=who, created_at=uow.now, updated_by=who,
        updated_at=uow.now,
    ).returning(allocation_rules.c.id))).scalar_one()
    uow.record("allocation_rule.copy" if cmd.copied_from else "allocation_rule.create", "allocation_rule", rule_id,
               {"copied_from": cmd.copied_from} if cmd.copied_from else None, values)
    return await get_rule(uow, rule_id)


def _stale(current: RuleDTO) -> Conflict:
    return Conflict(
        f"Rule {current.id} was changed by {current.updated_by} at {current.updated_at:%Y-%m-%d %H:%M:%S} UTC "
        f"(now version {current.version}); reload it and make your edit again."
    )


@handles(EditAllocationRule)
async def edit_rule(uow: UnitOfWork, cmd: EditAllocationRule) -> RuleDTO:
    current = await get_rule(uow, cmd.rule_id)
    if current.version != cmd.expected_version:
        raise _stale(current)
    values = await validate_rule(uow, cmd)
    changes = rule_changes(values_of(current), values)
    if not changes:
        raise ValidationFailed("Rule", "nothing was changed")
    schedule_changed = any(c.field in {LABELS[f] for f in ("trigger_kind", "schedule_kind", "schedule_days",
                                                            "schedule_time", "enabled")} for c in changes)
    extra = {"schedule_cursor": uow.now} if schedule_changed else {}
    done = await uow.conn.execute(update(allocation_rules).where(
        allocation_rules.c.id == cmd.rule_id, allocation_rules.c.version == cmd.expected_version,
    ).values(**values, **extra, version=allocation_rules.c.version + 1, updated_by=uow.actor.username,
             updated_at=uow.now))
    if done.rowcount != 1:  # pragma: no cover - the version was checked under the write lock
        raise _stale(await get_rule(uow, cmd.rule_id))
    uow.record("allocation_rule.edit", "allocation_rule", cmd.rule_id,
               {c.field: c.before for c in changes}, {c.field: c.after for c in changes})
    return await get_rule(uow, cmd.rule_id)


@handles(PreviewRuleEdit)
async def preview_rule_edit(uow: UnitOfWork, q: PreviewRuleEdit) -> RuleEditPreviewDTO:
    current = await get_rule(uow, q.edit.rule_id)
    values = await validate_rule(uow, q.edit)
    return RuleEditPreviewDTO(changes=rule_changes(values_of(current), values),
                              open_allocations=await open_allocations(uow, current.id))


@handles(ListAllocationRules)
async def list_rules(uow: UnitOfWork, q: ListAllocationRules) -> tuple[RuleDTO, ...]:
    where = [] if q.enabled is None else [allocation_rules.c.enabled == q.enabled]
    return tuple(await load_rules(uow, *where))


@handles(GetAllocationRule)
async def get_allocation_rule(uow: UnitOfWork, q: GetAllocationRule) -> RuleDTO:
    return await get_rule(uow, q.rule_id)


@handles(PreviewSchedule)
async def preview_schedule(uow: UnitOfWork, q: PreviewSchedule) -> tuple[ScheduleDayDTO, ...]:
    if q.schedule_kind == "weekly" and not q.schedule_days:
        raise ValidationFailed("Weekdays", "choose at least one weekday for a weekly schedule")
    if q.schedule_kind == "hk_trading_day":
        await hkex().load()
    schedule = Schedule.of(q.schedule_kind, q.schedule_time, ",".join(q.schedule_days))
    return tuple(
        ScheduleDayDTO(day=day.isoformat(), weekday=WEEKDAYS[day.weekday()], fire_at=fire, skipped=reason)
        for day, fire, reason in schedule.preview(uow.now, q.runs)
    )

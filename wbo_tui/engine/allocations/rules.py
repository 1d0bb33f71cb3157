"""Fund allocation rules ("Funds Allocation Configuration"): create, edit (with a
field-by-field diff shown first), copy, list, and a preview of a schedule's next runs.

A rule moves money between two channel accounts of one settlement channel, in one
currency.  It fires on a schedule (every calendar day, every HKEX trading day, or weekly
on chosen days, at a Hong Kong time) or on an event.  The *served account* is the one the
trigger is about: the incoming account for a top-up (schedules, below blocking
threshold, withdrawal submitted), the outgoing account for a sweep, a withdrawal that
failed or a deposit that succeeded.  Priority 1 is the highest.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator
from sqlalchemy import bindparam, insert, select, update

from ..commands import Command, Query, handles
from ..currencies import load_currency
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..money import Currency, DecimalAmount
from ..positions.tables import SCENARIOS, channel_accounts
from ..prepared import Prepared
from ..schema import currencies
from ..uow import UnitOfWork
from ..whole_numbers import Id, Version, WholeNumber
from .calendar import hkex
from .schedule import WEEKDAYS, Schedule
from .tables import allocation_rules, allocations

OPERATION = "atm.funds_alloc_config_operation"
INQUIRY = "atm.funds_alloc_config_inquiry"

EventKind = Literal[
    "position.below_blocking", "withdrawal.submitted.principal", "withdrawal.submitted.fee",
    "withdrawal.failed.principal", "withdrawal.failed.fee", "deposit.successful",
]
EVENT_LABELS = {
    "position.below_blocking": "Position below blocking threshold",
    "withdrawal.submitted.principal": "Withdrawal submitted — principal",
    "withdrawal.submitted.fee": "Withdrawal submitted — fee",
    "withdrawal.failed.principal": "Withdrawal failed — principal",
    "withdrawal.failed.fee": "Withdrawal failed — fee",
    "deposit.successful": "Deposit successful",
}
# Events about money that arrived in (or stayed in) an account: the rule moves it out.
OUTGOING_EVENTS = frozenset({"withdrawal.failed.principal", "withdrawal.failed.fee", "deposit.successful"})
SCHEDULE_LABELS = {"daily": "Every calendar day", "hk_trading_day": "Every HKEX trading day", "weekly": "Weekly"}
AMOUNT_LABELS = {
    "fixed": "Fixed amount", "top_up": "Top up incoming to target", "sweep": "Sweep outgoing above retained",
    "event_amount": "The triggering event's amount",
}
# ASCII digits only: ``\d`` would take any script's digits (Arabic-Indic, full-width).
_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")  # used with fullmatch

# Field names as the operator sees them, in form order (diffs and errors use these).
LABELS = {
    "name": "Name", "allocation_type": "Allocation type", "from_account_id": "Outgoing account",
    "to_account_id": "Incoming account", "currency": "Currency", "scenario": "Business scenario",
    "trigger_kind": "Trigger", "schedule_kind": "Schedule", "schedule_days": "Weekdays",
    "schedule_time": "Time (HKT)", "event_kind": "Event", "amount_rule": "Amount rule", "amount": "Amount",
    "strategy": "Allocation strategy", "audit_strategy": "Audit strategy", "priority": "Priority",
    "enabled": "Enabled",
}


def _weekdays(value: tuple[str, ...]) -> tuple[str, ...]:
    days = tuple(dict.fromkeys(d.strip().upper()[:3] for d in value if d.strip()))
    unknown = [d for d in days if d not in WEEKDAYS]
    if unknown:
        raise ValueError(f"{', '.join(unknown)} is not a weekday (MON … SUN)")
    return tuple(sorted(days, key=WEEKDAYS.index))


def _hk_time(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) == 4 and value[1] == ":":
        value = "0" + value
    if not _TIME_RE.fullmatch(value):
        raise ValueError("must be HH:MM, 00:00 to 23:59 (Hong Kong time)")
    return value


Weekdays = Annotated[tuple[str, ...], AfterValidator(_weekdays)]
HkTime = Annotated[str | None, AfterValidator(_hk_time)]


class RuleDTO(DTO):
    id: int
    name: str
    allocation_type: str
    from_account_id: int
    from_account: str
    to_account_id: int
    to_account: str
    channel: str
    currency: str
    scenario: str
    trigger_kind: str
    schedule_kind: str | None
    schedule_days: str | None
    schedule_time: str | None
    event_kind: str | None
    amount_rule: str
    amount: Decimal | None
    strategy: str
    audit_strategy: str
    priority: int
    enabled: bool
    version: int
    updated_by: str
    updated_at: datetime

    @property
    def trigger_text(self) -> str:
        if self.trigger_kind == "event":
            return EVENT_LABELS.get(self.event_kind or "", self.event_kind or "")
        text = SCHEDULE_LABELS.get(self.schedule_kind or "", self.schedule_kind or "")
        if self.schedule_kind == "weekly":
            text += f" {self.schedule_days}"
        return f"{text} at {self.schedule_time} HKT"

    @property
    def served_account_id(self) -> int:
        return served_account(self.trigger_kind, self.event_kind, self.amount_rule, self.from_account_id,
                              self.to_account_id)


def served_account(trigger_kind: str, event_kind: str | None, amount_rule: str, from_id: int, to_id: int) -> int:
    """The account a trigger must be about for this rule to apply (see module doc)."""
    if trigger_kind == "event":
        return from_id if event_kind in OUTGOING_EVENTS else to_id
    return from_id if amount_rule == "sweep" else to_id


class RuleFields(Command):
    permission = OPERATION
    action = ""
    name: str = Field(min_length=1, max_length=80)
    allocation_type: Literal["settlement_transfer"] = "settlement_transfer"
    from_account_id: Id
    to_account_id: Id
    currency: str
    scenario: str
    trigger_kind: Literal["schedule", "event"]
    schedule_kind: Literal["daily", "hk_trading_day", "weekly"] | None = None
    schedule_days: Weekdays = ()
    schedule_time: HkTime = None
    event_kind: EventKind | None = None
    amount_rule: Literal["fixed", "top_up", "sweep", "event_amount"]
    amount: DecimalAmount | None = None
    strategy: Literal["automatic", "manual"] = "automatic"
    audit_strategy: Literal["none", "work_order"] = "none"
    priority: Annotated[int, WholeNumber(1, 999)] = 100
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is required")
        return value.strip()

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("scenario")
    @classmethod
    def _scenario(cls, value: str) -> str:
        if value not in SCENARIOS:
            raise ValueError(f"must be one of {', '.join(SCENARIOS)}")
        return value



class CreateAllocationRule(RuleFields):
    action = "create fund allocation rules"
    copied_from: Id | None = None
    """Set by Copy: the rule whose parameters the operator started from (audited)."""


class EditAllocationRule(RuleFields):
    """Overwrite a rule.  ``expected_version`` is the version the operator edited: an
    edit made meanwhile by someone else is refused, never overwritten."""

    action = "edit fund allocation rules"
    rule_id: Id
    expected_version: Version


class RuleChange(DTO):
    field: str
    before: str
    after: str


class PreviewRuleEdit(Query):
    """What an edit would change, field by field, and the pending allocations of the rule."""

    permission = INQUIRY
    action = "view fund allocation rules"
    edit: EditAllocationRule


class RuleEditPreviewDTO(DTO):
    changes: tuple[RuleChange, ...]
    open_allocations: tuple[str, ...]


class ListAllocationRules(Query):
    permission = INQUIRY
    action = "view fund allocation rules"
    enabled: bool | None = None


class GetAllocationRule(Query):
    permission = INQUIRY
    action = "view fund allocation rules"
    rule_id: Id


class PreviewSchedule(Query):
    """The next ``runs`` fire times of a schedule, with every day skipped and why."""

    permission = INQUIRY
    action = "view fund allocation rules"
    schedule_kind: Literal["daily", "hk_trading_day", "weekly"]
    schedule_days: Weekdays = ()
    schedule_time: HkTime
    runs: Annotated[int, WholeNumber(1, 60)] = 10


class ScheduleDayDTO(DTO):
    day: str
    weekday: str
    fire_at: datetime
    skipped: str | None


# --- reading ----------------------------------------------------------------------------

_from = channel_accounts.alias("from_acct")
_to = channel_accounts.alias("to_acct")


def _select() -> Any:
    return (
        select(allocation_rules, _from.c.account_no.label("from_account"), _to.c.account_no.label("to_account"),
               _from.c.channel.label("channel"))
        .join(_from, _from.c.id == allocation_rules.c.from_account_id)
        .join(_to, _to.c.id == allocation_rules.c.to_account_id)
    )


def rule_dto(r: Any) -> RuleDTO:
    return RuleDTO(
        id=r.id, name=r.name, allocation_type=r.allocation_type, from_account_id=r.from_account_id,
        from_account=r.from_account, to_account_id=r.to_account_id, to_account=r.to_account, channel=r.channel,
        currency=r.currency, scenario=r.scenario, trigger_kind=r.trigger_kind, schedule_kind=r.schedule_kind,
        schedule_days=r.schedule_days, schedule_time=r.schedule_time, event_kind=r.event_kind,
        amount_rule=r.amount_rule, amount=r.amount, strategy=r.strategy, audit_strategy=r.audit_strategy,
        priority=r.priority, enabled=r.enabled, version=r.version, updated_by=r.updated_by, updated_at=r.updated_at,
    )


async def load_rules(uow: UnitOfWork, *where: Any) -> list[RuleDTO]:
    rows = await uow.conn.execute(_select().where(*where).order_by(allocation_rules.c.id))
    return [rule_dto(r) for r in rows]


class RuleCache:
    """The rules matching ``where`` as of each unit that asks, re-read only where changed.

    Every edit bumps the version of the rule (or of the channel account whose number it
    shows), so a unit reads just those versions and loads only the rules that are new or
    changed since the last unit.  A pass deciding many batches thus uses the rules in
    force in each batch's own transaction without rebuilding them all each time."""

    def __init__(self, *where: Any) -> None:
        self.where = where
        self.rules: dict[int, tuple[tuple[int, int, int], RuleDTO]] = {}
        self.memo: dict[Any, Any] = {}
        """For the caller: what it derived from the rules (``batch``: each choice of rule);
        emptied whenever a rule is added, edited or removed."""

    async def current(self, uow: UnitOfWork) -> list[RuleDTO]:
        versions = {r.id: (r.version, r.from_version, r.to_version) for r in await uow.conn.execute(
            select(allocation_rules.c.id, allocation_rules.c.version, _from.c.version.label("from_version"),
                   _to.c.version.label("to_version"))
            .join(_from, _from.c.id == allocation_rules.c.from_account_id)
            .join(_to, _to.c.id == allocation_rules.c.to_account_id).where(*self.where))}
        stale = [i for i, v in versions.items() if i not in self.rules or self.rules[i][0] != v]
        if stale:
            for rule in await load_rules(uow, allocation_rules.c.id.in_(stale)):
                self.rules[rule.id] = (versions[rule.id], rule)
        if stale or len(self.rules) != len(versions):
            self.memo.clear()
        self.rules = {i: self.rules[i] for i in sorted(versions) if i in self.rules}
        return [rule for _, rule in self.rules.values()]


async def get_rule(uow: UnitOfWork, rule_id: int) -> RuleDTO:
    rules = await load_rules(uow, allocation_rules.c.id == rule_id)
    if not rules:
        raise NotFound(f"Allocation rule {rule_id} does not exist.")
    return rules[0]


# --- validation -------------------------------------------------------------------------


# Both accounts, each with its currency's configuration (a transfer's currency is the one
# both accounts hold, so that is the currency the transfer needs).
_TWO_ACCOUNTS = Prepared(
    select(channel_accounts, currencies.c.name.label("currency_name"), currencies.c.kind.label("currency_kind"),
           currencies.c.amount_precision, currencies.c.rounding, currencies.c.max_amount)
    .join(currencies, currencies.c.code == channel_accounts.c.currency)
    .where(channel_accounts.c.id.in_([bindparam("from_id"), bindparam("to_id")]))
)


async def validate_transfer(uow: UnitOfWork, from_id: int, to_id: int,
                            currency_code: str) -> tuple[Any, Any, Currency]:
    """The checks every allocation shares, rule or manual: two different accounts of one
    channel that both hold the currency.  Returns both accounts and the currency."""
    if from_id == to_id:
        raise ValidationFailed("Incoming account", "must be a different account from the outgoing account")
    found = {r.id: r for r in await _TWO_ACCOUNTS.rows(uow.conn, {"from_id": from_id, "to_id": to_id},
                                                           sqlite=uow.sqlite)}
    source, target = found.get(from_id), found.get(to_id)
    for row, account_id, field in ((source, from_id, "Outgoing account"), (target, to_id, "Incoming account")):
        if row is None:
            raise ValidationFailed(field, f"channel account {account_id} does not exist")
    for row, field in ((source, "Outgoing account"), (target, "Incoming account")):
        if row.currency != currency_code:
            await load_currency(uow, currency_code)  # an unknown currency is the first thing to say
            raise ValidationFailed(field, f"{row.account_no} holds {row.currency}, not {currency_code}")
    if source.channel != target.channel:
        raise ValidationFailed(
            "Incoming account", f"is on {target.channel}; a transfer stays within one settlement channel ({source.channel})"
        )
    currency = Currency(source.currency, source.currency_name, source.currency_kind, source.amount_precision,
                        source.rounding, source.max_amount)
    return source, target, currency


async def _validate(uow: UnitOfWork, cmd: RuleFields) -> dict[str, Any]:
    _, _, currency = await validate_transfer(uow, cmd.from_account_id, cmd.to_account_id, cmd.currency)
    values: dict[str, Any] = {
        "name": cmd.name, "allocation_type": cmd.allocation_type, "from_account_id": cmd.from_account_id,
        "to_account_id": cmd.to_account_id, "currency": cmd.currency, "scenario": cmd.scenario,
        "trigger_kind": cmd.trigger_kind, "schedule_kind": None, "schedule_days": None, "schedule_time": None,
        "event_kind": None, "amount_rule": cmd.amount_rule, "amount": None, "strategy": cmd.strategy,
        "audit_strategy": cmd.audit_strategy, "priority": cmd.priority, "enabled": cmd.enabled,
    }
    if cmd.trigger_kind == "schedule":
        if cmd.schedule_kind is None:
            raise ValidationFailed("Schedule", "is required for a scheduled rule")
        if cmd.schedule_time is None:
            raise ValidationFailed("Time (HKT)", "is required for a scheduled rule (HH:MM)")
        if cmd.schedule_kind == "weekly" and not cmd.schedule_days:
            raise ValidationFailed("Weekdays", "choose at least one weekday for a weekly schedule")
        if cmd.amount_rule == "event_amount":
            raise ValidationFailed("Amount rule", "a scheduled rule has no triggering event to take the amount from")
        values.update(schedule_kind=cmd.schedule_kind, schedule_time=cmd.schedule_time,
                      schedule_days=",".join(cmd.schedule_days) if cmd.schedule_kind == "weekly" else None)
    else:
        if cmd.event_kind is None:
            raise ValidationFailed("Event", "is required for an event-triggered rule")
        values["event_kind"] = cmd.event_kind
    if cmd.amount_rule == "event_amount":
        if cmd.amount is not None:
            raise ValidationFailed("Amount", "must be empty: the amount comes from the triggering event")
    else:
        if cmd.amount is None:
            raise ValidationFailed("Amount", f"is required for {AMOUNT_LABELS[cmd.amount_rule].lower()}")
        currency.check_precision(cmd.amount, field="Amount")
        if cmd.amount_rule == "sweep":
            if cmd.amount < 0:
                raise ValidationFailed("Amount", "must not be negative: it is the balance the outgoing account keeps")
        elif cmd.amount <= 0:
            what = ": it is the balance to top the incoming account up to" if cmd.amount_rule == "top_up" else ""
            raise ValidationFailed("Amount", f"must be greater than zero{what}")
        values["amount"] = cmd.amount
    return values


def _text(field: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[RuleChange, ...]:
    out = []
    for field, label in LABELS.items():
        old, new = before.get(field), after.get(field)
        if isinstance(old, Decimal) and isinstance(new, Decimal) and old == new:
            continue
        if old != new:
            out.append(RuleChange(field=label, before=_text(field, old), after=_text(field, new)))
    return tuple(out)


def _values_of(rule: RuleDTO) -> dict[str, Any]:
    return {field: getattr(rule, field) for field in LABELS}


async def _open_allocations(uow: UnitOfWork, rule_id: int) -> tuple[str, ...]:
    rows = await uow.conn.execute(select(allocations.c.order_no).where(
        allocations.c.rule_id == rule_id,
        allocations.c.status.in_(("pending_approval", "processing", "unknown")),
    ).order_by(allocations.c.id))
    return tuple(r.order_no for r in rows)


# --- handlers ---------------------------------------------------------------------------


@handles(CreateAllocationRule)
async def create_rule(uow: UnitOfWork, cmd: CreateAllocationRule) -> RuleDTO:
    values = await _validate(uow, cmd)
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
    values = await _validate(uow, cmd)
    changes = _changes(_values_of(current), values)
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
    values = await _validate(uow, q.edit)
    return RuleEditPreviewDTO(changes=_changes(_values_of(current), values),
                              open_allocations=await _open_allocations(uow, current.id))


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

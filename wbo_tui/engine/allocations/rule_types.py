"""Fund allocation rules: their vocabulary (permissions, field labels, trigger and amount
kinds), the rule DTO and the commands and queries the handlers in ``rules`` answer.

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
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from ..commands import Command, Query
from ..dto import DTO
from ..money import DecimalAmount
from ..positions.tables import SCENARIOS
from ..whole_numbers import Id, Version, WholeNumber
from .schedule import WEEKDAYS

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

"""Validating a rule's fields against each other and the accounts, and the field-by-field
difference an edit makes (shown to the operator before the edit is saved)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..errors import ValidationFailed
from ..uow import UnitOfWork
from .rule_types import AMOUNT_LABELS, LABELS, RuleChange, RuleDTO, RuleFields
from .transfer_checks import validate_transfer

async def validate_rule(uow: UnitOfWork, cmd: RuleFields) -> dict[str, Any]:
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
        cmd = cmd.model_copy(update={"amount": currency.check_precision(cmd.amount, field="Amount")})
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


def rule_changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[RuleChange, ...]:
    out = []
    for field, label in LABELS.items():
        old, new = before.get(field), after.get(field)
        if isinstance(old, Decimal) and isinstance(new, Decimal) and old == new:
            continue
        if old != new:
            out.append(RuleChange(field=label, before=_text(field, old), after=_text(field, new)))
    return tuple(out)


def values_of(rule: RuleDTO) -> dict[str, Any]:
    return {field: getattr(rule, field) for field in LABELS}

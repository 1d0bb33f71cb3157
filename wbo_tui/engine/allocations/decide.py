"""Which rule a trigger chooses, for how much, and why every other rule was not chosen.

Pure functions over rules and balances, so that the decision and its explanation are
one computation: what the explain view shows is what ran.

Choice: the rules of the trigger's kind (the same event kind, or a schedule firing at that
instant) that serve the account it concerns are considered; among those in its currency
and business scenario, enabled and automatic, the lowest priority number wins; ties go to
the lowest rule id (the oldest rule), so the choice never depends on which process
decides.  The explanation lists every considered rule with its verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from ..audit import json_string
from ..money import Currency
from .rules import RuleDTO


@dataclass(slots=True)  # not frozen: built once per event in batch mode, where a frozen init costs
class Trigger:
    """One thing that happened: an event, or a schedule fire time for one account."""

    key: str  # unique: "event:<id>" or "schedule:<account id>:<UTC instant>"
    label: str  # for people
    kind: str  # "event" | "schedule"
    account_id: int
    account_scenario: str
    currency: str
    event_kind: str | None = None
    event_id: int | None = None
    event_amount: Decimal | None = None
    fire_at: datetime | None = None


@dataclass(slots=True)
class Balance:
    available: Decimal | None
    threshold_blocking: Decimal | None


@dataclass(slots=True)
class Decision:
    trigger: Trigger
    considered: list[dict[str, Any]] = field(default_factory=list)
    chosen: RuleDTO | None = None
    amount: Decimal | None = None
    amount_reason: str = ""

    @property
    def outcome(self) -> str:
        if self.chosen is None:
            return "no_rule"
        return "allocated" if self.amount is not None else "skipped"

    def explanation(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger.label, "considered": self.considered,
            "chosen": self.chosen.id if self.chosen else None,
            "amount": str(self.amount) if self.amount is not None else None, "amount_reason": self.amount_reason,
        }

    def explanation_json(self, considered_json: str) -> str:
        """``audit.to_json(self.explanation())``, given ``to_json(self.considered)``: the
        considered rules are shared by every event of one kind on one account, so a batch
        encodes them once and writes the rest around them (checked equal by
        ``tests/engine/test_audit_encoding.py``)."""
        amount = "null" if self.amount is None else json_string(str(self.amount))
        chosen = "null" if self.chosen is None else str(int(self.chosen.id))
        return (f'{{"amount":{amount},"amount_reason":{json_string(self.amount_reason)},"chosen":{chosen},'
                f'"considered":{considered_json},"trigger":{json_string(self.trigger.label)}}}')


def _applies(rule: RuleDTO, trigger: Trigger) -> str | None:
    """Why ``rule`` (a rule of the trigger's kind serving its account) cannot take it."""
    if rule.currency != trigger.currency:
        return f"currency {rule.currency}, not {trigger.currency}"
    if rule.scenario != trigger.account_scenario:
        return f"business scenario {rule.scenario}, not the account's {trigger.account_scenario}"
    if not rule.enabled:
        return "disabled"
    if rule.strategy != "automatic":
        return "allocation strategy is manual (used only by hand)"
    return None


def relevant(rules: list[RuleDTO], trigger: Trigger) -> list[RuleDTO]:
    """The rules a trigger considers: of its kind (the same event, or a schedule) and
    serving the account it concerns.  Rules for other accounts are not listed."""
    return [r for r in rules if r.served_account_id == trigger.account_id and (
        r.event_kind == trigger.event_kind if trigger.kind == "event" else r.trigger_kind == "schedule")]


def choose(rules: list[RuleDTO], trigger: Trigger) -> Decision:
    """``rules``: the trigger's relevant rules (``relevant``)."""
    decision = Decision(trigger)
    eligible = []
    for rule in rules:
        reason = _applies(rule, trigger)
        decision.considered.append({"rule": rule.id, "name": rule.name, "priority": rule.priority,
                                    "verdict": "not eligible" if reason else "eligible", "reason": reason or ""})
        if reason is None:
            eligible.append(rule)
    if not eligible:
        return decision
    winner = min(eligible, key=lambda r: (r.priority, r.id))
    decision.chosen = winner
    for entry in decision.considered:
        if entry["rule"] == winner.id:
            entry.update(verdict="chosen", reason=f"highest priority ({winner.priority}) among eligible rules")
        elif entry["verdict"] == "eligible":
            other = next(r for r in eligible if r.id == entry["rule"])
            entry.update(verdict="outranked", reason=(
                f"priority {other.priority} is lower than rule {winner.id}'s {winner.priority}"
                if other.priority != winner.priority else
                f"same priority as rule {winner.id}; ties go to the lowest rule id"
            ))
    return decision


def compute_amount(decision: Decision, currency: Currency, source: Balance, target: Balance,
                   committed: Decimal | None = None) -> None:
    """Set the chosen rule's amount (rounded down to the currency's precision: never move
    more than the rule asks) or say why there is nothing to move.  ``committed``: what is
    already committed out of the outgoing account and not yet settled; a sweep moves only
    the surplus above it (whether the outgoing account covers the amount is checked next,
    before anything is written: ``batch._reserve``)."""
    rule, trigger = decision.chosen, decision.trigger
    assert rule is not None
    raw: Decimal | None
    if rule.amount_rule == "fixed":
        raw, why = rule.amount, f"fixed amount {rule.amount}"
    elif rule.amount_rule == "top_up":
        if target.available is None:
            decision.amount_reason = "the incoming account has never been polled: its balance is unknown"
            return
        raw = rule.amount - target.available  # type: ignore[operator]
        why = f"target {rule.amount} − incoming available {target.available}"
    elif rule.amount_rule == "sweep":
        if source.available is None:
            decision.amount_reason = "the outgoing account has never been polled: its balance is unknown"
            return
        raw = source.available - rule.amount  # type: ignore[operator]
        why = f"outgoing available {source.available} − retained {rule.amount}"
        if committed:
            raw -= committed
            why += f" − committed and not yet settled {committed}"
    elif trigger.event_kind == "position.below_blocking":
        if target.available is None or target.threshold_blocking is None:
            decision.amount_reason = "no shortfall can be computed: balance or blocking threshold missing"
            return
        raw = target.threshold_blocking - target.available
        why = f"shortfall: blocking threshold {target.threshold_blocking} − available {target.available}"
    else:
        raw, why = trigger.event_amount, f"the event's amount {trigger.event_amount}"
    if raw is None:
        decision.amount_reason = "the trigger carries no amount"
        return
    amount = raw.quantize(currency.quantum, rounding=ROUND_DOWN)
    if amount <= 0:
        decision.amount_reason = f"nothing to move: {why} = {raw}"
        return
    decision.amount, decision.amount_reason = amount, f"{why} = {amount} {currency.code}"

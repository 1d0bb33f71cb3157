"""Reading fund allocation rules: one rule, all rules matching a condition, a cache that
re-reads only the rules changed since the last unit, and a rule's open allocations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..errors import NotFound
from ..positions.tables import channel_accounts
from ..uow import UnitOfWork
from .rule_types import RuleDTO
from .tables import allocation_rules, allocations

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

async def open_allocations(uow: UnitOfWork, rule_id: int) -> tuple[str, ...]:
    rows = await uow.conn.execute(select(allocations.c.order_no).where(
        allocations.c.rule_id == rule_id,
        allocations.c.status.in_(("pending_approval", "processing", "unknown")),
    ).order_by(allocations.c.id))
    return tuple(r.order_no for r in rows)

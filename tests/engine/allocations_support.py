"""A desk for the allocation tests: the position desk plus an HKD fund pool account, the
channel polled once, and shortcuts for rules."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from positions_support import CHANNEL, Desk, open_desk
from sqlalchemy import select

from wbo_tui.engine import Engine
from wbo_tui.engine.allocations import CreateAllocationRule, RuleDTO
from wbo_tui.engine.allocations.tables import allocations
from wbo_tui.engine.positions import CreateChannelAccount

POOL_NO = "HK-POOL-001"


async def open_allocation_desk(engine: Engine, store: Path) -> Desk:
    desk = await open_desk(engine, store)
    pool = await engine.execute(desk.maker, CreateChannelAccount(
        channel=CHANNEL, currency_type="fiat", currency="HKD", account_no=POOL_NO, scenario="fund_pool",
    ))
    desk.accounts["hkd_pool"] = pool.id
    await desk.bank.set_balance(POOL_NO, "HKD", Decimal("1000000"))
    await engine.poll_positions(slot="test:initial", holder="test")
    return desk


def rule_fields(desk: Desk, **overrides: Any) -> dict[str, Any]:
    """A top-up of the HKD principal account from the pool when a withdrawal is submitted."""
    fields: dict[str, Any] = {
        "name": "Top up principal", "from_account_id": desk.accounts["hkd_pool"],
        "to_account_id": desk.accounts["hkd_principal"], "currency": "HKD", "scenario": "withdrawal_principal",
        "trigger_kind": "event", "event_kind": "withdrawal.submitted.principal", "amount_rule": "event_amount",
        "priority": 10,
    }
    fields.update(overrides)
    return fields


async def create_rule(desk: Desk, **overrides: Any) -> RuleDTO:
    return await desk.engine.execute(desk.maker, CreateAllocationRule(**rule_fields(desk, **overrides)))


async def allocation_rows(engine: Engine) -> list[Any]:
    async with engine.db.connect() as conn:
        return list(await conn.execute(select(allocations).order_by(allocations.c.id)))

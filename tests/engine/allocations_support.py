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
from wbo_tui.engine.positions.tables import channel_accounts
from wbo_tui.engine.upstream.gateway import TransferState
from wbo_tui.engine.upstream.simulator import SimulatedTransfer

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


async def account_numbers(engine: Engine) -> dict[int, str]:
    """Channel account id → account number (bank transfers name accounts by number)."""
    async with engine.db.connect() as conn:
        rows = await conn.execute(select(channel_accounts.c.id, channel_accounts.c.account_no))
        return {r.id: r.account_no for r in rows}


def check_exactly_once(rows: list[Any], transfers: list[SimulatedTransfer], accounts: dict[int, str], *,
                       settled: bool) -> None:
    """The allocations against the bank's ledger: every transfer is an attempt of one
    allocation with that allocation's body; an allocation is paid at most once across its
    attempts; succeeded ⇔ its current attempt SUCCEEDED; failed ⇔ its current attempt
    FAILED; earlier attempts failed; never-approved ones reached the bank not at all.
    ``settled``: nothing may still be processing or unknown."""
    by_key = {t.request.idempotency_key: t for t in transfers}
    assert len(by_key) == len(transfers), "the bank recorded one idempotency key twice"
    orders = {r.order_no: r for r in rows}
    for key, transfer in by_key.items():
        order_no, _, attempt = key.rpartition(".")
        row = orders.get(order_no)
        assert row is not None and 1 <= int(attempt) <= row.attempt, f"transfer {key} is no allocation's attempt"
        body = (accounts[row.from_account_id], accounts[row.to_account_id], row.currency, row.amount)
        request = transfer.request
        assert (request.from_account, request.to_account, request.currency, request.amount) == body, key
    for row in rows:
        states = [by_key[k].status.state if k in by_key else None
                  for k in (f"{row.order_no}.{n}" for n in range(1, row.attempt + 1))]
        *earlier, current = states
        where = f"{row.order_no} ({row.status}, attempts {states})"
        assert states.count(TransferState.SUCCEEDED) <= 1, f"paid twice: {where}"
        assert all(s in (None, TransferState.FAILED) for s in earlier), f"an earlier attempt moved money: {where}"
        if row.status == "succeeded":
            assert current is TransferState.SUCCEEDED, where
        elif row.status == "failed":
            assert current is TransferState.FAILED, where
        elif row.status in ("pending_approval", "rejected"):
            assert states == [None], f"reached the bank without approval: {where}"
        else:
            assert not settled, f"still {row.status} after recovery: {where}"
            assert current in (None, TransferState.SUCCEEDED, TransferState.FAILED), where

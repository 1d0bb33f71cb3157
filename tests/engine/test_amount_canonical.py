"""Amounts are stored in one canonical text (issue 10, point 9), on SQLite and PostgreSQL:
whatever form the operator typed (``100``, ``100.0``, ``1,000``), every entry point that
stores an amount stores it at exactly its currency's precision (HKD ``100`` as ``100.00``,
JPY ``1000.0`` as ``1000``), read back as the database holds it, not as a Decimal that
compares equal whatever its scale."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from allocations_support import POOL_NO, open_allocation_desk, rule_fields
from positions_support import CHANNEL, Desk
from sqlalchemy import String, cast, select

from wbo_tui.engine import Engine
from wbo_tui.engine.allocations import CreateAllocationRule, CreateManualAllocation, EditAllocationRule
from wbo_tui.engine.allocations.tables import allocation_rules, allocations
from wbo_tui.engine.money import Currency
from wbo_tui.engine.positions import CreateChannelAccount, RecordDeposit, SetThresholds, SubmitWithdrawal
from wbo_tui.engine.positions.tables import deposits, positions, withdrawals

JPY_ACCOUNTS = {  # name: (account number, scenario)
    "principal": ("JP-PRIN-001", "withdrawal_principal"),
    "fee": ("JP-FEE-001", "withdrawal_fee"),
    "deposit": ("JP-DEP-001", "deposit"),
    "pool": ("JP-POOL-001", "fund_pool"),
}
# Typed forms and the one text each must be stored as.
CASES = [
    pytest.param("HKD", "100", "100.00", id="HKD-100"),
    pytest.param("HKD", "1,234.5", "1234.50", id="HKD-1234.5"),
    pytest.param("JPY", "1000.0", "1000", id="JPY-1000.0"),
    pytest.param("JPY", "1,000", "1000", id="JPY-1,000"),
]


@pytest.fixture
async def desk(engine: Engine, tmp_path: Path):  # noqa: ANN201
    d = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    for name, (account_no, scenario) in JPY_ACCOUNTS.items():
        dto = await engine.execute(d.maker, CreateChannelAccount(
            channel=CHANNEL, currency_type="fiat", currency="JPY", account_no=account_no, scenario=scenario,
        ))
        d.accounts[f"jpy_{name}"] = dto.id
        await d.bank.set_balance(account_no, "JPY", Decimal("10000000"))
    await d.bank.set_balance(POOL_NO, "HKD", Decimal("10000000"))
    await engine.poll_positions(slot="test:canonical", holder="test")
    yield d
    await d.bank.aclose()


def ids(desk: Desk, currency: str) -> dict[str, int]:
    """The desk's accounts of one currency, by role."""
    if currency == "HKD":
        a = desk.accounts
        return {"principal": a["hkd_principal"], "fee": a["hkd_fee"], "deposit": a["hkd_deposit"],
                "pool": a["hkd_pool"]}
    return {name: desk.accounts[f"jpy_{name}"] for name in JPY_ACCOUNTS}


async def stored_text(engine: Engine, column: Any) -> list[str]:  # noqa: ANN401
    """The column's values as the database's own text (CAST to VARCHAR), in row order."""
    key = column.table.primary_key.columns.values()[0]
    async with engine.db.connect() as conn:
        rows = await conn.execute(select(cast(column, String)).where(column.is_not(None)).order_by(key))
        return [r[0] for r in rows]


def rule(desk: Desk, currency: str, amount: str) -> dict[str, Any]:
    acct = ids(desk, currency)
    return rule_fields(desk, currency=currency, from_account_id=acct["pool"], to_account_id=acct["principal"],
                       amount_rule="fixed", amount=amount)


EntryPoint = Callable[[Desk, str, str], Awaitable[list[str]]]


async def withdrawal_principal(desk: Desk, currency: str, typed: str) -> list[str]:
    await desk.engine.execute(desk.maker, SubmitWithdrawal(
        client_id="C-1", channel=CHANNEL, currency=currency, principal=typed, fee="0"))
    return await stored_text(desk.engine, withdrawals.c.principal)


async def withdrawal_fee(desk: Desk, currency: str, typed: str) -> list[str]:
    await desk.engine.execute(desk.maker, SubmitWithdrawal(
        client_id="C-1", channel=CHANNEL, currency=currency, principal="1", fee=typed))
    return await stored_text(desk.engine, withdrawals.c.fee)


async def deposit(desk: Desk, currency: str, typed: str) -> list[str]:
    await desk.engine.execute(desk.maker, RecordDeposit(
        client_id="C-1", channel_account_id=ids(desk, currency)["deposit"], amount=typed))
    return await stored_text(desk.engine, deposits.c.amount)


async def alert_threshold(desk: Desk, currency: str, typed: str) -> list[str]:
    await desk.engine.execute(desk.maker, SetThresholds(
        channel_account_id=ids(desk, currency)["principal"], threshold_alert=typed))
    return await stored_text(desk.engine, positions.c.threshold_alert)


async def blocking_threshold(desk: Desk, currency: str, typed: str) -> list[str]:
    await desk.engine.execute(desk.maker, SetThresholds(
        channel_account_id=ids(desk, currency)["principal"], threshold_blocking=typed))
    return await stored_text(desk.engine, positions.c.threshold_blocking)


async def manual_allocation(desk: Desk, currency: str, typed: str) -> list[str]:
    acct = ids(desk, currency)
    await desk.engine.execute(desk.maker, CreateManualAllocation(
        from_account_id=acct["pool"], to_account_id=acct["principal"], currency=currency, amount=typed,
        remarks="canonical text"))
    return await stored_text(desk.engine, allocations.c.amount)


async def rule_create(desk: Desk, currency: str, typed: str) -> list[str]:
    await desk.engine.execute(desk.maker, CreateAllocationRule(**rule(desk, currency, typed)))
    return await stored_text(desk.engine, allocation_rules.c.amount)


async def rule_edit(desk: Desk, currency: str, typed: str) -> list[str]:
    created = await desk.engine.execute(desk.maker, CreateAllocationRule(**rule(desk, currency, "7")))
    await desk.engine.execute(desk.maker, EditAllocationRule(**rule(desk, currency, typed), rule_id=created.id,
                                                             expected_version=created.version))
    return await stored_text(desk.engine, allocation_rules.c.amount)


ENTRY_POINTS = [withdrawal_principal, withdrawal_fee, deposit, alert_threshold, blocking_threshold,
                manual_allocation, rule_create, rule_edit]


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=[e.__name__ for e in ENTRY_POINTS])
@pytest.mark.parametrize(("currency", "typed", "expected"), CASES)
async def test_every_entry_point_stores_the_canonical_text(desk: Desk, entry: EntryPoint, currency: str,
                                                           typed: str, expected: str) -> None:
    assert await entry(desk, currency, typed) == [expected]


def test_canonical_adds_or_drops_zeros_and_never_a_digit_of_value() -> None:
    hkd = Currency("HKD", "Hong Kong Dollar", "fiat", 2, "ROUND_HALF_UP")
    jpy = Currency("JPY", "Japanese Yen", "fiat", 0, "ROUND_HALF_UP")
    assert format(hkd.canonical(Decimal("100")), "f") == "100.00"
    assert format(hkd.canonical(Decimal("-0.0")), "f") == "0.00"
    assert format(jpy.canonical(Decimal("1000.000")), "f") == "1000"
    assert format(jpy.canonical(Decimal("1E+3")), "f") == "1000"
    assert format(hkd.parse_amount("7", field="Amount"), "f") == "7.00"
    with pytest.raises(ValueError, match="more than 2 decimal places for HKD"):
        hkd.canonical(Decimal("0.001"))

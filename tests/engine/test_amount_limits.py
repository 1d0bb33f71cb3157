"""Each currency's maximum amount (issue 9, point 7), on SQLite and PostgreSQL: the maximum
itself is accepted and stored exactly in every amount field, one quantum more is refused
naming the field and changes nothing, the maximum configured in the currencies table is
the one enforced, and the largest id reaches the database without overflowing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from allocations_support import POOL_NO, open_allocation_desk, rule_fields
from engine_support import snapshot
from positions_support import CHANNEL, Desk
from sqlalchemy import select, update

from wbo_tui.engine import Engine, NotFound, ValidationFailed
from wbo_tui.engine.allocations import CreateAllocationRule, CreateManualAllocation, EditAllocationRule
from wbo_tui.engine.allocations.rules import GetAllocationRule
from wbo_tui.engine.allocations.tables import allocation_rules, allocations
from wbo_tui.engine.money import default_max_amount
from wbo_tui.engine.positions import RecordDeposit, SetThresholds, SubmitWithdrawal
from wbo_tui.engine.positions.tables import deposits, positions, withdrawals
from wbo_tui.engine.schema import currencies
from wbo_tui.engine.whole_numbers import INT32_MAX

HKD_MAX = Decimal("999999999999.99")
USDT_MAX = Decimal("999999999.999999")
HKD_OVER = "1,000,000,000,000.00"  # one cent more: below the engine's ceiling, above HKD's maximum


@pytest.fixture
async def desk(engine: Engine, tmp_path: Path):  # noqa: ANN201
    d = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    # The pool holds more than any allocation may move, so only the amount's bound is tested.
    await d.bank.set_balance(POOL_NO, "HKD", Decimal("5000000000000"))
    await engine.poll_positions(slot="test:rich", holder="test")
    yield d
    await d.bank.aclose()


def commands(desk: Desk, amount: object, rule_id: int = 0) -> list[tuple[str, Any]]:
    """One command per amount field, each carrying ``amount`` there, with the field's label
    as its handler names it."""
    acct = desk.accounts
    withdrawal = {"client_id": "C-1", "channel": CHANNEL, "currency": "HKD", "principal": "1", "fee": "0"}
    rule = rule_fields(desk, amount_rule="fixed", amount=amount, from_account_id=acct["hkd_pool"])
    out = [
        ("Principal amount", SubmitWithdrawal(**{**withdrawal, "principal": amount})),
        ("Fee", SubmitWithdrawal(**{**withdrawal, "fee": amount})),
        ("Amount", RecordDeposit(client_id="C-1", channel_account_id=acct["hkd_deposit"], amount=amount)),
        ("Alert threshold", SetThresholds(channel_account_id=acct["hkd_principal"], threshold_alert=amount)),
        ("Blocking threshold", SetThresholds(channel_account_id=acct["hkd_fee"], threshold_blocking=amount)),
        ("Amount", CreateManualAllocation(from_account_id=acct["hkd_pool"], to_account_id=acct["hkd_principal"],
                                          currency="HKD", amount=amount, remarks="limit test")),
        ("Amount", CreateAllocationRule(**rule)),
    ]
    if rule_id:
        out.append(("Amount", EditAllocationRule(**rule, rule_id=rule_id, expected_version=1)))
    return out


async def stored_amounts(engine: Engine) -> dict[str, list[Decimal | None]]:
    async with engine.db.connect() as conn:
        async def column(*cols: Any) -> list[Any]:  # noqa: ANN401
            rows = await conn.execute(select(*cols).order_by(cols[0].table.primary_key.columns.values()[0]))
            return [v for r in rows for v in r]
        return {
            "withdrawals": await column(withdrawals.c.principal, withdrawals.c.fee),
            "deposits": await column(deposits.c.amount),
            "thresholds": [v for v in await column(positions.c.threshold_alert, positions.c.threshold_blocking)
                           if v is not None],
            "allocations": await column(allocations.c.amount),
            "rules": await column(allocation_rules.c.amount),
        }


async def test_the_maximum_is_accepted_in_every_amount_field_and_stored_exactly(desk: Desk) -> None:
    engine = desk.engine
    for _, command in commands(desk, "999,999,999,999.99"):
        await engine.execute(desk.maker, command)
    await engine.execute(desk.maker, SetThresholds(channel_account_id=desk.accounts["usdt_principal"],
                                                   threshold_alert=USDT_MAX, threshold_blocking=USDT_MAX))
    stored = await stored_amounts(engine)
    assert stored == {
        "withdrawals": [HKD_MAX, Decimal("0"), Decimal("1"), HKD_MAX],
        "deposits": [HKD_MAX],
        "thresholds": [HKD_MAX, HKD_MAX, USDT_MAX, USDT_MAX],
        "allocations": [HKD_MAX],
        "rules": [HKD_MAX],
    }
    # Exactly: every digit and the scale, not a float's neighbour.
    assert {format(v, "f") for v in stored["deposits"] + stored["rules"]} == {"999999999999.99"}
    assert {format(v, "f") for v in stored["thresholds"][2:]} == {"999999999.999999"}


async def test_one_quantum_over_the_maximum_is_refused_naming_the_field(desk: Desk) -> None:
    engine = desk.engine
    rule = await engine.execute(desk.maker, CreateAllocationRule(**rule_fields(desk, amount_rule="fixed",
                                                                               amount="100")))
    before = await snapshot(engine)
    for label, command in commands(desk, HKD_OVER, rule_id=rule.id):
        with pytest.raises(ValidationFailed) as caught:
            await engine.execute(desk.maker, command)
        assert (caught.value.field, caught.value.rule) == (
            label, "must not exceed 999,999,999,999.99 HKD, the largest HKD amount this console accepts"), command
    assert await snapshot(engine) == before


async def set_max_amount(engine: Engine, code: str, value: Decimal | None) -> None:
    async with engine.db.connect() as conn:
        conn = await conn.execution_options(wbo_write=True)
        async with conn.begin():
            await conn.execute(update(currencies).where(currencies.c.code == code).values(max_amount=value))


async def test_the_maximum_configured_for_the_currency_is_the_one_enforced(desk: Desk) -> None:
    engine = desk.engine
    async with engine.db.connect() as conn:
        rows = (await conn.execute(select(currencies))).all()
    assert {r.code: r.max_amount for r in rows} == {r.code: default_max_amount(r.kind, r.amount_precision)
                                                    for r in rows}, "migration 0006 writes each kind's default"
    assert {r.code: r.max_amount for r in rows}["BTC"] == Decimal("999999999.99999999")

    await set_max_amount(engine, "HKD", Decimal("5000.00"))
    deposit = {"client_id": "C-1", "channel_account_id": desk.accounts["hkd_deposit"]}
    manual = {"from_account_id": desk.accounts["hkd_pool"], "to_account_id": desk.accounts["hkd_principal"],
              "currency": "HKD", "remarks": "limit test"}
    for command in (RecordDeposit(**deposit, amount="5000.01"), CreateManualAllocation(**manual, amount="5000.01")):
        with pytest.raises(ValidationFailed, match="must not exceed 5,000.00 HKD"):
            await engine.execute(desk.maker, command)
    await engine.execute(desk.maker, RecordDeposit(**deposit, amount="5000.00"))
    await engine.execute(desk.maker, CreateManualAllocation(**manual, amount="5000.00"))

    await set_max_amount(engine, "HKD", None)  # none configured: the default of its kind
    await engine.execute(desk.maker, RecordDeposit(**deposit, amount=HKD_MAX))
    with pytest.raises(ValidationFailed, match="must not exceed 999,999,999,999.99 HKD"):
        await engine.execute(desk.maker, RecordDeposit(**deposit, amount=HKD_OVER))


async def test_the_largest_id_reaches_the_database_and_is_simply_not_found(desk: Desk) -> None:
    """PostgreSQL's INTEGER holds 2^31 - 1: the id is looked up, not an overflow; one more
    is refused by the engine (it used to reach the driver and fail there)."""
    engine = desk.engine
    with pytest.raises(ValidationFailed, match="Channel account id must be a whole number from 1 to 2,147,483,647"):
        await engine.execute(desk.maker, SetThresholds(channel_account_id=INT32_MAX + 1, threshold_alert="1"))
    with pytest.raises(NotFound):
        await engine.execute(desk.maker, SetThresholds(channel_account_id=INT32_MAX, threshold_alert="1"))
    with pytest.raises(NotFound):
        await engine.query(desk.maker, GetAllocationRule(rule_id=INT32_MAX))
    with pytest.raises(ValidationFailed, match="2147483647 is not a configured channel account"):
        await engine.execute(desk.maker, RecordDeposit(client_id="C-1", channel_account_id=INT32_MAX, amount="1"))

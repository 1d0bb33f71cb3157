"""A Bank Exchange end to end on the simulated bank: the channel order sent after the
decision commits, settled once at the executed rate less the executed-rate markup, with
its profit and loss; a lost answer leaves it UNKNOWN until a status query settles it; a
failed order stays held, marked abnormal; two processes driving one order settle it once."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import fx_bank_workers
import pytest
from engine_support import REPO, login, new_operator, scalar

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine.fx import ClientCash, ListClients, SubmitClientExchange
from wbo_tui.engine.fx.bank import SimulatedBankChannel
from wbo_tui.engine.fx.channel_execution import drive_due
from wbo_tui.engine.fx.exchanges import GetClientExchange
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.passwords import fast_hasher

MONDAY_1730_HKT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # after pool hours: the bank serves small amounts
DESK = ("fx.customer_exchange_operation", "fx.customer_exchange_inquiry", "fx.client_inquiry")
GIVE_UP_S = 120


async def desk(engine: Engine, clock: FixedClock, tmp_path: Path):  # noqa: ANN201
    clock.set(MONDAY_1730_HKT)
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup", tmp_path)
    admin = await login(engine, "admin")
    return await new_operator(engine, admin, "fxbank", DESK)


def bank(tmp_path: Path) -> SimulatedBankChannel:
    return SimulatedBankChannel(str(tmp_path / "wbo-demo-fx-bank.sqlite"))


async def submit(engine: Engine, who, amount: str = "10000"):  # noqa: ANN001, ANN201
    client = (await engine.query(who, ListClients(search="C-100001")))[0].id
    return await engine.execute(who, SubmitClientExchange(client_id=client, from_currency="USD", to_currency="HKD",
                                                          amount=amount))


async def usd_hkd(engine: Engine, who, client_id: int) -> dict[str, tuple[Decimal, Decimal]]:  # noqa: ANN001
    detail = await engine.query(who, ClientCash(client_id=client_id))
    return {c.currency: (c.balance, c.withdrawable) for c in detail.cash}


async def test_a_bank_exchange_settles_once_at_the_executed_rate(engine: Engine, clock: FixedClock,
                                                                 tmp_path: Path) -> None:
    who = await desk(engine, clock, tmp_path)
    sent = await submit(engine, who, "10000")
    assert (sent.forex_status, sent.channel_name) == ("PROCESSING", "HSB")
    await engine.after_commit_idle()
    done = await engine.query(who, GetClientExchange(exchange_id=sent.id))
    # HSB fills USD/HKD at 7.8120; the executed-rate markup for 10,000 and up is 0.05 %:
    # 7.8120 × (1 − 0.05 %) = 7.808094 → 7.8080 (cut to 4 places); 10,000 × 7.8080.
    assert (done.forex_status, done.rate, done.to_amount) == ("SUCCEEDED", Decimal("7.8080"), Decimal("78080.00"))
    assert done.rate_steps.endswith("executed: markup 7.8120 × (1 − 0.05 %) = 7.8080 (cut to 4 places)")
    assert await usd_hkd(engine, who, done.client.id) == {
        "HKD": (Decimal("328080.00"), Decimal("328080.00")), "USD": (Decimal("2000.00"), Decimal("2000.00"))}
    pnl = await scalar(engine, "SELECT profit_loss FROM fx_profit_loss WHERE forex_id = :f", f=done.forex_id)
    assert Decimal(str(pnl)) == Decimal("40.00")  # the bank paid 78,120.00; the client got 78,080.00
    # Driving again changes nothing: the order is settled.
    await drive_due(engine)
    assert await scalar(engine, "SELECT count(*) FROM client_cash_movements WHERE ref = :f", f=done.forex_id) == 2
    channel = bank(tmp_path)
    try:
        assert len(await channel.orders()) == 1
    finally:
        await channel.close()


async def test_a_lost_answer_is_settled_by_asking_never_by_sending_again(engine: Engine, clock: FixedClock,
                                                                         tmp_path: Path) -> None:
    who = await desk(engine, clock, tmp_path)
    channel = bank(tmp_path)
    try:
        await channel.timeout_next(1)
        sent = await submit(engine, who)
        await engine.after_commit_idle()
        assert (await engine.query(who, GetClientExchange(exchange_id=sent.id))).forex_status == "UNKNOWN"
        clock.advance(seconds=6)
        await drive_due(engine)
        done = await engine.query(who, GetClientExchange(exchange_id=sent.id))
        assert done.forex_status == "SUCCEEDED"
        assert [o.order.order_id for o in await channel.orders()] == [await scalar(
            engine, "SELECT order_no FROM fx_channel_orders WHERE forex_id = :f", f=sent.forex_id)]
    finally:
        await channel.close()


async def test_a_failed_order_keeps_the_hold_and_is_marked_abnormal(engine: Engine, clock: FixedClock,
                                                                    tmp_path: Path) -> None:
    who = await desk(engine, clock, tmp_path)
    channel = bank(tmp_path)
    try:
        await channel.fail_next(1, "insufficient liquidity")
        sent = await submit(engine, who, "1000")
        await engine.after_commit_idle()
    finally:
        await channel.close()
    still = await engine.query(who, GetClientExchange(exchange_id=sent.id))
    assert still.forex_status == "PROCESSING"
    assert await scalar(engine, "SELECT abnormal FROM fx_channel_orders WHERE forex_id = :f", f=sent.forex_id) in (
        1, True)
    assert (await usd_hkd(engine, who, still.client.id))["USD"] == (Decimal("12000.00"), Decimal("11000.00"))


async def test_closing_the_engine_closes_its_bank_channel_gateways(engine: Engine, clock: FixedClock,
                                                                   tmp_path: Path, db_url: str) -> None:
    who = await desk(engine, clock, tmp_path)
    channel = bank(tmp_path)
    try:
        await channel.down(True)  # the first send fails: the order waits for the passes
        await submit(engine, who)
        await engine.after_commit_idle()
    finally:
        await channel.close()
    console = await Engine.open(db_url, clock=clock, hasher=fast_hasher())
    clock.advance(seconds=6)
    await drive_due(console)  # builds its gateway to the order's channel (still down)
    (gateway,) = console.fx_bank_gateways.built.values()
    await console.close()
    assert console.fx_bank_gateways.built == {}
    with pytest.raises(RuntimeError, match="is closed"):
        await gateway.orders()  # its store connection went with the engine


@pytest.mark.slow
async def test_two_processes_driving_one_order_settle_it_once(engine: Engine, clock: FixedClock, tmp_path: Path,
                                                              db_url: str) -> None:
    who = await desk(engine, clock, tmp_path)
    channel = bank(tmp_path)
    try:
        await channel.down(True)  # the first send fails: the order waits for the passes
        sent = await submit(engine, who)
        await engine.after_commit_idle()
        await channel.down(False)
    finally:
        await channel.close()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=fx_bank_workers.drive, args=(db_url, MONDAY_1730_HKT.isoformat()), daemon=True)
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(GIVE_UP_S)
        assert w.exitcode == 0
    done = await engine.query(who, GetClientExchange(exchange_id=sent.id))
    assert done.forex_status == "SUCCEEDED"
    assert await scalar(engine, "SELECT count(*) FROM client_cash_movements WHERE ref = :f", f=sent.forex_id) == 2
    assert await scalar(engine, "SELECT count(*) FROM fx_profit_loss WHERE forex_id = :f", f=sent.forex_id) == 1

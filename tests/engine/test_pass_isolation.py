"""One bad item never stops a scheduled pass (issue 9, point 2).

Beside the healthy simulated bank sit a poisoned channel (a simulated bank whose store
cannot be opened) and a garbling one (an HTTP channel whose every answer is a body that
is not the gzip its header says).  One allocation pass and one poll pass complete the
healthy channel's work, write each bad item's error where the operator sees it (the
allocation record's failure reason, the position's poll error, the explain view), and
try the bad items again only after a growing back-off.  Two console processes running
passes beside a poisoned channel pay each healthy allocation exactly once."""

from __future__ import annotations

import json

import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import allocations_workers
import pytest
from allocations_support import account_numbers, allocation_rows, check_exactly_once, create_rule, open_allocation_desk
from engine_support import execute_raw, scalar
from positions_support import CHANNEL, Desk

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine.allocations import ExplainTriggers, GetAllocation
from wbo_tui.engine.positions import CreateChannelAccount, ListPositions, RegisterSettlementChannel, SubmitWithdrawal
from wbo_tui.engine.positions.polling import slot_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "upstream"))  # the garbling channel
from garbling_server import GarblingServer  # noqa: E402

POISONED = "settlement_poisoned"
GARBLED = "settlement_garbled"
INTERVAL_S = 300


@pytest.fixture
def garbler() -> Iterator[GarblingServer]:
    with GarblingServer("gzip") as server:
        yield server


def poisoned_store(tmp_path: Path) -> dict[str, Any]:
    """A simulated bank in a folder that does not exist: every call fails to open it."""
    return {"kind": "simulated", "store": str(tmp_path / "no-such-folder" / "bank.sqlite")}


async def add_channel(desk: Desk, code: str, gateway: dict[str, Any], prefix: str) -> dict[str, int]:
    """A channel with an HKD fund pool, withdrawal principal and fee account (ids by scenario)."""
    await desk.engine.execute(desk.maker, RegisterSettlementChannel(code=code, name=code, gateway=gateway))
    accounts = {}
    for scenario, name in (("fund_pool", "POOL"), ("withdrawal_principal", "PRIN"), ("withdrawal_fee", "FEE")):
        dto = await desk.engine.execute(desk.maker, CreateChannelAccount(
            channel=code, currency_type="fiat", currency="HKD", account_no=f"{prefix}-{name}-001", scenario=scenario))
        accounts[scenario] = dto.id
    return accounts


async def bad_channels(desk: Desk, tmp_path: Path, garbler: GarblingServer) -> tuple[dict[str, int], dict[str, int]]:
    poisoned = await add_channel(desk, POISONED, poisoned_store(tmp_path), "PZ")
    garbled = await add_channel(desk, GARBLED, {"kind": "http", "base_url": garbler.base_url, "timeout_s": 5}, "GB")
    return poisoned, garbled


async def fee_float(desk: Desk, name: str, pool: int, fee: int) -> None:
    """1 HKD from the pool to the fee account, daily at 17:35 Hong Kong time (09:35 UTC)."""
    await create_rule(desk, name=name, from_account_id=pool, to_account_id=fee, scenario="withdrawal_fee",
                      trigger_kind="schedule", event_kind=None, schedule_kind="daily", schedule_time="17:35",
                      amount_rule="fixed", amount=Decimal(1))


# --- one allocation pass ------------------------------------------------------------------


async def test_an_allocation_pass_completes_the_healthy_and_backs_off_the_bad(
    engine: Engine, clock: FixedClock, tmp_path: Path, garbler: GarblingServer
) -> None:
    desk = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    poisoned, garbled = await bad_channels(desk, tmp_path, garbler)
    # The bad ones first: their allocations come first in every pass.
    await fee_float(desk, "Poisoned float", poisoned["fund_pool"], poisoned["withdrawal_fee"])
    await fee_float(desk, "Garbled float", garbled["fund_pool"], garbled["withdrawal_fee"])
    await fee_float(desk, "Healthy float", desk.accounts["hkd_pool"], desk.accounts["hkd_fee"])
    await engine.run_allocations()  # the schedules count from now (09:30 UTC)
    clock.advance(minutes=10)

    report = await engine.run_allocations()

    assert report.fires == 3 and report.allocations == 3
    assert report.driven == {"error": 1, "unknown": 1, "succeeded": 1}
    rows = {r.from_account_id: r for r in await allocation_rows(engine)}
    healthy = rows[desk.accounts["hkd_pool"]]
    assert healthy.status == "succeeded"
    assert [(t.request.amount, t.status.state.value) for t in await desk.bank.transfers()] == [(1, "SUCCEEDED")]

    async def shown(account_id: int) -> Any:  # what Allocations → Records shows
        return await engine.query(desk.checker, GetAllocation(order_no=rows[account_id].order_no))

    stuck = await shown(poisoned["fund_pool"])
    assert stuck.status == "processing"
    assert "unable to open database file" in stuck.failure_reason
    assert "Next attempt after 2026-11-20 09:40:05 UTC." in stuck.failure_reason
    lost = await shown(garbled["fund_pool"])
    assert lost.status == "unknown" and "query" in lost.failure_reason
    assert garbler.received() == 1  # the one submit; its answer is resolved by asking, never by resubmitting

    # Not due yet: the next pass leaves them alone.
    assert (await engine.run_allocations()).driven == {}
    clock.advance(seconds=5)
    again = await engine.run_allocations()
    assert again.driven == {"error": 1, "retrying": 1}
    assert (garbler.received("submit"), garbler.received("status")) == (1, 1)
    stuck, lost = await shown(poisoned["fund_pool"]), await shown(garbled["fund_pool"])
    assert "Next attempt after 2026-11-20 09:40:15 UTC (2 failed in a row)." in stuck.failure_reason
    assert lost.status == "unknown" and "Next attempt after 2026-11-20 09:40:15 UTC" in lost.failure_reason
    # The wait doubles: 5 s later they are still not due.
    clock.advance(seconds=5)
    assert (await engine.run_allocations()).driven == {}
    assert garbler.received() == 2
    assert await scalar(engine, "SELECT count(*) FROM allocations WHERE status = 'succeeded'") == 1


# --- one poll pass ------------------------------------------------------------------------


async def test_a_poll_records_the_healthy_channel_and_backs_off_the_bad_ones(
    engine: Engine, clock: FixedClock, tmp_path: Path, garbler: GarblingServer
) -> None:
    desk = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    await bad_channels(desk, tmp_path, garbler)

    report = await engine.poll_positions(slot=slot_for(clock.now(), INTERVAL_S), holder="test")

    assert report.polled and report.failed_channels == (GARBLED, POISONED)
    assert (report.accounts_ok, report.accounts_failed) == (6, 6)
    page = await engine.query(desk.checker, ListPositions(limit=100))  # what the positions table shows
    by_channel: dict[str, list[Any]] = {}
    for p in page.rows:
        by_channel.setdefault(p.channel, []).append(p)
    assert {p.poll_status for p in by_channel[CHANNEL]} == {"OK"}
    for code, why in ((POISONED, "unable to open database file"), (GARBLED, "unreadable answer")):
        assert [p.poll_status for p in by_channel[code]] == ["FAILED"] * 3
        for p in by_channel[code]:
            assert why in p.poll_error and f"Next scheduled poll of {code} after 2026-11-20 09:31 UTC." in p.poll_error
    assert garbler.received("balances") == 1

    # The first wait (a minute) is over by the next slot; after a second failure it is ten.
    clock.advance(seconds=INTERVAL_S)
    second = await engine.poll_positions(slot=slot_for(clock.now(), INTERVAL_S), holder="test")
    assert second.failed_channels == (GARBLED, POISONED) and garbler.received("balances") == 2
    clock.advance(seconds=INTERVAL_S)
    third = await engine.poll_positions(slot=slot_for(clock.now(), INTERVAL_S), holder="test")
    assert third.deferred_channels == (GARBLED, POISONED) and third.failed_channels == ()
    assert (third.accounts_ok, third.accounts_failed) == (6, 0)
    assert garbler.received("balances") == 2
    # A manual refresh asks every channel, backing off or not.
    await engine.poll_positions(slot="manual:test", holder="test")
    assert garbler.received("balances") == 3


# --- an event that cannot be decided ------------------------------------------------------


async def test_an_event_that_cannot_be_decided_waits_with_its_error_and_the_others_go_on(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    desk = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    await create_rule(desk)  # top up the principal account by each withdrawal's principal
    for n in (1, 2, 3):
        await engine.execute(desk.maker, SubmitWithdrawal(
            client_id=f"C-{n}", channel=CHANNEL, currency="HKD", principal=Decimal(n), fee=Decimal(0)))
    bad = await scalar(engine, "SELECT min(id) FROM domain_events WHERE kind = 'withdrawal.submitted.principal'")
    good_payload = await scalar(engine, "SELECT payload FROM domain_events WHERE id = :id", id=bad)
    # Written by an older release or by hand: an amount that is not a number.
    broken = json.loads(good_payload)
    assert broken["amount"] == "1.00"  # stored canonical, at the currency's precision
    broken["amount"] = "one"
    await execute_raw(engine, "UPDATE domain_events SET payload = :p WHERE id = :id",
                      p=json.dumps(broken, separators=(",", ":")), id=bad)

    report = await engine.run_allocations()

    assert (report.events, report.allocations) == (2, 2)
    assert report.driven == {"succeeded": 2} and len(report.failures) == 1
    (shown,) = await engine.query(desk.checker, ExplainTriggers(event_id=bad))
    assert shown.outcome == "error" and shown.allocation_order_no is None
    assert "InvalidOperation" in shown.explanation["error"] and shown.explanation["failures"] == 1

    clock.advance(seconds=30)
    await engine.run_allocations()  # tried again, failed again: waits longer
    (shown,) = await engine.query(desk.checker, ExplainTriggers(event_id=bad))
    assert shown.explanation["failures"] == 2

    await execute_raw(engine, "UPDATE domain_events SET payload = :p WHERE id = :id", p=good_payload, id=bad)
    clock.advance(seconds=60)
    assert (await engine.run_allocations()).events == 0  # two minutes after the second failure, not one
    clock.advance(seconds=60)
    report = await engine.run_allocations()
    assert (report.events, report.allocations, report.driven) == (1, 1, {"succeeded": 1})
    (shown,) = await engine.query(desk.checker, ExplainTriggers(event_id=bad))
    assert shown.outcome == "allocated" and shown.allocation_order_no is not None
    rows = await allocation_rows(engine)
    assert sorted(r.amount for r in rows) == [1, 2, 3]
    check_exactly_once(rows, await desk.bank.transfers(), await account_numbers(engine), settled=True)


async def test_a_schedule_that_cannot_be_read_waits_with_its_error_and_the_other_rules_fire(
    engine: Engine, clock: FixedClock, tmp_path: Path
) -> None:
    desk = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    await create_rule(desk, name="Weekly principal float", to_account_id=desk.accounts["hkd_principal"],
                      scenario="withdrawal_principal", trigger_kind="schedule", event_kind=None,
                      schedule_kind="weekly", schedule_days=("FRI",), schedule_time="17:35", amount_rule="fixed",
                      amount=Decimal(2))
    bad = await scalar(engine, "SELECT max(id) FROM allocation_rules")
    await fee_float(desk, "Healthy float", desk.accounts["hkd_pool"], desk.accounts["hkd_fee"])
    await engine.run_allocations()  # the schedules count from now (Friday 09:30 UTC)
    # A row damaged outside the console: its weekdays no longer parse.
    await execute_raw(engine, "UPDATE allocation_rules SET schedule_days = 'FRIDAY' WHERE id = :id", id=bad)
    clock.advance(minutes=10)

    report = await engine.run_allocations()

    assert (report.fires, report.allocations, report.driven) == (1, 1, {"succeeded": 1})
    assert len(report.failures) == 1 and f"rule {bad}" in report.failures[0]
    (shown,) = await engine.query(desk.checker, ExplainTriggers(rule_id=bad))
    assert shown.outcome == "error" and shown.trigger_key == f"schedule-rule:{bad}"
    assert shown.explanation["considered"][0]["verdict"] == "error"
    assert "ValueError" in shown.explanation["error"]

    await execute_raw(engine, "UPDATE allocation_rules SET schedule_days = 'FRI' WHERE id = :id", id=bad)
    assert (await engine.run_allocations()).fires == 0  # backing off for 30 s
    clock.advance(seconds=30)
    report = await engine.run_allocations()
    # Its cursor never moved: the fire time it could not read is decided now.
    assert (report.fires, report.allocations, report.driven) == (1, 1, {"succeeded": 1})
    shown_now = await engine.query(desk.checker, ExplainTriggers(rule_id=bad))
    assert [t.outcome for t in shown_now] == ["allocated"]
    assert sorted(r.amount for r in await allocation_rows(engine)) == [1, 2]


# --- two consoles beside a poisoned channel -----------------------------------------------

CONSOLES = 2
WITHDRAWALS = 10


@pytest.mark.slow
async def test_two_consoles_beside_a_poisoned_channel_pay_the_healthy_exactly_once(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    desk = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    poisoned = await add_channel(desk, POISONED, poisoned_store(tmp_path), "PZ")
    await create_rule(desk, name="Poisoned top-up", from_account_id=poisoned["fund_pool"],
                      to_account_id=poisoned["withdrawal_principal"])
    await create_rule(desk)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    go = [ctx.Queue() for _ in range(CONSOLES)]
    consoles = [ctx.Process(target=allocations_workers.run_console, args=(db_url, f"console{i}", results, go[i]),
                            daemon=True) for i in range(CONSOLES)]
    for process in consoles:
        process.start()
    ready = [results.get(timeout=120) for _ in consoles]
    assert [r[1] for r in ready] == ["ready"] * CONSOLES, ready
    stop_at = time.time() + 8
    for queue in go:
        queue.put(stop_at)
    # Each healthy withdrawal follows a poisoned one: every pass meets a poisoned
    # allocation before the healthy ones.
    for i in range(WITHDRAWALS):
        for channel in (POISONED, CHANNEL):
            await engine.execute(desk.maker, SubmitWithdrawal(
                client_id=f"C-{i}", channel=channel, currency="HKD", principal=Decimal(10 + i), fee=Decimal(0)))
    outcomes = [results.get(timeout=stop_at - time.time() + 60) for _ in consoles]
    for process in consoles:
        process.join(timeout=30)
    assert [o[1] for o in outcomes] == ["ok"] * CONSOLES, outcomes

    rows = await allocation_rows(engine)
    numbers = await account_numbers(engine)
    healthy = [r for r in rows if r.from_account_id == desk.accounts["hkd_pool"]]
    stuck = [r for r in rows if r.from_account_id == poisoned["fund_pool"]]
    assert len(healthy) == len(stuck) == WITHDRAWALS
    assert Counter(r.status for r in healthy) == {"succeeded": WITHDRAWALS}
    check_exactly_once(healthy, await desk.bank.transfers(), numbers, settled=True)
    assert await desk.bank.request_count("submit") == WITHDRAWALS  # each healthy one sent once
    for row in stuck:
        assert row.status == "processing" and row.step_failures >= 1, row
        assert "unable to open database file" in row.failure_reason
    desk.bank.close()

"""An engine on its own loop (``Engine.open(…, own_loop=True)``, as the console opens it):
every call runs on the engine's thread, and a checker's approval returns once its
decision commits while the transfer waits for a slow HTTP channel on loopback; the
outcome lands afterwards, exactly once, and survives the engine closing mid-transfer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from allocations_support import POOL_NO, allocation_rows
from engine_support import DEMO_DATA, login
from positions_support import ACCOUNTS, CHANNEL

from wbo_tui.engine import ApproveItem, Engine, FixedClock, SequentialIds, seed
from wbo_tui.engine.allocations import CreateManualAllocation
from wbo_tui.engine.allocations.execution import LEASE
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.positions import CreateChannelAccount, RegisterSettlementChannel
from wbo_tui.engine.upstream import SimulatedUpstream, UpstreamHttpServer


class GatedBank:
    """The simulated bank, except that a transfer's answer waits until ``gate`` opens: a
    channel as slow as the test needs, with no timing in the test."""

    def __init__(self, bank: SimulatedUpstream) -> None:
        self.bank = bank
        self.gate = threading.Event()
        self.clock = bank.clock

    async def fetch_balances(self, account_nos: Any) -> Any:
        return await self.bank.fetch_balances(account_nos)

    async def transfer_status(self, key: str) -> Any:
        await asyncio.to_thread(self.gate.wait)
        return await self.bank.transfer_status(key)

    async def submit_transfer(self, request: Any) -> Any:
        await asyncio.to_thread(self.gate.wait)
        return await self.bank.submit_transfer(request)

    async def aclose(self) -> None:
        self.gate.set()


@pytest.fixture
async def looped(db_url: str, clock: FixedClock) -> AsyncIterator[Engine]:
    eng = await Engine.open(db_url, clock=clock, ids=SequentialIds(), hasher=fast_hasher(), own_loop=True)
    try:
        await eng.call(seed.seed, eng, seed.load(DEMO_DATA))
        yield eng
    finally:
        await eng.close()


@pytest.fixture
def channel(tmp_path: Path, clock: FixedClock) -> Any:
    served = SimulatedUpstream(tmp_path / "bank.sqlite", clock=clock)
    served.open()
    gated = GatedBank(served)
    with UpstreamHttpServer(gated) as server:  # type: ignore[arg-type]
        yield server, gated
        gated.gate.set()
    served.close()


async def _pending_allocation(engine: Engine, server: UpstreamHttpServer, bank: SimulatedUpstream) -> Any:
    maker = await login(engine, "maker")
    await engine.execute(maker, RegisterSettlementChannel(
        code=CHANNEL, name="HashKey HK over HTTP", gateway={"kind": "http", "base_url": server.base_url,
                                                            "timeout_s": 30}))
    ids = {}
    for name, (ctype, currency, account_no, scenario) in ACCOUNTS.items():
        ids[name] = (await engine.execute(maker, CreateChannelAccount(
            channel=CHANNEL, currency_type=ctype, currency=currency, account_no=account_no, scenario=scenario))).id
    ids["pool"] = (await engine.execute(maker, CreateChannelAccount(
        channel=CHANNEL, currency_type="fiat", currency="HKD", account_no=POOL_NO, scenario="fund_pool"))).id
    for _, currency, account_no, _ in ACCOUNTS.values():
        await bank.set_balance(account_no, currency, Decimal("1000"))
    await bank.set_balance(POOL_NO, "HKD", Decimal("50000"))
    await engine.poll_positions(slot="test:initial", holder="test")
    return await engine.execute(maker, CreateManualAllocation(
        from_account_id=ids["pool"], to_account_id=ids["hkd_fee"], currency="HKD", amount=Decimal("1234.56"),
        remarks="Pre-fund fees"))


async def _until(condition: Any, what: str) -> None:
    for _ in range(2000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_calls_run_on_the_engines_own_thread(looped: Engine) -> None:
    seen: list[str] = []

    async def where() -> None:
        seen.append(threading.current_thread().name)

    await looped.call(where)
    assert seen == ["wbo-engine"] and threading.current_thread().name != "wbo-engine"
    session = await login(looped, "checker")
    assert session.username == "checker"


async def test_approve_returns_before_a_slow_channel_answers_and_the_outcome_lands_once(
        looped: Engine, channel: Any) -> None:
    server, gated = channel
    created = await _pending_allocation(looped, server, gated.bank)
    checker = await login(looped, "checker")

    decided = await looped.execute(checker, ApproveItem(approval_id=created.approval_id))

    # The decision is committed and the checker has the answer while the channel still
    # holds the transfer: nothing is paid yet.
    assert decided.status == "APPROVED"
    [row] = await looped.call(allocation_rows, looped)
    assert (row.status, row.checker, row.failure_reason) == ("processing", "checker", None)
    await _until(lambda: _received(server, "submit"), "the transfer to reach the channel")
    assert await gated.bank.transfers() == []

    gated.gate.set()
    await looped.after_commit_idle()
    [row] = await looped.call(allocation_rows, looped)
    assert (row.status, row.claimed_by) == ("succeeded", None)
    [paid] = await gated.bank.transfers()
    assert (paid.request.idempotency_key, paid.request.amount) == (row.attempt_key, Decimal("1234.56"))
    # A later pass finds nothing to do: exactly one submission, one transfer.
    await looped.run_allocations()
    assert server.received("submit") == 1 and len(await gated.bank.transfers()) == 1


async def test_a_transfer_cut_off_by_closing_is_finished_once_by_the_next_pass(
        db_url: str, clock: FixedClock, channel: Any) -> None:
    server, gated = channel
    first = await Engine.open(db_url, clock=clock, ids=SequentialIds(), hasher=fast_hasher(), own_loop=True)
    try:
        await first.call(seed.seed, first, seed.load(DEMO_DATA))
        created = await _pending_allocation(first, server, gated.bank)
        await first.execute(await login(first, "checker"), ApproveItem(approval_id=created.approval_id))
        await _until(lambda: _received(server, "submit"), "the transfer to reach the channel")
        first.AFTER_COMMIT_DRAIN_S = 0.2  # the console closes while the channel still holds the answer
    finally:
        await first.close()
    [row] = await _rows(db_url, clock)
    assert (row.status, row.claimed_by is not None) == ("processing", True)

    gated.gate.set()  # the channel carries out what it received
    clock.advance(seconds=(LEASE + timedelta(seconds=1)).total_seconds())
    again = await Engine.open(db_url, clock=clock, ids=SequentialIds(), hasher=fast_hasher(), own_loop=True)
    try:
        await again.run_allocations()
        [row] = await again.call(allocation_rows, again)
    finally:
        await again.close()
    assert row.status == "succeeded"
    transfers = await gated.bank.transfers()
    assert [t.request.idempotency_key for t in transfers] == [row.attempt_key]


async def _received(server: UpstreamHttpServer, endpoint: Any) -> bool:
    return server.received(endpoint) > 0


async def _rows(db_url: str, clock: FixedClock) -> list[Any]:
    engine = await Engine.open(db_url, clock=clock, hasher=fast_hasher())
    try:
        return await allocation_rows(engine)
    finally:
        await engine.close()

"""The simulated settlement channel, in process: balances, transfers, idempotency,
settlement after a delay, and every injected failure."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from upstream_support import START

from wbo_tui.engine.clock import FixedClock
from wbo_tui.engine.upstream import (
    IdempotencyConflict,
    ReasonCode,
    SimulatedUpstream,
    TransferRequest,
    TransferState,
    UnknownAccounts,
    UpstreamBalance,
    UpstreamGateway,
    UpstreamTimeout,
    UpstreamUnavailable,
)

D = Decimal


def transfer(key: str, amount: str, source: str = "HK-001", destination: str = "HK-002", currency: str = "HKD"):
    return TransferRequest(key, source, destination, currency, D(amount))


async def funded(sim: SimulatedUpstream, hkd: str = "1000.00") -> None:
    await sim.set_balances([("HK-001", "HKD", D(hkd)), ("HK-002", "HKD", D("0")), ("HK-002", "USD", D("5.5"))])


async def available(sim: SimulatedUpstream, account: str, currency: str = "HKD") -> Decimal:
    balance = await sim.balance(account, currency)
    assert balance is not None
    return balance.available


# --- balances ---------------------------------------------------------------------------


async def test_simulator_is_a_gateway(sim: SimulatedUpstream) -> None:
    assert isinstance(sim, UpstreamGateway)


async def test_balances_of_many_accounts_in_one_call(sim: SimulatedUpstream) -> None:
    accounts = [f"CH-{i:03d}" for i in range(200)]
    currencies = [f"C{j:02d}" for j in range(20)]
    await sim.set_balances([(a, c, D(f"{i}.{j:02d}")) for i, a in enumerate(accounts) for j, c in enumerate(currencies)])

    balances = await sim.fetch_balances(accounts)

    assert len(balances) == 4000
    assert await sim.request_count("balances") == 1  # one call, not one per account
    assert [(b.account_no, b.currency) for b in balances] == sorted((a, c) for a in accounts for c in currencies)
    by_key = {(b.account_no, b.currency): b for b in balances}
    assert by_key[("CH-137", "C05")].available == D("137.05")
    assert all(isinstance(b.available, Decimal) and b.in_transit == 0 and b.total == b.available for b in balances)
    assert {b.as_of for b in balances} == {START}


async def test_balance_values_are_exact_decimals(sim: SimulatedUpstream) -> None:
    big = D("123456789012345678901234567890.123456789012345678")
    await sim.set_balance("BTC-1", "BTC", big)
    await sim.credit("BTC-1", "BTC", D("0.000000000000000001"))

    [balance] = await sim.fetch_balances(["BTC-1"])

    assert balance.available == D("123456789012345678901234567890.123456789012345679")


async def test_known_account_without_currencies_has_no_rows(sim: SimulatedUpstream) -> None:
    await sim.open_account("EMPTY-1")
    assert await sim.fetch_balances(["EMPTY-1"]) == []


async def test_unknown_accounts_are_named_and_known_balances_kept(sim: SimulatedUpstream) -> None:
    await funded(sim)

    with pytest.raises(UnknownAccounts) as raised:
        await sim.fetch_balances(["HK-001", "NOPE-2", "NOPE-1"])

    assert raised.value.account_nos == ("NOPE-1", "NOPE-2")
    assert [(b.account_no, b.currency, b.available) for b in raised.value.balances] == [
        ("HK-001", "HKD", D("1000.00"))
    ]
    assert await sim.request_count("balances", outcome="unknown_accounts") == 1


async def test_deposit_credit_adds_to_available(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.credit("HK-002", "HKD", D("12.34"))
    await sim.credit("NEW-1", "EUR", D("1"))

    assert await available(sim, "HK-002") == D("12.34")
    assert await available(sim, "NEW-1", "EUR") == D("1")
    with pytest.raises(ValueError):
        await sim.credit("HK-002", "HKD", D("0"))
    with pytest.raises(TypeError):
        await sim.credit("HK-002", "HKD", 1.5)  # type: ignore[arg-type]


def test_balance_invariant_is_asserted_at_the_boundary() -> None:
    with pytest.raises(ValueError, match="total"):
        UpstreamBalance("A", "HKD", D("1"), D("1"), D("3"), START)
    with pytest.raises(TypeError):
        UpstreamBalance("A", "HKD", 1.0, D("0"), D("1"), START)  # type: ignore[arg-type]


# --- transfers --------------------------------------------------------------------------


async def test_transfer_settles_at_once_and_conserves_money(sim: SimulatedUpstream) -> None:
    await funded(sim)
    before = await sim.totals()

    status = await sim.submit_transfer(transfer("K-1", "250.25"))

    assert status.state is TransferState.SUCCEEDED
    assert status.transfer_ref == "SIM-00000001"
    assert status.updated_at == START
    assert await available(sim, "HK-001") == D("749.75")
    assert await available(sim, "HK-002") == D("250.25")
    assert await sim.totals() == before


async def test_transfer_creates_the_destination_currency_row(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.set_balance("HK-001", "USD", D("10"))
    await sim.submit_transfer(transfer("K-1", "3", source="HK-001", destination="HK-002", currency="USD"))
    assert await available(sim, "HK-002", "USD") == D("8.5")


async def test_insufficient_funds_fails_and_moves_nothing(sim: SimulatedUpstream) -> None:
    await funded(sim, hkd="100")

    status = await sim.submit_transfer(transfer("K-1", "100.01"))

    assert status.state is TransferState.FAILED
    assert status.reason_code is ReasonCode.INSUFFICIENT_FUNDS
    assert "HK-001" in (status.reason or "")
    assert await available(sim, "HK-001") == D("100")
    # The failure is recorded under its key: asking again gives the same answer.
    assert (await sim.transfer_status("K-1")).state is TransferState.FAILED


async def test_transfer_to_an_unknown_account_fails(sim: SimulatedUpstream) -> None:
    await funded(sim)
    status = await sim.submit_transfer(transfer("K-1", "1", destination="NOWHERE"))
    assert status.state is TransferState.FAILED
    assert status.reason_code is ReasonCode.UNKNOWN_ACCOUNT
    assert await available(sim, "HK-001") == D("1000.00")


def test_transfer_request_refuses_what_cannot_be_a_transfer() -> None:
    with pytest.raises(TypeError):
        TransferRequest("K", "A", "B", "HKD", 1.5)  # type: ignore[arg-type]
    for bad in [("K", "A", "B", "HKD", D("0")), ("K", "A", "A", "HKD", D("1")), ("K K", "A", "B", "HKD", D("1"))]:
        with pytest.raises(ValueError):
            TransferRequest(*bad)
    with pytest.raises(ValueError):
        TransferRequest("K", "A", "B", "hkd", D("1"))


# --- idempotency ------------------------------------------------------------------------


async def test_same_key_twice_is_one_transfer(sim: SimulatedUpstream) -> None:
    await funded(sim)

    first = await sim.submit_transfer(transfer("K-1", "100"))
    again = await sim.submit_transfer(transfer("K-1", "100.00"))  # the same amount, written otherwise

    assert again == first
    assert len(await sim.transfers()) == 1
    assert await available(sim, "HK-001") == D("900.00")
    assert await sim.request_count("submit", outcome="accepted") == 1
    assert await sim.request_count("submit", outcome="replayed") == 1


async def test_same_key_with_another_body_is_refused(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.submit_transfer(transfer("K-1", "100"))

    for other in (transfer("K-1", "101"), transfer("K-1", "100", destination="HK-003"), transfer("K-1", "100", currency="USD")):
        with pytest.raises(IdempotencyConflict) as raised:
            await sim.submit_transfer(other)
        assert raised.value.idempotency_key == "K-1"

    assert len(await sim.transfers()) == 1
    assert await available(sim, "HK-001") == D("900")


async def test_calls_refuse_malformed_arguments(sim: SimulatedUpstream) -> None:
    with pytest.raises(TypeError):
        await sim.fetch_balances("HK-001")  # one string is not a list of accounts
    with pytest.raises(ValueError):
        await sim.transfer_status("not a key")
    assert await sim.request_count() == 0


async def test_status_distinguishes_never_received(sim: SimulatedUpstream) -> None:
    status = await sim.transfer_status("NEVER-SENT")
    assert status.state is TransferState.NOT_FOUND
    assert status.transfer_ref is None
    assert await sim.request_count("status", outcome="not_found") == 1


# --- settlement after a delay -------------------------------------------------------------


async def test_delayed_transfer_is_in_transit_until_it_settles(sim: SimulatedUpstream, clock: FixedClock) -> None:
    await funded(sim)
    await sim.set_settle_delay(timedelta(minutes=2))
    before = await sim.totals()

    status = await sim.submit_transfer(transfer("K-1", "300"))

    assert status.state is TransferState.PENDING
    source, destination = await _pair(sim)
    assert (source.available, source.in_transit, source.total) == (D("700.00"), D("300"), D("1000.00"))
    assert destination.available == D("0")
    assert await sim.totals() == before

    clock.advance(seconds=119)
    assert (await sim.transfer_status("K-1")).state is TransferState.PENDING

    clock.advance(seconds=1)
    settled = await sim.transfer_status("K-1")
    assert settled.state is TransferState.SUCCEEDED
    assert settled.updated_at == START + timedelta(minutes=2)
    source, destination = await _pair(sim)
    assert (source.available, source.in_transit) == (D("700.00"), D("0"))
    assert destination.available == D("300")
    assert await sim.totals() == before


async def _pair(sim: SimulatedUpstream) -> tuple[UpstreamBalance, UpstreamBalance]:
    balances = {(b.account_no, b.currency): b for b in await sim.fetch_balances(["HK-001", "HK-002"])}
    return balances[("HK-001", "HKD")], balances[("HK-002", "HKD")]


async def test_settlement_is_stamped_with_its_due_time_even_when_seen_late(
    sim: SimulatedUpstream, clock: FixedClock
) -> None:
    await funded(sim)
    await sim.set_settle_delay(60)
    await sim.submit_transfer(transfer("K-1", "1"))
    clock.advance(hours=3)
    assert await sim.settle_due() == 1
    assert (await sim.transfer_status("K-1")).updated_at == START + timedelta(seconds=60)


async def test_in_transit_money_cannot_be_spent_twice(sim: SimulatedUpstream) -> None:
    await funded(sim, hkd="500")
    await sim.set_settle_delay(60)
    assert (await sim.submit_transfer(transfer("K-1", "400"))).state is TransferState.PENDING
    second = await sim.submit_transfer(transfer("K-2", "400"))
    assert second.state is TransferState.FAILED
    assert second.reason_code is ReasonCode.INSUFFICIENT_FUNDS


async def test_pending_transfer_that_fails_returns_the_money(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.set_settle_delay(60)
    await sim.submit_transfer(transfer("K-1", "300"))

    failed = await sim.fail_pending("K-1", "Returned by the bank.")

    assert failed.state is TransferState.FAILED and failed.reason == "Returned by the bank."
    source, destination = await _pair(sim)
    assert (source.available, source.in_transit) == (D("1000.00"), D("0"))
    assert destination.available == D("0")


async def test_settle_delay_from_the_constructor_is_shared_through_the_store(store, clock: FixedClock) -> None:
    first = SimulatedUpstream(store, clock=clock, settle_delay_s=30)
    await funded(first)
    second = SimulatedUpstream(store, clock=clock)  # no delay of its own: the store's stands
    try:
        assert (await second.submit_transfer(transfer("K-1", "1"))).state is TransferState.PENDING
    finally:
        await first.aclose()
        await second.aclose()


# --- injected failures --------------------------------------------------------------------


async def test_reject_next_transfers(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.reject_next(2, reason="Compliance hold.")

    results = [await sim.submit_transfer(transfer(f"K-{i}", "1")) for i in range(3)]

    assert [r.state for r in results] == [TransferState.FAILED, TransferState.FAILED, TransferState.SUCCEEDED]
    assert results[0].reason == "Compliance hold." and results[0].reason_code is ReasonCode.REJECTED
    assert await available(sim, "HK-001") == D("999.00")


async def test_reject_an_account_until_lifted(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.reject_account("HK-002", "Beneficiary account frozen.")

    blocked = await sim.submit_transfer(transfer("K-1", "1"))
    await sim.reject_account("HK-002", None)
    allowed = await sim.submit_transfer(transfer("K-2", "1"))

    assert (blocked.state, blocked.reason) == (TransferState.FAILED, "Beneficiary account frozen.")
    assert allowed.state is TransferState.SUCCEEDED


async def test_submit_timeout_before_executing_never_happened(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.inject_timeout("submit", executed=False)

    lost = await sim.submit_transfer(transfer("K-1", "100"))

    assert lost.state is TransferState.UNKNOWN and lost.reason_code is ReasonCode.TIMEOUT
    assert (await sim.transfer_status("K-1")).state is TransferState.NOT_FOUND
    assert await available(sim, "HK-001") == D("1000.00")
    # Only now is it safe to submit again, with the same key; it executes once.
    assert (await sim.submit_transfer(transfer("K-1", "100"))).state is TransferState.SUCCEEDED
    assert await available(sim, "HK-001") == D("900.00")


async def test_submit_timeout_after_executing_did_happen(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.inject_timeout("submit", executed=True)

    lost = await sim.submit_transfer(transfer("K-1", "100"))

    assert lost.state is TransferState.UNKNOWN
    assert (await sim.transfer_status("K-1")).state is TransferState.SUCCEEDED
    assert await available(sim, "HK-001") == D("900.00")
    [entry] = await sim.request_log("submit")
    assert (entry.outcome, entry.timed_out, entry.detail) == ("accepted", True, "K-1")


async def test_balance_and_status_timeouts_raise_typed_errors(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.inject_timeout("balances", count=2)
    await sim.inject_timeout("status")

    for _ in range(2):
        with pytest.raises(UpstreamTimeout):
            await sim.fetch_balances(["HK-001"])
    with pytest.raises(UpstreamTimeout):
        await sim.transfer_status("K-1")

    assert len(await sim.fetch_balances(["HK-001"])) == 1  # the third poll answers
    assert await sim.request_count("balances", outcome="timeout") == 2
    assert isinstance(UpstreamTimeout("x"), UpstreamUnavailable)  # a poller catches one type


async def test_channel_down_refuses_everything_and_executes_nothing(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.set_channel_down()

    with pytest.raises(UpstreamUnavailable):
        await sim.fetch_balances(["HK-001"])
    with pytest.raises(UpstreamUnavailable):
        await sim.submit_transfer(transfer("K-1", "1"))
    with pytest.raises(UpstreamUnavailable):
        await sim.transfer_status("K-1")

    await sim.set_channel_down(False)
    assert (await sim.transfer_status("K-1")).state is TransferState.NOT_FOUND
    assert await available(sim, "HK-001") == D("1000.00")
    assert await sim.request_count(outcome="unavailable") == 3


async def test_clear_faults_forgets_injections(sim: SimulatedUpstream) -> None:
    await funded(sim)
    await sim.reject_next(5)
    await sim.inject_timeout("submit", 5)
    await sim.reject_account("HK-001")
    await sim.set_channel_down()
    await sim.clear_faults()
    assert (await sim.submit_transfer(transfer("K-1", "1"))).state is TransferState.SUCCEEDED


async def test_hang_holds_the_answer(sim: SimulatedUpstream) -> None:
    """An injected hang really holds the call (so a client in front times out)."""
    await funded(sim)
    await sim.inject_timeout("balances", hang_s=30)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(sim.fetch_balances(["HK-001"]), 0.2)
    assert await sim.request_count("balances", outcome="timeout") == 1


async def test_request_log_records_kind_process_and_detail(sim: SimulatedUpstream) -> None:
    import os

    await funded(sim)
    await sim.fetch_balances(["HK-001", "HK-002"])
    await sim.submit_transfer(transfer("K-1", "1"))
    await sim.transfer_status("K-1")

    log = await sim.request_log()
    assert [(e.kind, e.outcome, e.detail) for e in log] == [
        ("balances", "ok", "2 accounts"),
        ("submit", "accepted", "K-1"),
        ("status", "ok", "K-1"),
    ]
    assert {e.pid for e in log} == {os.getpid()}
    assert await sim.request_count() == 3

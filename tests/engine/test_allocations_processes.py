"""Automatic allocations across OS processes: each event yields exactly one allocation and
one transfer at the channel, however many consoles decide at once."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import allocations_workers
import pytest
from allocations_support import allocation_rows, create_rule, open_allocation_desk
from engine_support import scalar
from positions_support import CHANNEL

from wbo_tui.engine.positions import SubmitWithdrawal

CONSOLES = 3
WITHDRAWALS = 30


@pytest.mark.slow
async def test_three_consoles_allocate_once_per_event(engine, db_url: str, tmp_path: Path) -> None:  # noqa: ANN001
    desk = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
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
    stop_at = time.time() + 12
    for queue in go:
        queue.put(stop_at)
    # Withdrawals arrive while the three consoles are deciding.
    for i in range(WITHDRAWALS):
        await desk.engine.execute(desk.maker, SubmitWithdrawal(
            client_id=f"C-{i}", channel=CHANNEL, currency="HKD", principal=Decimal(10 + i), fee=Decimal(0)))
    outcomes = [results.get(timeout=stop_at - time.time() + 60) for _ in consoles]
    for process in consoles:
        process.join(timeout=30)
    assert [o[1] for o in outcomes] == ["ok"] * CONSOLES, outcomes

    rows = await allocation_rows(engine)
    assert len(rows) == WITHDRAWALS
    assert Counter(r.status for r in rows) == {"succeeded": WITHDRAWALS}
    assert sorted(r.amount for r in rows) == [Decimal(10 + i) for i in range(WITHDRAWALS)]
    assert await scalar(engine, "SELECT count(*) FROM allocation_triggers") == WITHDRAWALS
    transfers = await desk.bank.transfers()
    assert len(transfers) == WITHDRAWALS
    assert len({t.request.idempotency_key for t in transfers}) == WITHDRAWALS
    submits = await desk.bank.request_count("submit")
    assert submits == WITHDRAWALS  # no attempt was sent twice
    desk.bank.close()

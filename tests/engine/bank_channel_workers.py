"""Worker processes for the bank exchange channel's multi-process test: each is a
separate OS process (spawned) with its own ``SimulatedBankChannel`` on the shared store,
like another console submitting the same client exchanges."""

from __future__ import annotations

import asyncio
import traceback
from decimal import Decimal
from typing import Any

from wbo_tui.engine.fx.bank import ExchangeOrder, SimulatedBankChannel


def submit_all(store: str, order_ids: list[str], amount: str, barrier: Any, results: Any) -> None:
    """Process entry point: wait for the others at ``barrier``, submit every order id
    (USD into HKD on HSB), report ``("ok", [(order_id, status, serial_no, to_amount)])``
    or ``("error", traceback)`` on ``results``."""
    try:
        results.put(("ok", asyncio.run(_submit_all(store, order_ids, amount, barrier))))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", traceback.format_exc()))


async def _submit_all(store: str, order_ids: list[str], amount: str, barrier: Any) -> list[tuple[str, str, str, str]]:
    channel = SimulatedBankChannel(store)
    channel.open()  # the schema exists before the race starts; the race is the submits
    barrier.wait()
    answers = []
    try:
        for order_id in order_ids:
            state = await channel.submit(ExchangeOrder(order_id, "HSB", "USD", Decimal(amount), "HKD"))
            answers.append((order_id, state.status, str(state.serial_no), format(state.to_amount, "f")))
    finally:
        await channel.close()
    return answers


async def race(store: str, order_ids: list[str], amount: str, processes: int = 2, limit_s: float = 60) -> list[Any]:
    """Run ``submit_all`` in ``processes`` spawned processes that start together; returns
    each one's answers (the limit only keeps a broken test from hanging)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(target=submit_all, args=(store, order_ids, amount, barrier, results), daemon=True)
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        reports = [await asyncio.to_thread(results.get, True, limit_s) for _ in workers]
    finally:
        for worker in workers:
            await asyncio.to_thread(worker.join, limit_s)
    failures = [str(value) for kind, value in reports if kind != "ok"]
    assert not failures, "\n".join(failures)
    return [value for _, value in reports]

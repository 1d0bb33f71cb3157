"""Two OS processes running the delivery loop on one database: every delivery is sent
exactly once (no crash in between, so at-least-once never has to resend)."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import Counter

import notify_support
import pytest
from engine_support import login
from notify_support import WebhookReceiver, publish_now, subscribe
from sqlalchemy import text

from wbo_tui.engine import Engine, FixedClock, ListDeliveries, ListNotifications, VerifyAuditLog

NOTIFICATIONS = 30
WEBHOOKS = 2
TIMEOUT_S = 90


@pytest.mark.slow
async def test_two_delivery_loops_send_each_delivery_exactly_once(
    engine: Engine, db_url: str, clock: FixedClock
) -> None:
    admin = await login(engine, "admin")
    with WebhookReceiver(delay_s=0.01) as first, WebhookReceiver(delay_s=0.01) as second:
        for receiver in (first, second):
            await subscribe(engine, admin, channel="webhook", address=receiver.url)
        for i in range(NOTIFICATIONS):
            await publish_now(engine, source_id=str(i))
        expected = {d.ref for d in await engine.query(admin, ListDeliveries(limit=1000))}
        assert len(expected) == NOTIFICATIONS * WEBHOOKS

        ctx = multiprocessing.get_context("spawn")
        barrier, results = ctx.Barrier(2), ctx.Queue()
        processes = [
            ctx.Process(target=notify_support.run_delivery_worker,
                        args=(db_url, name, clock.now().isoformat(), 4, barrier, results), daemon=True)
            for name in ("console-a", "console-b")
        ]
        for process in processes:
            process.start()
        try:
            outcomes = [await asyncio.to_thread(results.get, True, TIMEOUT_S) for _ in processes]
        finally:
            for process in processes:
                process.join(timeout=TIMEOUT_S)
                if process.is_alive():
                    process.terminate()
        assert [o[1] for o in outcomes] == ["ok", "ok"], outcomes
        received = Counter(first.keys() + second.keys())

    assert set(received) == expected
    assert set(received.values()) == {1}, {k: n for k, n in received.items() if n != 1}
    assert all(p.exitcode == 0 for p in processes)
    sent = await engine.query(admin, ListDeliveries(status="SENT", limit=1000))
    assert {d.ref for d in sent} == expected
    assert all(d.attempts == 1 for d in sent)
    # Both loops did real work (the claim batch is small), each under its own name.
    async with engine.db.connect() as conn:
        workers = {r[0] for r in await conn.execute(text(
            "SELECT target_id FROM audit_log WHERE action = 'delivery.claim'"))}
    assert workers == {"console-a", "console-b"}
    assert sum(n.sent for n in await engine.query(admin, ListNotifications(limit=1000))) == len(expected)
    assert (await engine.query(admin, VerifyAuditLog())).ok

"""The ``stall`` benchmark's console child: the longest event-loop stall while one case runs.

``python -m bench.stall_child_app MODE CASE DB_URL EXTRA USERNAME PASSWORD ROUNDS``
(``python -m bench.stall_child_app add-events DB_PATH ROUND``: a batch round's events,
written from a process of their own)

Runs ``WboApp`` headless at 160x48 (its schedules set to an hour, so only the measured
work runs), logs in through the login form and waits for the shell
(``bench.child_common``).  MODE ``own``: the console as shipped (the engine on its own
loop); ``inline``: the same app with the engine on the console's loop, as before (the
baseline).  Then ROUNDS + 1 times (the first is a
warm-up) it prepares the round (not measured), measures the longest stall of an idle
half second, then runs the case on the app while a monitor task sleeps 1 ms in a loop and
records how late it wakes (``child_common.measure``):

* ``poll``: ``app.engine.poll_positions`` (EXTRA: the simulated bank's store, whose
  balances change before each round);
* ``batch``: one allocation batch, ``consume_events`` through ``app.engine.call``, after
  1,000 new allocation events were written (EXTRA unused);
* ``write``: ``CreateManualAllocation`` through ``app.engine.execute``, WRITES times back
  to back, once the file EXTRA exists (the parent creates it when all four consoles are
  logged in, so they write at the same time).

Prints one JSON line (``BENCH-STALL {...}``) for the parent.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.child_common import measure, run_console
from bench.startup_child_common import wait_until

PREFIX = "BENCH-STALL "
IDLE_S = 0.5
EVENTS_PER_BATCH = 1000
WRITES = 60
result: dict[str, Any] = {"rounds": []}


def add_events(db_path: str, round_no: int) -> None:
    """1,000 allocation events for the accounts the rules serve (as ``bench.allocate``
    writes them), one transaction, before a batch round."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        served = conn.execute(
            "SELECT CASE WHEN r.event_kind = 'deposit.successful' THEN r.from_account_id ELSE r.to_account_id END, "
            "r.event_kind, ca.currency, c.amount_precision FROM allocation_rules r "
            "JOIN channel_accounts ca ON ca.id = CASE WHEN r.event_kind = 'deposit.successful' "
            "THEN r.from_account_id ELSE r.to_account_id END JOIN currencies c ON c.code = ca.currency "
            "WHERE r.trigger_kind = 'event' ORDER BY r.id").fetchall()
        rows = []
        for i in range(EVENTS_PER_BATCH):
            account_id, kind, currency, precision = served[(round_no * EVENTS_PER_BATCH + i) % len(served)]
            amount = Decimal(1 + i % 997).scaleb(-min(2, precision))
            rows.append((kind, "2026-11-20 09:30:00.000000", "bench", f"S{round_no}-{i}", json.dumps({
                "channel_account_id": account_id, "currency": currency, "amount": str(amount)})))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO domain_events (kind, occurred_at, aggregate_type, aggregate_id, payload) "
                         "VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _accounts(db_path: str) -> tuple[int, int]:
    """A fund pool and a fee account of one channel (HKD) for manual allocations."""
    conn = sqlite3.connect(db_path)
    try:
        pool, target = (r[0] for r in conn.execute(
            "SELECT id FROM channel_accounts WHERE channel = 'settlement_bench_00' AND currency = 'HKD' "
            "AND scenario IN ('fund_pool', 'withdrawal_fee') ORDER BY scenario = 'withdrawal_fee'"))
        return pool, target
    finally:
        conn.close()


def make_steps(case: str, db_url: str, extra: str, rounds: int):  # noqa: ANN201
    async def steps(pilot) -> None:  # noqa: ANN001 - textual.pilot.Pilot
        app = pilot.app
        db_path = db_url.removeprefix("sqlite:///")
        bank = None
        try:
            await pilot.pause(0.2)
            if case == "poll":
                from bench import poll_db
                from wbo_tui.engine.upstream.simulator import SimulatedUpstream

                accounts = [tuple(a) for a in json.loads((Path(extra).parent / "accounts.json").read_text())]
                bank = SimulatedUpstream(extra)
            if case == "write":
                from wbo_tui.engine.allocations import CreateManualAllocation

                pool, target = _accounts(db_path)
                print("BENCH-READY", flush=True, file=sys.__stdout__)
                await wait_until(app, lambda: Path(extra).exists(), "the parent's go", timeout_s=300)

            async def run_case(r: int) -> None:
                if case == "poll":
                    await app.engine.poll_positions(slot=f"bench:stall:{r}:{time.time_ns()}", holder="bench-stall")
                elif case == "batch":
                    from wbo_tui.engine.allocations.triggers import PassReport, consume_events

                    report = PassReport()
                    await app.engine.call(consume_events, app.engine, report)
                    if report.allocations != EVENTS_PER_BATCH:
                        raise RuntimeError(f"the batch made {report.allocations} allocations, not "
                                           f"{EVENTS_PER_BATCH}")
                else:
                    for i in range(WRITES):
                        await app.engine.execute(app.session, CreateManualAllocation(
                            from_account_id=pool, to_account_id=target, currency="HKD",
                            amount=Decimal("1.00") + i, remarks=f"stall bench {r}.{i}"))

            for r in range(rounds + 1):
                if case == "poll":
                    await bank.set_balances(poll_db.balances_for_round(accounts, 200 + r))  # type: ignore[union-attr]
                elif case == "batch":
                    # Written by another process, as a scheduler's events are: a thread of
                    # this one would hold the console's GIL and count as its stall.
                    writer = await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "bench.stall_child_app", "add-events", db_path, str(r))
                    if await writer.wait():
                        raise RuntimeError("writing the batch's events failed")
                run = await measure(IDLE_S, lambda r=r: run_case(r))
                if r == 0:
                    continue  # warm-up
                result["rounds"].append({"longest_stall_s": run.stall_s, "case_s": run.elapsed_s,
                                         "idle_stall_s": run.idle_stall_s, "longest_gc": run.longest_gc,
                                         "own_stall_s": run.own_stall_s})
        finally:
            if bank is not None:
                bank.close()

    return steps


def _engine_on_the_console_loop() -> None:
    """The baseline: ``Engine.open`` as before this change (no loop of its own)."""
    from wbo_tui.engine import api

    opened = api.Engine.open.__func__  # type: ignore[attr-defined]

    async def open_inline(cls: Any, url: str, **kwargs: Any) -> Any:
        kwargs["own_loop"] = False
        return await opened(cls, url, **kwargs)

    api.Engine.open = classmethod(open_inline)  # type: ignore[method-assign, assignment]


def main(argv: list[str]) -> None:
    from wbo_tui.config import Settings

    if argv[0] == "add-events":
        add_events(argv[1], int(argv[2]))
        return
    mode, case, db_url, extra, username, password, rounds = argv
    if mode == "inline":
        _engine_on_the_console_loop()
    settings = Settings(db_url=db_url, poll_interval_s=3600, allocation_interval_s=3600, delivery_interval_s=3600,
                        idle_lock_s=86400)
    run_console(settings, username, password, make_steps(case, db_url, extra, int(rounds)), prefix=PREFIX,
                result=result)


if __name__ == "__main__":
    main(sys.argv[1:])

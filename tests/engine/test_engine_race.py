"""Concurrency proven with OS processes: two consoles deciding one item, and two consoles
appending to the audit chain at once."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import engine_workers
import pytest
from engine_support import ALL_PERMISSIONS, audit_head_row, login, new_operator, scalar
from sqlalchemy import text

from wbo_tui.engine import Engine, RequestPermission, SessionInfo, SetOperatorEnabled, VerifyAuditLog
from wbo_tui.engine.admin import administrator_ids
from wbo_tui.engine.uow import Actor, read_unit

ROUNDS = 100
REQUESTERS = 10
# Who does what in a round, cycling: both orders of approve/reject, and both alike.
PLANS = [("approve", "reject"), ("reject", "approve"), ("approve", "approve"), ("reject", "reject")]
TIMEOUT_S = 60


@dataclass
class Workers:
    names: tuple[str, str]
    tasks: list[Any]
    results: Any

    async def run_round(
        self, round_no: int, kind: str, args: tuple[Any, Any], decisions: tuple[str | None, str | None] = (None, None)
    ) -> list[tuple[Any, str, str | None, tuple[str, str]]]:
        """Give each worker its task; they meet at the barrier and act together.  Returns
        ``(round, worker, decision, (result, detail))`` per worker, sorted by worker."""
        for queue, arg, decision in zip(self.tasks, args, decisions, strict=True):
            queue.put((round_no, kind, arg, decision))
        outcomes = [await self.next_result() for _ in self.names]
        for got in outcomes:
            assert got[0] == round_no, f"worker out of step or crashed: {got}"
        return sorted(outcomes, key=lambda o: o[1])

    async def next_result(self) -> tuple:
        return await asyncio.to_thread(self.results.get, True, TIMEOUT_S)


@pytest.fixture
async def two_administrators(engine: Engine) -> tuple[SessionInfo, SessionInfo]:
    """The two checkers: the demo admin and a second administrator."""
    admin = await login(engine, "admin")
    deputy = await new_operator(engine, admin, "deputy", roles=["administrator"])
    return admin, deputy


def _with_token(session: SessionInfo) -> str:
    """The session as JSON, its token included (the DTO leaves it out of its repr only)."""
    return session.model_dump_json()


@asynccontextmanager
async def worker_pool(db_url: str, first: SessionInfo, second: SessionInfo) -> AsyncIterator[Workers]:
    """Two spawned worker processes acting as ``first`` and ``second``."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    tasks = [ctx.Queue(), ctx.Queue()]
    processes = [
        ctx.Process(
            target=engine_workers.run_worker,
            args=(db_url, session.username, _with_token(session), queue, results, barrier),
            daemon=True,
        )
        for session, queue in zip((first, second), tasks, strict=True)
    ]
    for process in processes:
        process.start()
    pool = Workers((first.username, second.username), tasks, results)
    try:
        ready = sorted([await pool.next_result(), await pool.next_result()])
        assert [r[0] for r in ready] == ["ready", "ready"], ready
        yield pool
    finally:
        for queue in tasks:
            queue.put(None)
        for process in processes:
            process.join(timeout=TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]


@pytest.fixture
async def workers(db_url: str, two_administrators: tuple) -> AsyncIterator[Workers]:
    async with worker_pool(db_url, *two_administrators) as pool:
        yield pool


@pytest.mark.slow
async def test_two_processes_deciding_one_item_exactly_one_wins(
    engine: Engine, workers: Workers, two_administrators: tuple
) -> None:
    admin = two_administrators[0]
    requesters = [await new_operator(engine, admin, f"requester{i}") for i in range(REQUESTERS)]
    permissions = ALL_PERMISSIONS[: ROUNDS // REQUESTERS]
    wins = {name: 0 for name in workers.names}

    for round_no in range(ROUNDS):
        requester = requesters[round_no % REQUESTERS]
        item = await engine.execute(requester, RequestPermission(
            permission_code=permissions[round_no // REQUESTERS], reason=f"race round {round_no}",
        ))
        plan = PLANS[round_no % len(PLANS)]
        outcomes = await workers.run_round(round_no, "decide", (item.id, item.id), plan)

        by_result = {}
        for _, name, decision, (result, detail) in outcomes:
            assert result in ("ok", "already"), f"round {round_no}: {name} got {detail}"
            by_result.setdefault(result, []).append((name, decision, detail))
        assert sorted(by_result) == ["already", "ok"], f"round {round_no}: {outcomes}"
        (winner, decision, status), = by_result["ok"]
        (_, _, loser_message), = by_result["already"]
        assert "already decided" in loser_message, loser_message
        assert "locked" not in loser_message
        wins[winner] += 1

        expected_status = "APPROVED" if decision == "approve" else "REJECTED"
        assert status == expected_status
        row = await _approval_row(engine, item.id)
        assert (row["status"], row["checker"]) == (expected_status, winner), f"round {round_no}: {row}"
        assert f"{expected_status.lower()} by {winner}" in loser_message
        decisions = await scalar(
            engine,
            "SELECT count(*) FROM audit_log WHERE target_type = 'approval' AND target_id = :ref "
            "AND action IN ('approval.approve', 'approval.reject')",
            ref=item.ref,
        )
        assert decisions == 1, f"round {round_no}: {decisions} decision records for {item.ref}"
        grants = await scalar(engine, "SELECT count(*) FROM audit_log WHERE action = 'operator.grant_permission' "
                              "AND after LIKE :ref", ref=f"%{item.ref}%")
        assert grants == (1 if expected_status == "APPROVED" else 0)

    assert sum(wins.values()) == ROUNDS
    report = await engine.query(admin, VerifyAuditLog())
    assert report.ok, report.sentence


async def _approval_row(engine: Engine, approval_id: int) -> dict[str, Any]:
    async with engine.db.connect() as conn:
        row = (await conn.execute(text(
            "SELECT a.status, o.username AS checker, a.decided_at FROM approvals a "
            "JOIN operators o ON o.id = a.checker_id WHERE a.id = :id"
        ), {"id": approval_id})).mappings().one()
    return dict(row)


@pytest.mark.slow
async def test_concurrent_appends_from_two_processes_never_fork_the_chain(
    engine: Engine, workers: Workers, two_administrators: tuple
) -> None:
    admin = two_administrators[0]
    per_worker = 100
    head_before, _ = await audit_head_row(engine)
    outcomes = await workers.run_round(0, "append", (per_worker, per_worker))
    assert [o[3] for o in outcomes] == [("ok", str(per_worker))] * 2, outcomes

    head_after, _ = await audit_head_row(engine)
    assert head_after == head_before + 2 * per_worker
    count = await scalar(engine, "SELECT count(*) FROM audit_log")
    assert count == head_after, "sequence numbers are contiguous: one record per seq, no gaps"
    for name in workers.names:
        assert await scalar(
            engine, "SELECT count(*) FROM audit_log WHERE action = 'operator.lock_console' AND operator = :n", n=name,
        ) == per_worker
    # The workers locked the administrator's session a hundred times each: log in anew.
    report = await engine.query(await login(engine, "admin"), VerifyAuditLog())
    assert report.ok, report.sentence
    assert report.records_checked == head_after + 1  # and the new login


@pytest.mark.slow
async def test_two_processes_cannot_together_disable_the_last_administrators(
    engine: Engine, db_url: str, two_administrators: tuple
) -> None:
    """Write skew: two operator managers each disable a different one of the two
    administrators at the same moment.  Each change alone is allowed; both together would
    leave none.  Exactly one must win, every time."""
    admin, deputy = two_administrators
    # The demo's second administrator stands aside: admin and deputy are the last two.
    await engine.setup_execute(SetOperatorEnabled(username="admin2", enabled=False), tool="test")
    managers = [await new_operator(engine, admin, f"manager{i}", ["admin.operator_operation"]) for i in (1, 2)]
    targets = (admin.username, deputy.username)
    async with worker_pool(db_url, *managers) as pool:
        for round_no in range(20):
            outcomes = await pool.run_round(round_no, "disable", targets)
            results = sorted(o[3][0] for o in outcomes)
            assert results == ["Conflict", "ok"], f"round {round_no}: {outcomes}"
            assert any("would leave no enabled administrator" in o[3][1] for o in outcomes), outcomes
            async with read_unit(engine.db, Actor.system("test"), engine.services) as uow:
                remaining = await administrator_ids(uow)
            assert len(remaining) == 1, f"round {round_no}: administrators left: {remaining}"
            disabled = next(o[3][1] for o in outcomes if o[3][0] == "ok")
            await engine.setup_execute(SetOperatorEnabled(username=disabled, enabled=True), tool="test")

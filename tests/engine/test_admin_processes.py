"""Two administrators' consoles (two OS processes) approve the same role change at the
same moment: exactly one decision is taken and the change is applied once."""

from __future__ import annotations

import asyncio
import multiprocessing

import approver_workers
import pytest
from engine_support import PASSWORDS, login, new_operator, scalar

from wbo_tui.engine import (
    CreateOperator,
    CreateRole,
    Engine,
    ListApprovals,
    SetOperatorRoles,
    SetRolePermissions,
    VerifyAuditLog,
)

ROUNDS = 10
TIMEOUT_S = 60
APPROVERS = ("admin", "admin2")


async def _submit(engine: Engine, deputy, round_no: int) -> tuple[int, str, str]:  # noqa: ANN001
    """A third administrator submits a gain of power: a role's permissions on even rounds,
    an operator's roles on odd ones.  Returns (approval id, ref, the record it applies)."""
    if round_no % 2 == 0:
        role = f"race{round_no}"
        await engine.setup_execute(CreateRole(name=role), tool="test-setup")
        dto = await engine.execute(deputy, SetRolePermissions(role=role, permissions=["RiskWarningFull"]))
        kind, applies = "role_permissions", "role.set_permissions"
    else:
        username = f"racer{round_no}"
        await engine.setup_execute(CreateOperator(username=username, display_name="Racer", password="Kowloon-Tong-77"),
                                   tool="test-setup")
        dto = await engine.execute(deputy, SetOperatorRoles(username=username, roles=["viewer"]))
        kind, applies = "operator_roles", "operator.set_roles"
    [item] = [i for i in await engine.query(deputy, ListApprovals(kind=kind)) if i.ref == dto.pending_approval]
    return item.id, item.ref, applies


@pytest.mark.slow
async def test_two_administrators_approving_one_role_change_at_once_take_one_decision(
    engine: Engine, db_url: str
) -> None:
    deputy = await new_operator(engine, await login(engine, "admin"), "deputy", roles=["administrator"])
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    tasks = {name: ctx.Queue() for name in APPROVERS}
    processes = [ctx.Process(target=approver_workers.run_approver, daemon=True,
                             args=(db_url, name, PASSWORDS[name], tasks[name], results, barrier))
                 for name in APPROVERS]
    for process in processes:
        process.start()

    async def next_result() -> tuple:
        return await asyncio.to_thread(results.get, True, TIMEOUT_S)

    try:
        ready = sorted([await next_result(), await next_result()])
        assert [r[0] for r in ready] == ["ready", "ready"], ready
        wins = dict.fromkeys(APPROVERS, 0)
        for round_no in range(ROUNDS):
            approval_id, ref, applies = await _submit(engine, deputy, round_no)
            for name in APPROVERS:
                tasks[name].put((round_no, approval_id))
            outcomes = sorted([await next_result(), await next_result()], key=lambda o: o[2][0])
            assert [o[0] for o in outcomes] == [round_no, round_no], outcomes
            (_, loser, (lost, why)), (_, winner, (won, status)) = outcomes
            assert (lost, won, status) == ("already", "ok", "APPROVED"), f"round {round_no}: {outcomes}"
            assert f"approved by {winner}" in why and "locked" not in why
            wins[winner] += 1

            assert await scalar(engine, "SELECT count(*) FROM audit_log WHERE target_id = :ref "
                                "AND action IN ('approval.approve', 'approval.reject')", ref=ref) == 1
            assert await scalar(engine, "SELECT count(*) FROM audit_log WHERE action = :a AND after LIKE :ref",
                                a=applies, ref=f"%{ref}%") == 1, f"round {round_no}: applied twice or never"
            checker = await scalar(engine, "SELECT o.username FROM approvals a JOIN operators o "
                                   "ON o.id = a.checker_id WHERE a.id = :i", i=approval_id)
            assert checker == winner
        assert sum(wins.values()) == ROUNDS
    finally:
        for queue in tasks.values():
            queue.put(None)
        for process in processes:
            process.join(timeout=TIMEOUT_S)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    assert all(p.exitcode == 0 for p in processes), [p.exitcode for p in processes]
    assert (await engine.query(deputy, VerifyAuditLog())).ok

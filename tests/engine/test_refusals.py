"""Issue 9, point 3: refusals leave a trace.

A refused command rolls back whole, so its refusal is written in a transaction of its
own: who asked, for what, and why it was refused.  Each case the acceptance run found
unaudited is here: a self-approval, an approval without the permission, a disabled
operator's command, a withdrawal approval intercepted below the blocking threshold; and
a read of the audit log without the permission.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from engine_support import FRESH_PASSWORD, audit_records, login, new_operator, snapshot
from positions_support import CHANNEL, open_desk

from wbo_tui.engine import (
    ApproveItem,
    CreateOperator,
    Engine,
    MakerCheckerViolation,
    NotAuthenticated,
    PermissionDenied,
    QueryAuditLog,
    RequestPermission,
    SetOperatorEnabled,
)
from wbo_tui.engine.positions import SetThresholds, SubmitWithdrawal
from wbo_tui.engine.positions.withdrawals import PRINCIPAL_SHORT, InsufficientChannelBalance

AUDIT = "admin.audit_log_inquiry"


async def _refusals(engine: Engine) -> list[tuple[str, dict]]:
    return [(r.operator, json.loads(r.after)) for r in await audit_records(engine, "request.refused")]


async def test_a_self_approval_is_refused_and_audited(engine: Engine) -> None:
    admin = await login(engine, "admin")
    item = await engine.execute(admin, RequestPermission(permission_code="fx.currency_pair_inquiry", reason="quarter end"))
    before = await snapshot(engine)
    with pytest.raises(MakerCheckerViolation):
        await engine.execute(admin, ApproveItem(approval_id=item.id))
    assert await snapshot(engine) == before
    [(who, what)] = await _refusals(engine)
    assert who == "admin"
    assert what["request"] == "ApproveItem" and what["fields"] == {"approval_id": item.id}
    assert what["error"] == "MakerCheckerViolation" and f"You submitted {item.ref}" in what["reason"]


async def test_an_approval_without_the_permission_is_refused_and_audited(engine: Engine) -> None:
    admin = await login(engine, "admin")
    viewer = await login(engine, "viewer")
    item = await engine.execute(admin, RequestPermission(permission_code="fx.currency_pair_inquiry", reason="quarter end"))
    with pytest.raises(PermissionDenied):
        await engine.execute(viewer, ApproveItem(approval_id=item.id))
    [(who, what)] = await _refusals(engine)
    assert (who, what["error"]) == ("viewer", "PermissionDenied")
    assert "admin.permission_request_approval" in what["reason"]


async def test_a_disabled_operators_command_is_refused_and_audited(engine: Engine) -> None:
    admin = await login(engine, "admin")
    clerk = await new_operator(engine, admin, "clerk", [])
    await engine.execute(admin, SetOperatorEnabled(username="clerk", enabled=False))
    with pytest.raises(NotAuthenticated):
        await engine.execute(clerk, RequestPermission(permission_code=AUDIT, reason="please"))
    [(who, what)] = await _refusals(engine)
    # The session no longer stands for anyone: recorded as unauthenticated, with the claim.
    assert who == "unauthenticated"
    assert (what["claimed_username"], what["request"]) == ("clerk", "RequestPermission")


async def test_an_intercepted_withdrawal_approval_is_audited(engine: Engine, tmp_path: Path) -> None:
    desk = await open_desk(engine, tmp_path / "bank.sqlite")
    try:
        await engine.execute(desk.maker, SetThresholds(channel_account_id=desk.accounts["hkd_principal"],
                                                       threshold_alert="30000", threshold_blocking="20000"))
        await desk.bank.set_balance("HK-PRIN-001", "HKD", Decimal("20500"))
        await engine.poll_positions(slot="test:0", holder="tests")
        wd = await engine.execute(desk.maker, SubmitWithdrawal(
            client_id="C-42", channel=CHANNEL, currency="HKD", principal="1000.00", fee="10.00"))
        with pytest.raises(InsufficientChannelBalance):
            await engine.execute(desk.checker, ApproveItem(approval_id=wd.approval_id))
    finally:
        desk.bank.close()
    [(who, what)] = await _refusals(engine)
    assert who == "checker"
    assert what["reason"] == PRINCIPAL_SHORT and what["error"] == "InsufficientChannelBalance"


async def test_a_read_through_an_ended_session_is_audited_a_denied_read_is_not(engine: Engine) -> None:
    maker = await login(engine, "maker")
    with pytest.raises(PermissionDenied):
        await engine.query(maker, QueryAuditLog(page_size=10))
    assert await _refusals(engine) == []  # shown in place; a list's refreshes would repeat it
    await engine.logout(maker)
    with pytest.raises(NotAuthenticated):
        await engine.query(maker, QueryAuditLog(page_size=10))
    [(who, what)] = await _refusals(engine)
    assert (who, what["request"], what["claimed_username"]) == ("unauthenticated", "QueryAuditLog", "maker")


async def test_a_refused_commands_password_is_not_recorded(engine: Engine) -> None:
    viewer = await login(engine, "viewer")
    with pytest.raises(PermissionDenied):
        await engine.execute(viewer, CreateOperator(username="mole", display_name="Mole", password=FRESH_PASSWORD))
    [(_, what)] = await _refusals(engine)
    assert what["fields"]["password"] == "(not recorded)"
    assert FRESH_PASSWORD not in repr(await snapshot(engine, everything=True))


async def test_a_login_under_an_unknown_name_never_stores_what_was_typed(engine: Engine, db_url: str) -> None:
    """A password typed into the username field is not kept: only its length, or with an
    audit key a keyed hash, so repeated attempts with one name still show as one."""
    from wbo_tui.engine import AuthenticationFailed

    typed = "Star-Ferry-22"  # maker's password, in the wrong field
    with pytest.raises(AuthenticationFailed):
        await engine.login(typed, "anything-at-all")
    [record] = await audit_records(engine, "operator.login_failed")
    assert (record.operator, record.target_id) == ("login", f"unknown ({len(typed)} characters)")
    keyed = await Engine.open(db_url, audit_key=b"k" * 32, hasher=engine.services.hasher, clock=engine.clock)
    try:
        for _ in range(2):
            with pytest.raises(AuthenticationFailed):
                await keyed.login(typed, "anything-at-all")
    finally:
        await keyed.close()
    marks = [r.target_id for r in await audit_records(engine, "operator.login_failed")][1:]
    assert marks[0] == marks[1] and marks[0].startswith("unknown#") and len(marks[0]) == len("unknown#") + 16
    assert typed not in repr(await snapshot(engine, everything=True))

"""Maker-checker: the maker never decides their own item, one decision per item, and an
approval executes the stored command exactly as submitted."""

from __future__ import annotations

import json

import pytest
from engine_support import (
    ALL_PERMISSIONS,
    APPROVAL_PERMISSION,
    audit_actions,
    audit_head_row,
    audit_records,
    execute_raw,
    login,
    new_operator,
    scalar,
    snapshot,
)
from sqlalchemy.exc import IntegrityError

from wbo_tui.engine import (
    AlreadyDecided,
    ApproveItem,
    Engine,
    ListApprovals,
    MakerCheckerViolation,
    MySubmissions,
    NotFound,
    RejectItem,
    PermissionDenied,
    RequestPermission,
    SessionInfo,
    SetOperatorEnabled,
    ValidationFailed,
    VerifyAuditLog,
    build,
)
from wbo_tui.engine.admin import GrantPermission
from wbo_tui.engine.approvals import GetApproval

AUDIT = "admin.audit_log_inquiry"


async def _two_administrators(engine: Engine) -> tuple[SessionInfo, SessionInfo]:
    """``boss``: an administrator without the audit permission (so there is something to
    ask for), and the demo ``admin``, a second administrator."""
    admin = await login(engine, "admin")
    boss = await new_operator(engine, admin, "boss", [p for p in ALL_PERMISSIONS if p != AUDIT])
    assert APPROVAL_PERMISSION in boss.permissions
    return boss, admin


async def test_maker_cannot_decide_own_item_and_a_second_administrator_can(engine: Engine) -> None:
    boss, admin = await _two_administrators(engine)
    item = await engine.execute(boss, RequestPermission(permission_code=AUDIT, reason="quarterly audit review"))
    assert item.status == "PENDING" and item.maker == "boss"

    before = await snapshot(engine)
    with pytest.raises(MakerCheckerViolation, match=f"You submitted {item.ref}"):
        await engine.execute(boss, ApproveItem(approval_id=item.id))
    with pytest.raises(MakerCheckerViolation):
        await engine.execute(boss, RejectItem(approval_id=item.id, reason="changed my mind"))
    assert await snapshot(engine) == before, "a refused self-decision changed the database"

    decided = await engine.execute(admin, ApproveItem(approval_id=item.id))
    assert decided.status == "APPROVED"
    assert decided.checker == "admin"
    assert json.loads(decided.outcome) == {"granted": AUDIT, "to": "boss"}

    # The grant takes effect: the refreshed session shows it and the permission works.
    assert AUDIT not in boss.permissions
    boss = await engine.refresh_session(boss)
    assert AUDIT in boss.permissions
    report = await engine.query(boss, VerifyAuditLog())
    assert report.ok


async def test_approval_executes_the_stored_command_exactly_as_submitted(engine: Engine) -> None:
    maker = await login(engine, "maker")
    admin = await login(engine, "admin")
    item = await engine.execute(
        maker, RequestPermission(permission_code="admin.operator_inquiry", reason="  need to see the desk  ")
    )
    stored = GrantPermission(operator_id=maker.operator_id, permission_code="admin.operator_inquiry",
                             reason="need to see the desk")
    assert item.payload == json.loads(stored.model_dump_json())
    assert await scalar(engine, "SELECT payload FROM approvals WHERE id = :id", id=item.id) == stored.model_dump_json()
    submitted = await audit_records(engine, "approval.submit")
    assert json.loads(submitted[-1].after)["payload"] == item.payload

    head, _ = await audit_head_row(engine)
    decided = await engine.execute(admin, ApproveItem(approval_id=item.id))
    assert decided.status == "APPROVED"
    assert decided.payload == item.payload  # the stored command is not rewritten

    grant = await scalar(
        engine,
        "SELECT approval_id FROM operator_permissions WHERE operator_id = :op AND permission = 'admin.operator_inquiry'",
        op=maker.operator_id,
    )
    assert grant == item.id, "the grant records the approval that made it"
    # Grant and decision are audited in the same transaction, in that order.
    assert await audit_actions(engine, head) == ["operator.grant_permission", "approval.approve"]
    granted = json.loads((await audit_records(engine, "operator.grant_permission"))[-1].after)
    assert granted == {"permission": "admin.operator_inquiry", "approval": item.ref}


async def test_rejection_needs_a_reason_and_records_it(engine: Engine) -> None:
    maker = await login(engine, "maker")
    admin = await login(engine, "admin")
    item = await engine.execute(maker, RequestPermission(permission_code=AUDIT, reason="curious"))

    for blank in ("", "   ", "\t"):
        with pytest.raises(ValidationFailed) as caught:
            build(RejectItem, approval_id=item.id, reason=blank)
        assert caught.value.field == "Reason"
        assert "required" in str(caught.value)
        with pytest.raises(ValidationFailed):  # built directly too: the engine's error, not pydantic's
            RejectItem(approval_id=item.id, reason=blank)

    rejected = await engine.execute(admin, RejectItem(approval_id=item.id, reason="  not part of the maker role "))
    assert rejected.status == "REJECTED"
    assert rejected.reason == "not part of the maker role"
    assert rejected.outcome is None
    assert AUDIT not in (await engine.refresh_session(maker)).permissions
    record = (await audit_records(engine, "approval.reject"))[-1]
    assert json.loads(record.after)["reason"] == "not part of the maker role"
    assert record.target_id == item.ref


@pytest.mark.parametrize(("first", "second"), [("approve", "approve"), ("approve", "reject"),
                                               ("reject", "approve"), ("reject", "reject")])
async def test_deciding_a_decided_item_raises_already_decided(engine: Engine, first: str, second: str) -> None:
    maker = await login(engine, "maker")
    admin = await login(engine, "admin")
    other = await new_operator(engine, admin, "second", [APPROVAL_PERMISSION])
    item = await engine.execute(maker, RequestPermission(permission_code=AUDIT, reason="audit trail review"))

    def decision(kind: str):  # noqa: ANN202
        return ApproveItem(approval_id=item.id) if kind == "approve" else RejectItem(approval_id=item.id, reason="no")

    await engine.execute(admin, decision(first))
    before = await snapshot(engine)
    with pytest.raises(AlreadyDecided) as caught:
        await engine.execute(other, decision(second))
    message = str(caught.value)
    status = "approved" if first == "approve" else "rejected"
    assert message.startswith(f"{item.ref} was already decided: {status} by admin at 2026-11-20 09:30:00 UTC")
    assert await snapshot(engine) == before


async def test_approval_of_a_command_that_can_no_longer_run_is_recorded_as_failed(engine: Engine) -> None:
    """The world changed after submission (the requester was disabled): the decision stands,
    the stored command runs nothing, and the audit says why."""
    maker = await login(engine, "maker")
    admin = await login(engine, "admin")
    item = await engine.execute(maker, RequestPermission(permission_code=AUDIT, reason="audit trail review"))
    await engine.execute(admin, SetOperatorEnabled(username="maker", enabled=False))
    head, _ = await audit_head_row(engine)

    decided = await engine.execute(admin, ApproveItem(approval_id=item.id))

    assert decided.status == "FAILED"
    assert "disabled" in decided.outcome
    assert await scalar(engine, "SELECT count(*) FROM operator_permissions WHERE operator_id = :op",
                        op=maker.operator_id) == 0
    assert await audit_actions(engine, head) == ["approval.approve"]
    after = json.loads((await audit_records(engine, "approval.approve"))[-1].after)
    assert after["status"] == "FAILED" and "disabled" in after["outcome"]["error"]
    with pytest.raises(AlreadyDecided):
        await engine.execute(admin, ApproveItem(approval_id=item.id))


async def test_database_check_refuses_checker_equal_to_maker(engine: Engine) -> None:
    """Someone bypassing the engine still cannot record the maker as the checker."""
    maker = await login(engine, "maker")
    item = await engine.execute(maker, RequestPermission(permission_code=AUDIT, reason="audit trail review"))
    with pytest.raises(IntegrityError, match="maker_is_not_checker"):
        await execute_raw(
            engine,
            "UPDATE approvals SET status = 'APPROVED', checker_id = maker_id, decided_at = submitted_at WHERE id = :id",
            id=item.id,
        )
    assert await scalar(engine, "SELECT status FROM approvals WHERE id = :id", id=item.id) == "PENDING"
    assert await scalar(engine, "SELECT checker_id FROM approvals WHERE id = :id", id=item.id) is None


async def test_lists_show_pending_items_to_checkers_and_submissions_to_makers(engine: Engine) -> None:
    maker = await login(engine, "maker")
    admin = await login(engine, "admin")
    first = await engine.execute(maker, RequestPermission(permission_code=AUDIT, reason="audit trail review"))
    second = await engine.execute(maker, RequestPermission(permission_code="admin.operator_inquiry", reason="desk"))
    await engine.execute(admin, RejectItem(approval_id=first.id, reason="no"))

    pending = await engine.query(admin, ListApprovals(kind="permission_request"))
    assert [a.ref for a in pending] == [second.ref]
    everything = await engine.query(admin, ListApprovals(kind="permission_request", status=None))
    assert [a.ref for a in everything] == [second.ref, first.ref]
    mine = await engine.query(maker, MySubmissions())
    assert [(a.ref, a.status) for a in mine] == [(second.ref, "PENDING"), (first.ref, "REJECTED")]
    assert await engine.query(admin, MySubmissions()) == ()


async def test_a_checker_reads_one_item_by_id_pending_or_decided(engine: Engine) -> None:
    """A dialog reads the item it decides by its id, however many others are pending: with
    the kind's approval permission, of that kind only, and nothing is written."""
    maker = await login(engine, "maker")
    admin = await login(engine, "admin")
    first = await engine.execute(maker, RequestPermission(permission_code=AUDIT, reason="audit trail review"))
    second = await engine.execute(maker, RequestPermission(permission_code="admin.operator_inquiry", reason="desk"))
    await engine.execute(admin, RejectItem(approval_id=first.id, reason="no"))
    checker = await login(engine, "checker")  # holds the fund allocation approval permission
    before = await snapshot(engine)

    pending = await engine.query(admin, GetApproval(kind="permission_request", approval_id=second.id))
    assert (pending.id, pending.ref, pending.status, pending.maker) == (second.id, second.ref, "PENDING", "maker")
    assert pending.payload == second.payload and pending.summary == second.summary
    decided = await engine.query(admin, GetApproval(kind="permission_request", approval_id=first.id))
    assert (decided.status, decided.checker, decided.reason) == ("REJECTED", "admin", "no")
    # Another kind's item, or none, is not found (whether the id exists is no business of this kind).
    with pytest.raises(NotFound, match=f"no fund allocation item {second.id}"):
        await engine.query(checker, GetApproval(kind="fund_allocation", approval_id=second.id))
    with pytest.raises(NotFound, match="no permission request item 999999"):
        await engine.query(admin, GetApproval(kind="permission_request", approval_id=999_999))
    with pytest.raises(NotFound, match="no approval kind 'nonsense'"):
        await engine.query(admin, GetApproval(kind="nonsense", approval_id=second.id))
    # The maker holds no approval permission for requests: refused, as listing them is.
    with pytest.raises(PermissionDenied) as caught:
        await engine.query(maker, GetApproval(kind="permission_request", approval_id=second.id))
    assert caught.value.permission == APPROVAL_PERMISSION
    assert await snapshot(engine) == before


async def test_a_checker_grants_only_what_they_hold_unless_they_administer(engine: Engine) -> None:
    """Two operators holding only the approval permission must not be able to make each
    other administrators: the checker must hold the permission requested, or administer."""
    admin = await login(engine, "admin")
    maker = await login(engine, "maker")
    checker = await new_operator(engine, admin, "gatekeeper", [APPROVAL_PERMISSION])
    item = await engine.execute(maker, RequestPermission(permission_code="admin.role_operation", reason="promote me"))
    before = await snapshot(engine)

    with pytest.raises(PermissionDenied) as caught:
        await engine.execute(checker, ApproveItem(approval_id=item.id))
    assert caught.value.permission == "admin.role_operation"
    assert "grant admin.role_operation, which you do not hold yourself" in str(caught.value)
    assert await snapshot(engine) == before  # still pending, nothing granted, nothing audited

    decided = await engine.execute(admin, ApproveItem(approval_id=item.id))
    assert decided.status == "APPROVED"
    assert "admin.role_operation" in (await engine.refresh_session(maker)).permissions

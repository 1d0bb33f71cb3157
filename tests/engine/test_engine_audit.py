"""The audit log: one record per state change in the same transaction, append-only in the
database, and a hash chain that detects and locates tampering."""

from __future__ import annotations

import json

import pytest
from audit_support import PG_GUARDS, SQLITE_GUARDS, audit_rows, guard_definitions, rewrite_chain, verify_chain
from engine_support import (
    audit_actions,
    audit_head_row,
    execute_raw,
    login,
    new_operator,
    run_in_thread,
    scalar,
    snapshot,
)
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from wbo_tui.engine import (
    ApproveItem,
    Conflict,
    CreateRole,
    Engine,
    PermissionDenied,
    QueryAuditLog,
    RequestPermission,
    SessionInfo,
    SetOperatorEnabled,
    SetRolePermissions,
    ValidationFailed,
    VerifyAuditLog,
)
from wbo_tui.engine import audit
from wbo_tui.engine.audit import GENESIS_HASH
from wbo_tui.engine.passwords import fast_hasher


async def _busy_log(engine: Engine) -> SessionInfo:
    """Some history beyond the seed: logins, a request and its approval (≥ 15 records)."""
    admin = await login(engine, "admin")
    maker = await login(engine, "maker")
    item = await engine.execute(maker, RequestPermission(permission_code="admin.audit_log_inquiry", reason="review"))
    await engine.execute(admin, ApproveItem(approval_id=item.id))
    await login(engine, "checker")
    assert (await audit_head_row(engine))[0] >= 15
    return admin


async def _drop_append_only_triggers(engine: Engine, is_pg: bool) -> None:
    """What an attacker with the database owner's rights can do."""
    if is_pg:
        await execute_raw(engine, "DROP TRIGGER audit_log_append_only ON audit_log")
    else:
        await execute_raw(engine, "DROP TRIGGER audit_log_no_update")
        await execute_raw(engine, "DROP TRIGGER audit_log_no_delete")


# --- one record per change, in the same transaction ----------------------------------------


async def test_each_change_writes_its_records_and_each_refusal_writes_one(engine: Engine) -> None:
    admin = await login(engine, "admin")
    viewer = await login(engine, "viewer")
    head, _ = await audit_head_row(engine)

    await engine.execute(admin, CreateRole(name="desk"))
    assert await audit_actions(engine, head) == ["role.create"]

    refusals = [
        (viewer, CreateRole(name="desk2"), PermissionDenied),
        (admin, CreateRole(name="desk"), ValidationFailed),  # name taken
        (admin, SetOperatorEnabled(username="viewer", enabled=True), Conflict),  # already enabled
        (admin, SetRolePermissions(role="administrator", permissions=[]), Conflict),  # last administrator
    ]
    for session, command, error in refusals:
        before = await snapshot(engine)
        with pytest.raises(error):
            await engine.execute(session, command)
        assert await snapshot(engine) == before, command
    # The change rolled back, its refusal is recorded on its own (test_refusals.py).
    assert await audit_actions(engine, head) == ["role.create"] + ["request.refused"] * len(refusals)

    await engine.execute(admin, SetOperatorEnabled(username="viewer", enabled=False))
    assert await audit_actions(engine, head) == ["role.create"] + ["request.refused"] * len(refusals) + [
        "operator.disable"]
    records = (await engine.query(admin, QueryAuditLog(page_size=2))).records
    assert [(r.action, r.operator, r.target_id) for r in records] == [
        ("operator.disable", "admin", "viewer"), ("request.refused", "admin", "SetRolePermissions"),
    ]
    assert json.loads(records[0].before) == {"enabled": True}
    assert json.loads(records[0].after) == {"enabled": False, "sessions_ended": 1}  # the viewer's login


async def test_a_failed_audit_write_rolls_back_the_change(engine: Engine) -> None:
    """Change and record share one transaction: plant a row where the next record must go,
    and the command fails as a whole, leaving no role behind."""
    admin = await login(engine, "admin")
    head, head_hash = await audit_head_row(engine)
    await execute_raw(
        engine,
        "INSERT INTO audit_log (seq, at, operator, action, target_type, target_id, prev_hash, hash) "
        "VALUES (:seq, :at, 'intruder', 'x', 'x', 'x', :h, :h)",
        seq=head + 1, at=engine.clock.now().replace(tzinfo=None), h=head_hash,
    )
    with pytest.raises(DBAPIError):
        await engine.execute(admin, CreateRole(name="desk"))
    assert await scalar(engine, "SELECT count(*) FROM roles WHERE name = 'desk'") == 0
    assert (await audit_head_row(engine)) == (head, head_hash)


# --- verification -------------------------------------------------------------------------


async def test_verify_passes_on_an_intact_chain(engine: Engine) -> None:
    admin = await _busy_log(engine)
    head, head_hash = await audit_head_row(engine)
    report = await engine.query(admin, VerifyAuditLog())
    assert report.ok and report.first_broken_seq is None
    assert report.records_checked == head
    assert report.sentence == f"Audit chain intact: {head:,} records verified."
    assert await scalar(engine, "SELECT prev_hash FROM audit_log WHERE seq = 1") == GENESIS_HASH
    assert await scalar(engine, "SELECT hash FROM audit_log WHERE seq = :s", s=head) == head_hash


async def test_verify_passes_on_an_empty_log(db_url: str) -> None:
    engine = await Engine.open(db_url, hasher=fast_hasher())
    try:
        async with engine.db.connect() as conn:
            report = await audit.verify(conn)
        assert report.ok and report.records_checked == 0
    finally:
        await engine.close()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET after = 'tampered' WHERE seq = 3",
    "DELETE FROM audit_log WHERE seq = 3",
    "DELETE FROM audit_log",
])
async def test_append_only_triggers_refuse_update_and_delete(engine: Engine, statement: str) -> None:
    before = await snapshot(engine)
    with pytest.raises(DBAPIError, match="append-only"):
        await execute_raw(engine, statement)
    assert await snapshot(engine) == before


TAMPERED = 7


async def _expect_broken_at(engine: Engine, admin: SessionInfo, seq: int, problem: str) -> None:
    report = await engine.query(admin, VerifyAuditLog())
    assert not report.ok
    assert report.first_broken_seq == seq
    assert f"#{seq}" in report.sentence
    assert problem in report.sentence


async def test_tamper_edit_a_records_text_is_detected(engine: Engine, is_pg: bool) -> None:
    admin = await _busy_log(engine)
    await _drop_append_only_triggers(engine, is_pg)
    await execute_raw(engine, "UPDATE audit_log SET after = :a WHERE seq = :s",
                      a='{"display_name":"Someone Else"}', s=TAMPERED)
    await _expect_broken_at(engine, admin, TAMPERED, "altered")


async def test_tamper_edit_the_operator_column_is_detected(engine: Engine, is_pg: bool) -> None:
    admin = await _busy_log(engine)
    await _drop_append_only_triggers(engine, is_pg)
    await execute_raw(engine, "UPDATE audit_log SET operator = 'checker' WHERE seq = :s", s=TAMPERED)
    await _expect_broken_at(engine, admin, TAMPERED, "altered")


async def test_tamper_delete_a_record_in_the_middle_is_detected(engine: Engine, is_pg: bool) -> None:
    admin = await _busy_log(engine)
    await _drop_append_only_triggers(engine, is_pg)
    await execute_raw(engine, "DELETE FROM audit_log WHERE seq = :s", s=TAMPERED)
    await _expect_broken_at(engine, admin, TAMPERED, "missing")


async def test_tamper_swap_two_records_sequence_numbers_is_detected(engine: Engine, is_pg: bool) -> None:
    admin = await _busy_log(engine)
    await _drop_append_only_triggers(engine, is_pg)
    async with engine.db.connect() as conn:
        async with conn.begin():
            await conn.execute(text("UPDATE audit_log SET seq = -1 WHERE seq = :s"), {"s": TAMPERED})
            await conn.execute(text("UPDATE audit_log SET seq = :s WHERE seq = :n"), {"s": TAMPERED, "n": TAMPERED + 1})
            await conn.execute(text("UPDATE audit_log SET seq = :n WHERE seq = -1"), {"n": TAMPERED + 1})
    await _expect_broken_at(engine, admin, TAMPERED, "reordered")


async def test_tamper_swap_two_records_contents_is_detected(engine: Engine, is_pg: bool) -> None:
    admin = await _busy_log(engine)
    await _drop_append_only_triggers(engine, is_pg)
    columns = ["at", "operator_id", "operator", "action", "target_type", "target_id", "before", "after",
               "prev_hash", "hash"]
    async with engine.db.connect() as conn:
        async with conn.begin():
            rows = {
                r.seq: r._mapping
                for r in await conn.execute(
                    text("SELECT * FROM audit_log WHERE seq IN (:a, :b)"), {"a": TAMPERED, "b": TAMPERED + 1}
                )
            }
            assigns = ", ".join(f'"{c}" = :{c}' for c in columns)
            for seq, other in ((TAMPERED, TAMPERED + 1), (TAMPERED + 1, TAMPERED)):
                values = {c: rows[other][c] for c in columns}
                await conn.execute(text(f"UPDATE audit_log SET {assigns} WHERE seq = :seq"), {**values, "seq": seq})
    await _expect_broken_at(engine, admin, TAMPERED, "reordered")


async def test_tamper_truncate_the_tail_is_detected(engine: Engine, is_pg: bool) -> None:
    admin = await _busy_log(engine)
    await _drop_append_only_triggers(engine, is_pg)
    head, _ = await audit_head_row(engine)
    await execute_raw(engine, "DELETE FROM audit_log WHERE seq > :s", s=head - 3)
    await _expect_broken_at(engine, admin, head - 2, "records at the end were deleted")


async def test_verify_reads_one_consistent_state_while_others_append(
    engine: Engine, db_url: str, is_pg: bool, request: pytest.FixtureRequest
) -> None:
    """Another console appends after verify has walked the records but before it reads the
    chain's head.  An intact log must still verify."""
    admin = await _busy_log(engine)

    async def append_from_another_console() -> None:
        other = await Engine.open(db_url, hasher=fast_hasher())
        try:
            await other.lock_session(await login(other, "checker"))
        finally:
            await other.close()

    fired: list[str] = []

    def before_head_read(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
        if not fired and "FROM audit_head" in statement and "audit_log" not in statement:
            fired.append(statement)
            run_in_thread(append_from_another_console)

    head, _ = await audit_head_row(engine)
    event.listen(engine.db.sync_engine, "before_cursor_execute", before_head_read)
    try:
        report = await engine.query(admin, VerifyAuditLog())
    finally:
        event.remove(engine.db.sync_engine, "before_cursor_execute", before_head_read)
    assert fired, "the concurrent append was not triggered"
    assert (await audit_head_row(engine))[0] == head + 2  # the other console's login and lock
    assert report.ok, report.sentence
    assert (await engine.query(admin, VerifyAuditLog())).ok


# --- the append-only guard ------------------------------------------------------------------


async def test_each_dropped_trigger_is_named_by_verify(engine: Engine, is_pg: bool) -> None:
    for name, table in (PG_GUARDS if is_pg else SQLITE_GUARDS).items():
        recreate = await guard_definitions(engine, is_pg)
        await execute_raw(engine, f"DROP TRIGGER {name} ON {table}" if is_pg else f"DROP TRIGGER {name}")
        report = await verify_chain(engine)
        assert not report.ok and report.first_broken_seq is None
        assert report.sentence.startswith("Audit log unprotected: ")
        assert f"trigger {name} on {table} is missing" in report.sentence
        await execute_raw(engine, recreate[name])
        assert (await verify_chain(engine)).ok


async def test_a_disabled_or_defused_trigger_is_named_by_verify(engine: Engine, is_pg: bool) -> None:
    if is_pg:
        await execute_raw(engine, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        expected = "audit_log_append_only on audit_log is disabled"
    else:  # same name, but it no longer refuses anything
        await execute_raw(engine, "DROP TRIGGER audit_log_no_update")
        await execute_raw(engine, "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT 1; END")
        expected = "audit_log_no_update on audit_log no longer refuses anything"
    report = await verify_chain(engine)
    assert not report.ok and expected in report.sentence


async def test_the_head_only_moves_forward_and_truncate_is_refused(engine: Engine, is_pg: bool) -> None:
    head = await audit_head_row(engine)
    statements = ["UPDATE audit_head SET seq = seq - 1", "UPDATE audit_head SET hash = 'x'", "DELETE FROM audit_head"]
    if is_pg:  # SQLite has no TRUNCATE (its DELETE is refused)
        statements += ["TRUNCATE audit_log", "TRUNCATE audit_head"]
    for statement in statements:
        with pytest.raises(DBAPIError, match="only moves forward|append-only"):
            await execute_raw(engine, statement)
    assert await audit_head_row(engine) == head
    assert await scalar(engine, "SELECT count(*) FROM audit_log") == head[0]


async def test_rehashing_one_unkeyed_record_names_it_beside_its_successor(engine: Engine, is_pg: bool) -> None:
    """Without a key anyone can recompute a record's hash; only its successor's link then
    breaks, so verify names both (a keyed record is blamed alone: test_audit_anchor)."""
    await _busy_log(engine)
    await _drop_append_only_triggers(engine, is_pg)
    row = (await audit_rows(engine, TAMPERED))[0]
    row["operator"] = "checker"
    await rewrite_chain(engine, [row], None, move_head=False)
    report = await verify_chain(engine)
    assert report.first_broken_seq == TAMPERED + 1
    assert f"or record #{TAMPERED}, which is not keyed, was altered and its hash recomputed" in report.sentence


# --- reading the log ----------------------------------------------------------------------


async def test_audit_pages_newest_first_by_keyset(engine: Engine) -> None:
    admin = await _busy_log(engine)
    head, _ = await audit_head_row(engine)
    seen: list[int] = []
    page = await engine.query(admin, QueryAuditLog(page_size=4))
    assert not page.has_newer
    while True:
        seen.extend(r.seq for r in page.records)
        if not page.has_older:
            break
        page = await engine.query(admin, QueryAuditLog(page_size=4, older_than=page.records[-1].seq))
    # Logins while paging would add records; none happen here.
    assert seen == list(range(head, 0, -1))

    forward = await engine.query(admin, QueryAuditLog(page_size=3, newer_than=5))
    assert [r.seq for r in forward.records] == [8, 7, 6]
    assert forward.has_newer and forward.has_older


async def test_audit_filters(engine: Engine) -> None:
    admin = await _busy_log(engine)
    by_maker = await engine.query(admin, QueryAuditLog(operator="maker", page_size=100))
    assert by_maker.records and {r.operator for r in by_maker.records} == {"maker"}
    approvals = await engine.query(admin, QueryAuditLog(action_prefix="approval.", page_size=100))
    assert [r.action for r in approvals.records] == ["approval.approve", "approval.submit"]
    # The prefix is a prefix, not a LIKE pattern.
    assert (await engine.query(admin, QueryAuditLog(action_prefix="%", page_size=100))).records == ()
    targeted = await engine.query(admin, QueryAuditLog(target_type="operator", target_id="maker", page_size=100))
    assert targeted.records and {(r.target_type, r.target_id) for r in targeted.records} == {("operator", "maker")}


async def test_the_seed_itself_is_audited(engine: Engine) -> None:
    actions = await audit_actions(engine)
    assert actions == ["role.create"] * 5 + ["operator.create"] * 6
    assert await scalar(engine, "SELECT count(DISTINCT operator) FROM audit_log") == 1
    assert await scalar(engine, "SELECT operator FROM audit_log WHERE seq = 1") == "seed"


async def test_operators_created_later_are_audited_by_their_creator(engine: Engine) -> None:
    admin = await login(engine, "admin")
    head, _ = await audit_head_row(engine)
    await new_operator(engine, admin, "newbie", ["fx.currency_pair_inquiry"])
    assert await audit_actions(engine, head) == ["role.create", "operator.create", "operator.login"]


async def test_paging_forward_from_the_start_has_nothing_older(engine: Engine) -> None:
    admin = await login(engine, "admin")
    page = await engine.query(admin, QueryAuditLog(page_size=3, newer_than=0))
    assert [r.seq for r in page.records] == [3, 2, 1]
    assert page.has_newer
    assert not page.has_older

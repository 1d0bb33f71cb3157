"""Issue 9, point 4: the engine believes no identity it is handed.

Login opens a server-side session; every command presents its token and the engine
resolves it inside the command's transaction.  A ``SessionInfo`` built by hand, another
operator's id on a real token, an ``Actor`` handed to ``execute``, a logged-out, locked,
expired or superseded session: each is refused, changes nothing, and leaves its refusal
in the audit log.  The system actor is no way to an approval either.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from datetime import timedelta

import pytest
from engine_support import PASSWORDS, audit_records, login, scalar, snapshot
from engine_workers import run_with_session

from wbo_tui.engine import (
    CreateRole,
    Engine,
    ListOperators,
    MakerCheckerViolation,
    NotAuthenticated,
    PasswordChangeRequired,
    RequestPermission,
    SessionInfo,
    SessionLocked,
)
from wbo_tui.engine.approvals import ApproveItem
from wbo_tui.engine.uow import Actor

AUDIT = "admin.audit_log_inquiry"


async def _refusals(engine: Engine) -> list[dict]:
    return [json.loads(r.after) | {"operator": r.operator} for r in await audit_records(engine, "request.refused")]


async def test_a_session_built_by_hand_is_refused_and_audited(engine: Engine) -> None:
    admin = await login(engine, "admin")
    forged = SessionInfo(operator_id=admin.operator_id, username="admin", display_name="Admin",
                         permissions=frozenset({"admin.role_operation"}), login_at=admin.login_at,
                         token="0" * 43, expires_at=admin.expires_at)
    before = await snapshot(engine)
    with pytest.raises(NotAuthenticated, match="session has ended"):
        await engine.execute(forged, CreateRole(name="forged"))
    assert await snapshot(engine) == before
    [refusal] = await _refusals(engine)
    assert refusal["operator"] == "unauthenticated"
    assert refusal["claimed_operator_id"] == admin.operator_id
    assert refusal["request"] == "CreateRole" and refusal["error"] == "NotAuthenticated"


async def test_another_operators_id_on_a_real_token_is_refused(engine: Engine) -> None:
    admin = await login(engine, "admin")
    viewer = await login(engine, "viewer")
    impostor = viewer.model_copy(update={"operator_id": admin.operator_id, "username": "admin",
                                         "permissions": admin.permissions})
    with pytest.raises(NotAuthenticated, match="belongs to another operator"):
        await engine.execute(impostor, CreateRole(name="impostor"))
    with pytest.raises(NotAuthenticated, match="belongs to another operator"):
        await engine.query(impostor, ListOperators())
    assert [r["claimed_username"] for r in await _refusals(engine)] == ["admin", "admin"]
    assert await scalar(engine, "SELECT count(*) FROM roles WHERE name = 'impostor'") == 0


async def test_an_actor_is_no_session_and_the_system_decides_nothing(engine: Engine) -> None:
    admin = await login(engine, "admin")
    checker = await login(engine, "checker")
    with pytest.raises(NotAuthenticated, match="not logged in"):
        await engine.execute(Actor(admin.operator_id, "admin"), CreateRole(name="by-actor"))  # type: ignore[arg-type]
    with pytest.raises(NotAuthenticated):
        await engine.execute(Actor.system("scheduler"), CreateRole(name="by-system"))  # type: ignore[arg-type]
    item = await engine.execute(checker, RequestPermission(permission_code="atm.funds_alloc_config_operation", reason="month end"))
    with pytest.raises(MakerCheckerViolation, match="Only an operator"):
        await engine.setup_execute(ApproveItem(approval_id=item.id), tool="scheduler")
    assert await scalar(engine, "SELECT status FROM approvals WHERE id = :i", i=item.id) == "PENDING"
    assert [r["request"] for r in await _refusals(engine)] == ["CreateRole", "CreateRole", "ApproveItem"]


async def test_only_the_tokens_hash_is_stored(engine: Engine) -> None:
    session = await login(engine, "maker")
    stored = await scalar(engine, "SELECT token_hash FROM operator_sessions WHERE operator_id = :o",
                          o=session.operator_id)
    assert stored == hashlib.sha256(session.token.encode()).hexdigest()
    assert len(session.token) >= 43  # 256 bits, URL-safe base64
    assert session.token not in repr(session)
    dump = repr(await snapshot(engine, everything=True))
    assert session.token not in dump


async def test_logout_ends_the_session(engine: Engine) -> None:
    admin = await login(engine, "admin")
    await engine.logout(admin)
    with pytest.raises(NotAuthenticated, match="session has ended"):
        await engine.execute(admin, CreateRole(name="after-logout"))
    assert await scalar(engine, "SELECT revoked_reason FROM operator_sessions WHERE operator_id = :o",
                        o=admin.operator_id) == "logout"


async def test_a_session_expires(engine: Engine, clock) -> None:  # noqa: ANN001
    admin = await login(engine, "admin")
    assert admin.expires_at == admin.login_at + timedelta(seconds=engine.services.policy.session_max_age_s)
    clock.advance(seconds=engine.services.policy.session_max_age_s)
    with pytest.raises(NotAuthenticated, match="expired"):
        await engine.execute(admin, CreateRole(name="too-late"))
    fresh = await login(engine, "admin")
    await engine.execute(fresh, CreateRole(name="in-time"))


async def test_a_locked_session_does_nothing_until_its_password(engine: Engine) -> None:
    admin = await login(engine, "admin")
    await engine.lock_session(admin)
    with pytest.raises(SessionLocked):
        await engine.execute(admin, CreateRole(name="while-locked"))
    with pytest.raises(SessionLocked):
        await engine.query(admin, ListOperators())
    await engine.unlock(admin, PASSWORDS["admin"])
    await engine.execute(admin, CreateRole(name="after-unlock"))


async def test_changing_the_password_ends_the_other_sessions(engine: Engine) -> None:
    here = await login(engine, "maker")
    elsewhere = await login(engine, "maker")
    await engine.change_password(here, PASSWORDS["maker"], "Peak-Tram-Route-9")
    with pytest.raises(NotAuthenticated, match="session has ended"):
        await engine.query(elsewhere, ListOperators())
    await engine.refresh_session(here)  # the console that changed it goes on


async def test_disabling_an_operator_stops_its_session(engine: Engine) -> None:
    from wbo_tui.engine import SetOperatorEnabled

    admin = await login(engine, "admin")
    viewer = await login(engine, "viewer")
    await engine.execute(admin, SetOperatorEnabled(username="viewer", enabled=False))
    with pytest.raises(NotAuthenticated, match="disabled"):
        await engine.refresh_session(viewer)


async def test_a_password_set_by_an_administrator_must_be_changed_first(engine: Engine) -> None:
    from sqlalchemy import text

    async with engine.db.begin() as conn:
        await conn.execute(text("UPDATE operators SET must_change_password = :t WHERE username = 'maker'"),
                           {"t": True})
    maker = await login(engine, "maker")
    assert maker.must_change_password
    with pytest.raises(PasswordChangeRequired):
        await engine.query(maker, ListOperators())
    with pytest.raises(PasswordChangeRequired):
        await engine.execute(maker, RequestPermission(permission_code=AUDIT, reason="x"))
    await engine.change_password(maker, PASSWORDS["maker"], "Peak-Tram-Route-9")
    await engine.execute(maker, RequestPermission(permission_code=AUDIT, reason="now allowed"))
    assert await scalar(engine, "SELECT must_change_password FROM operators WHERE username = 'maker'") in (0, False)


@pytest.mark.slow
async def test_another_process_sees_a_logout_at_once(engine: Engine, db_url: str) -> None:
    """Two consoles (OS processes) holding one token: once this one logs out, the other
    process's next command is refused, with no cache to outlive the revocation."""
    admin = await login(engine, "admin")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.apply(run_with_session, (db_url, admin.model_dump_json(), "role-a")) == "ok"
        await engine.logout(admin)
        outcome = pool.apply(run_with_session, (db_url, admin.model_dump_json(), "role-b"))
    assert outcome == "NotAuthenticated: Your session has ended. Log in again."
    assert await scalar(engine, "SELECT count(*) FROM roles WHERE name IN ('role-a', 'role-b')") == 1


async def test_preparing_the_login_writes_nothing_and_the_login_still_works(engine: Engine) -> None:
    """The console pays the first login's one-off costs while the operator types:
    nothing is written (no session, no audit record), and the dummy hash an unknown
    username is checked against is ready, so that the first unknown name takes no
    longer than a known one."""
    before = await snapshot(engine, everything=True)
    await engine.prepare_login()
    assert await snapshot(engine, everything=True) == before
    assert engine._dummy is not None
    session = await login(engine, "maker")
    assert session.username == "maker"
    assert len(await audit_records(engine, "operator.login")) == 1

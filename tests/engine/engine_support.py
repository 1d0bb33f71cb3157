"""Helpers shared by the engine tests (and the race workers, in their own processes)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from wbo_tui.engine import (
    ApproveItem,
    CreateOperator,
    CreateRole,
    Engine,
    RequestPermission,
    SessionInfo,
)
from wbo_tui.engine.permissions import CATALOG
from wbo_tui.engine.schema import audit_head, audit_log, metadata

PG_ENV = "WBO_TEST_PG_URL"
REPO = Path(__file__).resolve().parents[2]
DEMO_DATA = REPO / "data" / "demo.json"
START = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)

# The demo operators' passwords, from the demo data itself.
PASSWORDS = {op["username"]: op["password"] for op in json.loads(DEMO_DATA.read_text())["operators"]}
# For operators the tests create; contains none of their usernames.
FRESH_PASSWORD = "Kowloon-Tong-77"
ALL_PERMISSIONS = tuple(p.code for p in CATALOG)
ADMINISTRATION = "admin.role_operation"
APPROVAL_PERMISSION = "admin.permission_request_approval"


# --- PostgreSQL databases ---------------------------------------------------------------


def pg_admin_url() -> str | None:
    raw = os.environ.get(PG_ENV)
    if not raw:
        return None
    return make_url(raw).set(drivername="postgresql").render_as_string(hide_password=False)


def pg_url_for(database: str) -> str:
    admin = pg_admin_url()
    assert admin is not None
    return make_url(admin).set(database=database).render_as_string(hide_password=False)


async def create_pg_database(name: str, template: str | None = None) -> None:
    conn = await asyncpg.connect(pg_admin_url())
    try:
        suffix = f" TEMPLATE {template}" if template else ""
        await conn.execute(f"CREATE DATABASE {name}{suffix}")
    finally:
        await conn.close()


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(pg_admin_url())
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


def run_in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` (sync, or an async function) in a thread with no event loop of ours."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            value = fn(*args)
            if asyncio.iscoroutine(value):
                value = asyncio.run(value)
            result["value"] = value
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


# --- reading the database behind the engine's back ---------------------------------------


# A refused command writes its refusal to the audit log (test_refusals.py proves it), and
# sessions come and go with logins: "nothing changed" is about everything else.
_NOT_IN_SNAPSHOT = {"audit_log", "audit_head", "operator_sessions"}


async def snapshot(engine: Engine, *, everything: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every engine table but the audit log and the sessions (``everything``:
    those too), in primary-key order: to prove that a refused command changed nothing."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.db.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in _NOT_IN_SNAPSHOT and not everything:
                continue
            rows = await conn.execute(select(table).order_by(*table.primary_key.columns))
            out[table.name] = [tuple(r) for r in rows]
    return out


async def audit_head_row(engine: Engine) -> tuple[int, str]:
    async with engine.db.connect() as conn:
        row = (await conn.execute(select(audit_head.c.seq, audit_head.c.hash))).one()
    return row.seq, row.hash


async def audit_actions(engine: Engine, after_seq: int = 0) -> list[str]:
    async with engine.db.connect() as conn:
        rows = await conn.execute(
            select(audit_log.c.action).where(audit_log.c.seq > after_seq).order_by(audit_log.c.seq)
        )
        return [r[0] for r in rows]


async def audit_records(engine: Engine, action: str) -> list[Any]:
    async with engine.db.connect() as conn:
        return list(
            (await conn.execute(select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq))).all()
        )


async def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    async with engine.db.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def execute_raw(engine: Engine, sql: str, **params: Any) -> None:
    """A committed statement outside the engine's commands (an attacker, or a bug)."""
    async with engine.db.connect() as conn:
        conn = await conn.execution_options(wbo_write=True)
        async with conn.begin():
            await conn.execute(text(sql), params)


# --- operators --------------------------------------------------------------------------


async def login(engine: Engine, username: str) -> SessionInfo:
    return await engine.login(username, PASSWORDS.get(username, FRESH_PASSWORD))


async def new_operator(
    engine: Engine,
    admin: SessionInfo,
    username: str,
    permissions: list[str] | tuple[str, ...] = (),
    *,
    roles: list[str] | None = None,
) -> SessionInfo:
    """Create an operator holding exactly ``permissions`` through a role of their own (plus
    ``roles``), and log them in.  A test's set-up is a setup tool: it creates them as
    ``wbo-tui seed`` does, roles applied at once and no password change due, rather than as
    ``admin``, whose roles would wait for a second administrator (``admin`` stays in the
    signature for the many callers)."""
    own_roles = list(roles or [])
    if permissions:
        role = f"r_{username}"
        await engine.setup_execute(CreateRole(name=role, permissions=list(permissions)), tool="test-setup")
        own_roles.append(role)
    await engine.setup_execute(
        CreateOperator(username=username, display_name=username.title(), password=FRESH_PASSWORD, roles=own_roles),
        tool="test-setup",
    )
    return await engine.login(username, FRESH_PASSWORD)


async def grant_directly(engine: Engine, grantee: SessionInfo, approver: SessionInfo, permission: str) -> SessionInfo:
    """The normal way to a direct grant: ``grantee`` asks, ``approver`` approves."""
    item = await engine.execute(grantee, RequestPermission(permission_code=permission, reason="test set-up"))
    decided = await engine.execute(approver, ApproveItem(approval_id=item.id))
    assert decided.status == "APPROVED", decided
    return await engine.refresh_session(grantee)

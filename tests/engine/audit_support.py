"""Helpers for the audit chain tests: reading and rewriting the chain behind the engine's
back, as an attacker with the database's owner rights would, and verifying it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_support import audit_head_row, execute_raw, login
from sqlalchemy import select, text, update

from wbo_tui.engine import Engine, audit
from wbo_tui.engine.audit import AuditKey, VerifyReport, record_hash
from wbo_tui.engine.audit_anchor import read_anchors
from wbo_tui.engine.schema import audit_head, audit_log

EDITED = 7
PG_GUARDS = {"audit_log_append_only": "audit_log", "audit_log_no_truncate": "audit_log",
             "audit_head_forward_only": "audit_head", "audit_head_no_truncate": "audit_head"}
SQLITE_GUARDS = {"audit_log_no_update": "audit_log", "audit_log_no_delete": "audit_log",
                 "audit_head_forward_only": "audit_head", "audit_head_no_delete": "audit_head"}


async def busy_log(engine: Engine) -> int:
    for name in ("admin", "maker", "checker", "viewer", "admin", "maker"):
        await login(engine, name)
    head, _ = await audit_head_row(engine)
    assert head >= EDITED + 5
    return head


async def verify_chain(engine: Engine, key: bytes | None = None, anchor_file: Path | None = None) -> VerifyReport:
    anchors = None if anchor_file is None else read_anchors(anchor_file)
    async with engine.db.connect() as conn:
        return await audit.verify(conn, key=key, anchors=anchors)


async def guard_definitions(engine: Engine, is_pg: bool) -> dict[str, str]:
    """Each append-only trigger's name and the statement that recreates it."""
    async with engine.db.connect() as conn:
        if is_pg:
            found = await conn.execute(text("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                                            "WHERE tgname = ANY(:n)"), {"n": list(PG_GUARDS)})
        else:
            found = await conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
        return {name: sql for name, sql in found if name in (PG_GUARDS if is_pg else SQLITE_GUARDS)}


async def drop_guards(engine: Engine, is_pg: bool) -> list[str]:
    """What an attacker with the database owner's rights can do first; returns the
    statements that recreate the triggers, for covering the tracks afterwards."""
    recreate = list((await guard_definitions(engine, is_pg)).values())
    for name, table in (PG_GUARDS if is_pg else SQLITE_GUARDS).items():
        await execute_raw(engine, f"DROP TRIGGER {name} ON {table}" if is_pg else f"DROP TRIGGER {name}")
    return recreate


async def restore_guards(engine: Engine, recreate: list[str]) -> None:
    for statement in recreate:
        await execute_raw(engine, statement)


async def audit_rows(engine: Engine, from_seq: int = 1) -> list[dict[str, Any]]:
    async with engine.db.connect() as conn:
        rows = await conn.execute(select(audit_log).where(audit_log.c.seq >= from_seq).order_by(audit_log.c.seq))
        return [dict(r._mapping) for r in rows]


async def rewrite_chain(engine: Engine, rows: list[dict[str, Any]], key: AuditKey | None, *,
                        move_head: bool = True) -> None:
    """Write ``rows`` back with each hash recomputed (under ``key``; None: plain SHA-256,
    all an attacker without the key can compute), chained from the first row's link."""
    prev = rows[0]["prev_hash"]
    async with engine.db.connect() as conn:
        conn = await conn.execution_options(wbo_write=True)
        async with conn.begin():
            for row in rows:
                row["prev_hash"] = prev
                row["hash"] = prev = record_hash(row["seq"], row, prev, key)
                await conn.execute(update(audit_log).where(audit_log.c.seq == row["seq"]).values(**row))
            if move_head:
                await conn.execute(update(audit_head).values(seq=rows[-1]["seq"], hash=prev,
                                                             key_id=rows[-1]["key_id"]))

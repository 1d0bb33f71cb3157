"""The database's own guard over the audit log: triggers that refuse UPDATE, DELETE and
TRUNCATE on ``audit_log`` and let ``audit_head`` only move forward (migrations 0001 and
0008), and the check that they are all still there and still refuse.

The triggers stop accidents, application bugs and anyone without the right to drop them;
whoever has that right can then edit freely, which the chain's keyed hashes and anchors
detect only afterwards (``audit.verify``).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Trigger name -> (table, what its body must contain to still refuse).
_SQLITE_GUARDS = {
    "audit_log_no_update": ("audit_log", "RAISE(ABORT"),
    "audit_log_no_delete": ("audit_log", "RAISE(ABORT"),
    "audit_head_forward_only": ("audit_head", "RAISE(ABORT"),
    "audit_head_no_delete": ("audit_head", "RAISE(ABORT"),
}
_PG_GUARDS = {
    "audit_log_append_only": ("audit_log", "RAISE EXCEPTION"),
    "audit_log_no_truncate": ("audit_log", "RAISE EXCEPTION"),
    "audit_head_forward_only": ("audit_head", "RAISE EXCEPTION"),
    "audit_head_no_truncate": ("audit_head", "RAISE EXCEPTION"),
}
_PG_TRIGGERS = text(
    "SELECT t.tgname AS name, c.relname AS tbl, t.tgenabled::text AS enabled, p.prosrc AS body "
    "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid "
    "WHERE NOT t.tgisinternal AND c.relname IN ('audit_log', 'audit_head') "
    "AND c.relnamespace = current_schema()::regnamespace"
)


async def guard_problems(conn: AsyncConnection) -> list[str]:
    """Sentences naming each append-only trigger that is missing, disabled or defused
    (a trigger of the same name whose body no longer raises counts as missing).  An
    attacker who restores the triggers after editing is caught by the chain instead."""
    if conn.dialect.name == "postgresql":
        guards = _PG_GUARDS
        found = {r.name: (r.tbl, r.body, r.enabled) for r in await conn.execute(_PG_TRIGGERS)}
    else:
        guards = _SQLITE_GUARDS
        rows = await conn.execute(text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"))
        found = {r.name: (r.tbl_name, r.sql, "O") for r in rows}
    problems = []
    for name, (table, refusal) in guards.items():
        if name not in found or found[name][0] != table:
            state = "is missing (dropped)"
        elif refusal not in (found[name][1] or "").upper():
            state = "no longer refuses anything (it was replaced)"
        elif found[name][2] not in ("O", "A"):
            state = "is disabled"
        else:
            continue
        exposed = "records can be edited or deleted" if table == "audit_log" else "the head can be moved back"
        problems.append(f"the append-only trigger {name} on {table} {state}: {exposed}; recreate it "
                        "(README, \"Audit chain\") and find out who changed it.")
    return problems

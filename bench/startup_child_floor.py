"""The floor of Enter -> shell: what any login on this database must do, and nothing else.

``python -m bench.startup_child_floor DB_PATH USERNAME PASSWORD``

Reads the operator's row, verifies the password against its stored argon2 hash (the
production parameters: argon2 verifies with those stored in the hash) and writes the
login's one transaction with the stdlib ``sqlite3`` module, as the engine's login does:
``BEGIN IMMEDIATE``; the operator's failed-login count and last login; a new session
row; the operator's effective permissions read back; one audit record chained from
``audit_head`` with the engine's own ``audit.record_hash`` and the head moved; ``COMMIT``
(WAL, ``synchronous = FULL``: the engine's settings).  The connection is opened and the
modules imported before the clock starts; the figure is ``committed - verify_start``.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import sys
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError

from bench.startup_child_common import mark, report
from wbo_tui.engine.audit import record_hash

SESSION_MAX_AGE = timedelta(hours=12)
_PERMISSIONS = """
    SELECT rp.permission FROM operator_roles orl JOIN role_permissions rp ON rp.role_id = orl.role_id
    WHERE orl.operator_id = :id
    UNION
    SELECT op.permission FROM operator_permissions op WHERE op.operator_id = :id
"""


def _at(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="microseconds")[:26]


def login(conn: sqlite3.Connection, username: str, password: str) -> frozenset[str]:
    row = conn.execute("SELECT id, username, password_hash FROM operators WHERE username = ?", (username,)).fetchone()
    if row is None:
        raise SystemExit(f"no operator {username!r}")
    operator_id, name, stored = row
    try:
        PasswordHasher().verify(stored, password)
    except VerificationError as error:
        raise SystemExit(f"wrong password for {username!r}") from error
    now = datetime.now(UTC)
    token_hash = hashlib.sha256(secrets.token_urlsafe(32).encode()).hexdigest()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE operators SET failed_logins = 0, last_login_at = ? WHERE id = ?", (_at(now), operator_id))
    conn.execute(
        "INSERT INTO operator_sessions (token_hash, operator_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (token_hash, operator_id, _at(now), _at(now + SESSION_MAX_AGE)),
    )
    permissions = frozenset(p for (p,) in conn.execute(_PERMISSIONS, {"id": operator_id}))
    seq, prev = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    seq += 1
    rec = {"at": now, "operator_id": operator_id, "operator": name, "action": "operator.login",
           "target_type": "operator", "target_id": name, "before": None,
           "after": f'{{"session_expires_at":"{(now + SESSION_MAX_AGE).isoformat()}"}}'}
    digest = record_hash(seq, rec, prev)
    conn.execute(
        "INSERT INTO audit_log (seq, at, operator_id, operator, action, target_type, target_id, before, after, "
        "prev_hash, hash, key_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        (seq, _at(now), operator_id, name, rec["action"], rec["target_type"], rec["target_id"], rec["before"],
         rec["after"], prev, digest),
    )
    conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, digest))
    conn.execute("COMMIT")
    return permissions


def main(argv: list[str]) -> None:
    path, username, password = argv
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("busy_timeout = 30000", "journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON"):
            conn.execute(f"PRAGMA {pragma}")
        mark("verify_start")
        login(conn, username, password)
        mark("committed")
    finally:
        conn.close()
    report()


if __name__ == "__main__":
    main(sys.argv[1:])

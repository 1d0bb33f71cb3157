"""``wbo-tui doctor``: checks a deployment and says, one line each, what is wrong and how
to fix it.

No engine check matters if an operator can reach the database behind the console: with
a shell and write access to the SQLite file (or the credentials of a PostgreSQL role that
owns the tables), anyone can edit any table.  The doctor checks what the README's
deployment sections set up: the files belong to the service account and nobody else can
open them; the PostgreSQL role the console connects as owns nothing and cannot edit the
audit log; the audit chain is keyed, anchored, intact and guarded; the schema is current.
"""

from __future__ import annotations

import os
import pwd
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from . import audit
from .audit_anchor import AnchorFile, AuditKeyFileError, load_key, read_anchors


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    text: str
    """One line: what was checked, and for a problem what to do about it."""

    @property
    def line(self) -> str:
        return f"{'ok ' if self.ok else 'FIX'}  {self.text}"


@dataclass(frozen=True, slots=True)
class Deployment:
    db_url: str
    key_file: Path | None
    anchor_file: Path | None
    service_user: str


def _ok(message: str) -> Finding:
    return Finding(True, message)


def _fix(message: str) -> Finding:
    return Finding(False, message)


async def diagnose(deployment: Deployment) -> list[Finding]:
    """Every finding about ``deployment``, problems and passed checks alike."""
    findings = list(_file_findings(deployment))
    key = None
    if deployment.key_file is None:
        findings.append(_fix("no audit key is configured, so the chain is unanchored (whoever can write the "
                             "database can rewrite it undetected): as the service account run "
                             "wbo-tui audit new-key /srv/wbo/audit.key and set WBO_AUDIT_KEY_FILE"))
    else:
        try:
            key = load_key(deployment.key_file)
            findings.append(_ok(f"audit key {deployment.key_file} loads"))
        except AuditKeyFileError as error:
            findings.append(_fix(error.message))
    anchors = None
    if deployment.anchor_file is None:
        findings.append(_fix("no anchor file is configured, so records cut off the end of the audit log go "
                             "unnoticed: set WBO_AUDIT_ANCHOR_FILE=/srv/wbo/audit-anchors.jsonl"))
    else:
        try:
            anchors = read_anchors(deployment.anchor_file)
        except OSError as error:
            findings.append(_fix(f"anchor file {deployment.anchor_file} cannot be read ({error.strerror}): "
                                 f"run the doctor as the service account {deployment.service_user}"))
    findings.extend(await _database_findings(deployment, key, anchors))
    return findings


# --- files -----------------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).absolute()


def _file_findings(deployment: Deployment) -> Iterable[Finding]:
    user = deployment.service_user
    directories: list[Path] = []
    db_path = _sqlite_path(deployment.db_url)
    if db_path is not None:
        directories.append(db_path.parent)
        yield from _path_findings(db_path, "database file", user)
        for suffix in ("-wal", "-shm"):  # SQLite's files beside the database, when present
            yield from _path_findings(Path(f"{db_path}{suffix}"), "database file", user, required=False)
    for path, what in ((deployment.key_file, "audit key file"), (deployment.anchor_file, "anchor file")):
        if path is not None:
            directories.append(path.absolute().parent)
            yield from _path_findings(path.absolute(), what, user, required=what != "anchor file")
    for directory in dict.fromkeys(directories):  # each once, in order
        yield from _path_findings(directory, "directory", user, is_dir=True)


_OPEN_BITS = (
    (stat.S_IRGRP, "group-readable"), (stat.S_IWGRP, "group-writable"), (stat.S_IXGRP, "group-searchable"),
    (stat.S_IROTH, "world-readable"), (stat.S_IWOTH, "world-writable"), (stat.S_IXOTH, "world-searchable"),
)


def _path_findings(path: Path, what: str, service_user: str, *, required: bool = True,
                   is_dir: bool = False) -> Iterable[Finding]:
    try:
        info = path.stat()
    except FileNotFoundError:
        if required:
            yield _fix(f"{what} {path} does not exist")
        return
    except PermissionError:
        yield _fix(f"{what} {path} cannot be inspected as {_user_name(os.getuid())} (permission denied): run "
                   f"the doctor as the service account: sudo -u {service_user} wbo-tui doctor")
        return
    owner = _user_name(info.st_uid)
    mode = stat.S_IMODE(info.st_mode)
    open_to = [name for bit, name in _OPEN_BITS if mode & bit and (is_dir or bit not in (stat.S_IXGRP, stat.S_IXOTH))]
    if owner != service_user:
        you = " (you)" if info.st_uid == os.getuid() else ""
        yield _fix(f"{what} {path} is owned by {owner}{you}, not the service account {service_user}: "
                   f"chown {service_user} {path}")
    if open_to:
        yield _fix(f"{what} {path} is {', '.join(open_to)} (mode {mode:04o}), so other accounts can reach it: "
                   f"chmod {'700' if is_dir else '600'} {path}")
    if owner == service_user and not open_to:
        yield _ok(f"{what} {path}: owned by {owner}, mode {mode:04o}")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


# --- the database --------------------------------------------------------------------------


async def _database_findings(deployment: Deployment, key: bytes | None,
                             anchors: AnchorFile | None) -> list[Finding]:
    from .api import SCHEMA_REVISION, Engine

    url = deployment.db_url
    shown = make_url(url).render_as_string(hide_password=True)
    findings: list[Finding] = []
    db_path = _sqlite_path(url)
    if db_path is not None and not db_path.exists():
        return findings  # already said; opening it would create an empty database
    if make_url(url).password:
        findings.append(_fix("the database URL carries a password, which anyone who sees the console's "
                             "environment or command line can read: keep it in the service account's "
                             "~/.pgpass (mode 0600) and leave it out of the URL"))
    try:
        engine = await Engine.open(url, check_schema=False)
    except Exception as error:  # noqa: BLE001 - any failure to open is a finding, not a crash
        return [*findings, _fix(f"cannot open the database {shown}: {error}")]
    is_pg = engine.db.dialect.name == "postgresql"
    try:
        revision = await engine.schema_revision()
        if revision != SCHEMA_REVISION:
            findings.append(_fix(f"the schema is at {revision or 'nothing'}; this console needs "
                                 f"{SCHEMA_REVISION}: wbo-tui db upgrade --db {shown}"))
            return findings
        findings.append(_ok(f"schema current ({SCHEMA_REVISION})"))
        async with engine.db.connect() as conn:
            if is_pg:
                findings.extend(await _role_findings(conn))
            report = await audit.verify(conn, key=key, anchors=anchors)
    except Exception as error:  # noqa: BLE001 - e.g. a role that may not read a table
        findings.append(_fix(f"cannot check the database {shown}: {error}"))
        return findings
    finally:
        await engine.close()
    findings.extend(_chain_findings(report, anchors))
    if is_pg:
        findings.extend(_pgpass_findings())
    return findings


def _chain_findings(report: audit.VerifyReport, anchors: AnchorFile | None) -> list[Finding]:
    if not report.ok:
        fix = "" if report.first_broken_seq is None else "; compare with a backup and find out who changed it"
        return [_fix(report.sentence + fix)]
    found = [_ok(f"audit chain intact: {report.records_checked:,} records, {report.anchors_checked} anchored "
                 "sequence numbers match")]
    if anchors is not None and not anchors.anchors and report.head_seq:
        found.append(_fix(f"the anchor file {anchors.path} holds no anchor yet: start a console or run "
                          "wbo-tui audit verify as the service account"))
    return found


_ROLE = text(
    "SELECT current_user AS name, r.rolsuper AS superuser, "
    "       (SELECT count(*) FROM pg_class t WHERE t.relnamespace = current_schema()::regnamespace "
    "        AND t.relkind = 'r' AND pg_has_role(current_user, t.relowner, 'MEMBER')) AS owned "
    "FROM pg_roles r WHERE r.rolname = current_user"
)
_TABLE_RIGHTS = text(
    "SELECT has_table_privilege(:t, 'UPDATE') AS update, has_table_privilege(:t, 'DELETE') AS delete, "
    "       has_table_privilege(:t, 'TRUNCATE') AS truncate, has_table_privilege(:t, 'TRIGGER') AS trigger"
)


async def _role_findings(conn: Any) -> list[Finding]:
    role = (await conn.execute(_ROLE)).one()
    findings = []
    if role.superuser:
        findings.append(_fix(f"the console connects as {role.name}, a superuser, who can do anything to the "
                             "database including dropping the audit log's triggers: connect as a role "
                             "made as the README's PostgreSQL section shows"))
    if role.owned:
        findings.append(_fix(f"the role {role.name} owns {role.owned} of the tables (an owner can drop the "
                             "append-only triggers and rewrite the audit log): let another role own the "
                             "schema and grant this one only what the README lists"))
    # What the console needs is INSERT on audit_log and UPDATE on audit_head (the head
    # moves forward); anything more lets a holder of its credentials edit the history.
    for table, needed in (("audit_log", ()), ("audit_head", ("update",))):
        rights = (await conn.execute(_TABLE_RIGHTS, {"t": table})).one()._mapping
        extra = [name.upper() for name, held in rights.items() if held and name not in needed]
        if extra:
            findings.append(_fix(f"the role {role.name} can {', '.join(extra)} {table}: "
                                 f"REVOKE {', '.join(extra)} ON {table} FROM {role.name}"))
    if not findings:
        findings.append(_ok(f"the role {role.name} is no superuser, owns no table and cannot edit the audit log"))
    return findings


def _pgpass_findings() -> list[Finding]:
    path = Path(os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return []
    if mode & 0o077:
        return [_fix(f"the password file {path} is open to other accounts (mode {mode:04o}): chmod 600 {path}")]
    return [_ok(f"password file {path}: mode {mode:04o}")]

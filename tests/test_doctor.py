"""``wbo-tui doctor``: one line per finding, what to fix, exit 1 when anything is wrong —
and a clean bill for a deployment laid out as the README says."""

from __future__ import annotations

import getpass
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent / "engine"))

from engine_support import (  # noqa: E402
    DEMO_DATA,
    PG_ENV,
    create_pg_database,
    drop_pg_database,
    execute_raw,
    login,
    pg_admin_url,
    pg_url_for,
)

from wbo_tui.cli import app  # noqa: E402
from wbo_tui.engine import Engine, migrate, seed  # noqa: E402
from wbo_tui.engine.audit_anchor import AnchorKeeper, load_key, new_key_file  # noqa: E402
from wbo_tui.engine.doctor import Deployment, Finding, diagnose  # noqa: E402
from wbo_tui.engine.passwords import fast_hasher  # noqa: E402

ME = getpass.getuser()
README = Path(__file__).resolve().parents[1] / "README.md"
needs_pg = pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"PostgreSQL tests need {PG_ENV}")


async def _install(url: str, folder: Path) -> Deployment:
    """A migrated, seeded installation keyed and anchored from the start, its key and
    anchor files in ``folder`` (mode 0700) as the README lays them out."""
    folder.mkdir(mode=0o700, exist_ok=True)
    key_file, anchor_file = folder / "audit.key", folder / "audit-anchors.jsonl"
    new_key_file(key_file)
    await migrate.upgrade_async(url)
    engine = await Engine.open(url, hasher=fast_hasher(), audit_key=load_key(key_file))
    try:
        await seed.seed(engine, seed.load(DEMO_DATA))
        await AnchorKeeper(engine, anchor_file, interval_s=60).write_now("shutdown")
    finally:
        await engine.close()
    return Deployment(url, key_file, anchor_file, ME)


@pytest.fixture
async def sqlite_install(tmp_path: Path) -> Deployment:
    folder = tmp_path / "srv"
    deployment = await _install(f"sqlite:///{folder / 'wbo.db'}", folder)
    for name in ("wbo.db", "wbo.db-wal", "wbo.db-shm"):
        if (folder / name).exists():
            (folder / name).chmod(0o600)
    return deployment


def _problems(findings: list[Finding]) -> list[str]:
    return [f.text for f in findings if not f.ok]


def _env(deployment: Deployment) -> dict[str, str]:
    return {"WBO_DB_URL": deployment.db_url, "WBO_AUDIT_KEY_FILE": str(deployment.key_file),
            "WBO_AUDIT_ANCHOR_FILE": str(deployment.anchor_file), "WBO_SERVICE_USER": ME}


# --- SQLite --------------------------------------------------------------------------------


async def test_a_correct_sqlite_layout_passes(sqlite_install: Deployment) -> None:
    findings = await diagnose(sqlite_install)
    assert _problems(findings) == []
    texts = "\n".join(f.text for f in findings)
    assert "database file" in texts and "audit key" in texts and "anchor file" in texts
    assert "audit chain intact" in texts and "schema current" in texts


def test_the_command_exits_0_on_a_correct_layout_and_1_on_a_group_writable_database(tmp_path: Path) -> None:
    import asyncio

    folder = tmp_path / "srv"
    deployment = asyncio.run(_install(f"sqlite:///{folder / 'wbo.db'}", folder))
    (folder / "wbo.db").chmod(0o600)
    runner = CliRunner()
    good = runner.invoke(app, ["doctor"], env=_env(deployment))
    assert good.exit_code == 0, good.output
    assert "The deployment looks right." in good.output

    (folder / "wbo.db").chmod(0o660)
    bad = runner.invoke(app, ["doctor"], env=_env(deployment))
    assert bad.exit_code == 1
    lines = [line for line in bad.output.splitlines() if line.startswith("FIX")]
    assert lines == [f"FIX  database file {folder / 'wbo.db'} is group-readable, group-writable (mode 0660), "
                     f"so other accounts can reach it: chmod 600 {folder / 'wbo.db'}"]
    assert "1 thing to fix." in bad.output


async def test_an_open_folder_and_a_file_owned_by_someone_else_are_found(sqlite_install: Deployment) -> None:
    folder = sqlite_install.key_file.parent
    folder.chmod(0o755)
    problems = _problems(await diagnose(Deployment(sqlite_install.db_url, sqlite_install.key_file,
                                                   sqlite_install.anchor_file, "wbo-service")))
    assert f"directory {folder} is group-readable, group-searchable, world-readable, world-searchable " \
           f"(mode 0755), so other accounts can reach it: chmod 700 {folder}" in problems
    owned = [p for p in problems if "not the service account wbo-service" in p]
    assert len(owned) == 4  # database, key, anchors, directory
    assert f"audit key file {sqlite_install.key_file} is owned by {ME} (you), not the service account " \
           f"wbo-service: chown wbo-service {sqlite_install.key_file}" in owned


async def test_a_missing_key_or_anchor_file_is_found(sqlite_install: Deployment) -> None:
    no_key = _problems(await diagnose(Deployment(sqlite_install.db_url, None, sqlite_install.anchor_file, ME)))
    assert len(no_key) == 2
    assert no_key[0].startswith("no audit key is configured, so the chain is unanchored")
    assert "wbo-tui audit new-key" in no_key[0]
    assert "records are keyed" in no_key[1] and "WBO_AUDIT_KEY_FILE" in no_key[1]  # the chain needs it

    sqlite_install.key_file.unlink()
    gone = _problems(await diagnose(sqlite_install))
    assert f"audit key file {sqlite_install.key_file} does not exist" in gone
    assert any(p.startswith(f"The audit key file {sqlite_install.key_file} cannot be read") for p in gone)

    no_anchors = _problems(await diagnose(Deployment(sqlite_install.db_url, None, None, ME)))
    assert any(p.startswith("no anchor file is configured") for p in no_anchors)


async def test_an_unmigrated_or_missing_database_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    problems = _problems(await diagnose(Deployment(f"sqlite:///{missing}", None, None, ME)))
    assert f"database file {missing} does not exist" in problems
    assert not missing.exists()  # the doctor creates nothing
    (tmp_path / "empty.db").touch()
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    problems = _problems(await diagnose(Deployment(url, None, None, ME)))
    assert any("the schema is at nothing" in p and f"wbo-tui db upgrade --db {url}" in p for p in problems)


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
async def pg_install(tmp_path: Path) -> AsyncIterator[Deployment]:
    name = f"wbo_t_{uuid.uuid4().hex}"
    await create_pg_database(name)
    try:
        yield await _install(pg_url_for(name), tmp_path / "srv")
    finally:
        await drop_pg_database(name)


@needs_pg
@pytest.mark.pg
async def test_a_superuser_role_that_can_edit_the_audit_log_is_flagged(pg_install: Deployment) -> None:
    """The test server's role is a superuser that owns every table."""
    problems = _problems(await diagnose(pg_install))
    role = make_url(pg_install.db_url).username
    assert any(p.startswith(f"the console connects as {role}, a superuser") for p in problems)
    assert any(p.startswith(f"the role {role} owns ") for p in problems)
    assert (f"the role {role} can UPDATE, DELETE, TRUNCATE, TRIGGER audit_log: "
            f"REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER ON audit_log FROM {role}") in problems


def _readme_grants(role: str) -> list[str]:
    """The console role's grants exactly as the README's PostgreSQL section gives them."""
    text = README.read_text()
    block = text[text.index("-- wbo-console-grants"):]
    block = block[: block.index("```")]
    return [line.replace("wbo_console", role) for line in block.splitlines()[1:] if line.strip()]


@needs_pg
@pytest.mark.pg
async def test_a_role_granted_as_the_readme_says_passes_and_runs_the_console(pg_install: Deployment) -> None:
    role = f"wbo_console_{uuid.uuid4().hex[:8]}"
    database = make_url(pg_install.db_url).database
    admin = await asyncpg.connect(make_url(pg_admin_url()).set(database=database).render_as_string(False))
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        for statement in _readme_grants(role):
            await admin.execute(statement)
        console_url = make_url(pg_install.db_url).set(username=role).render_as_string(hide_password=False)
        deployment = Deployment(console_url, pg_install.key_file, pg_install.anchor_file, ME)
        findings = await diagnose(deployment)
        assert _problems(findings) == []
        assert any(f.text.startswith(f"the role {role} is no superuser") for f in findings)

        console = await Engine.open(console_url, hasher=fast_hasher(), audit_key=load_key(pg_install.key_file))
        try:
            await login(console, "admin")  # the grants suffice for the console's work
            for statement in ("UPDATE audit_log SET operator = 'x' WHERE seq = 1", "DELETE FROM audit_log",
                              "DROP TRIGGER audit_log_append_only ON audit_log", "TRUNCATE audit_head"):
                with pytest.raises(DBAPIError, match="permission denied|must be owner"):
                    await execute_raw(console, statement)
        finally:
            await console.close()
    finally:
        await admin.close()
        await drop_pg_database(database)  # before the role: it holds grants there
        cleanup = await asyncpg.connect(pg_admin_url())
        try:
            await cleanup.execute(f"DROP ROLE IF EXISTS {role}")
        finally:
            await cleanup.close()

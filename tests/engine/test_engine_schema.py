"""Schema revision checks, migrations, and the SQLite connection set-up."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import pytest
from engine_support import REPO, audit_head_row, login, scalar, snapshot
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from wbo_tui.engine import SCHEMA_REVISION, Engine, SchemaOutOfDate, migrate
from wbo_tui.engine.db import SQLITE_BUSY_TIMEOUT_MS
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.uow import Actor, write_unit


def test_import_hygiene_engine_loads_no_textual_or_rich() -> None:
    """The engine must stay importable by the CLI, scripts and workers without the UI."""
    probe = textwrap.dedent(
        """
        import sys
        import wbo_tui.engine
        import wbo_tui.engine.migrate, wbo_tui.engine.seed
        ui = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
        print("UI-MODULES:" + ",".join(ui))
        print("ENGINE-LOADED:" + str("wbo_tui.engine.api" in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "ENGINE-LOADED:True" in done.stdout
    assert "UI-MODULES:\n" in done.stdout, done.stdout


def test_schema_revision_constant_is_the_migrations_head() -> None:
    assert SCHEMA_REVISION == migrate.head_revision()


async def test_unmigrated_database_is_refused_with_the_upgrade_command(blank_url: str) -> None:
    with pytest.raises(SchemaOutOfDate) as caught:
        await Engine.open(blank_url, hasher=fast_hasher())
    message = str(caught.value)
    assert "has no WBO schema" in message
    assert "wbo-tui db upgrade" in message
    assert SCHEMA_REVISION in message


async def test_wrong_revision_is_refused_and_named(engine: Engine, db_url: str) -> None:
    async with engine.db.connect() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
        await conn.commit()
    with pytest.raises(SchemaOutOfDate) as caught:
        await Engine.open(db_url, hasher=fast_hasher())
    assert "is at schema revision 0000_older" in str(caught.value)
    assert "wbo-tui db upgrade" in str(caught.value)


async def test_upgrade_from_empty_then_twice_is_harmless(blank_url: str) -> None:
    await migrate.upgrade_async(blank_url)
    first = await Engine.open(blank_url, hasher=fast_hasher())
    try:
        assert await first.schema_revision() == SCHEMA_REVISION
        before = await snapshot(first, everything=True)
    finally:
        await first.close()
    assert len(before["currencies"]) == 10
    assert before["audit_head"] == [(1, 0, "0" * 64, None)]

    await migrate.upgrade_async(blank_url)  # second run: nothing to do

    again = await Engine.open(blank_url, hasher=fast_hasher())
    try:
        assert await again.schema_revision() == SCHEMA_REVISION
        assert await snapshot(again, everything=True) == before, "a repeated upgrade must not touch the data"
    finally:
        await again.close()


async def test_upgrade_after_use_keeps_the_data(engine: Engine, db_url: str) -> None:
    await login(engine, "maker")
    before = await snapshot(engine, everything=True)
    await migrate.upgrade_async(db_url)
    assert await snapshot(engine, everything=True) == before
    assert (await audit_head_row(engine))[0] == len(before["audit_log"])


@pytest.mark.parametrize("backend", ["pg"], indirect=True)
async def test_schema_out_of_date_message_hides_the_password(blank_url: str) -> None:
    """The message is shown to operators and logged: it must not carry the password.
    (The test server trusts local connections, so any password connects.)"""
    with_password = make_url(blank_url).set(password="s3cret-Pa55").render_as_string(hide_password=False)
    with pytest.raises(SchemaOutOfDate) as caught:
        await Engine.open(with_password, hasher=fast_hasher())
    assert "s3cret-Pa55" not in str(caught.value)
    assert "wbo-tui db upgrade" in str(caught.value)


# --- SQLite connection set-up --------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_pragmas_on_the_engines_connection(engine: Engine) -> None:
    async with engine.db.connect() as conn:
        pragmas = {
            name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["synchronous"] == 2  # FULL
    assert pragmas["foreign_keys"] == 1
    assert pragmas["busy_timeout"] == SQLITE_BUSY_TIMEOUT_MS > 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_write_unit_takes_the_write_lock_up_front(engine: Engine, db_url: str) -> None:
    """BEGIN IMMEDIATE: a write unit holds the write lock before its first statement, so a
    concurrent writer waits on the busy timeout instead of failing mid-transaction."""
    path = db_url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with write_unit(engine.db, Actor.system("test"), engine.services):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once the unit has committed
        other.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError):
        async with engine.db.connect() as conn:
            await conn.execute(text("INSERT INTO operator_roles (operator_id, role_id) VALUES (9999, 9999)"))
            await conn.commit()
    assert await scalar(engine, "SELECT count(*) FROM operator_roles WHERE operator_id = 9999") == 0

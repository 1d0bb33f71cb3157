"""Start-up: the login screen comes before the engine, which opens while the operator types.

The engine is held back by a gate in front of ``wbo_tui.startup.prepare`` (the step that
imports and reads everything on a worker thread), so "before the engine is ready" is a
state the test controls, not a race.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from burst_helpers import ENTER, TAB, deliver_paced
from console_helpers import PASSWORDS, START, screen_text, wait_for_screen
from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import Button, Input

from wbo_tui import startup
from wbo_tui.app import WboApp
from wbo_tui.config import Settings
from wbo_tui.engine import Engine
from wbo_tui.engine.schema import audit_log
from wbo_tui.screens.login import LoginScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.screens.startup_error import StartupErrorScreen

MAKER_PASSWORD = PASSWORDS["maker"]


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Hold the console's start-up until the test opens the gate."""
    opened = threading.Event()
    real_prepare = startup.prepare

    def gated_prepare(source):  # noqa: ANN001, ANN202 - as startup.prepare
        if not opened.wait(timeout=60):
            raise TimeoutError("the test never opened the start-up gate")
        return real_prepare(source)

    monkeypatch.setattr(startup, "prepare", gated_prepare)
    yield opened
    opened.set()  # never leave a worker thread waiting


async def until(pilot: Pilot, condition, what: str, attempts: int = 500) -> None:  # noqa: ANN001
    """Pause until ``condition`` holds, without waiting for workers (the start-up one is
    held at the gate)."""
    for _ in range(attempts):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def logins_since_start(engine: Engine) -> list[tuple[str, str]]:
    query = (select(audit_log.c.action, audit_log.c.operator)
             .where(audit_log.c.at >= START, audit_log.c.action.like("operator.login%")).order_by(audit_log.c.seq))
    async with engine.db.connect() as conn:
        return [tuple(row) for row in (await conn.execute(query)).all()]


async def test_keys_typed_before_the_engine_is_ready_are_kept_and_the_login_then_succeeds(
        make_app, engine, gate) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), "the login screen")
        assert app.engine is None and not app.started
        assert screen_text(pilot, "#login-db") == "Database sqlite:wbo.db"  # from the settings, before the engine
        username, password = app.screen.query_one("#username", Input), app.screen.query_one("#password", Input)
        # Typed and submitted while the console is still starting, a key at a time.
        await deliver_paced(pilot, f"maker{TAB}{MAKER_PASSWORD}{ENTER}")
        await until(pilot, lambda: screen_text(pilot, "#login-error") == "Starting…", "the Starting… notice")
        assert username.value == "maker"
        assert password.value == ""  # the password left with the attempt, which waits
        assert app.screen.query_one("#login", Button).disabled
        assert app.engine is None and app.session is None
        # Keys typed while the attempt waits still land in a field.
        await deliver_paced(pilot, "x")
        assert password.value == "x"

        gate.set()
        await wait_for_screen(pilot, ShellScreen)
        assert app.session is not None and app.session.username == "maker"
        await until(pilot, lambda: app.started, "the console to finish starting")
    assert await logins_since_start(engine) == [("operator.login", "maker")]


async def test_a_login_typed_ahead_in_one_burst_waits_for_the_engine_then_succeeds(
        make_app, engine, gate) -> None:
    from burst_helpers import deliver

    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), "the login screen")
        deliver(pilot, f"maker{TAB}{MAKER_PASSWORD}{ENTER}")
        await until(pilot, lambda: screen_text(pilot, "#login-error") == "Starting…", "the Starting… notice")
        assert app.screen.query_one("#username", Input).value == "maker"
        gate.set()
        await wait_for_screen(pilot, ShellScreen)
        assert app.session is not None and app.session.username == "maker"
    assert await logins_since_start(engine) == [("operator.login", "maker")]


async def test_settings_read_behind_the_login_screen_name_the_database_once_open(db_url, gate) -> None:
    """As the CLI starts it: the settings are a callable read on the start-up thread."""
    app = WboApp(lambda: Settings(db_url=db_url))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), "the login screen")
        assert screen_text(pilot, "#login-db") == "Starting…"
        gate.set()
        await until(pilot, lambda: app.started, "the console to start")
        assert screen_text(pilot, "#login-db") == "Database sqlite:wbo.db"
        assert app.settings.db_url == db_url


BAD_URLS = {
    "unopenable file": ("sqlite:///no/such/folder/wbo.db",
                        "Cannot use the database: unable to open database file; a sqlite:/// path is relative to "
                        "this folder, sqlite://// starts at /."),
    "not a database URL": ("no-such-database://nowhere",
                           "The database URL is not valid (Could not parse SQLAlchemy URL from given URL string): "
                           "use sqlite:///path/to/file.db or postgresql://user@host/dbname (WBO_DB_URL or --db)."),
    "unsupported database": ("mysql://db.example/wbo",
                             "Cannot use the database: unsupported database 'mysql': use sqlite or postgresql."),
}


@pytest.mark.parametrize(("url", "expected"), BAD_URLS.values(), ids=BAD_URLS.keys())
async def test_a_database_that_cannot_be_opened_shows_the_startup_error_screen(
        tmp_path, monkeypatch, url, expected) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WBO_LOG_FILE", str(tmp_path / "console.log"))
    app = WboApp(Settings(db_url=url))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_screen(pilot, StartupErrorScreen)
        sentence = screen_text(pilot, "#startup-error")
        assert sentence == expected
        assert len(app.screen_stack) == 2  # the login screen is gone, not left beneath
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 1
    assert app.startup_error == sentence
    assert "Traceback" in (tmp_path / "console.log").read_text()  # in full, in the log only


async def test_settings_that_are_not_valid_show_the_startup_error_screen(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WBO_LOG_FILE", str(tmp_path / "console.log"))
    monkeypatch.setenv("WBO_IDLE_LOCK_S", "2")
    app = WboApp(Settings)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_screen(pilot, StartupErrorScreen)
        sentence = screen_text(pilot, "#startup-error")
    assert sentence.startswith("The console's settings are not valid (WBO_… environment variables): idle_lock_s:")
    assert "greater than or equal to 5" in sentence


def test_the_login_screen_imports_neither_the_engine_nor_its_libraries() -> None:
    """What the console imports before its login screen is up (the CLI included)."""
    heavy = ["wbo_tui.engine", "wbo_tui.config", "sqlalchemy", "pydantic", "pydantic_settings", "argon2",
             "alembic", "exchange_calendars", "aiosqlite", "asyncpg", "wbo_tui.screens.shell"]
    code = ("import sys, wbo_tui.cli, wbo_tui.app, wbo_tui.screens.login, wbo_tui.screens.startup_error; "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]"


async def test_quitting_while_the_console_starts_closes_the_engine_it_then_opens(make_app, gate) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), "the login screen")
        threading.Timer(0.2, gate.set).start()
        await app.action_quit()
        await asyncio.sleep(0)
    assert app.engine is None and app.scheduler is None

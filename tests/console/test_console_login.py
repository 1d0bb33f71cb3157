"""Logging in and out, failed passwords, the account lockout, a database that cannot open."""

from __future__ import annotations

from console_helpers import (
    PASSWORDS,
    last_actions,
    login,
    operator_row,
    screen_text,
    settle,
    type_into,
    wait_for_screen,
)

from wbo_tui.app import WboApp
from wbo_tui.config import Settings
from wbo_tui.screens.login import LoginScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.screens.startup_error import StartupErrorScreen
from wbo_tui.widgets.header import ConsoleHeader

async def test_successful_login_shows_the_shell_with_operator_database_and_time(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        assert screen_text(pilot, "#login-db") == "Database sqlite:wbo.db"
        await login(pilot, "admin")
        await wait_for_screen(pilot, ShellScreen)
        assert app.session is not None and app.session.username == "admin"
        assert screen_text(pilot, "#hdr-operator") == "Ada Administrator (admin)"
        assert screen_text(pilot, "#hdr-db") == "sqlite:wbo.db"
        assert screen_text(pilot, "#hdr-time") == "2026-11-20 09:30:00 UTC"
        assert app.screen.query_one(ConsoleHeader).area == "Positions"
        assert app.screen.query("#positions PositionsPane")  # the first area, on screen
    assert (await last_actions(engine, 1)) == ["operator.login"]
    assert (await operator_row(engine, "admin")).failed_logins == 0


async def test_wrong_password_says_so_and_counts_the_failure(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "maker", "not-my-password")
        assert isinstance(app.screen, LoginScreen)
        assert screen_text(pilot, "#login-error") == "Wrong username or password."
        assert app.screen.query_one("#password").value == ""
        assert app.session is None
    assert (await operator_row(engine, "maker")).failed_logins == 1
    assert (await last_actions(engine, 1)) == ["operator.login_failed"]


async def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        for attempt in range(5):
            await login(pilot, "maker", f"wrong-{attempt}")
        locked = screen_text(pilot, "#login-error")
        assert locked.startswith("This account is locked after too many failed passwords, until 09:45 UTC.")
        await login(pilot, "maker", PASSWORDS["maker"])
        assert isinstance(app.screen, LoginScreen)
        assert screen_text(pilot, "#login-error") == locked
    row = await operator_row(engine, "maker")
    assert row.locked_until is not None
    assert "operator.locked_out" in await last_actions(engine, 2)


async def test_logout_returns_to_the_login_screen_and_is_audited(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "viewer")
        await wait_for_screen(pilot, ShellScreen)
        await pilot.press("ctrl+o")
        await wait_for_screen(pilot, LoginScreen)
        assert screen_text(pilot, "#login-error") == "You logged out."
        assert app.session is None
        assert len(app.screen_stack) == 2  # the default screen and the login: no shell left behind
    assert (await last_actions(engine, 2)) == ["operator.logout", "operator.login"]


async def test_keys_for_areas_do_not_fire_while_typing(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "admin")
        await pilot.press("6")
        await settle(pilot)
        await type_into(pilot, "#filter-operator", "a15", keys=True)
        assert app.screen.query_one("#filter-operator").value == "a15"
        assert app.screen.query_one(ConsoleHeader).area == "Audit"


async def test_a_database_without_schema_shows_the_sentence_and_a_way_to_quit(tmp_path) -> None:
    app = WboApp(Settings(db_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_screen(pilot, StartupErrorScreen)
        sentence = screen_text(pilot, "#startup-error")
        assert "has no WBO schema" in sentence and "wbo-tui db upgrade" in sentence
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 1

"""Logging in and out, failed passwords, the account lockout, a database that cannot open."""

from __future__ import annotations

import pytest
from burst_helpers import BACKSPACE, ENTER, SHIFT_TAB, TAB, audit_rows_text, deliver, deliver_paced, recorder
from console_helpers import (
    PASSWORDS,
    START,
    last_actions,
    login,
    operator_row,
    screen_text,
    settle,
    type_into,
    wait_for_screen,
    wait_until,
)
from sqlalchemy import select
from textual.widgets import Input

from wbo_tui.app import WboApp
from wbo_tui.config import Settings
from wbo_tui.engine import Engine
from wbo_tui.engine.schema import audit_log
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


# --- keys that arrive in one read (an SSH link, typing ahead, a password manager) -------

MAKER_PASSWORD = PASSWORDS["maker"]


async def login_attempts_in_this_test(engine: Engine) -> list[tuple[str, str]]:
    """(action, operator) of every login attempt at the app's fixed time (the seeded history is older)."""
    query = (
        select(audit_log.c.action, audit_log.c.operator)
        .where(audit_log.c.at >= START, audit_log.c.action.like("operator.login%"))
        .order_by(audit_log.c.seq)
    )
    async with engine.db.connect() as conn:
        return [tuple(row) for row in (await conn.execute(query)).all()]


BURSTS = {
    "tab": f"maker{TAB}{MAKER_PASSWORD}{ENTER}",
    "enter": f"maker{ENTER}{MAKER_PASSWORD}{ENTER}",
    "tab to the button, enter": f"maker{TAB}{MAKER_PASSWORD}{TAB}{ENTER}",
    # Back to the username (focusing a field selects its text, so typing replaces it).
    "shift+tab back": f"makr{TAB}{MAKER_PASSWORD}{SHIFT_TAB}maker{TAB}{ENTER}",
    # A typo mended just before Enter: the backspace edits the password, before it is sent.
    "backspace before enter": f"maker{TAB}{MAKER_PASSWORD}x{BACKSPACE}{ENTER}",
    # Typed before the console started: the terminal, not yet in raw mode, made Enter "\n".
    "typed before the console started": f"maker{TAB}{MAKER_PASSWORD}\n",
}


@pytest.mark.parametrize("paced", [False, True], ids=["one burst", "paced"])
@pytest.mark.parametrize("typed", BURSTS.values(), ids=BURSTS.keys())
async def test_keys_typed_ahead_land_in_the_field_they_were_typed_for(make_app, engine, typed, paced) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        username, password = app.screen.query_one("#username", Input), app.screen.query_one("#password", Input)
        shown: dict[Input, list[str]] = {username: [], password: []}
        for field, values in shown.items():
            app.screen.watch(field, "value", recorder(values), init=False)
        if paced:
            await deliver_paced(pilot, typed)
        else:
            deliver(pilot, typed)
        await settle(pilot)
        assert isinstance(app.screen, ShellScreen), (username.value, password.value)
        assert app.session is not None and app.session.username == "maker"
    assert username.value == "maker"
    assert not [value for value in shown[username] if MAKER_PASSWORD[:4] in value]
    # The password field held the whole password, and gave it up when it was sent.
    assert shown[password][-2:] == [MAKER_PASSWORD, ""]
    assert await login_attempts_in_this_test(engine) == [("operator.login", "maker")]
    assert MAKER_PASSWORD not in await audit_rows_text(engine)


async def test_a_paste_into_the_username_field_keeps_only_its_first_field(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        # A terminal wraps a paste in bracketed-paste markers; the text arrives as one event.
        deliver(pilot, f"\x1b[200~maker{TAB}{MAKER_PASSWORD}{ENTER}\x1b[201~")
        await wait_until(pilot, lambda: app.screen.query_one("#username", Input).value != "", "the paste")
        await settle(pilot)
        assert app.screen.query_one("#username", Input).value == "maker"
        assert app.screen.query_one("#password", Input).value == ""
        assert isinstance(app.screen, LoginScreen) and app.session is None
    assert await login_attempts_in_this_test(engine) == []
    assert MAKER_PASSWORD not in await audit_rows_text(engine)

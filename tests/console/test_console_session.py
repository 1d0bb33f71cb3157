"""Changing your password, help, the command palette, and what the operator sees when an
engine call fails in an unexpected way or the account is disabled mid-session."""

from __future__ import annotations

from pathlib import Path

from console_helpers import (
    PASSWORDS,
    last_actions,
    login,
    screen_text,
    settle,
    type_into,
    wait_for_screen,
)
from textual.command import CommandPalette

from wbo_tui.engine import SetOperatorEnabled
from wbo_tui.screens.change_password import ChangePasswordScreen
from wbo_tui.screens.help import HelpScreen
from wbo_tui.screens.login import LoginScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.header import ConsoleHeader


async def fill_password_form(pilot, old: str, new: str, confirm: str) -> None:  # noqa: ANN001
    await type_into(pilot, "#old-password", old)
    await type_into(pilot, "#new-password", new)
    await type_into(pilot, "#confirm-password", confirm)
    await pilot.click("#submit")
    await settle(pilot)


async def test_change_password_checks_and_changes_it(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "checker")
        await pilot.press("f2")
        await wait_for_screen(pilot, ChangePasswordScreen)
        await fill_password_form(pilot, PASSWORDS["checker"], "Big-Buddha-2026", "Big-Buddha-2027")
        assert screen_text(pilot, "#form-error") == "Confirmation does not match the new password."
        await fill_password_form(pilot, "Not-the-password", "Big-Buddha-2026", "Big-Buddha-2026")
        assert screen_text(pilot, "#form-error") == "Current password is wrong."
        await fill_password_form(pilot, PASSWORDS["checker"], "checker-2026-x", "checker-2026-x")
        assert screen_text(pilot, "#form-error") == "New password must not contain the username."
        await fill_password_form(pilot, PASSWORDS["checker"], "Big-Buddha-2026", "Big-Buddha-2026")
        await wait_for_screen(pilot, ShellScreen)
    assert (await last_actions(engine, 1)) == ["operator.change_password"]
    assert (await engine.login("checker", "Big-Buddha-2026")).username == "checker"


async def test_help_describes_the_current_area_and_its_keys(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "admin")
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        assert screen_text(pilot, ".modal-title") == "Help: Audit area"
        assert "100 records a page" in screen_text(pilot, "#help-description")
        keys = app.screen.query_one("#help-keys").content
        described = {str(row) for row in keys.columns[1].cells}
        assert {"Older page", "Newer page (not available now)", "Verify", "Log out", "Command palette"} <= described
        assert "Cursor up" not in described
        await pilot.press("escape")
        await wait_for_screen(pilot, ShellScreen)


async def test_command_palette_reaches_the_areas(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "admin")
        await pilot.press("ctrl+p")
        await wait_for_screen(pilot, CommandPalette)
        await pilot.press(*"go to audit")
        await settle(pilot)
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        assert app.screen.query_one(ConsoleHeader).area == "Audit"


async def test_an_unexpected_error_is_a_sentence_and_a_logged_traceback(make_app, tmp_path: Path) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "admin")

        async def broken(*args: object, **kwargs: object) -> object:
            raise RuntimeError("disk on fire")

        app.engine.query = broken  # type: ignore[method-assign]
        await pilot.press("5")
        await settle(pilot)
        [notice] = list(app._notifications)
        assert notice.message == f"Internal error (RuntimeError), see the log file {tmp_path / 'console.log'}."
        assert isinstance(app.screen, ShellScreen)
    log = (tmp_path / "console.log").read_text()
    assert "Traceback" in log and "RuntimeError: disk on fire" in log


async def test_a_disabled_account_is_logged_out_at_its_next_action(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "viewer")
        admin = await engine.login("admin", PASSWORDS["admin"])
        await engine.execute(admin, SetOperatorEnabled(username="viewer", enabled=False))
        await pilot.press("f5")
        await wait_for_screen(pilot, LoginScreen)
        assert screen_text(pilot, "#login-error") == "Your operator account is disabled. Ask an administrator."
        assert app.session is None


async def test_five_wrong_current_passwords_lock_the_account_and_log_out(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "checker")
        await pilot.press("f2")
        await wait_for_screen(pilot, ChangePasswordScreen)
        for attempt in range(4):
            await fill_password_form(pilot, f"wrong-{attempt}", "Big-Buddha-2026", "Big-Buddha-2026")
            assert screen_text(pilot, "#form-error") == "Current password is wrong."
        await fill_password_form(pilot, "wrong-5", "Big-Buddha-2026", "Big-Buddha-2026")
        await wait_for_screen(pilot, LoginScreen)
        assert screen_text(pilot, "#login-error").startswith("This account is locked after too many failed passwords")
        assert app.session is None
    assert (await last_actions(engine, 2)) == ["operator.logout", "operator.locked_out"]


async def _must_change(engine, username: str) -> None:  # noqa: ANN001
    """What an administrator's reset leaves behind (the engine tests cover the reset)."""
    from sqlalchemy import update

    from wbo_tui.engine.schema import operators

    async with engine.db.begin() as conn:
        await conn.execute(update(operators).where(operators.c.username == username)
                           .values(must_change_password=True))


async def test_a_password_set_by_an_administrator_is_changed_before_anything_else(make_app, engine) -> None:
    await _must_change(engine, "checker")
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "checker")
        await wait_for_screen(pilot, ChangePasswordScreen)
        assert not any(isinstance(s, ShellScreen) for s in app.screen_stack)  # nothing behind it
        assert "Choose your own password" in screen_text(pilot, ".modal-title")
        await fill_password_form(pilot, PASSWORDS["checker"], "Big-Buddha-2026", "Big-Buddha-2026")
        await wait_for_screen(pilot, ShellScreen)
    assert (await last_actions(engine, 1)) == ["operator.change_password"]
    assert not (await engine.login("checker", "Big-Buddha-2026")).must_change_password


async def test_escaping_the_forced_change_logs_out(make_app, engine) -> None:
    await _must_change(engine, "checker")
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "checker")
        await wait_for_screen(pilot, ChangePasswordScreen)
        await pilot.press("escape")
        await wait_for_screen(pilot, LoginScreen)
        assert "must be changed" in screen_text(pilot, "#login-error")
    assert (await last_actions(engine, 1)) == ["operator.logout"]

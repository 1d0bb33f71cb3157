"""The idle lock: only the operator's password unlocks; too many wrong ones log out.

Idle time comes from ``app.idle_clock`` (monotonic seconds).  The tests replace it with a
counter they move by hand, so "five minutes without input" takes no real time; only the
lock's own check timer (every half second) has to run.
"""

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
from wbo_tui.screens.lock import LockScreen
from wbo_tui.screens.login import LoginScreen
from wbo_tui.screens.shell import ShellScreen


class ManualClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def with_manual_idle_clock(app: WboApp) -> ManualClock:
    clock = ManualClock()
    app.idle_clock = clock
    return clock


async def unlock_with(pilot, password: str) -> None:  # noqa: ANN001
    await type_into(pilot, "#unlock-password", password)
    await pilot.press("enter")
    await settle(pilot)


async def test_idle_console_locks_and_only_the_password_unlocks_it(make_app, engine) -> None:
    app = make_app(idle_lock_s=300)
    idle = with_manual_idle_clock(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "checker")
        await wait_for_screen(pilot, ShellScreen)
        shell = app.screen
        idle.now_s += 301
        await wait_for_screen(pilot, LockScreen)
        assert "Locked for Chen Checker (checker)" in screen_text(pilot, "#lock-who")
        assert not app.screen.is_modal  # a full screen: nothing of the shell shows behind it

        await unlock_with(pilot, "Lantau-Bridge-X")
        assert isinstance(app.screen, LockScreen)
        assert screen_text(pilot, "#unlock-error") == "Wrong password."

        await unlock_with(pilot, PASSWORDS["checker"])
        await wait_for_screen(pilot, ShellScreen)
        assert app.screen is shell and app.session is not None and not app.locked
    assert (await operator_row(engine, "checker")).failed_logins == 0
    assert (await last_actions(engine, 1)) == ["operator.unlock_console"]


async def test_input_restarts_the_idle_time(make_app) -> None:
    app = make_app(idle_lock_s=300)
    idle = with_manual_idle_clock(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "viewer")
        await wait_for_screen(pilot, ShellScreen)
        idle.now_s += 299
        await pilot.press("2")  # any key counts as activity
        idle.now_s += 299
        await pilot.pause(2 * WboApp.IDLE_CHECK_INTERVAL_S)
        assert isinstance(app.screen, ShellScreen)
        idle.now_s += 1
        await wait_for_screen(pilot, LockScreen)


async def test_wrong_passwords_at_the_lock_lock_the_account_and_log_out(make_app, engine) -> None:
    app = make_app(idle_lock_s=300)
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "trader")
        await wait_for_screen(pilot, ShellScreen)
        await pilot.press("ctrl+l")  # lock now, by hand
        await wait_for_screen(pilot, LockScreen)
        for attempt in range(5):
            await unlock_with(pilot, f"wrong-{attempt}")
        await wait_for_screen(pilot, LoginScreen)
        assert screen_text(pilot, "#login-error").startswith(
            "This account is locked after too many failed passwords, until 09:45 UTC."
        )
        assert app.session is None and not app.locked
    assert (await operator_row(engine, "trader")).locked_until is not None
    assert (await last_actions(engine, 2)) == ["operator.logout", "operator.locked_out"]


async def test_no_lock_without_a_session(make_app) -> None:
    app = make_app(idle_lock_s=300)
    idle = with_manual_idle_clock(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_screen(pilot, LoginScreen)
        idle.now_s += 10_000
        await pilot.pause(2 * WboApp.IDLE_CHECK_INTERVAL_S)
        assert isinstance(app.screen, LoginScreen) and not app.locked


async def test_the_command_palette_behind_the_lock_offers_only_leaving(make_app) -> None:
    app = make_app(idle_lock_s=300)
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "admin")
        await pilot.press("ctrl+l")
        await wait_for_screen(pilot, LockScreen)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert titles == ["Log out", "Quit"]


async def test_a_form_finishing_behind_the_lock_waits_and_never_pops_the_lock(make_app) -> None:
    from wbo_tui.screens.change_password import ChangePasswordScreen

    app = make_app(idle_lock_s=300)
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "checker")
        await pilot.press("f2")
        await wait_for_screen(pilot, ChangePasswordScreen)
        form = app.screen
        app.lock_console()
        await wait_for_screen(pilot, LockScreen)
        form.dismiss_when_active(True)  # as its worker would, had it finished now
        await settle(pilot)
        assert isinstance(app.screen, LockScreen)
        await unlock_with(pilot, PASSWORDS["checker"])
        await wait_for_screen(pilot, ShellScreen)  # back to the form, which then closed itself
        assert form not in app.screen_stack


async def test_the_lock_suspends_the_session_in_the_database(make_app, engine) -> None:
    """The lock is not only on this screen: the session's token can do nothing, from any
    console, until the password is entered here."""
    from wbo_tui.engine import ListOperators, SessionLocked

    app = make_app(idle_lock_s=300)
    idle = with_manual_idle_clock(app)
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "admin")
        await wait_for_screen(pilot, ShellScreen)
        session = app.session
        idle.now_s += 301
        await wait_for_screen(pilot, LockScreen)
        await settle(pilot)
        try:
            await engine.query(session, ListOperators())
        except SessionLocked:
            pass
        else:
            raise AssertionError("a locked console's token still reads")
        await unlock_with(pilot, PASSWORDS["admin"])
        await wait_for_screen(pilot, ShellScreen)
        assert await engine.query(session, ListOperators())
    assert "operator.lock_console" in await last_actions(engine, 5)

"""The measured process: the WBO console on the benchmark database, logged in by an auto pilot.

``python -m bench.startup_child_wbo DB_URL USERNAME PASSWORD``

Runs ``WboApp`` headless at 160x48, given a callable that reads the settings, as
``wbo-tui run --db DB_URL`` does (the console reads them behind its login screen).  The
auto pilot records the moment ``LoginScreen`` is on top and mounted (``login_screen``:
the login screen is interactive), then waits until the console has started behind it
(``app.started``: engine open, schedule running, the screens after the login imported;
an operator types meanwhile), fills in the username and password, presses Enter in the
password field (the real submit path: argon2 verification with production parameters,
the login transaction, the audit record), and records the moment the first frame of the
``ShellScreen`` on top is composed at the terminal's size (``shell``: the console composes
the shell behind the login screen, so being mounted, or laid out, would not say it was
drawn) and the moment its widgets have drained their message queues (``settled``).  The fields are filled
by assigning their values rather than by simulated key presses, and the console handles
and draws them before Enter is pressed (as it does while an operator types), so the
figures hold no typing time, only the console's own work after Enter.
"""

from __future__ import annotations

import asyncio
import sys
import time

from bench.startup_child_common import SIZE, finish, mark, marks, report, screen_ready, wait_until

mark("started")

from textual.widgets import Input  # noqa: E402

from wbo_tui.app import WboApp  # noqa: E402

mark("imported")


def make_pilot(username: str, password: str):  # noqa: ANN201
    async def pilot_fn(pilot) -> None:  # noqa: ANN001 - textual.pilot.Pilot
        from wbo_tui.screens.login import LoginScreen

        app = pilot.app
        mark("app_ready")
        press: asyncio.Task[None] | None = None
        try:
            await wait_until(app, lambda: screen_ready(app, LoginScreen), "the login screen")
            mark("login_screen")
            await wait_until(app, lambda: app.started or app.startup_error is not None, "the console to start")
            if app.startup_error is not None:
                raise RuntimeError(f"start-up error screen: {app.startup_error}")
            mark("console_started")
            # Imported by the console while the login screen was up: costs nothing now.
            from wbo_tui.screens.shell import ShellScreen

            screen = app.screen
            screen.query_one("#username", Input).value = username
            password_input = screen.query_one("#password", Input)
            password_input.value = password
            password_input.focus()
            begin_session = app.begin_session

            def session_opened(session) -> None:  # noqa: ANN001 - the login answered
                mark("session")
                begin_session(session)

            app.begin_session = session_opened
            drawn = first_frame_of(app, ShellScreen)
            # An operator's keys were handled and drawn as they were typed, long before Enter:
            # the fields filled in at once above are too, before the clock starts.
            await pilot.pause()
            mark("submit")
            # Not awaited: pilot.press returns only once the process has gone idle, which
            # would delay noticing the shell.
            press = asyncio.create_task(pilot.press("enter"))
            await wait_until(app, lambda: bool(drawn) and screen_ready(app, ShellScreen),
                             "the shell screen after logging in")
            marks["shell"] = drawn[0]
            await pilot.pause(0)  # every widget on the shell has drained its queue
            mark("settled")
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            marks["error"] = f"{type(exc).__name__}: {exc}{_login_message(app)}"
        if press is not None and not press.done():
            press.cancel()
        await finish(app)

    return pilot_fn


def first_frame_of(app, screen_type: type) -> list[float]:  # noqa: ANN001 - textual.app.App
    """A list that gets the ``time.time()`` of the first frame the app composes of a
    ``screen_type`` screen on top at the terminal's size: the console composes (and may lay
    out) its next shell behind the login screen, so only a frame of it says it is shown.
    (Headless, Textual composes the frame and skips writing it to a terminal.)"""
    drawn: list[float] = []
    display = app._display  # noqa: SLF001 - the one place every frame passes

    def display_and_note(screen, renderable) -> None:  # noqa: ANN001
        display(screen, renderable)
        if (not drawn and renderable is not None and not app._batch_count  # noqa: SLF001
                and isinstance(screen, screen_type) and screen is app.screen and screen.outer_size == app.size):
            drawn.append(time.time())

    app._display = display_and_note  # noqa: SLF001
    return drawn


def _login_message(app) -> str:  # noqa: ANN001
    """What the login screen says, if it says anything (a wrong password, a locked account)."""
    try:
        text = str(app.screen.query_one("#login-error").content).strip()
    except Exception:  # noqa: BLE001 - only a diagnostic
        return ""
    return f" (login screen says: {text!r})" if text else ""


def main(argv: list[str]) -> None:
    db_url, username, password = argv

    def read_settings():  # noqa: ANN202 - wbo_tui.config.Settings, read behind the login screen
        from wbo_tui.config import Settings

        return Settings(db_url=db_url)

    WboApp(read_settings).run(headless=True, size=SIZE, auto_pilot=make_pilot(username, password))
    mark("app_exited")
    report()


if __name__ == "__main__":
    main(sys.argv[1:])

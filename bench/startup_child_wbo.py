"""The measured process: the WBO console on the benchmark database, logged in by an auto pilot.

``python -m bench.startup_child_wbo DB_URL USERNAME PASSWORD``

Runs ``WboApp`` headless at 160x48.  The auto pilot waits for the login screen, fills in
the username and password, presses Enter in the password field (the real submit path:
argon2 verification with production parameters, the login transaction, the audit
record), then records the moment ``ShellScreen`` is on top and mounted (``interactive``)
and the moment its widgets have drained their message queues (``settled``), and exits.
The fields are filled by assigning their values rather than by simulated key presses,
so the figure holds no typing time, only the console's own work.
"""

from __future__ import annotations

import asyncio
import sys

from bench.startup_child_common import SIZE, finish, mark, marks, report, screen_ready, wait_until

mark("started")

from textual.widgets import Input  # noqa: E402

from wbo_tui.app import WboApp  # noqa: E402
from wbo_tui.config import Settings  # noqa: E402

mark("imported")


def make_pilot(username: str, password: str):  # noqa: ANN201
    async def pilot_fn(pilot) -> None:  # noqa: ANN001 - textual.pilot.Pilot
        # Imported here, not at the top, so that a console that defers importing its
        # screens is measured as it really starts.
        from wbo_tui.screens.login import LoginScreen
        from wbo_tui.screens.shell import ShellScreen

        app = pilot.app
        mark("app_ready")
        press: asyncio.Task[None] | None = None
        try:
            await wait_until(app, lambda: screen_ready(app, LoginScreen), "the login screen")
            mark("login_screen")
            screen = app.screen
            screen.query_one("#username", Input).value = username
            password_input = screen.query_one("#password", Input)
            password_input.value = password
            password_input.focus()
            mark("submit")
            # Not awaited: pilot.press returns only once the process has gone idle, which
            # would delay noticing the shell.
            press = asyncio.create_task(pilot.press("enter"))
            await wait_until(app, lambda: screen_ready(app, ShellScreen), "the shell screen after logging in")
            mark("interactive")
            await pilot.pause(0)  # every widget on the shell has drained its queue
            mark("settled")
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            marks["error"] = f"{type(exc).__name__}: {exc}{_login_message(app)}"
        if press is not None and not press.done():
            press.cancel()
        await finish(app)

    return pilot_fn


def _login_message(app) -> str:  # noqa: ANN001
    """What the login screen says, if it says anything (a wrong password, a locked account)."""
    try:
        text = str(app.screen.query_one("#login-error").content).strip()
    except Exception:  # noqa: BLE001 - only a diagnostic
        return ""
    return f" (login screen says: {text!r})" if text else ""


def main(argv: list[str]) -> None:
    db_url, username, password = argv
    WboApp(Settings(db_url=db_url)).run(headless=True, size=SIZE, auto_pilot=make_pilot(username, password))
    mark("app_exited")
    report()


if __name__ == "__main__":
    main(sys.argv[1:])

"""The baseline process: a bare one-screen Textual app, started as the console is.

``python -m bench.startup_child_bare``: runs headless at the console's size; its auto
pilot records the moment the screen is on top and mounted (``interactive``), then the
moment its widgets have drained their message queues (``settled``), and exits.
"""

from __future__ import annotations

from bench.startup_child_common import SIZE, finish, mark, marks, report, screen_ready, wait_until

mark("started")

from textual.app import App, ComposeResult  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.widgets import Footer, Static  # noqa: E402

mark("imported")


class BareScreen(Screen[None]):
    BINDINGS = [("q", "app.quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Static("WBO Console start-up baseline: one screen, one Static, one Footer.")
        yield Footer()


class BareApp(App[None]):
    def get_default_screen(self) -> Screen[None]:
        return BareScreen()


async def pilot_fn(pilot) -> None:  # noqa: ANN001 - textual.pilot.Pilot
    app = pilot.app
    mark("app_ready")
    try:
        await wait_until(app, lambda: screen_ready(app, BareScreen), "the bare screen")
        mark("interactive")
        await pilot.pause(0)  # every widget on the screen has drained its queue
        mark("settled")
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        marks["error"] = f"{type(exc).__name__}: {exc}"
    await finish(app)


def main() -> None:
    BareApp().run(headless=True, size=SIZE, auto_pilot=pilot_fn)
    mark("app_exited")
    report()


if __name__ == "__main__":
    main()

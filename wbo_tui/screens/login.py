"""The login screen: username, password, the database being used.

Keys often reach this screen in bursts (an SSH read, a password manager typing
``user<Tab>password<Enter>``): it is a ``BurstSafeScreen``, so every key lands in the field
it was typed for and the attempt reads the fields only once every key typed before Enter
has landed (see ``wbo_tui.widgets.burst_input``).

It is shown before the engine is imported (``wbo_tui.startup``), so it imports nothing of
the engine: a login pressed while the console is still starting says "Starting…" and
goes ahead as soon as it has started (the keys typed meanwhile land in the fields).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Footer, Input, Label, Static
from textual.worker import Worker

from wbo_tui.widgets.burst_input import BurstInput, BurstSafeScreen, TypedValues
from wbo_tui.widgets.engine_workers import EngineWorkers


class LoginScreen(EngineWorkers, BurstSafeScreen[None]):
    BINDINGS = [
        Binding("f1", "app.help", "Help", key_display="F1", id="login-help"),
        # Keys typed before the console switched the terminal to raw mode went through
        # the terminal's line discipline, which turns Enter into a line feed (ctrl+j).
        Binding("ctrl+j", "typed_enter", show=False, priority=True),
    ]
    HELP = (
        "Log in with your operator username and password. Enter in the password field logs "
        "you in. After too many wrong passwords the account locks for a while; an "
        "administrator can unlock it sooner."
    )

    STARTING = "Starting…"

    def __init__(self, message: str | None = None) -> None:
        super().__init__()
        self._message = message or ""

    def compose(self) -> ComposeResult:
        engine, url = self.wbo.engine, self.wbo.database_url
        label = engine.database_label if engine else database_label(url) if url else ""
        with Vertical(id="login-box"):
            yield Static("WBO Console", id="login-title")
            yield Static(f"Database {label}" if label else self.STARTING, id="login-db", markup=False)
            yield Label("Username", classes="field-label")
            yield BurstInput(id="username", placeholder="username")
            yield Label("Password", classes="field-label")
            yield BurstInput(id="password", password=True, placeholder="password")
            yield Button("Log in", id="login", variant="primary")
            yield Static(self._message, id="login-error", markup=False)
        yield Footer()

    def engine_opened(self, label: str) -> None:
        """The console has opened its database: name it as the engine does."""
        self.query_one("#login-db", Static).update(f"Database {label}")

    def help_text(self) -> tuple[str, str]:
        return ("Log in", self.HELP or "")

    def on_mount(self) -> None:
        # Keys typed before the screen was up may already have moved on to the password
        # field: never pull the focus back from there.  ``Widget.focus()`` would set it
        # later, through the app's queue, after such keys.
        if self.focused is None:
            self.set_focus(self.query_one("#username", Input))

    def _fields(self) -> tuple[Input, Input]:
        return self.query_one("#username", Input), self.query_one("#password", Input)

    def action_next_field(self) -> None:
        # With nothing focused yet, keys typed so far went nowhere: a Tab still ends the
        # username, so what follows is the password and must not start the username.
        if self.focused is None:
            self.set_focus(self._fields()[1])
        else:
            super().action_next_field()

    def action_typed_enter(self) -> None:
        if self.focused is None:
            self.set_focus(self._fields()[1])  # As Tab does, for the same reason.
        else:
            super().action_typed_enter()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "login":
            event.stop()
            self.submit_typed()

    def submit_typed(self) -> None:
        self.read_after_typed_keys(self._submit)

    def _submit(self, typed: TypedValues) -> None:
        button = self.query_one("#login", Button)
        if button.disabled:
            return
        button.disabled = True
        error = self.query_one("#login-error", Static)
        if str(error.content):  # an update lays the screen out again, during the login
            error.update("")
        username, password = self._fields()
        # The password leaves the screen with the attempt: what the operator types while
        # it is checked is the next attempt, not appended to this one.
        typed_password, password.value = typed[password], ""
        self._login(typed[username], typed_password)

    @work(exclusive=True, group="login", exit_on_error=False)
    async def _login(self, username: str, password: str) -> None:
        engine = self.wbo.engine
        if engine is None or not self.wbo.started:
            # Pressed while the console starts: say so, and go ahead once it has started.
            self.query_one("#login-error", Static).update(self.STARTING)
            engine = await self.wbo.wait_until_started()
            self.query_one("#login-error", Static).update("")
        session = await engine.login(username, password)
        self.wbo.begin_session(session)

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        self.query_one("#login", Button).disabled = False
        self.set_focus(self.query_one("#password", Input))
        from wbo_tui.engine import WboError  # open by now: the login went to the engine

        if isinstance(error, WboError):
            self.query_one("#login-error", Static).update(str(error))
            return True
        self.query_one("#login-error", Static).update("")
        return False


def database_label(url: str) -> str:
    """The database the settings name, without its password, for the login screen while
    the engine is not open yet (the engine's own ``database_label`` replaces it then).
    Parsed with the standard library: SQLAlchemy is not imported yet."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    backend = parts.scheme.split("+", 1)[0]
    if backend == "sqlite":
        # sqlite:///relative.db has the path "/relative.db", sqlite:////abs.db "//abs.db".
        return f"sqlite:{unquote(parts.path[1:])}" if parts.path[1:] else ""
    if backend in ("postgresql", "postgres"):
        return f"postgresql:{parts.hostname or 'local'}/{unquote(parts.path.lstrip('/'))}"
    return ""

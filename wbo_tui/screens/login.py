"""The login screen: username, password, the database being used."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static
from textual.worker import Worker

from wbo_tui.engine import WboError
from wbo_tui.widgets.engine_workers import EngineWorkers


class LoginScreen(EngineWorkers, Screen[None]):
    BINDINGS = [
        Binding("f1", "app.help", "Help", key_display="F1", id="login-help"),
        # A priority binding runs while the key event itself is processed, and
        # ``set_focus`` moves focus at once: keys that arrive in the same burst (typed
        # ahead, pasted, or batched by a laggy SSH link) then land in the password field.
        # ``Input.Submitted`` + ``focus()`` would run only after the burst was typed
        # into the username field.
        Binding("enter", "advance", "Log in", show=False, priority=True),
    ]
    HELP = (
        "Log in with your operator username and password. Enter in the password field logs "
        "you in. After too many wrong passwords the account locks for a while; an "
        "administrator can unlock it sooner."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__()
        self._message = message or ""

    def compose(self) -> ComposeResult:
        engine = self.wbo.engine
        with Vertical(id="login-box"):
            yield Static("WBO Console", id="login-title")
            yield Static(f"Database {engine.database_label}" if engine else "", id="login-db", markup=False)
            yield Label("Username", classes="field-label")
            yield Input(id="username", placeholder="username")
            yield Label("Password", classes="field-label")
            yield Input(id="password", password=True, placeholder="password")
            yield Button("Log in", id="login", variant="primary")
            yield Static(self._message, id="login-error", markup=False)
        yield Footer()

    def help_text(self) -> tuple[str, str]:
        return ("Log in", self.HELP or "")

    def on_mount(self) -> None:
        self.query_one("#username", Input).focus()

    def action_advance(self) -> None:
        username, password = self.query_one("#username", Input), self.query_one("#password", Input)
        if self.focused is username:
            self.set_focus(password)
        elif self.focused is password:
            # Keys typed just before Enter may still wait in the field's queue: submit
            # from that same queue, after them.
            password.call_later(self._submit)
        else:
            self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "login":
            event.stop()
            self._submit()

    def _submit(self) -> None:
        button = self.query_one("#login", Button)
        if button.disabled:
            return
        button.disabled = True
        self.query_one("#login-error", Static).update("")
        self._login(self.query_one("#username", Input).value, self.query_one("#password", Input).value)

    @work(exclusive=True, group="login", exit_on_error=False)
    async def _login(self, username: str, password: str) -> None:
        engine = self.wbo.engine
        assert engine is not None, "the login screen is shown only once the engine is open"
        session = await engine.login(username, password)
        self.wbo.begin_session(session)

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        self.query_one("#login", Button).disabled = False
        password = self.query_one("#password", Input)
        password.value = ""
        password.focus()
        if isinstance(error, WboError):
            self.query_one("#login-error", Static).update(str(error))
            return True
        self.query_one("#login-error", Static).update("")
        return False

"""The login screen: username, password, the database being used.

Keys often reach the console in bursts: an SSH link delivers what was typed during one
round trip in one read, and a password manager types a whole ``user<Tab>password<Enter>``
at once.  Textual's app handles a read key by key: it checks priority bindings, then
forwards the key to whatever is focused *at that moment*, without waiting for earlier
keys to be handled.  Anything that moves focus later than that (a non-priority binding
such as Textual's own Tab, ``Widget.focus()``, ``Input.Submitted``) lets the keys
typed after it land in the field before: the password in clear text in the Username
field.  So every key that moves between fields here is a priority binding that moves
focus at once, and everything that reads the fields waits behind the keys already
forwarded to them.
"""

from __future__ import annotations

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static
from textual.worker import Worker

from wbo_tui.engine import WboError
from wbo_tui.widgets.engine_workers import EngineWorkers


class LoginField(Input):
    """An ``Input`` whose editing keys take effect in the field the key was typed into.

    Textual runs a widget's own (non-priority) bindings, backspace or home say, only
    once the key has bubbled back up to the app, against whatever is focused by then:
    a backspace typed just before Tab would delete in the next field, and one typed just
    before Enter would run after the password was read.  Here the field runs its own
    bindings while handling the key, in the order the keys were typed.
    """

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable:
            return  # Input's own handler, next in the class chain, types it.
        bindings = self._bindings.copy()
        if self.app._keymap:
            bindings.apply_keymap(self.app._keymap)
        for binding in bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()  # Handled here: the app must not run the binding again.
                return

    def _on_paste(self, event: events.Paste) -> None:
        # Input keeps a paste's first line; stop at a tab too (and any other character
        # that typing could not enter), so a pasted "user<Tab>password" leaves only the
        # user in this field and the password nowhere.
        text = event.text
        end = next((at for at, character in enumerate(text) if not character.isprintable()), len(text))
        if end:
            if self.selection.is_empty:
                self.insert_text_at_cursor(text[:end])
            else:
                self.replace(text[:end], *self.selection)
        event.stop()
        event.prevent_default()


class LoginScreen(EngineWorkers, Screen[None]):
    BINDINGS = [
        Binding("f1", "app.help", "Help", key_display="F1", id="login-help"),
        # Priority bindings run while the app handles the key itself, before it forwards
        # the next key of the burst, and ``set_focus`` moves focus at once: the keys that
        # follow go to the field the operator moved to (see the module's docstring).
        # Keys typed before the console switched the terminal to raw mode went through
        # the terminal's line discipline, which turns Enter into a line feed (ctrl+j).
        Binding("enter,ctrl+j", "advance", "Log in", show=False, priority=True),
        Binding("tab", "next_field", show=False, priority=True),
        Binding("shift+tab", "previous_field", show=False, priority=True),
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
            yield LoginField(id="username", placeholder="username")
            yield Label("Password", classes="field-label")
            yield LoginField(id="password", password=True, placeholder="password")
            yield Button("Log in", id="login", variant="primary")
            yield Static(self._message, id="login-error", markup=False)
        yield Footer()

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
            self.focus_next()

    def action_previous_field(self) -> None:
        self.focus_previous()

    def action_advance(self) -> None:
        username, password = self._fields()
        if self.focused is username or self.focused is None:
            self.set_focus(password)
        else:
            self._submit_after_typed_keys()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "login":
            event.stop()
            self._submit_after_typed_keys()

    def _submit_after_typed_keys(self) -> None:
        """Submit once both fields have handled every key already forwarded to them.

        Each field handles its keys in order from its own queue; a callback posted to a
        queue now runs after everything posted before.  Going through the username's
        queue and then the password's covers keys typed into either, in any order.
        """
        username, password = self._fields()
        username.call_later(password.call_later, self._submit)

    def _submit(self) -> None:
        button = self.query_one("#login", Button)
        if button.disabled:
            return
        button.disabled = True
        self.query_one("#login-error", Static).update("")
        username, password = self._fields()
        # The password leaves the screen with the attempt: what the operator types while
        # it is checked is the next attempt, not appended to this one.
        typed_password, password.value = password.value, ""
        self._login(username.value, typed_password)

    @work(exclusive=True, group="login", exit_on_error=False)
    async def _login(self, username: str, password: str) -> None:
        engine = self.wbo.engine
        assert engine is not None, "the login screen is shown only once the engine is open"
        session = await engine.login(username, password)
        self.wbo.begin_session(session)

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        self.query_one("#login", Button).disabled = False
        self.set_focus(self.query_one("#password", Input))
        if isinstance(error, WboError):
            self.query_one("#login-error", Static).update(str(error))
            return True
        self.query_one("#login-error", Static).update("")
        return False

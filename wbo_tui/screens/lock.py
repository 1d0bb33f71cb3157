"""The idle lock: hides the console until the operator's own password is entered.

The password and Enter often arrive in one burst (an SSH read, a password manager): this
is a ``BurstSafeScreen``, so a backspace typed on the way edits what was typed before it
and the attempt reads the field only once every key typed before Enter has landed.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Footer, Input, Label, Static
from textual.worker import Worker

from wbo_tui.engine import AccountLocked, AuthenticationFailed, SessionInfo
from wbo_tui.widgets.burst_input import BurstInput, BurstSafeScreen, TypedValues
from wbo_tui.widgets.engine_workers import EngineWorkers

from wbo_tui.widgets.dismissal import DismissWhenActive


class LockScreen(DismissWhenActive, EngineWorkers, BurstSafeScreen[bool]):
    """A full screen (not a modal), so nothing of the console shows behind it."""

    HELP = (
        "The console locked itself after a period without input. Only your own password "
        "unlocks it; wrong passwords count towards the account lockout. Ctrl+O logs out."
    )
    BINDINGS = [
        Binding("ctrl+o", "logout", "Log out", id="lock-logout"),
        Binding("f1", "app.help", "Help", key_display="F1", id="lock-help"),
    ]

    def __init__(self, session: SessionInfo) -> None:
        super().__init__()
        self._session = session

    def compose(self) -> ComposeResult:
        with Vertical(id="lock-box"):
            yield Static("Console locked", id="lock-title")
            yield Static(
                f"Locked for {self._session.display_name} ({self._session.username}). "
                "Enter your password to continue.",
                id="lock-who", markup=False,
            )
            yield Label("Password", classes="field-label")
            yield BurstInput(id="unlock-password", password=True, placeholder="password")
            yield Button("Unlock", id="unlock", variant="primary")
            yield Static("", id="unlock-error", markup=False)
        yield Footer()

    def help_text(self) -> tuple[str, str]:
        return ("Console locked", self.HELP or "")

    def on_mount(self) -> None:
        # At once, not through the app's queue as ``focus()`` would: keys typed as the lock
        # comes up go to the field, not nowhere.
        self.set_focus(self.query_one("#unlock-password", Input))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "unlock":
            event.stop()
            self.submit_typed()

    def submit_typed(self) -> None:
        button = self.query_one("#unlock", Button)
        if button.disabled:
            return
        button.disabled = True
        self.query_one("#unlock-error", Static).update("")
        self.read_after_typed_keys(self._submit)

    def action_logout(self) -> None:
        self.wbo.end_session("You logged out.")

    def _submit(self, typed: TypedValues) -> None:
        field = self.query_one("#unlock-password", Input)
        # The password leaves the field with the attempt: what is typed while it is checked
        # is the next attempt, not appended to this one.
        password, field.value = typed[field], ""
        self._unlock(password)

    @work(exclusive=True, group="unlock", exit_on_error=False)
    async def _unlock(self, password: str) -> None:
        engine = self.wbo.engine
        assert engine is not None
        await engine.unlock(self._session, password)
        self.dismiss_when_active(True)

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        self.query_one("#unlock", Button).disabled = False
        self.set_focus(self.query_one("#unlock-password", Input))
        if isinstance(error, AccountLocked):
            # Too many wrong passwords: the account is locked, so is this console's session.
            self.wbo.end_session(str(error))
            return True
        if isinstance(error, AuthenticationFailed):
            self.query_one("#unlock-error", Static).update(str(error))
            return True
        self.query_one("#unlock-error", Static).update("")
        return False

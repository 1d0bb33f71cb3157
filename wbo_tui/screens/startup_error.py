"""Shown instead of the login when the database cannot be opened."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Static


class StartupErrorScreen(Screen[None]):
    HELP = "The console could not open its database. The message says why and what to run."
    BINDINGS = [Binding("escape,q", "quit", "Quit", id="startup-quit")]

    def __init__(self, sentence: str) -> None:
        super().__init__()
        self._sentence = sentence

    def compose(self) -> ComposeResult:
        with Vertical(id="startup-box"):
            yield Static("WBO Console cannot start", id="startup-title")
            yield Static(self._sentence, id="startup-error", markup=False)
            yield Button("Quit", id="quit", variant="error")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#quit", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "quit":
            self.action_quit()

    def action_quit(self) -> None:
        # Non-zero: the console did not do its job, and a wrapping script should know.
        self.app.exit(return_code=1)

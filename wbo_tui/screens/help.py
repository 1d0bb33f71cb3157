"""``?``: what the current screen is for, and its keys."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,f1,enter", "dismiss", "Close", key_display="Esc", id="help-close")]

    def __init__(self, title: str, description: str, keys: list[tuple[str, str, bool]]) -> None:
        super().__init__()
        self._title = title
        self._description = description
        self._keys = keys

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="help-box"):
            yield Static(f"Help: {self._title}", classes="modal-title", markup=False)
            with VerticalScroll(id="help-body"):
                yield Static(self._description, id="help-description", markup=False)
                yield Static(self._keys_table(), id="help-keys")
            with Horizontal(classes="modal-buttons"):
                yield Button("Close", id="help-close-button")

    def _keys_table(self) -> Table:
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2, 0, 0))
        table.add_column("Key", no_wrap=True)
        table.add_column("Does")
        for key, description, enabled in self._keys:
            note = "" if enabled else " (not available now)"
            table.add_row(Text(key, style="bold"), Text(description + note))
        return table

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

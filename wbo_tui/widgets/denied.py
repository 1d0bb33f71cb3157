"""Shown in place of an area's content when the engine refused to show it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Button, Static

from wbo_tui.engine import PermissionDenied
from wbo_tui.engine.permissions import BY_CODE

from wbo_tui.widgets.engine_workers import EngineWorkers


class DeniedPanel(EngineWorkers, Vertical):
    """Names the missing permission and offers to file a request for it."""

    DEFAULT_CSS = """
    DeniedPanel {
        display: none;
        height: auto;
        padding: 1 2;
        border: round $error;
        margin: 1 2;
    }
    DeniedPanel.-shown { display: block; }
    DeniedPanel .denied-title { text-style: bold; color: $error; }
    DeniedPanel .denied-text { margin: 1 0; }
    DeniedPanel Button { margin-top: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.error: PermissionDenied | None = None

    def compose(self) -> ComposeResult:
        yield Static("Permission needed", classes="denied-title")
        yield Static("", classes="denied-text", markup=False)
        yield Button("Request this permission", id="request-permission", variant="warning")

    def show(self, error: PermissionDenied) -> None:
        self.error = error
        known = BY_CODE.get(error.permission)
        detail = f"\n{error.permission}: {known.description} ({known.module})" if known else ""
        self.query_one(".denied-text", Static).update(f"{error}{detail}")
        self.add_class("-shown")
        # What held the focus (a table) is hidden now; the request button is the next step.
        self.call_after_refresh(self.query_one("#request-permission", Button).focus)

    def hide(self) -> None:
        self.error = None
        self.remove_class("-shown")

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "request-permission" and self.error is not None:
            event.stop()
            self.wbo.offer_permission_request(self.error)

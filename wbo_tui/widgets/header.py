"""The console header: product, current area, operator, database and time."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from .engine_workers import EngineWorkers


class ConsoleHeader(EngineWorkers, Horizontal):
    """One line across the top.  The time comes from the engine's clock (injected), so a
    fixed clock gives the same header in every snapshot."""

    area = reactive("", init=False)

    def compose(self) -> ComposeResult:
        yield Static("WBO Console", id="hdr-title")
        yield Static("", id="hdr-area")
        yield Static(self._operator_text(), id="hdr-operator", markup=False)
        yield Static(self._username_text(), id="hdr-username", markup=False)
        yield Static(self._database_text(), id="hdr-db", markup=False)
        yield Static("", id="hdr-time")

    def on_mount(self) -> None:
        self.refresh_time()
        self.set_interval(self.wbo.settings.clock_tick_s, self.refresh_time)

    def watch_area(self, area: str) -> None:
        self.query_one("#hdr-area", Static).update(area)

    def refresh_time(self) -> None:
        engine = self.wbo.engine
        if engine is None:
            return
        self.query_one("#hdr-time", Static).update(f"{engine.clock.now():%Y-%m-%d %H:%M:%S} UTC")

    def _operator_text(self) -> str:
        session = self.wbo.session
        if session is None:
            return ""
        return f"{session.display_name} ({session.username})"

    def _username_text(self) -> str:
        session = self.wbo.session
        return session.username if session is not None else ""

    def _database_text(self) -> str:
        engine = self.wbo.engine
        return engine.database_label if engine is not None else ""

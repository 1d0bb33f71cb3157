"""What every area of the shell has: a title, a help text, and what happens on entry."""

from __future__ import annotations

from textual.containers import Vertical

from wbo_tui.widgets.engine_workers import EngineWorkers


class Area(EngineWorkers, Vertical):
    """One module's area inside the shell.  ``enter`` runs each time the area is shown and
    on the refresh key: it re-reads the session (so an approved grant takes effect) and
    reloads what the area shows, in workers, never before the shell is on screen."""

    TITLE = ""
    HELP = ""

    def enter(self) -> None:
        raise NotImplementedError

    def focus_default(self) -> None:
        """Put the focus where the operator most likely wants to type or move."""

"""Risk › Details of a margin call (placeholder: its owner replaces this module)."""

from __future__ import annotations

from textual.screen import Screen

from wbo_tui.engine.margin import MarginCallDTO


class DetailsScreen(Screen[None]):
    def __init__(self, call: MarginCallDTO) -> None:
        super().__init__()
        self.call = call

"""Risk › Configuration (placeholder: its owner replaces this module)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wbo_tui.widgets.table_pane import TablePane, cell


class ConfigurationPane(TablePane):
    COLUMNS = ("Configuration",)
    EMPTY = "Nothing yet."
    TOPICS: frozenset[str] = frozenset()

    async def fetch(self) -> Sequence[Any]:
        return ()

    def row_key(self, item: Any) -> str:
        return str(item)

    def row_cells(self, item: Any) -> Sequence[object]:
        return (cell(item),)

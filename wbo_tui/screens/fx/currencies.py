"""FX › Currency setup: PLACEHOLDER, being built this session (replace this whole module)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wbo_tui.widgets.table_pane import TablePane


class CurrenciesPane(TablePane):
    COLUMNS = ("Being built",)
    EMPTY = "PLACEHOLDER: Currency setup is being built."

    async def fetch(self) -> Sequence[Any]:
        return ()

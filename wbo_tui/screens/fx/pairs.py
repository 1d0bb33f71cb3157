"""FX › Currency pairs: PLACEHOLDER, being built this session (replace this whole module)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wbo_tui.widgets.table_pane import TablePane


class PairsPane(TablePane):
    COLUMNS = ("Being built",)
    EMPTY = "PLACEHOLDER: Currency pairs is being built."

    async def fetch(self) -> Sequence[Any]:
        return ()

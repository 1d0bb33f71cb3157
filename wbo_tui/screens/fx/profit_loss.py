"""FX › Exchange profit and loss: PLACEHOLDER, being built this session (replace this whole module)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wbo_tui.widgets.table_pane import TablePane


class ProfitLossPane(TablePane):
    COLUMNS = ("Being built",)
    EMPTY = "PLACEHOLDER: Exchange profit and loss is being built."

    async def fetch(self) -> Sequence[Any]:
        return ()

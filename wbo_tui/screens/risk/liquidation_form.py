"""Risk › Liquidation of one call (placeholder: its owner replaces this module)."""

from __future__ import annotations

from textual.screen import ModalScreen

from wbo_tui.engine.margin import LiquidationPlanDTO, MarginCallDTO


class LiquidationScreen(ModalScreen[LiquidationPlanDTO | None]):
    """``codes``: only those securities (a single position from Details); empty: the plan's."""

    def __init__(self, call: MarginCallDTO, codes: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.call = call
        self.codes = codes

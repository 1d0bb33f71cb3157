"""FX › Pool: the exchange-pool quota of each currency, its alert amount, whether it is
below it, and (for the selected currency) its latest movements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import Static

from wbo_tui.engine.fx import ListPoolQuotas, PoolLedger, PoolMovementDTO, PoolQuotaDTO

from wbo_tui.widgets.money_pane import MoneyPane
from wbo_tui.widgets.table_pane import cell

MOVES_SHOWN = 3


class PoolPane(MoneyPane):
    COLUMNS = ("Ccy", "Remaining quota", "Alert amount", "Level", "Last movement")
    DROP_ORDER = ("Last movement",)
    EMPTY = "No exchange-pool quotas (Service Parameter > Exchange > Exchange Pool Quota Configuration)."
    TOPICS = frozenset({"fx_pool_quotas", "fx_pool_ledger"})
    HELP = ("The exchange pool's remaining quota per currency and its alert amount. Executed pool exchanges "
            "move the quotas live (the target currency's down, the source currency's up); adjustments are "
            "recorded with their reason. The line under the table shows the selected currency's latest "
            "movements with before, amount and after. Needs lb_hk_conversion.exchange_pool_query.")

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.moves: list[PoolMovementDTO] = []

    async def fetch(self) -> Sequence[Any]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        quotas = await super().fetch()
        self.moves = list(await engine.query(session, PoolLedger()))
        return quotas

    def list_query(self) -> ListPoolQuotas:
        return ListPoolQuotas()

    def row_key(self, item: PoolQuotaDTO) -> str:
        return item.currency

    def _moves_of(self, currency: str) -> list[PoolMovementDTO]:
        return [m for m in self.moves if m.currency == currency]

    def row_cells(self, q: PoolQuotaDTO) -> Sequence[object]:
        level = Text("BELOW ALERT", style="bold red") if q.below_alarm else Text("OK")
        last = self._moves_of(q.currency)[:1]
        return (cell(q.currency), self.money(q.remaining_amount, q.currency), self.money(q.alarm_amount, q.currency),
                level, cell(f"{last[0].change_type} {last[0].order_no}" if last else "—"))

    def show_detail(self, q: PoolQuotaDTO | None) -> None:
        text = ""
        if q is not None:
            moves = "; ".join(
                f"{m.change_type} {m.order_no}: {self.amount(m.before_occurred, q.currency)} "
                f"{'+' if m.occurred_amount >= 0 else '−'} {self.amount(abs(m.occurred_amount), q.currency)} = "
                f"{self.amount(m.after_occurred, q.currency)} ({m.occurred_from.lower()})"
                for m in self._moves_of(q.currency)[:MOVES_SHOWN])
            text = f"{q.currency} latest: {moves}" if moves else f"{q.currency}: no movements yet."
        self.query_one(".pane-detail", Static).update(text)

    def status_text(self, items: Sequence[Any]) -> str:
        below = sum(1 for q in items if q.below_alarm)
        return (f"{len(items)} currencies; {below} below their alert amount." if items else self.EMPTY)

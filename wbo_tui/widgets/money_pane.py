"""A list of records with amounts, shared by the areas that show money (Positions, FX)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from wbo_tui.engine import ListCurrencies, Query

from wbo_tui.widgets.forms import amount_text
from wbo_tui.widgets.table_pane import TablePane


class MoneyPane(TablePane):
    """A pane of records with amounts: amounts at their currency's precision, right-aligned;
    ``f`` cycles a status filter applied in the engine's query."""

    STATUSES: tuple[str, ...] = ()

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.status_filter: str | None = None
        self.precision: dict[str, int] = {}

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    def list_query(self) -> Query:
        raise NotImplementedError

    async def fetch(self) -> Sequence[Any]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        rows = await engine.query(session, self.list_query())
        self.precision = {c.code: c.amount_precision for c in await engine.query(session, ListCurrencies())}
        return rows

    def amount(self, value: Decimal, currency: str) -> str:
        places = self.precision.get(currency)
        return f"{value:,}" if places is None else amount_text(value, places)

    def money(self, value: Decimal, currency: str) -> Text:
        return Text(self.amount(value, currency), justify="right", no_wrap=True)

    def status_text(self, items: Sequence[Any]) -> str:
        shown = (self.status_filter or "all").lower()
        counted = f"{len(items)} shown" if items else self.EMPTY.rstrip(".")
        return f"{counted}; status {shown} (f cycles the status filter)."

    def action_cycle_status(self) -> None:
        choices: list[str | None] = [None, *self.STATUSES]
        self.status_filter = choices[(choices.index(self.status_filter) + 1) % len(choices)]
        self.load()

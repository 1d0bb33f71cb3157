"""FX › Pairs (Service Parameter > Exchange > Currency Pairs): the vendor's cards, one per
source currency with its target currencies and the default target marked (``HKD*``), one
row each so that they fit 80x24; the line under the table shows the selected card in
full.  n adds pairs, d sets a card's default target, x deletes one pair (typed
confirmation; a pair in use is refused, naming what uses it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine import CurrencyDTO, ListCurrencies
from wbo_tui.engine.fx import CurrencyPairCardDTO, ListCurrencyPairs
from wbo_tui.engine.fx.pairs import OPERATION

from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import TablePane, cell
from wbo_tui.screens.fx.pair_forms import AddPairsScreen, DefaultTargetScreen, DeletePairScreen, targets_text

NEEDS = Unavailable(f"you need the permission {OPERATION} to change currency pairs (R requests it)",
                    permission=OPERATION, wanted_for="add, set default and delete currency pairs")


class PairsPane(TablePane):
    COLUMNS = ("Source", "Targets (* default)", "Default", "Pairs")
    DROP_ORDER = ("Pairs", "Default")
    NARROW = {"Targets (* default)": 20}
    EMPTY = "No currency pairs yet (n adds a source currency and its targets)."
    TOPICS = frozenset({"fx_currency_pairs", "currencies"})
    HELP = (
        "Currency Pairs, shown as the vendor's cards: one row per source currency with its target currencies, "
        "the default target (preselected when a client exchange starts from that source) marked with *. The "
        "line under the table shows the selected card in full, and which currencies have their exchange "
        "switch off. n adds pairs (one source, one or more targets); d chooses the selected card's default "
        "target; x deletes one of its pairs (type DELETE 1): a pair an exchange strategy, a markup or a "
        "pending client exchange uses is refused, naming them. Needs fx.currency_pair_inquiry (n, d, x: "
        "lb_hk_conversion.support_currency_update)."
    )
    BINDINGS = [
        Binding("n", "add_pairs", "Add", id="fx-pair-add", tooltip="Add a source currency's target currencies"),
        Binding("d", "set_default", "Default", id="fx-pair-default", tooltip="Choose the card's default target"),
        Binding("x", "delete_pair", "Delete", id="fx-pair-delete", tooltip="Delete one pair of the card"),
    ]
    ROW_ACTIONS = frozenset({"add_pairs", "set_default", "delete_pair"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.currencies: dict[str, CurrencyDTO] = {}

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[Any]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        cards = await engine.query(session, ListCurrencyPairs())
        self.currencies = {c.code: c for c in await engine.query(session, ListCurrencies())}
        return cards

    def row_key(self, item: CurrencyPairCardDTO) -> str:
        return item.from_currency

    def row_cells(self, card: CurrencyPairCardDTO) -> Sequence[object]:
        targets = Text(no_wrap=True, overflow="ellipsis")
        for index, t in enumerate(card.targets):
            if index:
                targets.append("  ")
            targets.append(f"{t.to_currency}*" if t.default_currency else t.to_currency,
                           style="bold" if t.default_currency else "")
        return (Text(card.from_currency, style="bold"), targets, cell(card.default_target or "—"),
                Text(str(len(card.targets)), justify="right"))

    def _switched_off(self, codes: Sequence[str]) -> list[str]:
        return [code for code in codes if code in self.currencies and not self.currencies[code].exchange_enabled]

    def show_detail(self, card: CurrencyPairCardDTO | None) -> None:
        text = ""
        if card is not None:
            pairs = ", ".join(f"{card.from_currency} → {t.to_currency}{' (default)' if t.default_currency else ''}"
                              for t in card.targets)
            count = f"{len(card.targets)} pair{'s' if len(card.targets) != 1 else ''}"
            text = f"{card.from_currency} card, {count}: {pairs}."
            off = self._switched_off([card.from_currency, *(t.to_currency for t in card.targets)])
            if off:
                text += f" Exchange switch off for {', '.join(off)} (Currencies tab): those pairs do not exchange."
        self.query_one(".pane-detail", Static).update(text)

    def status_text(self, items: Sequence[CurrencyPairCardDTO]) -> str:
        if not items:
            return self.EMPTY
        pairs = sum(len(card.targets) for card in items)
        return f"{len(items)} source currencies, {pairs} pairs; * marks each card's default target."

    def why_not(self, action: str, item: CurrencyPairCardDTO | None) -> Unavailable | str | None:
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        if not session.can(OPERATION):
            return NEEDS
        if action == "add_pairs":
            return None  # a new card needs no selected one
        if item is None:
            return "no card is selected"
        if action == "set_default" and len(item.targets) < 2:
            return f"{item.from_currency} has one target, {item.default_target}, which is its default"
        return None

    def action_add_pairs(self) -> None:
        self.app.push_screen(AddPairsScreen(list(self.currencies.values()), dict(self.items), self.selected_key),
                             callback=self._card_saved)

    def action_set_default(self) -> None:
        self.app.push_screen(DefaultTargetScreen(self.selected), callback=self._card_saved)

    def _card_saved(self, card: CurrencyPairCardDTO | None) -> None:
        if card is not None:
            self.app.notify(f"{card.from_currency}: targets {targets_text(card)} (* default).", markup=False)
            self.selected_key = card.from_currency
            self.load()

    def action_delete_pair(self) -> None:
        self.app.push_screen(DeletePairScreen(self.selected), callback=self._deleted)

    def _deleted(self, said: str | None) -> None:
        if said:
            self.app.notify(said, markup=False)
            self.load()

"""FX › Large amounts (Service Parameter > Exchange > Large Amount Criteria Setting): per
currency the Large amount starting point, from which a client exchange selling that
currency is a Large Amount Exchange.  n creates a criterion, e changes the selected one,
x deletes it (typed confirmation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine import CurrencyDTO, ListCurrencies
from wbo_tui.engine.fx import AmountConfigDTO, ListAmountConfigs
from wbo_tui.engine.fx.large_amount import OPERATION

from wbo_tui.widgets.money_pane import MoneyPane
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import cell
from wbo_tui.screens.fx.large_forms import AmountConfigScreen, DeleteAmountConfigScreen

NEEDS = Unavailable(f"you need the permission {OPERATION} to change large-amount criteria (R requests it)",
                    permission=OPERATION, wanted_for="create, edit and delete large-amount criteria")


class LargeAmountsPane(MoneyPane):
    COLUMNS = ("Ccy", "Currency", "Large amount starting point")
    DROP_ORDER = ("Currency",)
    EMPTY = "No large-amount criteria (n creates one): no exchange is a Large Amount Exchange."
    TOPICS = frozenset({"fx_amount_configs", "currencies"})
    HELP = (
        "Large Amount Criteria Setting: per currency, the Large amount starting point. A client exchange that "
        "sells at least that amount of the currency is a Large Amount Exchange: a Large Amount Exchange "
        "strategy (or one of type None) serves it and a checker reviews it. A currency without a criterion "
        "has no large amounts. n creates a criterion for a currency without one, e changes the selected "
        "one's amount, x deletes it (type DELETE 1). Needs lb_hk_conversion.amount_config_query (n, e, x: "
        "lb_hk_conversion.amount_config_update)."
    )
    BINDINGS = [
        Binding("n", "new_criterion", "New", id="fx-large-new", tooltip="Create a criterion for another currency"),
        Binding("e", "edit_criterion", "Edit", id="fx-large-edit", tooltip="Change the selected criterion"),
        Binding("x", "delete_criterion", "Delete", id="fx-large-delete", tooltip="Delete the selected criterion"),
    ]
    ROW_ACTIONS = frozenset({"new_criterion", "edit_criterion", "delete_criterion"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.names: dict[str, str] = {}
        self.currencies: list[CurrencyDTO] = []

    async def fetch(self) -> Sequence[Any]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        configs = await engine.query(session, ListAmountConfigs())
        self.currencies = list(await engine.query(session, ListCurrencies()))
        self.precision = {c.code: c.amount_precision for c in self.currencies}
        self.names = {c.code: c.name for c in self.currencies}
        return configs

    def row_key(self, item: AmountConfigDTO) -> str:
        return item.currency

    def row_cells(self, c: AmountConfigDTO) -> Sequence[object]:
        return (cell(c.currency), cell(self.names.get(c.currency, "")), self.money(c.amount, c.currency))

    def _without(self) -> list[CurrencyDTO]:
        """Currencies with no criterion yet (those a new one may be for)."""
        return [c for c in self.currencies if c.code not in self.items]

    def status_text(self, items: Sequence[AmountConfigDTO]) -> str:
        if not items:
            return self.EMPTY
        without = [c.code for c in self._without()]
        none = f"; none for {', '.join(without)}" if without else ""
        return f"{len(items)} currenc{'ies' if len(items) != 1 else 'y'} with a criterion{none}."

    def show_detail(self, c: AmountConfigDTO | None) -> None:
        text = ""
        if c is not None:
            text = (f"{c.currency}: an exchange selling {self.amount(c.amount, c.currency)} {c.currency} or more is a "
                    "Large Amount Exchange (a Large Amount strategy serves it; a checker reviews it).")
        self.query_one(".pane-detail", Static).update(text)

    def why_not(self, action: str, item: AmountConfigDTO | None) -> Unavailable | str | None:
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        if not session.can(OPERATION):
            return NEEDS
        if action == "new_criterion":
            return None if self._without() or not self.currencies else "every currency has a criterion; e changes one"
        return "no criterion is selected" if item is None else None

    def action_new_criterion(self) -> None:
        self.app.push_screen(AmountConfigScreen(None, self._without()), callback=self._saved)

    def action_edit_criterion(self) -> None:
        self.app.push_screen(AmountConfigScreen(self.selected, self.currencies), callback=self._saved)

    def _saved(self, c: AmountConfigDTO | None) -> None:
        if c is not None:
            self.app.notify(f"{c.currency}: Large amount starting point {self.amount(c.amount, c.currency)}.",
                            markup=False)
            self.selected_key = c.currency
            self.load()

    def action_delete_criterion(self) -> None:
        c: AmountConfigDTO = self.selected
        self.app.push_screen(DeleteAmountConfigScreen(c, f"{self.amount(c.amount, c.currency)} {c.currency}"),
                             callback=self._deleted)

    def _deleted(self, said: str | None) -> None:
        if said:
            self.app.notify(said, markup=False)
            self.load()

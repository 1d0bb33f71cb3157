"""FX › Clients: the brokerage's clients and, for the selected one, cash, held and
withdrawable per currency (what an exchange may take)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual import work
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine.fx import ClientCash, ClientDTO, ImportResult, ListClients
from wbo_tui.engine.fx.clients import OPERATION

from wbo_tui.widgets.money_pane import MoneyPane
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import cell
from wbo_tui.screens.fx.client_forms import ImportClientsScreen
from wbo_tui.screens.fx.file_import import PreparedImport

IMPORTING = "import clients and their opening cash"


class ClientsPane(MoneyPane):
    COLUMNS = ("Account no", "Name", "Type")
    EMPTY = "No clients yet (import them from CSV)."
    TOPICS = frozenset({"clients", "client_cash_movements", "client_cash_holds"})
    HELP = ("Clients, by account number. The line under the table shows the selected client's cash per "
            "currency: the balance (the sum of its movements), what is held for pending exchanges and "
            "withdrawals, and what is withdrawable (balance less held). I imports clients and their opening "
            "cash from a CSV file (one row per client and currency; every row is checked first, and one bad row "
            f"imports nothing). Needs fx.client_inquiry (I: {OPERATION}).")
    BINDINGS = [Binding("I", "import_clients", "Import", key_display="I", id="fx-client-import",
                        tooltip="Import clients and their opening cash from CSV")]
    ROW_ACTIONS = frozenset({"import_clients"})

    def why_not(self, action: str, item: ClientDTO | None) -> Unavailable | str | None:
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        if not session.can(OPERATION):
            return Unavailable(f"you need the permission {OPERATION} to {IMPORTING} (R requests it)",
                               permission=OPERATION, wanted_for=IMPORTING)
        return None

    def action_import_clients(self) -> None:
        self.app.push_screen(ImportClientsScreen(), callback=self._imported)

    def _imported(self, done: tuple[PreparedImport, ImportResult] | None) -> None:
        if done is not None:
            prepared, result = done
            self.app.notify(f"Imported {result.clients:,} client(s) with {result.balances:,} opening balance(s) "
                            f"from {prepared.path}.", title="Clients imported", markup=False)
            self.load()

    def list_query(self) -> ListClients:
        return ListClients()

    def status_text(self, items: Sequence[Any]) -> str:
        return f"{len(items)} clients." if items else self.EMPTY

    def row_key(self, item: ClientDTO) -> str:
        return item.account_no

    def row_cells(self, c: ClientDTO) -> Sequence[object]:
        return (cell(c.account_no), cell(c.name), cell(c.account_type))

    def after_load(self) -> None:
        self.show_detail(self.selected)

    def show_detail(self, c: ClientDTO | None) -> None:
        if c is None:
            self.query_one(".pane-detail", Static).update("")
            return
        self._cash(c)

    @work(exclusive=True, group="detail", exit_on_error=False)
    async def _cash(self, c: ClientDTO) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        if engine is None or session is None:
            return
        detail = await engine.query(session, ClientCash(client_id=c.id))
        lines = [f"{x.currency} {self.amount(x.balance, x.currency)} (held {self.amount(x.held, x.currency)}, "
                 f"withdrawable {self.amount(x.withdrawable, x.currency)})" for x in detail.cash]
        text = f"{c.account_no} {c.name}: " + ("; ".join(lines) if lines else "no cash.")
        if self.selected_key == c.account_no:
            self.query_one(".pane-detail", Static).update(text)

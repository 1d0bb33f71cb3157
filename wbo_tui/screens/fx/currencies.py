"""FX › Currencies (Service Parameter > Fund Parameter > Currency Setup): per currency the
exchange switch, exchange rate and amount precision, the retrieval logic (amount rounding),
the minimum exchange amount and the standard (base) currency.  e edits a currency's
settings in a form; s switches its exchange on or off, confirmed first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine import ListCurrencies, WboError
from wbo_tui.engine.fx import CurrencySetupDTO, ListCurrencySetup
from wbo_tui.engine.fx.currency_setup import OPERATION
from wbo_tui.engine.fx.rate_math import ROUND_MODE_LABELS

from wbo_tui.widgets.forms import ConfirmScreen, amount_text
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import TablePane, cell
from wbo_tui.screens.fx.setup_forms import (
    ROUNDING,
    CurrencySetupScreen,
    build_setup,
    setup_fields,
    switch_off_consequences,
)

SHORT_ROUNDING = {"round": "Rounding Off", "truncate": "Truncate"}


class CurrenciesPane(TablePane):
    COLUMNS = ("Ccy", "Name", "Exchange", "Rate dp", "Amount dp", "Rounding", "Min exchange", "Standard",
               "Remarks")
    # At 80 columns: the currency, its switch, precisions, rounding, minimum and whether it is
    # the standard one; the detail line spells the selected currency out in full.
    DROP_ORDER = ("Remarks", "Name", "Rounding", "Amount dp", "Rate dp")
    NARROW = {"Remarks": 12}
    EMPTY = "No currencies."
    TOPICS = frozenset({"currencies", "fx_currency_configs"})
    HELP = (
        "Currency Setup: one row per currency with its exchange switch (on/off), exchange rate precision and "
        "amount precision (dp: decimal places), retrieval logic (Rounding Off, half up, or Truncate Without "
        "Rounding), minimum exchange amount, and the standard (base) currency marked. e edits the selected "
        "currency's settings (all fields, saved together, only if nobody changed them meanwhile); s switches "
        "its exchange on or off (off is confirmed first: new exchanges in it are refused). Needs "
        "fx.currency_setup_inquiry (e, s: atm.update_current_config)."
    )
    BINDINGS = [
        Binding("e", "edit_setup", "Edit", id="fx-currency-edit", tooltip="Edit the selected currency's setup"),
        Binding("s", "switch_exchange", "Exchange on/off", id="fx-currency-switch",
                tooltip="Switch the selected currency's exchange on or off"),
    ]
    ROW_ACTIONS = frozenset({"edit_setup", "switch_exchange"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.currency_precision: dict[str, int] = {}

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[Any]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        setups = await engine.query(session, ListCurrencySetup())
        self.currency_precision = {c.code: c.amount_precision for c in await engine.query(session, ListCurrencies())}
        return setups

    def row_key(self, item: CurrencySetupDTO) -> str:
        return item.currency

    def row_cells(self, s: CurrencySetupDTO) -> Sequence[object]:
        if not s.configured:
            # No settings yet: the engine's suggestions are not shown as if they were set.
            return (cell(s.currency), cell(s.name), Text("not set up", style="dim"), Text("—", justify="right"),
                    Text("—", justify="right"), cell("—"), Text("—", justify="right"), cell(""), cell(""))
        switch = Text("on", style="bold green") if s.support_exchange else Text("off", style="bold red")
        return (cell(s.currency), cell(s.name), switch, Text(str(s.exchange_rate_precision), justify="right"),
                Text(str(s.amount_precision), justify="right"), cell(SHORT_ROUNDING[s.amount_round_mode]),
                Text(amount_text(s.min_exchange_amount, s.amount_precision), justify="right"),
                Text("★ base", style="bold cyan") if s.standard_money else cell(""), cell(s.remarks))

    def status_text(self, items: Sequence[CurrencySetupDTO]) -> str:
        if not items:
            return self.EMPTY
        on = sum(1 for s in items if s.support_exchange)
        standard = next((s.currency for s in items if s.standard_money), None)
        base = f"standard currency {standard}" if standard else "no standard currency"
        return f"{len(items)} currencies, {on} with exchange on; {base}; dp: decimal places."

    def show_detail(self, s: CurrencySetupDTO | None) -> None:
        text = ""
        if s is not None and not s.configured:
            text = f"{s.currency} {s.name}: no exchange settings yet (e sets them up); it cannot be exchanged."
        elif s is not None:
            text = (f"{s.currency} {s.name}: exchange {'on' if s.support_exchange else 'off'}, rate precision "
                    f"{s.exchange_rate_precision} dp, amount precision {s.amount_precision} dp, "
                    f"{ROUNDING[s.amount_round_mode]}, minimum exchange "
                    f"{amount_text(s.min_exchange_amount, s.amount_precision)} {s.currency}, "
                    f"{'the standard (base) currency' if s.standard_money else 'not the standard currency'}"
                    f"{'; remarks: ' + s.remarks if s.remarks else ''}; version {s.version}.")
        self.query_one(".pane-detail", Static).update(text)

    def why_not(self, action: str, item: CurrencySetupDTO | None) -> Unavailable | str | None:
        if item is None:
            return "no row is selected"
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        if not session.can(OPERATION):
            return Unavailable(f"you need the permission {OPERATION} to edit currency setup (R requests it)",
                               permission=OPERATION, wanted_for="edit currency setup")
        if action == "switch_exchange" and not item.configured:
            return f"{item.currency} has no exchange settings yet; e sets them up"
        return None

    def action_edit_setup(self) -> None:
        s: CurrencySetupDTO = self.selected
        self.app.push_screen(CurrencySetupScreen(s, currency_precision=self.currency_precision.get(s.currency)),
                             callback=self._saved)

    def _saved(self, s: CurrencySetupDTO | None) -> None:
        if s is not None:
            self.app.notify(f"{s.currency}: currency setup saved (exchange switch "
                            f"{'on' if s.support_exchange else 'off'}).", markup=False)
            self.load()

    def action_switch_exchange(self) -> None:
        s: CurrencySetupDTO = self.selected
        turn_on = not s.support_exchange
        done = f"{s.currency}: exchange switched {'on' if turn_on else 'off'}."

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return
            try:
                # The currency's settings as shown, only the switch changed (and only if
                # nobody changed them meanwhile: the version shown).
                command = build_setup(**setup_fields(s, support_exchange=turn_on))
            except WboError as error:
                self.app.notify(str(error), title="Not done", severity="error", markup=False)
                return
            self.run_command(command, done)

        if turn_on:
            consequences = [
                f"{s.currency} ({s.name}) exchanges again: client exchanges from or into it pass the first check "
                "(exchange switch); its pairs and strategies decide the rest.",
                f"Its settings stay: rate precision {s.exchange_rate_precision} dp, amount precision "
                f"{s.amount_precision} dp, {ROUND_MODE_LABELS[s.amount_round_mode]}.",
                "The change is recorded in the audit log.",
            ]
            screen = ConfirmScreen(f"Switch exchange on for {s.currency}?", consequences, "Switch on", danger=False,
                                   does="switches the exchange on")
        else:
            screen = ConfirmScreen(f"Switch exchange off for {s.currency}?", switch_off_consequences(s), "Switch off",
                                   does="switches the exchange off")
        self.app.push_screen(screen, callback=confirmed)

"""FX › Strategies: the exchange strategies (Service Parameter > Exchange > Currency Exchange
Strategy), which decide how a client's request is served: from the exchange pool or at a
bank channel, for which exchange type, pairs and service periods, and from which amount a
checker reviews it.  n creates, e edits, t enables or disables one; w asks which strategy
applies to a request now, or why none does."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine.fx import ListExchangeStrategies, SetStrategyEnabled, StrategyDTO
from wbo_tui.engine.fx import service_time
from wbo_tui.engine.fx.routing import INQUIRY as ROUTE_INQUIRY
from wbo_tui.engine.fx.strategies import ALL_PAIRS, OPERATION, periods_of

from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import TablePane, cell
from wbo_tui.screens.fx.strategy_forms import StrategyScreen, WhichStrategyScreen

SHORT_STRATEGY = {"BATCH": "Pool", "SINGLE": "Bank"}
SHORT_TYPE = {0: "None", 1: "Large Amount", 2: "Small within pool", 3: "Small beyond pool"}
# The keys that need no selected row: greyed only for want of a permission.
CHANGES = "create, edit, enable and disable exchange strategies"
LIST_ACTIONS = {"new_strategy": (OPERATION, CHANGES),
                "which_strategy": (ROUTE_INQUIRY, "ask which strategy serves a request")}


class StrategiesPane(TablePane):
    COLUMNS = ("Id", "Strategy", "Exchange type", "Channel", "Pairs", "Service periods", "Approval from", "Enabled")
    # At 80 columns the approval starting point goes to the detail line, and the pairs,
    # periods and exchange type are cut (the detail line has them in full).
    DROP_ORDER = ("Approval from",)
    NARROW = {"Pairs": 10, "Service periods": 14, "Exchange type": 12}
    EMPTY = "No exchange strategies: n creates one (a client's request needs one in service)."
    TOPICS = frozenset({"fx_exchange_strategies", "fx_currency_pairs"})
    HELP = (
        "The exchange strategies: Pool (Exchange Pool, from the broker's quotas) or Bank (Bank Exchange, at its "
        "channel), the exchange type each serves (None, Large Amount, Small Amount within or beyond the pool), the "
        "pairs it covers (ALL/ALL: every pair), its service periods in Hong Kong time, and the approval starting "
        "point (from that amount in the standard currency a checker reviews the exchange; 0.01: every one). The "
        "detail line says whether the selected one is in service now, else its next window. n creates a strategy, "
        "e edits the selected one, t enables or disables it (two enabled strategies never serve one pair, type and "
        "moment: an overlap is refused, naming the other); w asks which strategy applies to a request now, or why "
        "none does. Needs lb_hk_conversion.exchangeserve_query (n, e, t: lb_hk_conversion.exchangeserve_update; "
        "w: fx.customer_exchange_inquiry)."
    )
    BINDINGS = [
        Binding("w", "which_strategy", "Which applies?", id="fx-strategy-which",
                tooltip="Which strategy serves a request now, or why none does"),
        Binding("n", "new_strategy", "New", id="fx-strategy-new", tooltip="Create an exchange strategy"),
        Binding("e", "edit_strategy", "Edit", id="fx-strategy-edit", tooltip="Edit the selected strategy"),
        Binding("t", "toggle_strategy", "Enable/disable", id="fx-strategy-toggle",
                tooltip="Enable or disable the selected strategy"),
    ]
    ROW_ACTIONS = frozenset({"new_strategy", "edit_strategy", "toggle_strategy", "which_strategy"})

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[StrategyDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        return await engine.query(session, ListExchangeStrategies())

    def row_key(self, item: StrategyDTO) -> str:
        return str(item.id)

    def row_cells(self, s: StrategyDTO) -> Sequence[object]:
        start = s.approval_start_amount
        return (Text(str(s.id), justify="right"), cell(SHORT_STRATEGY[s.service_strategy]),
                cell(SHORT_TYPE[s.change_type]), cell(s.channel_name or "—"), cell(", ".join(s.support_currency)),
                cell("; ".join(s.periods)), Text("—" if start is None else f"{start:,}", justify="right"),
                Text("yes", style="bold green") if s.enable_flag else Text("no", style="bold red"))

    def _now_text(self, s: StrategyDTO) -> str:
        if not s.enable_flag:
            return "disabled: serves nothing"
        engine = self.wbo.engine
        assert engine is not None
        now, periods = engine.clock.now(), periods_of(s)
        return "in service now" if service_time.in_service(periods, now) else service_time.closed_reason(periods, now)

    def show_detail(self, s: StrategyDTO | None) -> None:
        text = ""
        if s is not None:
            pairs = "every pair" if ALL_PAIRS in s.support_currency else ", ".join(s.support_currency)
            start = s.approval_start_amount
            review = ("no approval starting point" if start is None else
                      "every exchange reviewed (approval from 0.01)" if start <= Decimal("0.01") else
                      f"reviewed from {start:,} (standard currency)")
            via = f" via {s.channel_name}" if s.channel_name else ""
            text = (f"Strategy {s.id}, {self._now_text(s)}: {s.strategy_label}{via}, {s.change_type_label}; "
                    f"{review}; {pairs}; {'; '.join(s.periods)} HKT." + (f" {s.remarks}" if s.remarks else ""))
        self.query_one(".pane-detail", Static).update(text)

    def status_text(self, items: Sequence[StrategyDTO]) -> str:
        if not items:
            return self.EMPTY
        enabled = sum(1 for s in items if s.enable_flag)
        return f"{len(items)} exchange strategies; {enabled} enabled."

    def why_not(self, action: str, item: StrategyDTO | None) -> Unavailable | str | None:
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        if action in LIST_ACTIONS:
            permission, wanted = LIST_ACTIONS[action]
        else:
            if item is None:
                return "no row is selected"
            permission, wanted = OPERATION, CHANGES
        if not session.can(permission):
            return Unavailable(f"you need the permission {permission} to {wanted} (R requests it)",
                               permission=permission, wanted_for=wanted)
        return None

    def _saved(self, s: StrategyDTO | None) -> None:
        if s is not None:
            self.app.notify(f"Exchange strategy {s.id} saved ({s.strategy_label}, {s.change_type_label}).",
                            markup=False)
            self.load()

    def action_new_strategy(self) -> None:
        self.app.push_screen(StrategyScreen(), callback=self._saved)

    def action_edit_strategy(self) -> None:
        self.app.push_screen(StrategyScreen(self.selected), callback=self._saved)

    def action_which_strategy(self) -> None:
        self.app.push_screen(WhichStrategyScreen())

    def action_toggle_strategy(self) -> None:
        s: StrategyDTO = self.selected
        enable = not s.enable_flag
        verb = "Enable" if enable else "Disable"
        via = f" via {s.channel_name}" if s.channel_name else ""
        what = f"strategy {s.id} ({s.strategy_label}{via}, {s.change_type_label}; {', '.join(s.support_currency)})"
        consequences = ([f"{what} serves requests again in {'; '.join(s.periods)} HKT.",
                         "Refused if another enabled strategy already serves one of its pairs, its exchange type "
                         "and an overlapping period (the refusal names it)."] if enable else
                        [f"{what} stops serving requests at once: a request it would serve goes to another "
                         "strategy in service, or is refused when none is.",
                         "Requests already submitted keep their strategy."])
        consequences.append("Recorded in the audit log; t again reverses it.")

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_command(SetStrategyEnabled(strategy_id=s.id, enable_flag=enable, expected_version=s.version),
                                 f"Exchange strategy {s.id} {'enabled' if enable else 'disabled'}.")

        self.app.push_screen(ConfirmScreen(f"{verb} exchange strategy {s.id}?", consequences, verb,
                                           danger=not enable, does=f"{verb.lower()}s it"), callback=confirmed)

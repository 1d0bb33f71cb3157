"""Risk › Configuration: the WBO backend's margin settings, in three views of one table (v
switches; a view's key pressed in another view shows that view):

- **Settings**: the desk's settings one per row, with what each means; e edits them all
  in one form (switching the liquidation toggle is confirmed first).
- **Instruments**: each stock's status and margin factors; i edits the selected one.
- **Client terms**: each margin client's additional margin, exemption, interest,
  outstanding deposit, trading and financing limits; t edits them, l renews a trading
  limit that expired with a margin call.

One view at a time keeps every row readable at 80x24.  Everything is visible with
RiskWarningReadOnly; every change needs the vendor's
``lb_hk_margin_call.margin_call_auto_batch_forccconfig`` (its spelling)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from wbo_tui.engine import PermissionDenied
from wbo_tui.engine.fx import ListClients
from wbo_tui.engine.margin import (
    ClientTermsDTO,
    GetClientTerms,
    GetMarginSettings,
    InstrumentDTO,
    ListInstruments,
    ListMarginCalls,
    MarginSettingsDTO,
)
from wbo_tui.engine.margin.settings import CONFIG, ORDER_RULE_LABELS

from wbo_tui.widgets.columns import PriorityColumns
from wbo_tui.widgets.forms import amount_text
from wbo_tui.widgets.moments import when
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import TablePane, cell
from wbo_tui.screens.risk.orders import align_right
from wbo_tui.screens.risk.config_forms import (
    SETTING_LABELS,
    ClientTermsScreen,
    InstrumentScreen,
    MarginSettingsScreen,
    RenewLimitScreen,
)

MEANINGS = {  # at most 80 characters: the column is shown whole at 160 columns
    "liquidation_enabled": "The liquidation toggle: batch liquidation on the Risk Warning list only while on",
    "order_rule": "Which positions a liquidation plan sells first",
    "offset_steps": "Sell limit: best bid less this many HKEX price steps (buy-back: best ask plus)",
    "buffer_pct": "Plans aim this far above the requirement, so the next tick does not call again",
    "cal_margin_owed": "is_cal_nav: count the margin owed (margin-call margin − net assets)",
    "cal_interest": "is_cal_in_debt: add the accrued interest and charges",
    "cal_trading_limit": "is_max_trade_credit: subtract the client's trading limit",
    "cal_over_finance": "is_cal_over_finance: count financing over the limit (it also triggers a call)",
    "expire_trading_limit": "A client's trading limit expires as a margin call opens (the manual's default)",
    "deadline_days": "Close of the Nth HK trading day after the call opens; uncured, a force call",
    "stale_price_s": "A quote older than this is stale: shown so in Details and plans",
    "suspended_days": "Suspended this long, a stock's value no longer counts as liquid net assets",
    "price_source": "Where prices come from (the feed configuration; not edited here)",
    "venue": "Where liquidation orders are sent (the feed configuration; not edited here)",
}
VIEWS = {"settings": "Settings", "instruments": "Instruments", "terms": "Client terms"}
VIEW_ACTIONS = {"edit_settings": "settings", "edit_instrument": "instruments", "edit_terms": "terms",
                "renew_limit": "terms"}
LAYOUTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, int]]] = {
    # (columns, drop order, narrowable): at 80 columns the detail line has what is dropped.
    "settings": (("Setting", "Value", "What it means"), ("What it means",), {"What it means": 24}),
    "instruments": (("Code", "Name", "Status", "Since (UTC)", "Initial %", "Call %", "Maint %", "Force %", "Lot",
                     "Ccy"), ("Since (UTC)", "Ccy", "Lot"), {"Name": 10}),
    "terms": (("Client", "Name", "Add. margin", "Interest", "Deposit owed", "Trading limit", "Financing limit",
               "Exempt", "Reason"), ("Reason", "Name", "Deposit owed"), {"Reason": 12}),
}
RIGHT = frozenset({"Initial %", "Call %", "Maint %", "Force %", "Lot", "Add. margin", "Interest", "Deposit owed",
                   "Trading limit", "Financing limit"})
NEEDS = Unavailable(f"you need the permission {CONFIG} to change the margin configuration (R requests it)",
                    permission=CONFIG, wanted_for="change the margin call configuration")
MAX_CLIENTS = 200


@dataclass(frozen=True, slots=True)
class SettingRow:
    key: str
    label: str
    value: str
    meaning: str


def on_off(flag: bool) -> str:
    return "on" if flag else "off"


def feed_kind(feed: dict[str, Any]) -> str:
    """A feed's kind only: its other settings may hold addresses or credentials."""
    return str(feed.get("kind") or "not configured")


def setting_rows(s: MarginSettingsDTO) -> list[SettingRow]:
    values = {
        "liquidation_enabled": on_off(s.liquidation_enabled), "order_rule": ORDER_RULE_LABELS.get(s.order_rule,
                                                                                                 s.order_rule),
        "offset_steps": f"{s.offset_steps} step{'s' if s.offset_steps != 1 else ''}", "buffer_pct": f"{s.buffer_pct} %",
        **{name: on_off(getattr(s, name)) for name in ("cal_margin_owed", "cal_interest", "cal_trading_limit",
                                                       "cal_over_finance", "expire_trading_limit")},
        "deadline_days": f"{s.deadline_days} HK trading days", "stale_price_s": f"{s.stale_price_s} s",
        "suspended_days": f"{s.suspended_days} days",
    }
    labels = {**SETTING_LABELS, "price_source": "Price source", "venue": "Liquidation venue"}
    values.update(price_source=feed_kind(s.price_source), venue=feed_kind(s.venue))
    return [SettingRow(key, labels[key], values[key], MEANINGS[key]) for key in labels]


def factor_text(value: Decimal) -> str:
    """A factor (a percentage) without trailing zeros: 40, 22.5."""
    return f"{value.normalize():f}"


def money(value: Any) -> str:  # noqa: ANN401
    return amount_text(value, 2, blank="no limit")


def view_line(view: str, status: str) -> Text:
    """The status line: the three views, the shown one marked, then what it shows."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for key, label in VIEWS.items():
        text.append(f" {label} ", style="bold reverse" if key == view else "")
    return text.append(f" {status}")


class ConfigurationPane(TablePane):
    COLUMNS, DROP_ORDER, NARROW = LAYOUTS["settings"]
    EMPTY = "Nothing to show."
    TOPICS = frozenset({"margin_settings", "instruments", "margin_terms", "clients"})
    HELP = (
        "Configuration: the WBO backend's margin settings, in three views (v switches; a view's key pressed in "
        "another view shows that view; Enter edits the selected row). Settings: the liquidation toggle, the "
        "order of positions, the limit price offset and the buffer of plans, the four warning-value switches "
        "(the terms of Margin to Be Collected), the expiry of trading limits as a call opens, the deadline, when "
        "a price is stale and when a suspension is long; e edits them in one form. Instruments: each stock's "
        "status and margin factors (% of market value: initial, margin-call, maintenance, force); i edits the "
        "selected one (suspend, delist, back to normal, factors). Client terms: each margin client's additional "
        "margin, interest, deposit owed, trading and financing limits and exemption; t edits them, l renews a "
        f"trading limit that expired with a margin call. Needs RiskWarningReadOnly (e, i, t, l: {CONFIG})."
    )
    BINDINGS = [
        Binding("v", "next_view", "Next view", id="risk-config-view", tooltip="Settings, instruments, client terms"),
        Binding("e", "edit_settings", "Edit settings", id="risk-config-edit", tooltip="Edit the desk's settings"),
        Binding("i", "edit_instrument", "Edit instrument", id="risk-config-instrument",
                tooltip="Edit the selected instrument's status and factors"),
        Binding("t", "edit_terms", "Edit terms", id="risk-config-terms", tooltip="Edit the selected client's terms"),
        Binding("l", "renew_limit", "Renew limit", id="risk-config-renew",
                tooltip="Renew a trading limit that expired with a margin call"),
    ]
    ROW_ACTIONS = frozenset(VIEW_ACTIONS)

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.view = "settings"
        self.settings: MarginSettingsDTO | None = None

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    # --- views ----------------------------------------------------------------------------

    def show_view(self, view: str) -> None:
        if view == self.view:
            return
        self.view = view
        self.COLUMNS, self.DROP_ORDER, self.NARROW = LAYOUTS[view]
        self.columns = PriorityColumns(self.COLUMNS, self.DROP_ORDER, fixed=self.FIXED_COLUMNS, narrow=self.NARROW)
        self.items = {}
        self.table.clear(columns=True)
        self.selected_key = None
        self.query_one(".pane-status", Static).update(view_line(view, "Loading…"))
        self.refresh_bindings()
        self.load()

    def action_next_view(self) -> None:
        views = list(VIEWS)
        self.show_view(views[(views.index(self.view) + 1) % len(views)])

    def on_key(self, event: events.Key) -> None:
        """A view's key pressed in another view shows that view (its footer then has the key)."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            view = VIEW_ACTIONS.get(binding.action)
            if view is not None and view != self.view and not self.has_class("-denied"):
                event.stop()
                event.prevent_default()
                self.show_view(view)
                return

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        action = next(a for a, v in VIEW_ACTIONS.items() if v == self.view)
        if self.check_action(action, ()):
            getattr(self, f"action_{action}")()
        else:
            reason = self.unavailable(action)
            if reason is not None:
                self.app.notify(f"Not available: {reason.reason}.", title="Not available", severity="warning",
                                markup=False)

    # --- loading --------------------------------------------------------------------------

    async def fetch(self) -> Sequence[Any]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        self.settings = await engine.query(session, GetMarginSettings())
        if self.view == "settings":
            return setting_rows(self.settings)
        if self.view == "instruments":
            return await engine.query(session, ListInstruments())
        return [await engine.query(session, GetClientTerms(client_id=client_id))
                for client_id in await self._margin_clients()]

    async def _margin_clients(self) -> list[int]:
        """The margin clients' ids by account number: from the client list, or, for an
        operator who may not list clients, the clients of margin calls open and ended."""
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        try:
            clients = await engine.query(session, ListClients(limit=1000))
            found = {c.account_no: c.id for c in clients if c.account_type == "margin"}
        except PermissionDenied:
            found = {}
            for history in (False, True):
                page = await engine.query(session, ListMarginCalls(history=history, page_size=1000))
                found.update({call.account_no: call.client_id for call in page.rows})
        return [found[account] for account in sorted(found)][:MAX_CLIENTS]

    def row_key(self, item: Any) -> str:  # noqa: ANN401
        if isinstance(item, SettingRow):
            return item.key
        return item.code if isinstance(item, InstrumentDTO) else item.account_no

    def row_cells(self, item: Any) -> Sequence[object]:  # noqa: ANN401
        if isinstance(item, SettingRow):
            style = {"on": "bold green", "off": "bold red"}.get(item.value, "")
            return (cell(item.label), Text(item.value, style=style, no_wrap=True), cell(item.meaning))
        if isinstance(item, InstrumentDTO):
            status = Text(item.status.lower(), style={"SUSPENDED": "bold yellow", "DELISTED": "bold red"}.get(
                item.status, ""), no_wrap=True)
            factors = [cell(factor_text(getattr(item, f))) for f in ("im_factor", "mcm_factor", "mm_factor",
                                                                      "fm_factor")]
            return (cell(item.code), cell(item.name), status, cell(when(item.status_since)), *factors,
                    cell(f"{item.lot_size:,}"), cell(item.currency))
        t: ClientTermsDTO = item
        limit = Text(("expired " if t.trading_limit_expired else "") + money(t.trading_limit),
                     style="yellow" if t.trading_limit_expired else "", no_wrap=True)
        return (cell(t.account_no), cell(t.name), cell(money(t.additional_margin)), cell(money(t.accrued_interest)),
                cell(money(t.outstanding_deposit)), limit, cell(money(t.financing_limit)),
                Text("exempt", style="bold yellow") if t.exempt else cell("—"), cell(t.exempt_reason))

    def _rows(self, items: Sequence[Any]) -> list[list[object]]:
        return align_right(self.COLUMNS, super()._rows(items), RIGHT)

    def status_text(self, items: Sequence[Any]) -> Text:  # type: ignore[override]  # a Static shows Text too
        s = self.settings
        if self.view == "settings":
            status = "never saved: the defaults" if s is None or not s.version else f"version {s.version}; e edits"
        elif self.view == "instruments":
            odd = [f"{n} {st.lower()}" for st in ("SUSPENDED", "DELISTED")
                   if (n := sum(1 for i in items if i.status == st))]
            status = ", ".join([f"{len(items)} instruments", *odd])
        else:
            exempt = sum(1 for t in items if t.exempt)
            expired = sum(1 for t in items if t.trading_limit_expired)
            status = f"{len(items)} clients, {exempt} exempt, {expired} limit expired"
        return view_line(self.view, status)

    def show_detail(self, item: Any) -> None:  # noqa: ANN401
        self.query_one(".pane-detail", Static).update(self.describe(item))

    def describe(self, item: Any) -> str:  # noqa: ANN401
        if isinstance(item, SettingRow):
            return f"{item.label}: {item.value}. {item.meaning}."
        if isinstance(item, InstrumentDTO):
            since = f" since {when(item.status_since)} UTC" if item.status_since else ""
            return (f"{item.code} {item.name}: {item.status.lower()}{since}; factors initial "
                    f"{factor_text(item.im_factor)} %, margin-call {factor_text(item.mcm_factor)} %, maintenance "
                    f"{factor_text(item.mm_factor)} %, force {factor_text(item.fm_factor)} %; "
                    f"board lot {item.lot_size:,}, {item.currency}; version {item.version}.")
        if isinstance(item, ClientTermsDTO):
            t = item
            exempt = f"exempt ({t.exempt_reason})" if t.exempt else "not exempt"
            expired = " (expired with a margin call: l renews it)" if t.trading_limit_expired else ""
            return (f"{t.account_no} {t.name}: additional margin {money(t.additional_margin)}, accrued interest "
                    f"{money(t.accrued_interest)}, deposit owed {money(t.outstanding_deposit)}, trading limit "
                    f"{money(t.trading_limit)}{expired}, financing limit {money(t.financing_limit)}; {exempt}.")
        return ""

    # --- editing --------------------------------------------------------------------------

    def _row_bindings(self) -> list[Binding]:
        # The hint line and R speak of the shown view's keys only.
        return [b for b in super()._row_bindings() if VIEW_ACTIONS.get(b.action) == self.view]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if VIEW_ACTIONS.get(action, self.view) != self.view and not self.has_class("-denied"):
            return False  # another view's key: not in the footer (pressed, it shows its view)
        return super().check_action(action, parameters)

    def why_not(self, action: str, item: Any) -> Unavailable | str | None:  # noqa: ANN401
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        if action == "edit_settings":
            return "the settings are not loaded yet" if self.settings is None else (
                None if session.can(CONFIG) else NEEDS)
        if item is None:
            return "no row is selected"
        if action == "renew_limit" and not item.trading_limit_expired:
            return f"{item.account_no}'s trading limit has not expired; t edits it"
        return None if session.can(CONFIG) else NEEDS

    def action_edit_settings(self) -> None:
        assert self.settings is not None
        self.app.push_screen(MarginSettingsScreen(self.settings), callback=self._saved)

    def action_edit_instrument(self) -> None:
        days = self.settings.suspended_days if self.settings is not None else None
        self.app.push_screen(InstrumentScreen(self.selected, suspended_days=days), callback=self._saved)

    def action_edit_terms(self) -> None:
        self.app.push_screen(ClientTermsScreen(self.selected), callback=self._saved)

    def action_renew_limit(self) -> None:
        self.app.push_screen(RenewLimitScreen(self.selected), callback=self._saved)

    def _saved(self, result: Any) -> None:  # noqa: ANN401
        if result is None:
            return
        if isinstance(result, MarginSettingsDTO):
            said = (f"Margin call settings saved (version {result.version}): batch liquidation "
                    f"{on_off(result.liquidation_enabled)}, buffer {result.buffer_pct} %.")
        else:
            said = f"Saved. {self.describe(result)}"
        self.app.notify(said, title="Configuration", markup=False)
        self.load()

"""Risk › History: margin calls that ended, newest first, with their figures when they
ended and, for the selected call, its figures when it was triggered (the snapshots the
engine wrote then).  Enter opens the call's Details.

Also ``CallList``, what History and Risk Warning share: one page of ``ListMarginCalls``
(the engine filters, sorts and pages in SQL), ``[``/``]`` paging, the filter form, the
detail line, and Enter for a call's Details."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from wbo_tui.engine.margin import GetCallDetails, ListMarginCalls, MarginCallDTO, MarginCallPage
from wbo_tui.screens.risk.call_forms import (ALERT_WORDS, END_WORDS, CallDetail, CallFilterScreen, client_text,
                                             describe_filters, elapsed_text, hkd, hkt, ratio_text)
from wbo_tui.screens.risk.details import DetailsScreen
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import TablePane, cell

PAGE_SIZE = 100
PAGE_KEYS = Binding.Group("Page", compact=True)
SHORT = "%m-%d %H:%M"
FIGURES = (("net_asset_ratio", "ratio", ratio_text), ("lna", "LNA", hkd), ("equity", "equity", hkd),
           ("margin_to_collect", "to collect", hkd))


def figures_text(figures: dict[str, Any]) -> str:
    """A snapshot's figures (text, as the engine recorded them) in words."""
    parts = []
    for key, label, shown in FIGURES:
        try:
            parts.append(f"{label} {shown(Decimal(str(figures[key])))}")
        except (KeyError, InvalidOperation):
            continue
    return ", ".join(parts) or "no figures recorded"


class CallList(TablePane):
    """A page of margin calls as the engine filters, sorts and pages them (``ListMarginCalls``)."""

    HISTORY = False

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.filters = ListMarginCalls(history=self.HISTORY, page_size=PAGE_SIZE)
        self.page: MarginCallPage | None = None

    def compose_detail(self) -> ComposeResult:
        yield CallDetail("", markup=False)

    def on_mount(self) -> None:
        # (TablePane's on_mount runs too.)  The rows, order, filters and marks may take
        # two lines at 80 columns: read whole rather than cut (the shared style is one line).
        self.query_one(".pane-status").styles.height = "auto"

    async def fetch(self) -> Sequence[MarginCallDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        page: MarginCallPage = await engine.query(session, self.filters)
        if not page.rows and self.filters.offset > 0:
            # The calls of this page ended meanwhile: show the last page there is.
            last = max(0, (page.total - 1) // PAGE_SIZE * PAGE_SIZE)
            self.filters = self.filters.model_copy(update={"offset": last})
            page = await engine.query(session, self.filters)
        self.page = page
        return page.rows

    def row_key(self, item: MarginCallDTO) -> str:
        return str(item.id)

    def now(self) -> datetime:
        engine = self.wbo.engine
        assert engine is not None
        return engine.clock.now()

    def rows_text(self) -> str:
        page, offset = self.page, self.filters.offset
        if page is None or not page.rows:
            return self.EMPTY.rstrip(".")
        return f"Rows {offset + 1}–{offset + len(page.rows)} of {page.total}"

    def set_detail(self, text: str) -> None:
        self.query_one(CallDetail).update(text)

    # --- pages and filters ------------------------------------------------------------

    def page_reason(self, step: int) -> Unavailable | None:
        total = self.page.total if self.page else 0
        if step > 0 and self.filters.offset + PAGE_SIZE >= total:
            return Unavailable("this is the last page")
        if step < 0 and self.filters.offset == 0:
            return Unavailable("this is the first page")
        return None

    def unavailable(self, action: str, parameters: tuple[object, ...] = ()) -> Unavailable | None:
        if action == "page" and parameters and not self.has_class("-denied"):
            return self.page_reason(int(parameters[0]))  # type: ignore[call-overload]
        return super().unavailable(action, parameters)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action == "page":
            return None if self.unavailable(action, parameters) is not None else True
        return allowed

    def action_page(self, step: int) -> None:
        if self.page_reason(step) is None:
            self.filters = self.filters.model_copy(update={"offset": self.filters.offset + step * PAGE_SIZE})
            self.load()

    def action_filter(self) -> None:
        def chosen(filters: ListMarginCalls | None) -> None:
            if filters is not None:
                self.filters = filters
                self.load()

        self.app.push_screen(CallFilterScreen(self.filters), callback=chosen)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.selected is not None:
            self.app.push_screen(DetailsScreen(self.selected))


class HistoryPane(CallList):
    HISTORY = True
    COLUMNS = ("Client", "Alert", "Triggered (HKT)", "Ended (HKT)", "End reason", "Lasted", "Ratio at end",
               "LNA at end", "To collect at end", "Remarks")
    DROP_ORDER = ("Remarks", "LNA at end", "Lasted", "Triggered (HKT)", "End reason", "Ratio at end")
    NARROW = {"Remarks": 12, "Client": 16}
    EMPTY = "No margin calls have ended yet."
    TOPICS = frozenset({"margin_calls"})
    HELP = (
        "Margin calls that ended (the client was cured), newest trigger first, 100 a page ([ and ]): when each "
        "was triggered and ended, how long it lasted, and its figures when it ended; the line under the table "
        "adds the selected call's figures when it was triggered. Enter opens its Details. f filters by client, "
        "alert type and holding. Times are Hong Kong time. Needs RiskWarningReadOnly."
    )
    BINDINGS = [
        Binding("f", "filter", "Filter", id="risk-history-filter", tooltip="Client, alert type, holding"),
        Binding("left_square_bracket", "page(-1)", "Prev page", key_display="[", id="risk-history-prev",
                group=PAGE_KEYS),
        Binding("right_square_bracket", "page(1)", "Next page", key_display="]", id="risk-history-next",
                group=PAGE_KEYS),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        # The engine sorts ended calls by trigger time at the latest (it has no end-time sort).
        self.filters = self.filters.model_copy(update={"sort": "triggered_at", "descending": True})
        self.triggered: dict[int, str] = {}
        """Call id → its figures when triggered, in words (an ended call's never change)."""

    def row_cells(self, c: MarginCallDTO) -> Sequence[object]:
        def money(text: str) -> Text:
            return Text(text, justify="right", no_wrap=True)

        return (cell(client_text(c)), cell(ALERT_WORDS.get(c.alert_type, c.alert_type)),
                cell(hkt(c.triggered_at, SHORT)), cell(hkt(c.ended_at, SHORT)),
                cell(END_WORDS.get(c.end_reason, c.end_reason.lower())),
                money(elapsed_text(c.elapsed_hours)), money(ratio_text(c.net_asset_ratio)), money(hkd(c.lna)),
                money(hkd(c.margin_to_collect)), cell(c.remarks))

    def status_text(self, items: Sequence[Any]) -> str:
        return f"{self.rows_text()}, newest trigger first; {describe_filters(self.filters)}."

    def show_detail(self, c: MarginCallDTO | None) -> None:
        if c is None:
            self.set_detail("")
            return
        self.set_detail(self._detail(c))
        if c.id not in self.triggered:
            self._read_trigger(c)

    def _detail(self, c: MarginCallDTO) -> str:
        at_trigger = self.triggered.get(c.id, "reading…")
        return (f"{client_text(c)} ({c.account_type}): {ALERT_WORDS.get(c.alert_type, c.alert_type)}, triggered "
                f"{hkt(c.triggered_at)} HKT, ended {hkt(c.ended_at)} HKT "
                f"({END_WORDS.get(c.end_reason, c.end_reason.lower())}) after {elapsed_text(c.elapsed_hours)}. "
                f"When triggered: {at_trigger}. When ended: {figures_text(c.model_dump())}, cash {hkd(c.cash_hkd)}, "
                f"market value {hkd(c.market_value)}, requirement {hkd(c.requirement)}. Last liquidation "
                f"{hkt(c.last_liquidation_at)}, last message {hkt(c.last_message_at)}. Remarks: {c.remarks or '—'}")

    @work(exclusive=True, group="history-trigger", exit_on_error=False)
    async def _read_trigger(self, c: MarginCallDTO) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        details = await engine.query(session, GetCallDetails(call_id=c.id))
        first = next((s for s in details.snapshots if s.reason == "TRIGGERED"), None)
        self.triggered[c.id] = figures_text(first.figures) if first is not None else "no snapshot recorded"
        if self.selected_key == str(c.id):  # still the selected call
            self.set_detail(self._detail(c))


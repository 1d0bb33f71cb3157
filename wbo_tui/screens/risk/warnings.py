"""Risk › Risk Warning: every open margin call (Open and Exception), recalculated live.

The header says what the desk is owed (Total Margin to Be Collected, and the Long-Term
Unsettled part, triggered more than 90 days ago); each row a call with its figures, the
age of the prices they use, and for a few seconds an arrow on a figure that moved at the
last reload (green better, red worse).  The engine filters, sorts and pages in SQL: one page of
100 is in memory however many calls are open.  Space marks calls for Message, Set
Auto-Liquidation and Batch liquidation; Enter opens a call's Details, l liquidates it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Static

from wbo_tui.engine import SessionInfo
from wbo_tui.engine.api import Engine
from wbo_tui.engine.margin import (BatchLiquidate, GetMarginSettings, LiquidationPlanDTO, MarginCallDTO,
                                   MarginSettingsDTO, SendMarginMessage)
from wbo_tui.engine.margin.call_actions import FULL
from wbo_tui.screens.risk.call_forms import (ALERT_WORDS, STATUS_WORDS, AutoLiquidationScreen, BatchOutcomeScreen,
                                             CallTotals, EditCallScreen, age_text, batch_confirmation, call_detail,
                                             client_text, clipped, describe_filters, elapsed_text, hkd, hkt,
                                             message_confirmation, next_sort, ratio_text, sort_words)
from wbo_tui.screens.risk.history import PAGE_KEYS, SHORT, CallList
from wbo_tui.screens.risk.liquidation_form import LiquidationScreen
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import cell, write_cells

MARK = "●"
FLASH_S = 6.0
# A figure that moved is flashed; whether up is better decides its colour.
UP_IS_BETTER = {"margin_to_collect": False, "net_asset_ratio": True, "lna": True}
WANTED = "act on margin calls (liquidate, edit, message, set auto-liquidation)"


class WarningsPane(CallList):
    COLUMNS = ("", "Client", "Type", "Alert", "Triggered (HKT)", "Deadline (HKT)", "Elapsed", "Status", "Ratio",
               "LNA", "Equity", "To collect", "Remarks", "Last liq.", "Price age")
    # At 80 columns: the mark, the client, the kind of call, its status, the ratio and what is
    # owed (the prices' age when it fits); the detail line under the table spells out the rest.
    DROP_ORDER = ("Type", "Equity", "Last liq.", "Triggered (HKT)", "Remarks", "Elapsed", "LNA", "Deadline (HKT)",
                  "Price age", "Status", "Alert")
    NARROW = {"Client": 16}
    FIXED_COLUMNS = 2  # the mark and the client stay when the table scrolls sideways
    EMPTY = "No open margin calls."
    TOPICS = frozenset({"margin_calls", "market_prices", "liquidation_orders", "client_positions", "margin_settings"})
    HELP = (
        "Every open margin call (Open and Exception), recalculated live as prices move, 100 a page ([ and ]). "
        "The header: Total Margin to Be Collected over every open call, and the Long-Term Unsettled part "
        "(triggered more than 90 days ago). Ratio is the net asset ratio; a figure that moved at the last reload "
        "shows ▲ or ▼ for a few seconds, green when better, red when worse. Elapsed: hours since the trigger (under "
        "one counts as one), as days and hours past 48. Price age: the oldest quote the figures use, 'stale' past "
        "the desk's limit. Times are Hong Kong time. Enter opens the call's Details; l liquidates the selected "
        "call (its plan, to review); space marks calls; b liquidates every marked call by its plan after you type "
        "the confirmation (only while the desk's liquidation toggle is on); m sends the margin call message to "
        "the marked (or the selected) clients; a sets their auto-liquidation; e edits the status (Open or "
        "Exception, which stops messages) and remarks. f filters (client, alert type, status, holding), o "
        "cycles the sort, O reverses it. Viewing needs RiskWarningReadOnly; acting needs RiskWarningFull."
    )
    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", id="risk-mark", tooltip="Mark the call for m, a or b"),
        Binding("l", "liquidate", "Liquidate", id="risk-liquidate", tooltip="Liquidate the selected call"),
        Binding("b", "batch_liquidate", "Batch liquidate", id="risk-batch", tooltip="Liquidate every marked call"),
        Binding("m", "message", "Message", id="risk-message", tooltip="Send the margin call message"),
        Binding("e", "edit", "Edit", id="risk-edit", tooltip="Status (Open or Exception) and remarks"),
        Binding("a", "auto_liquidation", "Auto-liquidation", id="risk-auto", tooltip="Set when calls are liquidated"),
        Binding("f", "filter", "Filter", id="risk-filter", tooltip="Client, alert type, status, holding"),
        Binding("o", "sort", "Sort", id="risk-sort", tooltip="Next sort key"),
        Binding("O", "reverse", "Reverse sort", key_display="O", id="risk-reverse", show=False),
        Binding("left_square_bracket", "page(-1)", "Prev page", key_display="[", id="risk-prev", group=PAGE_KEYS),
        Binding("right_square_bracket", "page(1)", "Next page", key_display="]", id="risk-next", group=PAGE_KEYS),
    ]
    ROW_ACTIONS = frozenset({"toggle_mark", "liquidate", "message", "edit", "auto_liquidation"})
    TICK_S = 5.0

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.settings: MarginSettingsDTO | None = None
        self.marked: dict[str, MarginCallDTO] = {}
        self.flashes: dict[tuple[str, str], tuple[bool, float]] = {}
        """(call, figure) → (went up, until when on the monotonic clock)."""
        self._timer: Timer | None = None
        self._clock_shown: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        yield CallTotals("", markup=False)
        yield from super().compose()

    async def fetch(self) -> Sequence[MarginCallDTO]:
        rows = await super().fetch()
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        self.settings = await engine.query(session, GetMarginSettings())
        return rows

    # --- showing ------------------------------------------------------------------------

    def _show(self, items: Sequence[Any]) -> None:
        """Flash the figures that moved since the last read, keep the marks on the calls
        read now, then show the rows (cell by cell when the same calls are shown)."""
        until = time.monotonic() + FLASH_S
        for call in items:
            key = str(call.id)
            before = self.items.get(key)
            if key in self.marked:
                self.marked[key] = call
            for figure in UP_IS_BETTER if before is not None else ():
                old, new = getattr(before, figure), getattr(call, figure)
                if new != old:
                    self.flashes[(key, figure)] = (new > old, until)
        super()._show(items)
        self._clock_shown = self._clock_texts()
        page = self.page
        if page is not None:
            filtered = self.filters.client or self.filters.alert_type or self.filters.status or self.filters.holding
            count = f"{page.total} call(s) match the filters" if filtered else f"{page.total} open call(s)"
            self.query_one(CallTotals).update(
                f"Total Margin to Be Collected HKD {hkd(page.total_margin_to_collect)} · Long-Term Unsettled HKD "
                f"{hkd(page.long_term_margin_to_collect)} (over 90 days) · {count} · as of "
                f"{hkt(page.as_of, '%m-%d %H:%M:%S')} HKT")

    def after_load(self) -> None:
        self._arm()

    def _arm(self) -> None:
        """One timer for the whole list: every second while a figure flashes, else every
        few seconds for the prices' ages (they move with the clock, not the database)."""
        if self._timer is not None:
            self._timer.stop()
        if self.is_attached:
            self._timer = self.set_timer(1.0 if self.flashes else self.TICK_S, self._tick)

    def _tick(self) -> None:
        moment = time.monotonic()
        expired = [key for key, (_, until) in self.flashes.items() if until <= moment]
        for key in expired:
            del self.flashes[key]
        if self.items and self.shown_now() and not self.has_class("-denied"):
            if expired or self._clock_texts() != self._clock_shown:
                self._show(list(self.items.values()))
        self._arm()

    def _clock_texts(self) -> tuple[str, ...]:
        now = self.now()
        return tuple(self._age(call, now).plain for call in self.items.values())

    def _age(self, call: MarginCallDTO, now: datetime) -> Text:
        if call.prices_as_of is None:
            return Text("—", justify="right")
        seconds = (now - call.prices_as_of).total_seconds()
        limit = self.settings.stale_price_s if self.settings is not None else 60
        if seconds > limit:
            return Text(f"stale {age_text(seconds)}", style="bold yellow", justify="right")
        return Text(age_text(seconds), justify="right")

    def _figure(self, call: MarginCallDTO, figure: str, text: str) -> Text:
        flash = self.flashes.get((str(call.id), figure))
        if flash is None or flash[1] <= time.monotonic():
            return Text(f"{text}  ", justify="right", no_wrap=True)  # the arrow's room: widths stay
        up = flash[0]
        better = up == UP_IS_BETTER[figure]
        return Text(f"{text} {'▲' if up else '▼'}", style="bold green" if better else "bold red", justify="right",
                    no_wrap=True)

    def row_cells(self, c: MarginCallDTO) -> Sequence[object]:
        now = self.now()
        alert_style = {"FORCE_CALL": "bold red", "MARGIN_CALL": "yellow"}.get(c.alert_type, "magenta")
        return (cell(self._mark(str(c.id))), cell(client_text(c)), cell(c.account_type),
                Text(ALERT_WORDS.get(c.alert_type, c.alert_type), style=alert_style),
                cell(hkt(c.triggered_at, SHORT)),
                Text(hkt(c.deadline, SHORT), style="red" if c.deadline <= now else ""),
                Text(elapsed_text(c.elapsed_hours), justify="right"),
                Text(STATUS_WORDS.get(c.status, c.status), style="bold magenta" if c.status == "EXCEPTION" else ""),
                self._figure(c, "net_asset_ratio", ratio_text(c.net_asset_ratio)), self._figure(c, "lna", hkd(c.lna)),
                Text(hkd(c.equity), justify="right"), self._figure(c, "margin_to_collect", hkd(c.margin_to_collect)),
                cell(clipped(c.remarks)), cell(hkt(c.last_liquidation_at, SHORT, "")), self._age(c, now))

    def status_text(self, items: Sequence[Any]) -> str:
        filters = describe_filters(self.filters)
        if not items:
            return self.EMPTY if filters.endswith(": none") else f"No open margin call matches the {filters} (f)."
        marked = f"; {len(self.marked)} marked" if self.marked else ""
        return f"{self.rows_text()} by {sort_words(self.filters)} (o); {filters} (f){marked}."

    def show_detail(self, c: MarginCallDTO | None) -> None:
        if c is None:
            self.set_detail("")
            return
        self.set_detail(call_detail(c, self.now(), self._age(c, self.now()).plain))

    # --- which keys apply ---------------------------------------------------------------

    def _permission(self) -> Unavailable | None:
        session = self.wbo.session
        if session is None:
            return Unavailable("you are logged out")
        if not session.can(FULL):
            return Unavailable(f"you need the permission {FULL} to act on margin calls (R requests it)",
                               permission=FULL, wanted_for=WANTED)
        return None

    def why_not(self, action: str, c: MarginCallDTO | None) -> Unavailable | str | None:
        if c is None:
            return "no row is selected"
        if action == "toggle_mark":
            return None
        missing = self._permission()
        if missing is not None:
            return missing
        if action == "liquidate":
            if c.open_orders:
                return (f"{c.account_no} has {c.open_orders} liquidation order(s) in progress; wait for their fills "
                        "or cancel them in Details")
            if not c.market_value:
                return f"{c.account_no} holds no positions to sell; e marks it Exception to handle by hand"
        return None

    def unavailable(self, action: str, parameters: tuple[object, ...] = ()) -> Unavailable | None:
        if action != "batch_liquidate" or self.has_class("-denied"):
            return super().unavailable(action, parameters)
        if self.busy:
            return Unavailable("the previous action is still running")
        missing = self._permission()
        if missing is not None:
            return missing
        if self.settings is not None and not self.settings.liquidation_enabled:
            return Unavailable("the desk's liquidation toggle is off (Risk › Configuration); batch liquidation "
                               "works only while it is on")
        if not self.marked:
            return Unavailable("no calls are marked; space marks one (l liquidates the selected call)")
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action == "batch_liquidate":
            return None if self.unavailable(action, parameters) is not None else True
        return allowed

    # --- acting ---------------------------------------------------------------------------

    def targets(self) -> list[MarginCallDTO]:
        """The marked calls, or else the selected one."""
        return list(self.marked.values()) or [self.selected]

    def _mark(self, key: str) -> str:
        # Unmarked is a blank, not nothing: the column keeps the mark's width.
        return MARK if key in self.marked else " "

    def action_toggle_mark(self) -> None:
        c: MarginCallDTO = self.selected
        key = str(c.id)
        if self.marked.pop(key, None) is None:
            self.marked[key] = c
        table = self.table
        write_cells(table, [(key, table.ordered_columns[0].key, cell(self._mark(key)))])
        self.query_one(".pane-status", Static).update(self.status_text(list(self.items.values())))
        self.refresh_bindings()
        table.action_cursor_down()

    def _act(self, job: Callable[[Engine, SessionInfo], Any]) -> None:
        if not self.busy:
            self.busy = True
            self._run_act(job)

    @work(group="act", exit_on_error=False)
    async def _run_act(self, job: Callable[[Engine, SessionInfo], Any]) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        await job(engine, session)
        self.busy = False
        self.load()

    def action_liquidate(self) -> None:
        self.app.push_screen(LiquidationScreen(self.selected), callback=self._liquidated)

    def _liquidated(self, plan: LiquidationPlanDTO | None) -> None:
        if plan is not None:
            self.app.notify(f"{plan.account_no} {plan.name}: liquidation orders sent; Liquidation Orders shows "
                            "their fills.", markup=False)
            self.load()

    def action_batch_liquidate(self) -> None:
        calls = list(self.marked.values())

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(lambda engine, session: self._batch(engine, session, calls))

        self.app.push_screen(batch_confirmation(calls), callback=confirmed)

    async def _batch(self, engine: Engine, session: SessionInfo, calls: list[MarginCallDTO]) -> None:
        result = await engine.execute(session, BatchLiquidate(call_ids=tuple(c.id for c in calls)))
        self.marked.clear()
        self.app.push_screen(BatchOutcomeScreen(result, {c.id: client_text(c) for c in calls}))

    def action_message(self) -> None:
        calls = self.targets()

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(lambda engine, session: self._message(engine, session, calls))

        self.app.push_screen(message_confirmation(calls), callback=confirmed)

    async def _message(self, engine: Engine, session: SessionInfo, calls: list[MarginCallDTO]) -> None:
        result = await engine.execute(session, SendMarginMessage(call_ids=tuple(c.id for c in calls)))
        self.marked.clear()
        self.app.notify(f"Margin call message sent to {', '.join(result.sent)}.", title="Messages sent", markup=False)

    def action_auto_liquidation(self) -> None:
        def done(calls: tuple[MarginCallDTO, ...] | None) -> None:
            if calls:
                self.marked.clear()
                self.app.notify("Auto-liquidation set: " + "; ".join(
                    f"{c.account_no} at {hkt(c.auto_liquidate_at)} HKT" for c in calls) + ".", markup=False)
                self.load()

        self.app.push_screen(AutoLiquidationScreen(self.targets()), callback=done)

    def action_edit(self) -> None:
        def saved(c: MarginCallDTO | None) -> None:
            if c is not None:
                self.app.notify(f"{client_text(c)}: {STATUS_WORDS.get(c.status, c.status)}; remarks "
                                f"{c.remarks or '—'}.", title="Margin call saved", markup=False)
                self.load()

        self.app.push_screen(EditCallScreen(self.selected), callback=saved)

    def action_sort(self) -> None:
        self.filters = next_sort(self.filters)
        self.load()

    def action_reverse(self) -> None:
        self.filters = self.filters.model_copy(update={"descending": not self.filters.descending, "offset": 0})
        self.load()

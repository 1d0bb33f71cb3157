"""Risk › Details of one margin call (the vendor's Details page): the asset overview, and
in four sections the positions (with their quotes' age, suspended and delisted ones
marked), the cash per currency, the liquidation in progress and the follow-up records.

The page is live: the call is read again, in one read, whenever another console, the
price pass or the venue commits to what it shows; covered by a dialog it only marks itself,
and reads when uncovered.  From here a trader liquidates one position (l) or the whole plan
(L, or the button at the bottom), cancels an order in progress (c) and adds follow-up
records (f); an operator with RiskWarningReadOnly sees everything and those keys greyed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, Static, TabbedContent, TabPane
from textual.worker import Worker

from wbo_tui.engine import PermissionDenied
from wbo_tui.engine.changes import touches
from wbo_tui.engine.margin import CallDetailsDTO, FollowUpDTO, GetCallDetails, LiquidationPlanDTO, MarginCallDTO
from wbo_tui.engine.margin.liquidation import FULL

from wbo_tui.widgets.area import TAB_KEYS
from wbo_tui.widgets.engine_workers import EngineWorkers
from wbo_tui.widgets.footer import FittingFooter
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.screens.risk.details_parts import (
    ENDED,
    CashSection,
    CommandAsked,
    FollowUpScreen,
    FollowUpsSection,
    LiquidateAsked,
    OrdersSection,
    PositionsSection,
    Section,
    amount,
    moment,
    needs_full,
    pct,
)
from wbo_tui.screens.risk.liquidation_form import LiquidationScreen

SECTIONS: tuple[tuple[str, str, type[Section]], ...] = (
    ("Positions", "risk-details-positions", PositionsSection),
    ("Cash", "risk-details-cash", CashSection),
    ("In progress", "risk-details-orders", OrdersSection),
    ("Follow-ups", "risk-details-follow-ups", FollowUpsSection),
)
ALERT_TYPES = {"MARGIN_CALL": "Margin call", "FORCE_CALL": "Force call", "OVER_FINANCING": "Over-financing"}
STATUSES = {"OPEN": "open", "EXCEPTION": "Exception (handled by hand)", "ENDED": "ended (in History)"}
# The page's own keys that change something, and what they would do (for the greyed key's reason).
PAGE_ACTIONS = {"liquidate_all": "liquidate positions", "add_follow_up": "add follow-up records"}


def title_text(call: MarginCallDTO) -> str:
    alert = ALERT_TYPES.get(call.alert_type, call.alert_type.replace("_", " ").capitalize())
    return (f"Details · {call.account_no} {call.name} · {alert}, {STATUSES.get(call.status, call.status)} · "
            f"triggered {call.elapsed_hours} h ago · amounts in HKD")


def pairs_per_row(width: int) -> int:
    """How many label and value pairs a row of the overview holds: two at 80 columns, four at 160."""
    return 4 if width >= 140 else 3 if width >= 105 else 2 if width >= 70 else 1


def overview(call: MarginCallDTO, details: CallDetailsDTO | None, width: int) -> Table:
    """The asset overview: label and value pairs, as many a row as ``width`` holds, then the remarks."""
    pairs = [("To be collected", amount(call.margin_to_collect)), ("Net asset ratio", pct(call.net_asset_ratio)),
             ("Equity", amount(call.equity)), ("Liquid net assets", amount(call.lna)),
             ("Requirement", amount(call.requirement)),
             ("Long MV", amount(details.long_mv) if details else "…"),
             ("Short MV", amount(details.short_mv) if details else "…"),
             ("Susp./delisted MV", amount(details.illiquid_mv) if details else "…"),
             ("Triggered (HKT)", moment(call.triggered_at)), ("Deadline (HKT)", moment(call.deadline))]
    per_row = pairs_per_row(width)
    grid = Table.grid(padding=(0, 1))
    for column in range(per_row):
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(justify="right", no_wrap=True, min_width=12)
        if column < per_row - 1:
            grid.add_column(width=2)
    for start in range(0, len(pairs), per_row):
        cells: list[str] = []
        for label, value in pairs[start:start + per_row]:
            cells += [label, value, ""]
        grid.add_row(*cells[:3 * per_row - 1])
    remarks = Table.grid(padding=(0, 1), expand=True)
    remarks.add_column(style="dim", no_wrap=True)
    remarks.add_column(no_wrap=True, overflow="ellipsis", ratio=1)
    remarks.add_row("Remarks", call.remarks or "—")
    outer = Table.grid(expand=True)
    outer.add_row(grid)
    outer.add_row(remarks)
    return outer


class DetailsScreen(EngineWorkers, Screen[None]):
    TOPICS = frozenset({"margin_calls", "market_prices", "liquidation_orders", "client_positions",
                        "client_cash_movements", "margin_follow_ups"})
    """What the page shows: a commit to any of these reads the call again (``changes_committed``)."""
    HELP = (
        "One margin call: the asset overview (figures in HKD, live), then four sections, Ctrl+T moving between "
        "them: Positions, Cash, In progress (the liquidation orders not yet final) and Follow-ups. l liquidates "
        "the selected position alone; L, or the button at the bottom, liquidates by the whole plan. Either opens "
        "the close-out dialog: the engine's plan, the best bid and ask, the what-if, then Send. c cancels what is "
        "unfilled of the selected order in progress; f adds a follow-up record. Liquidating, cancelling and "
        "follow-up records need RiskWarningFull (R requests it); RiskWarningReadOnly sees everything. Escape "
        "returns to the list."
    )
    DEFAULT_CSS = """
    DetailsScreen { layout: vertical; }
    DetailsScreen #details-title {
        height: 1; padding: 0 1; background: $panel; color: $foreground; text-style: bold;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    DetailsScreen #details-overview { height: auto; padding: 0 1; }
    DetailsScreen #details-tabs { height: 1fr; }
    DetailsScreen #details-tabs TabPane { height: 1fr; padding: 0; }
    DetailsScreen #details-bottom { height: 1; padding: 0 1; }
    DetailsScreen #details-bottom-hint {
        width: 1fr; height: 1; padding: 0 1; color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis;
    }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", key_display="Esc", id="risk-details-back"),
        Binding("question_mark", "app.help", "Help", key_display="?", id="risk-details-help"),
        Binding("ctrl+t", "tab(1)", "Section", id="risk-details-next-section", group=TAB_KEYS),
        Binding("L", "liquidate_all", "Liquidate all", key_display="L", id="risk-details-liquidate-all",
                tooltip="Liquidate by the engine's plan for the whole call"),
        Binding("f", "add_follow_up", "Follow-up", id="risk-details-follow-up", tooltip="Add a follow-up record"),
        Binding("R", "request_permission", "Request permission", key_display="R", id="risk-details-request",
                tooltip="Request RiskWarningFull"),
    ]

    def __init__(self, call: MarginCallDTO) -> None:
        super().__init__()
        self.call = call
        self.details: CallDetailsDTO | None = None
        self._stale = False

    def compose(self) -> ComposeResult:
        yield Static(title_text(self.call), id="details-title", markup=False)
        yield Static("", id="details-overview")
        with TabbedContent(id="details-tabs"):
            for label, pane_id, kind in SECTIONS:
                with TabPane(label, id=f"tab-{pane_id}"):
                    yield kind(id=pane_id)
        with Horizontal(id="details-bottom"):
            yield Button("Liquidate all (L)", id="details-liquidate-all", variant="error", compact=True)
            yield Static("", id="details-bottom-hint", markup=False)
        yield FittingFooter()

    def on_mount(self) -> None:
        self._show_overview()
        self._show_access()
        self.call_after_refresh(self.query_one(PositionsSection).focus_table)
        self.load()

    def help_text(self) -> tuple[str, str]:
        section = self.active_section
        more = f"\n\n{section.HELP}" if section is not None and section.HELP else ""
        return (f"Details of {self.call.account_no} {self.call.name}", f"{self.HELP}{more}")

    @property
    def active_section(self) -> Section | None:
        pane = self.query_one(TabbedContent).active_pane
        sections = pane.query(Section) if pane is not None else None
        return sections.first() if sections else None

    # --- reading the call -------------------------------------------------------------------

    def load(self) -> None:
        self._stale = False
        self._load()

    @work(exclusive=True, group="details", exit_on_error=False)
    async def _load(self) -> None:
        engine = self.wbo.engine
        session = await self.wbo.fresh_session()
        assert engine is not None
        details: CallDetailsDTO = await engine.query(session, GetCallDetails(call_id=self.call.id))
        self._show(details, engine.clock.now())

    def _show(self, details: CallDetailsDTO, now: datetime) -> None:
        self.details, self.call = details, details.call
        self.query_one("#details-title", Static).update(title_text(details.call))
        self._show_overview()
        shown = (details.positions, details.cash, details.in_progress, details.follow_ups)
        tabs = self.query_one(TabbedContent)
        self.query_one(PositionsSection).ended = details.call.status == "ENDED"
        for (label, pane_id, _), rows in zip(SECTIONS, shown, strict=True):
            tabs.get_tab(f"tab-{pane_id}").label = f"{label} ({len(rows)})"
            self.query_one(f"#{pane_id}", Section).show_rows(rows, now)
        self._show_access()

    def _show_overview(self) -> None:
        widget = self.query_one("#details-overview", Static)
        widget.update(overview(self.call, self.details, (widget.size.width or self.app.size.width) - 2))

    def on_resize(self) -> None:
        self._show_overview()

    def changes_committed(self, topics: frozenset[str]) -> None:
        """Another connection committed (``widgets.live_feed``): read the call again if it
        concerns the page, now if the page is on top, else once it is."""
        if not touches(self.TOPICS, topics):
            return
        if self.is_active:
            self.load()
        else:
            self._stale = True

    def on_screen_resume(self) -> None:
        if self._stale:
            self.load()

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        if worker.group == "details" and not isinstance(error, PermissionDenied):
            self.query_one("#details-bottom-hint", Static).update(f"Not read again: {error}")
        if worker.group == "act":
            self.load()  # the order or call may have moved on: show where it stands
        return False

    # --- sections and keys ------------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss(None)

    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [f"tab-{pane_id}" for _, pane_id, _ in SECTIONS]
        tabs.active = ids[(ids.index(tabs.active) + step) % len(ids)] if tabs.active in ids else ids[0]

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        section = self.active_section
        if section is not None:
            section.focus_table()

    def show_section(self, kind: type[Section]) -> None:
        pane_id = next(pane_id for _, pane_id, k in SECTIONS if k is kind)
        self.query_one(TabbedContent).active = f"tab-{pane_id}"

    def unavailable(self, action: str) -> Unavailable | None:
        wanted_for = PAGE_ACTIONS.get(action)
        if wanted_for is None:
            return None
        if action == "liquidate_all" and self.call.status == "ENDED":
            return Unavailable(ENDED)
        return needs_full(self.wbo.session, wanted_for)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in PAGE_ACTIONS:
            return None if self.unavailable(action) is not None else True
        if action == "request_permission":
            session = self.wbo.session
            return session is not None and not session.can(FULL)
        return True

    def _show_access(self) -> None:
        reason = self.unavailable("liquidate_all")
        self.query_one("#details-liquidate-all", Button).disabled = reason is not None
        hint = (f"L Liquidate all unavailable: {reason.reason}" if reason is not None else
                "the engine's plan for the whole call, its what-if, then Send")
        self.query_one("#details-bottom-hint", Static).update(hint)

    def on_key(self, event: events.Key) -> None:
        """A greyed page key does nothing, and says why (the footer cannot)."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            reason = self.unavailable(binding.action)
            if reason is not None:
                event.stop()
                event.prevent_default()
                self.app.notify(f"{self.app.get_key_display(binding)} {binding.description} is not available: "
                                f"{reason.reason}.", title="Not available", severity="warning", markup=False)
                return

    def action_request_permission(self) -> None:
        self.wbo.offer_permission_request(PermissionDenied(FULL, "liquidate, cancel liquidation orders and add "
                                                                 "follow-up records"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "details-liquidate-all":
            event.stop()
            self.action_liquidate_all()

    def action_liquidate_all(self) -> None:
        self._liquidate(())

    def on_liquidate_asked(self, message: LiquidateAsked) -> None:
        message.stop()
        self._liquidate(message.codes)

    def _liquidate(self, codes: tuple[str, ...]) -> None:
        self.app.push_screen(LiquidationScreen(self.call, codes), callback=self._liquidated)

    def _liquidated(self, plan: LiquidationPlanDTO | None) -> None:
        if plan is not None:
            self.show_section(OrdersSection)
            self.load()

    def action_add_follow_up(self) -> None:
        self.app.push_screen(FollowUpScreen(self.call), callback=self._followed_up)

    def _followed_up(self, record: FollowUpDTO | None) -> None:
        if record is not None:
            self.app.notify(f"Follow-up record added to {self.call.account_no}'s call.", markup=False)
            self.show_section(FollowUpsSection)
            self.load()

    def on_command_asked(self, message: CommandAsked) -> None:
        message.stop()
        self._run(message.command, message.done)

    @work(group="act", exit_on_error=False)
    async def _run(self, command: Any, done: Any) -> None:  # noqa: ANN401
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        result = await engine.execute(session, command)
        self.app.notify(done(result), markup=False)
        self.load()

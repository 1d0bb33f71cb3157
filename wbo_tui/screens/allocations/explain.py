"""Allocations › Explain: each decided trigger (an event, or a schedule's fire time), which
rules were considered, which one was chosen, and why each other one was not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Static

from wbo_tui.engine import ValidationFailed
from wbo_tui.engine.allocations import ExplainTriggers, TriggerDTO
from wbo_tui.widgets.moments import when
from wbo_tui.widgets.table_pane import TablePane, cell

VERDICT_STYLE = {"chosen": "bold green", "outranked": "yellow", "not eligible": "dim", "missed": "bold red"}


class TriggersPane(TablePane):
    COLUMNS = ("Decided (UTC)", "Trigger", "Outcome", "Allocation")
    DROP_ORDER = ("Decided (UTC)",)
    NARROW = {"Trigger": 24}  # the whole trigger is in the detail pane
    EMPTY = "No decided triggers."
    TOPICS = frozenset({"allocation_triggers", "allocations"})
    HELP = (
        "Each decided trigger (an event, or a schedule's fire time), newest first: which rules "
        "were considered, which one was chosen and why each other one was not (outranked by "
        "priority, not eligible, or missed), and how the amount was worked out. Filter by "
        "allocation order no or event id and press Enter; w on an automatic allocation opens "
        "its decision here."
    )

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.add_class("alloc-explain")
        self.query_filter = ExplainTriggers()

    def compose(self) -> ComposeResult:
        with Horizontal(classes="alloc-filter-bar"):
            yield Input(id="explain-filter-order", placeholder="Allocation order no", compact=True)
            yield Input(id="explain-filter-event", placeholder="Event id", compact=True)
        yield from super().compose()

    def compose_detail(self) -> ComposeResult:
        with VerticalScroll(classes="explain-detail-scroll"):
            yield Static("", id="explain-detail", markup=False)

    async def fetch(self) -> Sequence[TriggerDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        return await engine.query(session, self.query_filter)

    def row_key(self, item: TriggerDTO) -> str:
        return item.trigger_key

    def row_cells(self, t: TriggerDTO) -> Sequence[object]:
        return (cell(when(t.decided_at)), cell(t.trigger), cell(t.outcome.replace("_", " ")),
                cell(t.allocation_order_no or ""))

    def status_text(self, items: Sequence[Any]) -> str:
        q = self.query_filter
        shown = [f"order no {q.order_no}" if q.order_no else "", f"event {q.event_id}" if q.event_id else ""]
        filters = ", ".join(s for s in shown if s) or "none"
        counted = f"{len(items)} shown (latest {q.limit})" if items else self.EMPTY.rstrip(".")
        return f"{counted}; filters: {filters}."

    def show_detail(self, t: TriggerDTO | None) -> None:
        text = Text()
        if t is not None:
            e = t.explanation
            text.append(f"{e.get('trigger') or t.trigger}\n", style="bold")
            text.append(f"Decided {when(t.decided_at)} UTC")
            if t.fire_at is not None:
                text.append(f"; fire time {when(t.fire_at)} UTC")
            if t.event_id is not None:
                text.append(f"; event {t.event_id}")
            text.append(f". Outcome: {t.outcome.replace('_', ' ')}")
            text.append(f" → {t.allocation_order_no}\n" if t.allocation_order_no else "\n")
            if t.outcome == "error":
                # Not decided yet: the engine tries again after a back-off (allocations.triggers).
                text.append(f"Could not be decided: {e.get('error')}\n", style="bold red")
                text.append(f"Failed {e.get('failures')} time(s) in a row; next attempt after "
                            f"{str(e.get('retry_at', ''))[:19].replace('T', ' ')} UTC.")
                self.query_one("#explain-detail", Static).update(text)
                return
            considered = e.get("considered") or []
            text.append("Rules considered:" if considered else "No rule serves this account and currency.\n")
            for c in considered:
                verdict = str(c.get("verdict", ""))
                text.append(f"\n  {verdict:<12} ", style=VERDICT_STYLE.get(verdict, ""))
                text.append(f"rule {c.get('rule')} {c.get('name')} (priority {c.get('priority')})")
                if c.get("reason"):
                    text.append(f": {c['reason']}")
            amount = e.get("amount")
            text.append(f"\nAmount: {amount if amount is not None else 'none'}")
            if e.get("amount_reason"):
                text.append(f" ({e['amount_reason']})")
        self.query_one("#explain-detail", Static).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event_text = self.query_one("#explain-filter-event", Input).value.strip()
        order_no = self.query_one("#explain-filter-order", Input).value.strip().upper() or None
        try:
            # The query reads the id itself (ASCII digits, within range): int() here took any
            # script's digits, and str.isdigit() passes "²", which int() then refuses.
            self.query_filter = ExplainTriggers(order_no=order_no, event_id=event_text or None)
        except ValidationFailed as error:
            self.app.notify(str(error), title="Filter not applied", severity="error", markup=False)
            return
        self.load()
        self.focus_table()

    def show_order(self, order_no: str) -> None:
        """Show only the decision that made allocation ``order_no`` (loaded when shown)."""
        self.query_one("#explain-filter-order", Input).value = order_no
        self.query_one("#explain-filter-event", Input).value = ""
        self.query_filter = ExplainTriggers(order_no=order_no)


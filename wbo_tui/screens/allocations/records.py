"""Allocations › Allocations and Explain: the Company Fund Allocation records (manual and
automatic) with their approval, bulk decisions, retry and CSV export; and the explain view
of decided triggers (which rules were considered, which one was chosen, and why).

Records are keyset-paged in the engine's query: only one page is in memory.  Deciding
allocations, one or in bulk, and which keys apply to the selected row: ``decisions``."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static

from wbo_tui.engine import SessionInfo, ValidationFailed
from wbo_tui.engine.allocations import (
    AllocationDTO,
    AllocationPage,
    ExportAllocations,
    GetAllocation,
    ListAllocations,
    RetryAllocation,
)
from wbo_tui.engine.api import Engine
from wbo_tui.screens.allocations.decisions import AllocationDecisions
from wbo_tui.screens.allocations.explain import TriggersPane
from wbo_tui.screens.allocations.forms import ManualAllocationScreen, allocation_line, outcome_words
from wbo_tui.screens.allocations.record_filters import PAGE_SIZE, describe_filters, parse_allocation_filters
from wbo_tui.widgets.area import TabbedArea
from wbo_tui.widgets.exports import write_export
from wbo_tui.widgets.moments import when
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.keyset_pager import KeysetPagedPane, KeysetPager
from wbo_tui.widgets.table_pane import cell, write_cells

STATUS_STYLE = {"succeeded": "green", "failed": "bold red", "rejected": "red", "unknown": "bold yellow",
                "pending_approval": "yellow", "processing": "cyan"}
MARK = "●"
PAGE_KEYS = Binding.Group("Page", compact=True)


class AllocationsPane(AllocationDecisions, KeysetPagedPane):
    COLUMNS = ("", "Created (UTC)", "Order no", "Origin", "Trigger", "Rule", "From → to", "Ccy", "Amount", "Status",
               "Failure reason", "Maker", "Checker")
    # At 80 columns: the mark, when, order no, currency, amount and status; the detail line
    # below the table has the accounts, origin, maker and checker and the failure reason.
    DROP_ORDER = ("Failure reason", "Checker", "Maker", "Rule", "Trigger", "Origin", "From → to", "Created (UTC)")
    NARROW = {"Failure reason": 24, "Rule": 12}
    FIXED_COLUMNS = 1  # the mark: the order no is the first column after it
    EMPTY = "No fund allocations."
    TOPICS = frozenset({"allocations", "approvals"})
    HELP = (
        "Every fund allocation, manual and automatic, newest first, 50 a page (] older, [ newer, "
        "} the oldest, { the newest). "
        "Type filters (status, origin automatic/manual, currency, order no) and press Enter; / "
        "jumps to them. n submits a manual allocation for approval. a approves the selected "
        "pending allocation after showing exactly what was submitted (once the decision commits, "
        "the transfer is sent to the settlement channel and the list shows its outcome when it "
        "arrives), x rejects it with a reason (final). Space marks rows; A and "
        "X approve or reject every marked row, each on its own, and list the result per row. t "
        "retries a failed allocation (never pays twice). E exports the filtered records to a CSV "
        "file in the current directory. w or Enter explains an automatic allocation's decision."
    )
    BINDINGS = [
        Binding("n", "new", "New", id="alloc-new", tooltip="Submit a manual allocation"),
        Binding("a", "approve", "Approve", id="alloc-approve", tooltip="Approve the selected allocation"),
        Binding("x", "reject", "Reject", id="alloc-reject", tooltip="Reject the selected allocation"),
        Binding("space", "toggle_mark", "Mark", id="alloc-mark", tooltip="Mark the row for a bulk decision"),
        Binding("A", "bulk_approve", "Approve marked", key_display="A", id="alloc-bulk-approve"),
        Binding("X", "bulk_reject", "Reject marked", key_display="X", id="alloc-bulk-reject"),
        Binding("t", "retry", "Retry", id="alloc-retry", tooltip="Retry the selected failed allocation"),
        # Rarely used: in ? help, not in the footer (it fits at 80 and at 160 columns).
        Binding("E", "export", "Export CSV", key_display="E", id="alloc-export", show=False),
        Binding("w", "explain", "Explain", id="alloc-explain", tooltip="Why this allocation was made"),
        Binding("slash", "focus_filters", "Filters", key_display="/", id="alloc-filters", show=False),
        Binding("left_square_bracket", "page(-1)", "Newer page", key_display="[", id="alloc-newer", group=PAGE_KEYS),
        Binding("right_square_bracket", "page(1)", "Older page", key_display="]", id="alloc-older", group=PAGE_KEYS),
    ]
    ROW_ACTIONS = frozenset({"approve", "reject", "toggle_mark", "retry", "explain"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.add_class("alloc-records")
        self.filters = ListAllocations(page_size=PAGE_SIZE)
        self.page: AllocationPage | None = None
        self.marked: dict[str, AllocationDTO] = {}
        self._amount_width = 0

    def compose(self) -> ComposeResult:
        with Horizontal(classes="alloc-filter-bar"):
            yield Input(id="alloc-filter-status", placeholder="Status", compact=True)
            yield Input(id="alloc-filter-origin", placeholder="Origin automatic/manual", compact=True)
            yield Input(id="alloc-filter-currency", placeholder="Currency", compact=True)
            yield Input(id="alloc-filter-order", placeholder="Order no", compact=True)
        yield from super().compose()

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    # --- loading ------------------------------------------------------------------------

    async def fetch(self) -> Sequence[AllocationDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        self.page = await self.fetch_page(lambda query: engine.query(session, query), self.filters)
        self.refresh_bindings()
        return self.page.rows

    def _show(self, items: Sequence[Any]) -> None:
        # The table ignores a cell's justification: amounts are padded to the page's widest.
        self._amount_width = max((len(a.amount_text) for a in items), default=0)
        super()._show(items)

    def row_key(self, item: AllocationDTO) -> str:
        return item.order_no

    def row_cells(self, a: AllocationDTO) -> Sequence[object]:
        return (cell(MARK if a.order_no in self.marked else ""), cell(when(a.created_at)), cell(a.order_no),
                cell(a.origin), cell(a.trigger), cell(a.rule_name or ""), cell(f"{a.from_account} → {a.to_account}"),
                cell(a.currency), Text(a.amount_text.rjust(self._amount_width), justify="left", no_wrap=True),
                Text(a.status.replace("_", " "), style=STATUS_STYLE.get(a.status, ""), justify="left", no_wrap=True),
                cell(a.failure_reason or ""), cell(a.maker), cell(a.checker or ""))

    def status_text(self, items: Sequence[Any]) -> str:
        more = "older: ]" if self.pager.can("older") else "no older records"
        counted = f"{len(items)} shown, newest first; {more}" if items else self.EMPTY.rstrip(".")
        marked = f"; {len(self.marked)} marked (A/X decide them)" if self.marked else ""
        return f"{self.pager.label()}: {counted}{marked}. {describe_filters(self.filters)}."

    def show_detail(self, a: AllocationDTO | None) -> None:
        text = ""
        if a is not None:
            rule = f"rule {a.rule_id} {a.rule_name}" if a.rule_id is not None else "no rule"
            # Also what a narrow table leaves out: the accounts, origin, maker and checker.
            checked = f", checked by {a.checker}" if a.checker else ""
            text = (f"{a.order_no} {a.origin}, {a.amount_text} {a.currency} {a.from_account} → {a.to_account}, "
                    f"made by {a.maker}{checked}; attempt {a.attempt}, created {when(a.created_at)}, updated "
                    f"{when(a.updated_at)} UTC; {rule}; trigger: {a.trigger}. Remarks: {a.remarks or '—'}")
            if a.failure_reason:
                text += f" Failure: {a.failure_reason}"
        self.query_one(".pane-detail", Static).update(text)

    # --- filters and pages ----------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.filters = parse_allocation_filters(*(
                self.query_one(f"#alloc-filter-{name}", Input).value
                for name in ("status", "origin", "currency", "order")))
        except ValidationFailed as error:
            self.app.notify(str(error), title="Filter not applied", severity="error", markup=False)
            return
        self.pager = KeysetPager()
        self.load()
        self.focus_table()

    def action_focus_filters(self) -> None:
        self.query_one("#alloc-filter-status", Input).focus()

    # --- acting ---------------------------------------------------------------------------

    def action_new(self) -> None:
        self.app.push_screen(ManualAllocationScreen(), callback=self._submitted)

    def _submitted(self, a: AllocationDTO | None) -> None:
        if a is not None:
            self.pager = KeysetPager()
            self.selected_key = a.order_no
            self.app.notify(f"Allocation {a.order_no} submitted for approval: {a.amount_text} {a.currency} from "
                            f"{a.from_account} to {a.to_account}.", markup=False)
            self.load()

    def action_toggle_mark(self) -> None:
        a: AllocationDTO = self.selected
        if self.marked.pop(a.order_no, None) is None:
            self.marked[a.order_no] = a
        table = self.table
        write_cells(table, [(a.order_no, table.ordered_columns[0].key, cell(MARK if a.order_no in self.marked else ""))])
        self.query_one(".pane-status", Static).update(self.status_text(list(self.items.values())))
        self.refresh_bindings()
        table.action_cursor_down()

    def _act(self, job: Callable[[Engine, SessionInfo], Any]) -> None:
        """Run ``job`` in the one action worker, unless one already runs."""
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

    # retry, export, explain

    def action_retry(self) -> None:
        a: AllocationDTO = self.selected

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(lambda engine, session: self._retry(engine, session, a))

        self.app.push_screen(ConfirmScreen(f"Retry fund allocation {a.order_no}?", [
            allocation_line(a),
            f"Failed: {a.failure_reason or 'no reason recorded'}.",
            f"A new attempt ({a.attempt + 1}) is sent to the channel under a new idempotency key; the failed "
            "attempt moved no money, so the allocation never pays twice.",
        ], "Retry", danger=False), callback=confirmed)

    async def _retry(self, engine: Engine, session: SessionInfo, a: AllocationDTO) -> None:
        await engine.execute(session, RetryAllocation(order_no=a.order_no))
        now: AllocationDTO = await engine.query(session, GetAllocation(order_no=a.order_no))
        self.app.notify(f"Allocation {a.order_no} retried → {outcome_words(now)}", markup=False,
                        severity="error" if now.status == "failed" else "information")

    def action_export(self) -> None:
        self._act(self._export)

    async def _export(self, engine: Engine, session: SessionInfo) -> None:
        text: str = await engine.query(session, ExportAllocations(filters=self.filters))
        path = await write_export(self.wbo.settings.export_folder(), "allocations", engine.clock.now(), text)
        rows = len(list(csv.reader(io.StringIO(text)))) - 1
        self.app.notify(f"Exported {rows} allocation(s) to {path} ({describe_filters(self.filters)}).",
                        title="CSV export", markup=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.check_action("explain", ()):
            self.action_explain()

    def action_explain(self) -> None:
        a: AllocationDTO = self.selected
        area = next((node for node in self.ancestors if isinstance(node, TabbedArea)), None)
        explain = area.query(TriggersPane).first() if area is not None else None
        if area is None or explain is None:
            return
        explain.show_order(a.order_no)
        area.show_tab("tab-explain")

"""Allocations › Allocations and Explain: the Company Fund Allocation records (manual and
automatic) with their approval, bulk decisions, retry and CSV export; and the explain view
of decided triggers (which rules were considered, which one was chosen, and why).

Records are keyset-paged in the engine's query: only one page is in memory.  Every
decision of a bulk action is its own engine call (its own transaction), so one refusal
never undoes the rows decided before it."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Static

from wbo_tui.engine import (
    ApprovalDTO,
    ApproveItem,
    ListApprovals,
    NotAuthenticated,
    PermissionDenied,
    RejectItem,
    SessionInfo,
    ValidationFailed,
    WboError,
)
from wbo_tui.engine.allocations import (
    AllocationDTO,
    AllocationPage,
    ExportAllocations,
    GetAllocation,
    ListAllocations,
    RetryAllocation,
)
from wbo_tui.engine.api import Engine
from wbo_tui.screens.allocations.explain import TriggersPane
from wbo_tui.screens.allocations.forms import (BulkRejectScreen, BulkResultScreen, ManualAllocationScreen, RowResult,
                                               allocation_line, decision_outcome)
from wbo_tui.screens.allocations.record_filters import PAGE_SIZE, describe_filters, parse_allocation_filters
from wbo_tui.widgets.area import TabbedArea
from wbo_tui.widgets.moments import when
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.table_pane import TablePane, cell
from wbo_tui.widgets.reject import RejectScreen

STATUS_STYLE = {"succeeded": "green", "failed": "bold red", "rejected": "red", "unknown": "bold yellow",
                "pending_approval": "yellow", "processing": "cyan"}
MARK = "●"


class AllocationsPane(TablePane):
    COLUMNS = ("", "Created (UTC)", "Order no", "Origin", "Trigger", "Rule", "From → to", "Ccy", "Amount", "Status",
               "Failure reason", "Maker", "Checker")
    EMPTY = "No fund allocations."
    HELP = (
        "Every fund allocation, manual and automatic, newest first, 50 a page (] older, [ newer). "
        "Type filters (status, origin automatic/manual, currency, order no) and press Enter; / "
        "jumps to them. n submits a manual allocation for approval. a approves the selected "
        "pending allocation after showing exactly what was submitted (the transfer runs at once "
        "and its outcome is shown), x rejects it with a reason (final). Space marks rows; A and "
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
        Binding("E", "export", "Export CSV", key_display="E", id="alloc-export"),
        Binding("w", "explain", "Explain", id="alloc-explain", tooltip="Why this allocation was made"),
        Binding("slash", "focus_filters", "Filters", key_display="/", id="alloc-filters"),
        Binding("left_square_bracket", "page(-1)", "Newer page", key_display="[", id="alloc-newer"),
        Binding("right_square_bracket", "page(1)", "Older page", key_display="]", id="alloc-older"),
    ]
    ROW_ACTIONS = frozenset({"approve", "reject", "toggle_mark", "retry", "explain"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.add_class("alloc-records")
        self.filters = ListAllocations(page_size=PAGE_SIZE)
        self.cursors: list[int | None] = [None]
        """The ``before_id`` of each page from the newest one to the shown one."""
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
        query = self.filters.model_copy(update={"before_id": self.cursors[-1]})
        self.page = await engine.query(session, query)
        if not self.page.rows and len(self.cursors) > 1:
            # The page emptied (e.g. filters or other consoles): start again from the newest.
            self.cursors = [None]
            self.page = await engine.query(session, self.filters)
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
        page = len(self.cursors)
        more = "older: ]" if self.page is not None and self.page.next_before_id is not None else "no older records"
        counted = f"{len(items)} shown, newest first; {more}" if items else self.EMPTY.rstrip(".")
        marked = f"; {len(self.marked)} marked (A/X decide them)" if self.marked else ""
        return f"Page {page}: {counted}{marked}. {describe_filters(self.filters)}."

    def show_detail(self, a: AllocationDTO | None) -> None:
        text = ""
        if a is not None:
            rule = f"rule {a.rule_id} {a.rule_name}" if a.rule_id is not None else "no rule"
            text = (f"{a.order_no} attempt {a.attempt}, updated {when(a.updated_at)} UTC; {rule}; trigger: "
                    f"{a.trigger}. Remarks: {a.remarks or '—'}")
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
        self.cursors = [None]
        self.load()
        self.focus_table()

    def action_focus_filters(self) -> None:
        self.query_one("#alloc-filter-status", Input).focus()

    def action_page(self, step: int) -> None:
        if step > 0 and self.page is not None and self.page.next_before_id is not None:
            self.cursors.append(self.page.next_before_id)
        elif step < 0 and len(self.cursors) > 1:
            self.cursors.pop()
        else:
            return
        self.load()

    # --- acting ---------------------------------------------------------------------------

    def applies(self, action: str, item: AllocationDTO | None) -> bool:
        if item is None:
            return False
        if action in ("approve", "reject"):
            return item.status == "pending_approval" and item.approval_id is not None
        if action == "retry":
            return item.status == "failed"
        if action == "explain":
            return item.origin == "automatic"
        return True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        if action in ("bulk_approve", "bulk_reject"):
            return True if self.marked and not self.busy else None
        if action == "page":
            forward = bool(parameters) and int(parameters[0]) > 0  # type: ignore[call-overload]
            possible = (self.page is not None and self.page.next_before_id is not None) if forward else (
                len(self.cursors) > 1)
            return True if possible else None
        return True

    def action_new(self) -> None:
        self.app.push_screen(ManualAllocationScreen(), callback=self._submitted)

    def _submitted(self, a: AllocationDTO | None) -> None:
        if a is not None:
            self.cursors = [None]
            self.selected_key = a.order_no
            self.app.notify(f"Allocation {a.order_no} submitted for approval: {a.amount_text} {a.currency} from "
                            f"{a.from_account} to {a.to_account}.", markup=False)
            self.load()

    def action_toggle_mark(self) -> None:
        a: AllocationDTO = self.selected
        if self.marked.pop(a.order_no, None) is None:
            self.marked[a.order_no] = a
        table = self.table
        table.update_cell(a.order_no, table.ordered_columns[0].key, cell(MARK if a.order_no in self.marked else ""))
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

    # approve one: show exactly what was submitted, then decide and say what happened

    def action_approve(self) -> None:
        a: AllocationDTO = self.selected
        self._act(lambda engine, session: self._confirm_approval(engine, session, a))

    async def _confirm_approval(self, engine: Engine, session: SessionInfo, a: AllocationDTO) -> None:
        pending = await engine.query(session, ListApprovals(kind="fund_allocation", limit=1000))
        item = next((i for i in pending if i.id == a.approval_id), None)
        if item is None:
            self.app.notify(f"{a.order_no} is no longer pending approval; the list is reloaded.",
                            severity="warning", markup=False)
            return
        consequences = [
            f"Submitted by {item.maker} at {when(item.submitted_at)} UTC as {item.ref}: {item.summary}",
            f"Payload: approve allocation order {item.payload.get('order_no', a.order_no)}.",
            f"Amount {a.amount_text} {a.currency}, from {a.from_account} to {a.to_account} via {a.channel}; "
            f"remarks: {a.remarks or '—'}.",
            "Approving executes it at once: the channel moves the money and the status becomes succeeded, or "
            "failed with the channel's reason (t retries a failed one).",
            f"{item.ref} is marked approved by you; the decision is final and recorded in the audit log.",
        ]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(lambda engine, session: self._approve(engine, session, a))

        self.app.push_screen(ConfirmScreen(f"Approve fund allocation {a.order_no}?", consequences, "Approve",
                                           danger=False), callback=confirmed)

    async def _approve(self, engine: Engine, session: SessionInfo, a: AllocationDTO) -> None:
        item: ApprovalDTO = await engine.execute(session, ApproveItem(approval_id=a.approval_id))
        result = await decision_outcome(engine, session, a, item)
        self.app.notify(f"Allocation {a.order_no} {result.outcome}", markup=False,
                        severity="information" if result.ok else "error")

    def action_reject(self) -> None:
        a: AllocationDTO = self.selected
        assert a.approval_id is not None
        self.app.push_screen(RejectScreen(a.approval_id, allocation_line(a), (
            f"{a.order_no} becomes rejected with your reason and nothing is paid.",
            "A rejected allocation can't be revived: a new one must be submitted.",
            "The decision is final and recorded in the audit log.",
        ), title="Reject fund allocation"), callback=self._rejected)

    def _rejected(self, item: ApprovalDTO | None) -> None:
        if item is not None:
            self.app.notify(f"{item.ref} rejected: {item.reason}", markup=False)
            self.load()

    # bulk: each marked row its own decision, and a result per row

    def _marked_rows(self) -> list[AllocationDTO]:
        return list(self.marked.values())

    def action_bulk_approve(self) -> None:
        rows = self._marked_rows()
        consequences = [allocation_line(a) for a in rows] + [
            "Each is approved on its own and executed at once; a row already decided, or one you submitted, "
            "is refused and left as it is. The result lists every row."]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(lambda engine, session: self._decide_each(
                    engine, session, rows, "Bulk approve", self._approve_row))

        self.app.push_screen(ConfirmScreen(f"Approve {len(rows)} marked allocation(s)?", consequences,
                                           "Approve all", danger=False), callback=confirmed)

    async def _approve_row(self, engine: Engine, session: SessionInfo, a: AllocationDTO) -> RowResult:
        if a.approval_id is None:
            return RowResult(a.order_no, f"refused: it is {a.status.replace('_', ' ')}, with no approval", False)
        item: ApprovalDTO = await engine.execute(session, ApproveItem(approval_id=a.approval_id))
        return await decision_outcome(engine, session, a, item)

    def action_bulk_reject(self) -> None:
        rows = self._marked_rows()
        first = next((a.approval_id for a in rows if a.approval_id is not None), 0)

        def reasoned(reason: str | None) -> None:
            if reason:
                async def reject(engine: Engine, session: SessionInfo, a: AllocationDTO) -> RowResult:
                    if a.approval_id is None:
                        return RowResult(a.order_no, f"refused: it is {a.status.replace('_', ' ')}", False)
                    await engine.execute(session, RejectItem(approval_id=a.approval_id, reason=reason))
                    return RowResult(a.order_no, f"rejected: {reason}", True)

                self._act(lambda engine, session: self._decide_each(engine, session, rows, "Bulk reject", reject))

        self.app.push_screen(BulkRejectScreen(rows, first), callback=reasoned)

    async def _decide_each(self, engine: Engine, session: SessionInfo, rows: Sequence[AllocationDTO], title: str,
                           decide: Callable[[Engine, SessionInfo, AllocationDTO], Any]) -> None:
        results = []
        for a in rows:
            try:
                results.append(await decide(engine, session, a))
            except (PermissionDenied, NotAuthenticated):
                raise  # The same for every row: the app offers a request or the login.
            except WboError as error:
                results.append(RowResult(a.order_no, f"refused: {error}", False))
        self.marked.clear()
        self.app.push_screen(BulkResultScreen(f"{title}: result per row", results))

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
        failed = f": {now.failure_reason}" if now.failure_reason else ""
        self.app.notify(f"Allocation {a.order_no} retried → {now.status.replace('_', ' ')}{failed}", markup=False,
                        severity="error" if now.status == "failed" else "information")

    def action_export(self) -> None:
        self._act(self._export)

    async def _export(self, engine: Engine, session: SessionInfo) -> None:
        text: str = await engine.query(session, ExportAllocations(filters=self.filters))
        path = Path.cwd() / f"allocations-{engine.clock.now():%Y%m%dT%H%M%SZ}.csv"
        count = 1
        while path.exists():
            count += 1
            path = path.with_name(f"allocations-{engine.clock.now():%Y%m%dT%H%M%SZ}-{count}.csv")
        await asyncio.to_thread(path.write_text, text, encoding="utf-8")
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

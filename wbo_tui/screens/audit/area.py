"""The Audit area: the hash-chained audit log, filtered and keyset-paged from the database.

Only one page (100 records) is ever in memory, and nothing counts the log: a page knows
only whether an older or a newer page exists.  That keeps the area as fast on a log of
millions of records as on a fresh one.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Label, Static
from textual.worker import Worker

from wbo_tui.engine import (
    AuditPage,
    AuditRecordDTO,
    AuditVerifyDTO,
    PermissionDenied,
    QueryAuditLog,
    VerifyAuditLog,
    WboError,
    build,
)
from wbo_tui.widgets.denied import DeniedPanel
from wbo_tui.widgets.columns import PriorityColumns

from wbo_tui.widgets.area import Area
from wbo_tui.screens.audit.filters import AuditFilters, parse_filters
from wbo_tui.widgets.table_pane import cell

PAGE_SIZE = 100
_PAGE_KEYS = Binding.Group("Newer/older page", compact=True)
FILTER_FIELDS = (
    ("filter-operator", "Operator", "username"),
    ("filter-action", "Action", "prefix, e.g. operator."),
    ("filter-target-type", "Target type", "e.g. operator"),
    ("filter-target-id", "Target id", "e.g. maker"),
    ("filter-since", "Since", "YYYY-MM-DD [HH:MM]"),
    ("filter-until", "Until", "YYYY-MM-DD [HH:MM]"),
)


def short_change(record: AuditRecordDTO, width: int = 60) -> str:
    text = f"{record.before or '∅'} → {record.after or '∅'}"
    return text if len(text) <= width else text[: width - 1] + "…"


def pretty_json(value: str | None) -> str:
    if value is None:
        return "(none)"
    try:
        return json.dumps(json.loads(value), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        return value


class AuditArea(Area):
    TITLE = "Audit"
    HELP = (
        "The audit log, newest first, 100 records a page, read from the database a page at a "
        "time. Type filters and press Enter to apply them: operator (exact username), action "
        "prefix (operator. matches operator.login, operator.disable …), target type and id, "
        "since and until as YYYY-MM-DD or YYYY-MM-DD HH:MM in UTC, both inclusive. ] shows "
        "older records, [ newer ones. The pane beside the table shows the selected record's "
        "full before and after. v verifies the hash chain of the whole log. Needs "
        "admin.audit_log_inquiry."
    )
    BINDINGS = [
        Binding("left_square_bracket", "newer", "Newer page", key_display="[", id="audit-newer",
                group=_PAGE_KEYS),
        Binding("right_square_bracket", "older", "Older page", key_display="]", id="audit-older",
                group=_PAGE_KEYS),
        Binding("v", "verify", "Verify", id="audit-verify", tooltip="Verify the audit chain"),
        Binding("slash", "focus_filters", "Filters", key_display="/", id="audit-filters"),
        Binding("x", "clear_filters", "Clear filters", id="audit-clear"),
    ]

    has_older = reactive(False, bindings=True)
    has_newer = reactive(False, bindings=True)
    verifying = reactive(False, bindings=True)

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="audit-area")
        self.filters = AuditFilters()
        self.page: AuditPage | None = None
        self.page_number = 1
        self.records: dict[int, AuditRecordDTO] = {}
        self._request = 0

    def compose(self) -> ComposeResult:
        yield DeniedPanel()
        with Vertical(id="audit-content"):
            with Grid(id="audit-filters"):
                for field_id, label, hint in FILTER_FIELDS:
                    with Horizontal(classes="filter"):
                        yield Label(label, classes="filter-label")
                        yield Input(id=field_id, placeholder=hint, compact=True)
            with Horizontal(id="audit-status-bar"):
                yield Static("", id="audit-status", markup=False)
                yield Static("", id="audit-verify", markup=False)
            with Horizontal(id="audit-body"):
                # The sequence number stays in place when the table scrolls sideways; the
                # whole record is in the detail pane.
                yield DataTable(id="audit-table", cursor_type="row", zebra_stripes=True, fixed_columns=1)
                with VerticalScroll(id="audit-detail-scroll"):
                    yield Static("", id="audit-detail", markup=False)

    def on_mount(self) -> None:
        # Widths measured once per page, as every list's (``widgets.columns``).
        self.columns = PriorityColumns(("Seq", "Time (UTC)", "Operator", "Action", "Target", "Before → after"))
        self.columns.apply(self.query_one("#audit-table", DataTable), ())

    def enter(self) -> None:
        self._load(self.filters, page_number=1, refresh_session=True)

    def focus_default(self) -> None:
        self.query_one("#audit-table", DataTable).focus()

    # --- loading ------------------------------------------------------------------------

    def _load(self, filters: AuditFilters, *, page_number: int, older_than: int | None = None,
              newer_than: int | None = None, refresh_session: bool = False) -> None:
        self._request += 1
        self.query_one("#audit-status", Static).update("Loading…")
        self._fetch(self._request, filters, page_number, older_than, newer_than, refresh_session)

    @work(exclusive=True, group="load", exit_on_error=False)
    async def _fetch(self, request: int, filters: AuditFilters, page_number: int,
                     older_than: int | None, newer_than: int | None, refresh_session: bool) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        if refresh_session:
            session = await self.wbo.fresh_session()
        assert engine is not None and session is not None
        query = build(
            QueryAuditLog, operator=filters.operator, action_prefix=filters.action_prefix,
            target_type=filters.target_type, target_id=filters.target_id, since=filters.since,
            until=filters.until, older_than=older_than, newer_than=newer_than, page_size=PAGE_SIZE,
        )
        page = await engine.query(session, query)
        if request != self._request:
            return  # A newer request (filters, paging) superseded this one.
        self.filters, self.page, self.page_number = filters, page, page_number
        self._show(page)

    def _show(self, page: AuditPage) -> None:
        if self.has_class("-denied"):
            self.query_one(DeniedPanel).hide()
            self.remove_class("-denied")
            self.refresh_bindings()
            self.focus_default()  # the request button that held the focus is gone
        table = self.query_one("#audit-table", DataTable)
        rows = [[cell(r.seq), cell(f"{r.at:%Y-%m-%d %H:%M:%S}"), cell(r.operator), cell(r.action),
                 cell(f"{r.target_type}:{r.target_id}"), cell(short_change(r))] for r in page.records]
        with self.app.batch_update():
            table.clear()
            self.columns.apply(table, rows)
            self.records = {r.seq: r for r in page.records}
            for r, row in zip(page.records, rows, strict=True):
                table.add_row(*self.columns.pick(row), key=str(r.seq))
            if page.records:
                table.move_cursor(row=0)
        self.has_older, self.has_newer = page.has_older, page.has_newer
        self.query_one("#audit-status", Static).update(self._status(page))
        self._show_detail(page.records[0] if page.records else None)

    def _status(self, page: AuditPage) -> str:
        if not page.records:
            return f"Page {self.page_number}: no records. {self.filters.describe()}."
        newest, oldest = page.records[0].seq, page.records[-1].seq
        more = "older: ]" if page.has_older else "no older records"
        return (f"Page {self.page_number}: #{newest}–#{oldest}, newest first; {more}. "
                f"{self.filters.describe()}.")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        key = event.row_key.value
        self._show_detail(self.records.get(int(key)) if key is not None else None)

    def _show_detail(self, record: AuditRecordDTO | None) -> None:
        detail = self.query_one("#audit-detail", Static)
        if record is None:
            detail.update("No record selected.")
            return
        text = Text()
        text.append(f"#{record.seq}  {record.action}\n", style="bold")
        text.append(f"{record.at:%Y-%m-%d %H:%M:%S} UTC by {record.operator}\n")
        text.append(f"Target: {record.target_type} {record.target_id}\n\n")
        text.append("Before\n", style="bold")
        text.append(pretty_json(record.before) + "\n\n")
        text.append("After\n", style="bold")
        text.append(pretty_json(record.after))
        detail.update(text)

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        if worker.group == "verify":
            self.verifying = False
            if isinstance(error, WboError) and not isinstance(error, PermissionDenied):
                self.query_one("#audit-verify", Static).update("")
            return False
        if worker.group == "load" and isinstance(error, PermissionDenied):
            self.query_one("#audit-table", DataTable).clear()
            self.records, self.page = {}, None
            self.has_older = self.has_newer = False
            self.add_class("-denied")
            self.query_one(DeniedPanel).show(error)
            self.refresh_bindings()
            return True
        if worker.group == "load" and isinstance(error, WboError):
            self.query_one("#audit-status", Static).update(str(error))
        return False

    # --- filters ------------------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        values = {field_id: self.query_one(f"#{field_id}", Input).value for field_id, _, _ in FILTER_FIELDS}
        try:
            filters = parse_filters(
                values["filter-operator"], values["filter-action"], values["filter-target-type"],
                values["filter-target-id"], values["filter-since"], values["filter-until"],
            )
        except WboError as error:
            self.query_one("#audit-status", Static).update(str(error))
            self.app.notify(str(error), title="Filter not applied", severity="error", markup=False)
            return
        self._load(filters, page_number=1)
        self.focus_default()

    def action_focus_filters(self) -> None:
        self.query_one("#filter-operator", Input).focus()

    def action_clear_filters(self) -> None:
        for field_id, _, _ in FILTER_FIELDS:
            self.query_one(f"#{field_id}", Input).value = ""
        self._load(AuditFilters(), page_number=1)

    # --- paging and verifying -----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.has_class("-denied"):
            return False  # Hidden: the denial and its request button are shown instead.
        if action == "older":
            return True if self.has_older else None
        if action == "newer":
            return True if self.has_newer else None
        if action == "verify":
            return None if self.verifying else True
        return True

    def action_older(self) -> None:
        if self.page and self.page.records:
            self._load(self.filters, page_number=self.page_number + 1, older_than=self.page.records[-1].seq)

    def action_newer(self) -> None:
        if self.page and self.page.records:
            self._load(self.filters, page_number=max(1, self.page_number - 1), newer_than=self.page.records[0].seq)

    def action_verify(self) -> None:
        self.verifying = True
        self.query_one("#audit-verify", Static).update("Verifying the audit chain…")
        self._verify()

    @work(exclusive=True, group="verify", exit_on_error=False)
    async def _verify(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        result: AuditVerifyDTO = await engine.query(session, VerifyAuditLog())
        self.verifying = False
        verify = self.query_one("#audit-verify", Static)
        verify.set_class(result.ok, "-ok")
        verify.set_class(not result.ok, "-broken")
        verify.update(("✔ " if result.ok else "✘ ") + result.sentence)
        self.app.notify(result.sentence, title="Audit chain", severity="information" if result.ok else "error",
                        markup=False)

"""A table of engine data inside an area: loads in a worker, shows a denial in place,
runs commands on the selected row and reloads after each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events, work
from textual.actions import parse as parse_action
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.widgets.data_table import ColumnKey, RowKey
from textual.worker import Worker

from wbo_tui import heap
from wbo_tui.engine import Command, PermissionDenied
from wbo_tui.engine.changes import ACCESS_TOPICS, touches
from wbo_tui.widgets.columns import PriorityColumns
from wbo_tui.widgets.denied import DeniedPanel
from wbo_tui.widgets.engine_workers import EngineWorkers
from wbo_tui.widgets.row_actions import RowHint, Unavailable


def cell(value: object) -> Text:
    """Table cells are plain text: data such as JSON or role names is never markup."""
    return Text("" if value is None else str(value), no_wrap=True, overflow="ellipsis")


def _same_cell(shown: object, new: object) -> bool:
    """Whether a cell would look the same (rich's ``Text ==`` compares text and spans only)."""
    if isinstance(shown, Text) and isinstance(new, Text):
        return (shown.plain, shown.style, shown.spans, shown.justify) == (new.plain, new.style, new.spans, new.justify)
    return shown == new


def write_cells(table: DataTable, cells: Iterable[tuple[RowKey | str, ColumnKey | str, object]]) -> int:
    """Write ``cells`` (row key, column key, value); how many were written.

    Every ``update_cell`` bumps the table's update count, which is part of every render
    cache key, so each write leaves every cell, row and line the table had rendered dead
    in its caches until their LRU bounds (10,000 cells, 1,000 rows and lines) evict them.
    At those bounds that is some 100,000 live objects, which every full garbage
    collection walks with the GIL held: ``bench stall`` saw 25-53 ms frozen frames from
    it during an allocation batch.  So the stale renders are dropped once the cells are
    written (``_clear_caches`` is what ``DataTable.clear`` itself uses; Textual is pinned).
    """
    written = 0
    for row_key, column_key, value in cells:
        table.update_cell(row_key, column_key, value)
        written += 1
    if written:
        table._clear_caches()  # noqa: SLF001 - see above
    return written


class TablePane(EngineWorkers, Vertical):
    """Subclasses set ``COLUMNS`` and implement ``fetch``, ``row_key`` and ``row_cells``."""

    COLUMNS: tuple[str, ...] = ()
    DROP_ORDER: tuple[str, ...] = ()
    """Columns a narrow table leaves out, least important first (``widgets.columns``)."""
    NARROW: ClassVar[dict[str, int]] = {}
    """Long text columns a narrow table may narrow, with their narrowest width."""
    FIXED_COLUMNS = 1
    """Columns that stay in place when the table scrolls sideways."""
    EMPTY = "Nothing to show."
    HELP = ""
    TOPICS: ClassVar[frozenset[str]] = frozenset()
    """The tables (``engine.changes.WATCHED_TABLES``) this list shows: when another console
    or the scheduler commits to one, the list is read again in place (``changes_committed``)."""
    _stale = False  # changed while not shown: read when shown
    _again = False  # changed during a load: read again after it
    _loads_started = 0
    _loads_finished = 0
    _shown_once = False

    busy = reactive(False, bindings=True)
    # Set again after every load, changed or not: the selected row's state may have changed.
    selected_key: reactive[str | None] = reactive(None, bindings=True, always_update=True)

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, classes="table-pane")
        self.items: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield DeniedPanel()
        yield Static("Loading…", classes="pane-status", markup=False)
        yield DataTable(cursor_type="row", zebra_stripes=True, classes="pane-table")
        yield RowHint()
        yield from self.compose_detail()

    def compose_detail(self) -> ComposeResult:
        return iter(())

    def on_mount(self) -> None:
        self.columns = PriorityColumns(self.COLUMNS, self.DROP_ORDER, fixed=self.FIXED_COLUMNS, narrow=self.NARROW)
        self.columns.apply(self.table, ())

    def on_resize(self) -> None:
        # Another width may show other columns: lay the rows out again (cursor kept).
        if self.items and self.columns.changes(self.table, self._rows(self.items.values())):
            self._show(list(self.items.values()))

    def _rows(self, items: Any) -> list[list[object]]:
        return [[c if isinstance(c, Text) else cell(c) for c in self.row_cells(item)] for item in items]

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @property
    def selected(self) -> Any:
        """The item under the cursor, read from the cursor: a key right after a move in one
        burst (an SSH read) acts there, before the highlight message updates ``selected_key``."""
        try:
            key = self._cursor_key()
        except NoMatches:  # not composed yet
            key = None
        return self.items.get(key if key in self.items else self.selected_key)

    def focus_table(self) -> None:
        self.table.focus()

    # --- loading ------------------------------------------------------------------------

    async def fetch(self) -> Sequence[Any]:
        raise NotImplementedError

    def row_key(self, item: Any) -> str:
        raise NotImplementedError

    def row_cells(self, item: Any) -> Sequence[object]:
        raise NotImplementedError

    def status_text(self, items: Sequence[Any]) -> str:
        return f"{len(items)} shown." if items else self.EMPTY

    def load(self) -> None:
        """Read the list and show it.  A load in flight is cancelled: the operator changed
        a filter or a page, and its answer would be out of date."""
        self._stale = False
        self._loads_started += 1
        self._load(self._loads_started)

    @work(exclusive=True, group="load", exit_on_error=False)
    async def _load(self, number: int = 0) -> None:
        try:
            await self.wbo.fresh_session()
            items = await self.fetch()
            was_denied = self.has_class("-denied")
            self.query_one(DeniedPanel).hide()
            self.remove_class("-denied")
            self._show(items)
            if not self._shown_once:
                # The pane and its first rows live as long as the shell: out of the
                # collector's sight once drawn (``wbo_tui.heap``).
                self._shown_once = True
                self.call_after_refresh(heap.settle_session)
            if was_denied:
                self.refresh_bindings()
                self.focus_table()  # the request button that held the focus is gone
        finally:
            if number == self._loads_started:
                self._loads_finished = number
                if self._again and self.is_attached:
                    self._again = False
                    self.call_later(self.load)
            self.after_load()

    def after_load(self) -> None:
        """Runs after every load, whether it showed rows, a denial or failed."""

    # The live feed (``widgets.live_feed``): other consoles' and the scheduler's commits.

    def changes_committed(self, topics: frozenset[str]) -> None:
        """Another connection committed to the tables ``topics``: read the list again if it
        shows one of them (``TOPICS``; a denied list also the operator's access, so a grant
        shows at once).  A list the operator does not see now is only marked, and read
        when shown: a tab or area loads when entered, the shell's other lists when it
        is on top again (``resume_live``).  One load at a time: a burst of commits during
        a load is read once, after it."""
        watched = self.TOPICS | ACCESS_TOPICS if self.has_class("-denied") else self.TOPICS
        if not touches(watched, topics):
            return
        if not self.shown_now():
            self._stale = True
        elif self._loads_finished < self._loads_started:
            self._again = True
        else:
            self.load()

    def resume_live(self) -> None:
        """The pane's screen is on top again: read the list if it changed meanwhile."""
        if self._stale and self.shown_now():
            self.load()

    def shown_now(self) -> bool:
        """Whether the operator sees this list: its screen on top, its tab and area shown."""
        if not self.is_attached or not self.screen.is_active:
            return False
        return all(node.display for node in self.ancestors_with_self if isinstance(node, Widget))

    def _show(self, items: Sequence[Any]) -> None:
        """Show ``items``.  The same rows in the same order are updated cell by cell (a
        reload of an unchanged list changes nothing on screen); other rows are laid out
        again with the cursor, the marks (drawn by ``row_cells``) and the view kept."""
        table = self.table
        rows = self._rows(items)
        keys = [self.row_key(item) for item in items]
        with self.app.batch_update():
            if keys and keys == list(self.items) and not self.columns.changes(table, rows):
                self._update_rows(keys, rows)
            else:
                self._lay_out(keys, rows)
            self.items = dict(zip(keys, items, strict=True))
        self.selected_key = self._cursor_key()
        self.query_one(".pane-status", Static).update(self.status_text(items))
        self.show_detail(self.selected)

    def _update_rows(self, keys: list[str], rows: list[list[object]]) -> None:
        """Write the cells whose text or style changed (the columns' widths did not: see
        ``PriorityColumns.fit``)."""
        table = self.table
        write_cells(table, (
            (key, column.key, new)
            for key, row in zip(keys, rows, strict=True)
            for column, now, new in zip(table.ordered_columns, table.get_row(key), self.columns.pick(row), strict=True)
            if not _same_cell(now, new)))

    def _lay_out(self, keys: list[str], rows: list[list[object]]) -> None:
        """Fill the table with ``rows``.  The cursor stays on its row (by key; when the
        row went, at the same position) and that row stays where it was on screen: rows
        added or removed above it move the view with it.  A view at the top stays at
        the top, so new rows at the head of a newest-first list are seen."""
        table = self.table
        keep, row_before = self.selected_key, table.cursor_row
        scroll_x, scroll_y = table.scroll_x, table.scroll_y
        table.clear()
        self.columns.apply(table, rows)
        for key, row in zip(keys, rows, strict=True):
            table.add_row(*self.columns.pick(row), key=key)
        if not keys:
            return
        target = keys.index(keep) if keep in keys else min(max(row_before, 0), len(keys) - 1)
        y = max(0, scroll_y + target - row_before) if scroll_y > 0 else 0
        table.move_cursor(row=target, scroll=False)
        table.scroll_to(scroll_x, y, animate=False, immediate=True)
        # Again once the table has measured its new rows (its scrollable size lags a frame).
        table.call_after_refresh(table.scroll_to, scroll_x, y, animate=False, immediate=True)

    def _cursor_key(self) -> str | None:
        table = self.table
        return table.coordinate_to_cell_key(table.cursor_coordinate)[0].value if table.row_count else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.selected_key = event.row_key.value
        self.show_detail(self.selected)

    def show_detail(self, item: Any) -> None:
        """Subclasses with a detail line render the selected item here."""

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        if worker.group == "act":
            self.busy = False
        if worker.group == "load" and isinstance(error, PermissionDenied):
            self.items = {}
            self.selected_key = None
            self.table.clear()
            self.add_class("-denied")
            self.query_one(".pane-status", Static).update("")
            self.query_one(DeniedPanel).show(error)
            self.refresh_bindings()
            return True
        return False

    # --- acting -------------------------------------------------------------------------

    def run_command(self, command: Command, done: str) -> None:
        """Execute ``command``; on success say ``done`` and reload.  One at a time: a write
        is never cancelled half-way by a second key press (``busy`` disables the keys)."""
        if self.busy:
            return
        self.busy = True
        self._execute(command, done)

    @work(group="act", exit_on_error=False)
    async def _execute(self, command: Command, done: str) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        await engine.execute(session, command)
        self.busy = False
        self.app.notify(done, markup=False)
        self.load()

    ROW_ACTIONS: frozenset[str] = frozenset()
    """Actions on the selected row: greyed, with the reason in the hint line, when they do not apply."""
    BINDINGS = [Binding("R", "request_permission", "Request permission", key_display="R",
                        id="pane-request-permission", tooltip="Request the permission a greyed key needs")]

    def why_not(self, action: str, item: Any) -> Unavailable | str | None:
        """Why row ``action`` does not apply to ``item`` (the selected row), or None when it
        does.  Subclasses state their rules here; the hint line and a greyed key say it."""
        return "no row is selected" if item is None else None

    def applies(self, action: str, item: Any) -> bool:
        """Whether ``action`` makes sense for the selected ``item``; see ``check_action``."""
        return self.why_not(action, item) is None

    def _row_reason(self, action: str) -> Unavailable | None:
        item = self.selected
        if self.applies(action, item):
            return None
        reason = self.why_not(action, item) or "it does not apply to the selected row"
        return reason if isinstance(reason, Unavailable) else Unavailable(reason)

    def unavailable(self, action: str, parameters: tuple[object, ...] = ()) -> Unavailable | None:
        """Why ``action`` is greyed now, or None when it is not.  Panes with actions that are
        not row actions (bulk decisions, paging) extend it for those."""
        if action not in self.ROW_ACTIONS or self.has_class("-denied"):
            return None
        if self.busy:
            return Unavailable("the previous action is still running")
        return self._row_reason(action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.has_class("-denied"):
            return False  # Nothing to act on: the denial and its request button are shown instead.
        if action == "request_permission":
            return self._requestable() is not None  # Hidden unless a permission would help.
        if action not in self.ROW_ACTIONS:
            return True
        return None if self.unavailable(action, parameters) is not None else True

    def _requestable(self) -> Unavailable | None:
        """The first greyed row action that holding a permission would enable, if any."""
        if self.busy or self.selected is None:
            return None
        for binding in self._row_bindings():
            reason = self._row_reason(binding.action)
            if reason is not None and reason.permission is not None:
                return reason
        return None

    def action_request_permission(self) -> None:
        reason = self._requestable()
        if reason is not None and reason.permission is not None:
            self.wbo.offer_permission_request(PermissionDenied(reason.permission, reason.wanted_for or None))

    # The hint line under the table, and a greyed key pressed anyway.

    def _row_bindings(self) -> list[Binding]:
        """This pane's shown bindings of row actions, in the order the footer shows them."""
        seen: dict[str, Binding] = {}
        for bindings in self._bindings.key_to_bindings.values():
            for binding in bindings:
                if binding.show and binding.action in self.ROW_ACTIONS:
                    seen.setdefault(binding.action, binding)
        return list(seen.values())

    def hint_text(self) -> str:
        """Which keys do not apply to the selected row, and why: one clause per reason."""
        if self.selected is None or self.has_class("-denied"):
            return ""
        reasons: dict[str, list[str]] = {}
        for binding in self._row_bindings():
            reason = self._row_reason(binding.action)
            if reason is not None:
                keys = reasons.setdefault(reason.reason, [])
                keys.append(f"{self.app.get_key_display(binding)} {binding.description}")
        return " · ".join(f"{', '.join(keys)} unavailable: {reason}" for reason, keys in reasons.items())

    def update_hint(self) -> None:
        hints = self.query(RowHint)
        if hints:
            hints.first().show(self.hint_text() if self.ROW_ACTIONS else None)

    def watch_selected_key(self) -> None:
        self.update_hint()

    def on_key(self, event: events.Key) -> None:
        """A greyed key does nothing, and says why (the footer cannot)."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            _, name, parameters = parse_action(binding.action)
            reason = self.unavailable(name, parameters) if self.check_action(name, parameters) is None else None
            if reason is not None:
                event.stop()
                event.prevent_default()
                key = self.app.get_key_display(binding)
                self.app.notify(f"{key} {binding.description} is not available: {reason.reason}.",
                                title="Not available", severity="warning", markup=False)
                return

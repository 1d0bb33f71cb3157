"""A table of engine data inside an area: loads in a worker, shows a denial in place,
runs commands on the selected row and reloads after each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Static
from textual.worker import Worker

from wbo_tui.engine import Command, PermissionDenied
from wbo_tui.widgets.denied import DeniedPanel
from wbo_tui.widgets.engine_workers import EngineWorkers


def cell(value: object) -> Text:
    """Table cells are plain text: data such as JSON or role names is never markup."""
    return Text("" if value is None else str(value), no_wrap=True, overflow="ellipsis")


class TablePane(EngineWorkers, Vertical):
    """Subclasses set ``COLUMNS`` and implement ``fetch``, ``row_key`` and ``row_cells``."""

    COLUMNS: tuple[str, ...] = ()
    EMPTY = "Nothing to show."
    HELP = ""

    busy = reactive(False, bindings=True)
    selected_key: reactive[str | None] = reactive(None, bindings=True)

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, classes="table-pane")
        self.items: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield DeniedPanel()
        yield Static("Loading…", classes="pane-status", markup=False)
        yield DataTable(cursor_type="row", zebra_stripes=True, classes="pane-table")
        yield from self.compose_detail()

    def compose_detail(self) -> ComposeResult:
        return iter(())

    def on_mount(self) -> None:
        self.table.add_columns(*self.COLUMNS)

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    @property
    def selected(self) -> Any:
        return self.items.get(self.selected_key) if self.selected_key is not None else None

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
        self._load()

    @work(exclusive=True, group="load", exit_on_error=False)
    async def _load(self) -> None:
        try:
            await self.wbo.fresh_session()
            items = await self.fetch()
            was_denied = self.has_class("-denied")
            self.query_one(DeniedPanel).hide()
            self.remove_class("-denied")
            self._show(items)
            if was_denied:
                self.refresh_bindings()
                self.focus_table()  # the request button that held the focus is gone
        finally:
            self.after_load()

    def after_load(self) -> None:
        """Runs after every load, whether it showed rows, a denial or failed."""

    def _show(self, items: Sequence[Any]) -> None:
        table = self.table
        keep = self.selected_key
        with self.app.batch_update():
            table.clear()
            self.items = {}
            for item in items:
                key = self.row_key(item)
                self.items[key] = item
                table.add_row(*(c if isinstance(c, Text) else cell(c) for c in self.row_cells(item)), key=key)
            if keep in self.items:
                table.move_cursor(row=table.get_row_index(keep))
        self.selected_key = self._cursor_key()
        self.query_one(".pane-status", Static).update(self.status_text(items))
        self.show_detail(self.selected)

    def _cursor_key(self) -> str | None:
        table = self.table
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return row_key.value

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

    def applies(self, action: str, item: Any) -> bool:
        """Whether ``action`` makes sense for the selected ``item``; see ``check_action``."""
        return item is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.has_class("-denied"):
            return False  # Nothing to act on: the denial and its request button are shown instead.
        if action not in self.ROW_ACTIONS:
            return True
        if self.busy:
            return None
        return True if self.applies(action, self.selected) else None

    ROW_ACTIONS: frozenset[str] = frozenset()

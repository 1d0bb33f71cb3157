"""What every area of the shell has: a title, a help text, and what happens on entry;
and the tabbed area most modules are: one table pane per tab."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import TabbedContent, TabPane

from wbo_tui.widgets.engine_workers import EngineWorkers

from wbo_tui.widgets.table_pane import TablePane


class Area(EngineWorkers, Vertical):
    """One module's area inside the shell.  ``enter`` runs each time the area is shown and
    on the refresh key: it re-reads the session (so an approved grant takes effect) and
    reloads what the area shows, in workers, never before the shell is on screen."""

    TITLE = ""
    HELP = ""

    def enter(self) -> None:
        raise NotImplementedError

    def focus_default(self) -> None:
        """Put the focus where the operator most likely wants to type or move."""

    def help_text(self) -> str:
        return self.HELP


class Tab(NamedTuple):
    """One tab of a ``TabbedArea``: its label, its id, and the pane it holds."""

    label: str
    id: str
    pane: type[TablePane]


TAB_KEYS = Binding.Group("Tabs", compact=True)
NEXT_TAB = Binding("ctrl+t", "tab(1)", "Next tab", id="area-next-tab", group=TAB_KEYS)


class TabbedArea(Area):
    """An area of tabs, each one ``TablePane``.  Only the shown tab loads: on entry, on the
    refresh key and when its tab is activated.  Every tabbed area binds Ctrl+T to the next
    tab (``NEXT_TAB``); one whose panes don't page also takes [ and ] (see ``AdminArea``).
    Subclasses list their own tab keys, so the footer shows them in their order."""

    TABS: ClassVar[tuple[Tab, ...]] = ()

    def __init__(self, *, id: str, classes: str = "") -> None:  # noqa: A002
        super().__init__(id=id, classes=classes)
        self._entered = False

    def compose(self) -> ComposeResult:
        with TabbedContent(id=f"{self.id}-tabs"):
            for tab in self.TABS:
                with TabPane(tab.label, id=tab.id):
                    yield tab.pane(id=tab.id.removeprefix("tab-") + "-pane")

    @property
    def active_pane(self) -> TablePane | None:
        tabs = self.query(TabbedContent)
        pane = tabs.first().active_pane if tabs else None
        panes = pane.query(TablePane) if pane is not None else None
        return panes.first() if panes else None

    def enter(self) -> None:
        pane = self.active_pane
        if pane is None:
            # The first area is shown before its tabs are composed: try once they are.
            self.call_after_refresh(self.enter)
            return
        self._entered = True
        pane.load()

    def focus_default(self) -> None:
        pane = self.active_pane
        if pane is None:
            self.call_after_refresh(self.focus_default)
        else:
            pane.focus_table()

    def help_text(self) -> str:
        pane = self.active_pane
        return f"{self.HELP}\n\n{pane.HELP}" if pane is not None and pane.HELP else self.HELP

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        if not self._entered:
            return
        pane = event.pane.query_one(TablePane)
        pane.load()
        pane.focus_table()

    def show_tab(self, tab_id: str) -> None:
        self.query_one(TabbedContent).active = tab_id

    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [tab.id for tab in self.TABS]
        index = ids.index(tabs.active) if tabs.active in ids else 0
        tabs.active = ids[(index + step) % len(ids)]

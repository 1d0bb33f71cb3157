"""What every area of the shell has: a title, a help text, and what happens on entry;
and the tabbed area most modules are: one table pane per tab."""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widget import AwaitMount
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
        # Only the first tab's pane now: the area is on screen sooner (the shell's first area
        # is what the operator waits for after the login).  The other tabs' panes are mounted
        # once the area has been drawn, or at once when their tab is chosen before that.
        with TabbedContent(id=f"{self.id}-tabs"):
            for index, tab in enumerate(self.TABS):
                with TabPane(tab.label, id=tab.id):
                    if index == 0:
                        yield self._new_pane(tab)

    @staticmethod
    def _new_pane(tab: Tab) -> TablePane:
        return tab.pane(id=tab.id.removeprefix("tab-") + "-pane")

    def _pane_in(self, tab_pane: TabPane) -> tuple[TablePane, AwaitMount | None]:
        """The table pane of ``tab_pane``, mounted now if it is not there yet (then with
        the mount to await before it takes a load)."""
        panes = tab_pane.query_children(TablePane)
        if panes:
            pane = panes.first()
            return pane, None if pane.is_mounted else AwaitMount(tab_pane, [pane])
        tab = next(tab for tab in self.TABS if tab.id == tab_pane.id)
        pane = self._new_pane(tab)
        return pane, tab_pane.mount(pane)

    def _mount_other_tabs(self) -> None:
        """Once the area has been drawn: the panes of the tabs not chosen yet."""
        if self.is_attached:
            for tab_pane in self.query(TabPane):
                self._pane_in(tab_pane)

    @property
    def active_pane(self) -> TablePane | None:
        """The shown tab's pane, once it is mounted."""
        tabs = self.query(TabbedContent)
        tab_pane = tabs.first().active_pane if tabs else None
        panes = tab_pane.query_children(TablePane) if tab_pane is not None else None
        pane = panes.first() if panes else None
        return pane if pane is not None and pane.is_mounted else None

    def enter(self) -> None:
        tabs = self.query(TabbedContent)
        tab_pane = tabs.first().active_pane if tabs else None
        if tab_pane is None:
            # The first area is shown before its tabs are composed: try once they are.
            self.call_after_refresh(self.enter)
            return
        pane, mounted = self._pane_in(tab_pane)
        if mounted is not None:
            self.call_later(self._enter_when_mounted, mounted)
            return
        if not self._entered:
            self._entered = True
            self.call_after_refresh(self._mount_other_tabs)
        pane.load()

    async def _enter_when_mounted(self, mounted: AwaitMount) -> None:
        await mounted
        self.enter()

    def focus_default(self) -> None:
        pane = self.active_pane
        if pane is None:
            self.call_after_refresh(self.focus_default)
        else:
            pane.focus_table()

    def help_text(self) -> str:
        pane = self.active_pane
        return f"{self.HELP}\n\n{pane.HELP}" if pane is not None and pane.HELP else self.HELP

    async def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        event.stop()
        if not self._entered:
            return
        pane, mounted = self._pane_in(event.pane)
        if mounted is not None:
            await mounted
        if event.pane.id != self.query_one(TabbedContent).active:
            return  # another tab was chosen while this one's pane was mounted
        pane.load()
        pane.focus_table()

    def show_tab(self, tab_id: str) -> None:
        self.query_one(TabbedContent).active = tab_id

    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [tab.id for tab in self.TABS]
        index = ids.index(tabs.active) if tabs.active in ids else 0
        tabs.active = ids[(index + step) % len(ids)]

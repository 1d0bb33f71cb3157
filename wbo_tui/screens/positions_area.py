"""The Positions area: positions per channel account, and the channel accounts."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import TabbedContent, TabPane

from .area import Area
from .channel_accounts import ChannelAccountsPane
from .pane import TablePane
from .positions_table import PositionsPane

_TAB_KEYS = Binding.Group("Tabs", compact=True)
TABS = ("tab-positions", "tab-channel-accounts")


class PositionsArea(Area):
    TITLE = "Positions"
    HELP = (
        "Position management. Positions needs assets.position_anagement_inquiry_query (r "
        "Refresh and t thresholds need assets.position_anagement_inquiry_operation); Channel "
        "accounts needs atm.settle_chnl_bank_acct_inquiry (n and e need "
        "atm.settle_chnl_bank_acct_operation). Tab and Shift+Tab move between fields; "
        "Ctrl+T switches tabs.\n\n"
        "Threshold rule for withdrawals: approving a withdrawal is refused when the account's "
        "available balance minus the withdrawal's own amount would be below the account's "
        "blocking threshold; an account with no blocking threshold configured uses zero. The "
        "alert threshold only raises the ALERT level, it refuses nothing."
    )
    BINDINGS = [
        Binding("ctrl+t", "next_tab", "Next tab", id="positions-next-tab", group=_TAB_KEYS),
    ]

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="positions-area")
        self._entered = False

    def compose(self) -> ComposeResult:
        with TabbedContent(id="positions-tabs"):
            with TabPane("Positions", id="tab-positions"):
                yield PositionsPane(id="positions-pane")
            with TabPane("Channel accounts", id="tab-channel-accounts"):
                yield ChannelAccountsPane(id="channel-accounts-pane")

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

    def action_next_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        index = TABS.index(tabs.active) if tabs.active in TABS else 0
        tabs.active = TABS[(index + 1) % len(TABS)]

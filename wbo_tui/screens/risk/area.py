"""The Risk area (margin-call.txt): the Risk Warning list of open margin calls with their
Details and liquidation, every liquidation order, the calls that ended (History), and the
desk's configuration."""

from __future__ import annotations

from wbo_tui.widgets.area import NEXT_TAB, Tab, TabbedArea
from wbo_tui.screens.risk.configuration import ConfigurationPane
from wbo_tui.screens.risk.history import HistoryPane
from wbo_tui.screens.risk.orders import OrdersPane
from wbo_tui.screens.risk.warnings import WarningsPane


class RiskArea(TabbedArea):
    TITLE = "Risk"
    HELP = (
        "Margin call, one tab per screen of the manual; Ctrl+T switches tabs and each tab's ? help names its "
        "keys. Risk Warning: every open margin call, recalculated live as prices move; Enter opens a call's "
        "Details (cash, positions with their prices' age, liquidation in progress, follow-up records), l "
        "liquidates from there or from the list, space selects rows for batch liquidation, messages and "
        "auto-liquidation. Liquidation Orders: every order sent, its fills and status; c cancels one. History: "
        "calls that ended, with their figures before and after. Configuration: the liquidation toggle and "
        "rules, the warning-value switches, instruments and client terms. Viewing needs RiskWarningReadOnly; "
        "liquidating, cancelling and editing need RiskWarningFull; configuration needs "
        "lb_hk_margin_call.margin_call_auto_batch_forccconfig."
    )
    TABS = (
        Tab("Risk Warning", "tab-risk-warnings", WarningsPane),
        Tab("Liquidation Orders", "tab-risk-orders", OrdersPane),
        Tab("History", "tab-risk-history", HistoryPane),
        Tab("Configuration", "tab-risk-config", ConfigurationPane),
    )
    BINDINGS = [NEXT_TAB]

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="risk-area")

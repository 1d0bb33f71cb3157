"""The Positions area: positions per channel account, and the channel accounts."""

from __future__ import annotations

from .area import NEXT_TAB, Tab, TabbedArea
from .channel_accounts import ChannelAccountsPane
from .positions_table import PositionsPane


class PositionsArea(TabbedArea):
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
    TABS = (
        Tab("Positions", "tab-positions", PositionsPane),
        Tab("Channel accounts", "tab-channel-accounts", ChannelAccountsPane),
    )
    BINDINGS = [NEXT_TAB]

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="positions-area")

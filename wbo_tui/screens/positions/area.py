"""The Positions area: positions per channel account, the channel accounts, withdrawal
applications and deposit records."""

from __future__ import annotations

from wbo_tui.widgets.area import NEXT_TAB, Tab, TabbedArea
from wbo_tui.screens.positions.channel_accounts import ChannelAccountsPane
from wbo_tui.screens.positions.deposits import DepositsPane
from wbo_tui.screens.positions.table import PositionsPane
from wbo_tui.screens.positions.withdrawals import WithdrawalsPane


class PositionsArea(TabbedArea):
    TITLE = "Positions"
    HELP = (
        "Position management. Positions needs assets.position_anagement_inquiry_query (r "
        "Refresh and t thresholds need assets.position_anagement_inquiry_operation); Channel "
        "accounts needs atm.settle_chnl_bank_acct_inquiry (n and e need "
        "atm.settle_chnl_bank_acct_operation); Withdrawals needs "
        "assets.withdrawal_application_inquiry (n, s and m need _operation, a and x need "
        "_approval); Deposits needs assets.deposit_record_inquiry (n and s need "
        "assets.deposit_record_operation). Tab and Shift+Tab move between fields; "
        "Ctrl+T switches tabs.\n\n"
        "Threshold rule for withdrawals: approving a withdrawal is refused when the account's "
        "available balance minus what is already committed out of it and not yet settled (the "
        "Committed column) minus the withdrawal's own amount would be below the account's "
        "blocking threshold; an account with no blocking threshold configured uses zero, and "
        "an account never polled counts as insufficient. The principal and the fee account "
        "are checked separately. The alert threshold only raises the ALERT level, it refuses "
        "nothing."
    )
    TABS = (
        Tab("Positions", "tab-positions", PositionsPane),
        Tab("Channel accounts", "tab-channel-accounts", ChannelAccountsPane),
        Tab("Withdrawals", "tab-withdrawals", WithdrawalsPane),
        Tab("Deposits", "tab-deposits", DepositsPane),
    )
    BINDINGS = [NEXT_TAB]

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="positions-area")

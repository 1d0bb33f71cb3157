"""Positions › Channel accounts: the settlement channel accounts; create and edit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine.positions import ChannelAccountDTO, ChannelDTO, ListChannelAccounts, ListSettlementChannels

from wbo_tui.widgets.table_pane import TablePane
from wbo_tui.screens.positions.forms import ChannelAccountScreen



class ChannelAccountsPane(TablePane):
    COLUMNS = ("Id", "Channel", "Type", "Currency", "Main account number", "Scenario", "Remarks", "Version")
    # Narrow terminals: the detail line below the table has the whole account.
    DROP_ORDER = ("Version", "Remarks", "Type", "Channel")
    NARROW = {"Remarks": 10}
    EMPTY = "No channel accounts. n creates one."
    TOPICS = frozenset({"channel_accounts", "settlement_channels"})
    HELP = (
        "Settlement channel accounts. n creates one; e edits the selected account: before it is "
        "saved you see each change (old → new) and the pending withdrawals that use the account. "
        "An edit made meanwhile by someone else is refused; reload and edit again."
    )
    BINDINGS = [
        Binding("n", "new", "New", id="account-new", tooltip="Create a channel account"),
        Binding("e", "edit", "Edit", id="account-edit", tooltip="Edit the selected account"),
    ]
    ROW_ACTIONS = frozenset({"edit"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.channels: list[ChannelDTO] = []

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[ChannelAccountDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        accounts = await engine.query(session, ListChannelAccounts())
        self.channels = list(await engine.query(session, ListSettlementChannels()))
        return accounts

    def row_key(self, item: ChannelAccountDTO) -> str:
        return str(item.id)

    def row_cells(self, a: ChannelAccountDTO) -> Sequence[object]:
        return (a.id, a.channel, a.currency_type, a.currency, a.account_no, a.scenario, a.remarks, a.version)

    def status_text(self, items: Sequence[Any]) -> str:
        return f"{len(items)} channel accounts on {len(self.channels)} channels." if items else self.EMPTY

    def show_detail(self, a: ChannelAccountDTO | None) -> None:
        text = "" if a is None else (
            f"Account {a.id}: {a.channel} {a.account_no}, {a.currency} ({a.currency_type}) for {a.scenario}; "
            f"version {a.version}." + (f" {a.remarks}" if a.remarks else "")
        )
        self.query_one(".pane-detail", Static).update(text)

    def action_new(self) -> None:
        self.app.push_screen(ChannelAccountScreen(self.channels), callback=self._saved)

    def action_edit(self) -> None:
        account = self.selected
        if account is not None:
            self.app.push_screen(ChannelAccountScreen(self.channels, account), callback=self._saved)

    def _saved(self, account: ChannelAccountDTO | None) -> None:
        if account is not None:
            self.selected_key = str(account.id)
            self.app.notify(f"Channel account {account.id} ({account.channel} {account.account_no} "
                            f"{account.currency}) saved, version {account.version}.", markup=False)
            self.load()


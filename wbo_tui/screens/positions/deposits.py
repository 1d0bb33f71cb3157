"""Positions › Deposits: deposit records, recorded as the channel reports them and then
marked successful (the event that fund allocation rules react to)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine import Query
from wbo_tui.engine.positions import DepositDTO, ListDeposits, MarkDepositSuccessful

from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.table_pane import cell
from wbo_tui.screens.positions.withdrawal_forms import DepositScreen
from wbo_tui.widgets.money_pane import MoneyPane
from wbo_tui.widgets.moments import when


class DepositsPane(MoneyPane):
    COLUMNS = ("Ref", "Client", "Channel", "Ccy", "Amount", "Account", "Status", "Recorded (UTC)",
               "Succeeded (UTC)")
    # At 80 columns: ref, client, currency, amount, status and when recorded; the detail line
    # below the table names the account, the channel and when it succeeded.
    DROP_ORDER = ("Channel", "Succeeded (UTC)", "Account", "Recorded (UTC)", "Client")
    EMPTY = "No deposit records."
    TOPICS = frozenset({"deposits", "currencies"})
    STATUSES = ("PENDING", "SUCCESSFUL")
    HELP = (
        "Deposit records, newest first. n records a deposit (client, channel, currency, amount; "
        "it is credited to the channel's deposit account for the currency); s marks the selected "
        "pending deposit successful after a confirmation, which records the deposit-successful "
        "event the allocation rules react to; f cycles the status filter. Needs "
        "assets.deposit_record_inquiry (n and s: assets.deposit_record_operation)."
    )
    BINDINGS = [
        Binding("n", "new", "New", id="deposit-new", tooltip="Record a deposit"),
        Binding("s", "mark_successful", "Successful", id="deposit-successful", tooltip="Mark successful"),
        Binding("f", "cycle_status", "Status filter", id="deposit-filter", tooltip="Cycle the status filter"),
    ]
    ROW_ACTIONS = frozenset({"mark_successful"})

    def list_query(self) -> Query:
        return ListDeposits(status=self.status_filter)

    def row_key(self, item: DepositDTO) -> str:
        return item.ref

    def row_cells(self, d: DepositDTO) -> Sequence[object]:
        return (cell(d.ref), cell(d.client_id), cell(d.channel), cell(d.currency), self.money(d.amount, d.currency),
                cell(d.account_no), cell(d.status), cell(when(d.recorded_at)), cell(when(d.succeeded_at)))

    def describe(self, d: DepositDTO) -> str:
        return (f"{d.ref} {d.status}: client {d.client_id}, {self.amount(d.amount, d.currency)} {d.currency} into "
                f"{d.account_no} on {d.channel}.")

    def show_detail(self, d: DepositDTO | None) -> None:
        text = "" if d is None else self.describe(d)
        if d is not None:
            text += f" Recorded {when(d.recorded_at)} UTC" + (
                f", successful {when(d.succeeded_at)} UTC." if d.succeeded_at else ".")
        self.query_one(".pane-detail", Static).update(text)

    def applies(self, action: str, item: DepositDTO | None) -> bool:
        return item is not None and item.status == "PENDING"

    def action_new(self) -> None:
        self.app.push_screen(DepositScreen(), callback=self._recorded)

    def _recorded(self, d: DepositDTO | None) -> None:
        if d is not None:
            self.selected_key = d.ref
            self.app.notify(f"Deposit {d.ref} recorded: {self.describe(d)}", markup=False)
            self.load()

    def action_mark_successful(self) -> None:
        d: DepositDTO = self.selected
        consequences = [
            self.describe(d),
            f"{d.ref} is marked successful by you; this cannot be undone.",
            "A deposit-successful event is recorded with it: allocation rules on that account may move funds.",
        ]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_command(MarkDepositSuccessful(deposit_ref=d.ref), f"Deposit {d.ref} marked successful.")

        self.app.push_screen(ConfirmScreen(f"Mark deposit {d.ref} successful?", consequences, "Mark successful",
                                           danger=False), callback=confirmed)

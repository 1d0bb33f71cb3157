"""FX › Exchanges: client exchanges, newest first, with their review.  The desk submits one
on a client's behalf (n, with a preview of both amounts); a checker approves (a) or rejects
(x, with a reason and a typed confirmation) a request awaiting review; the desk cancels (c,
typed confirmation) one not yet executed, releasing the client's hold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine.fx import ExchangeDTO, ListClientExchanges, ReviewClientExchange
from wbo_tui.engine.fx.review import APPROVAL
from wbo_tui.engine.fx.exchanges import OPERATION

from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.money_pane import MoneyPane
from wbo_tui.widgets.moments import when
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import cell
from wbo_tui.screens.fx.decisions import ExchangeReasonScreen
from wbo_tui.screens.fx.exchange_form import ClientExchangeScreen

STRATEGY_SHORT = {"BATCH": "Pool", "SINGLE": "Bank"}


class ExchangesPane(MoneyPane):
    COLUMNS = ("Order no", "Client", "Sells", "Buys", "Rate", "Served by", "Status", "Review", "Created (UTC)")
    # At 80 columns: order, what is sold and bought, status and review; the detail line
    # names the client, the rate and how it was reached, and the strategy.
    DROP_ORDER = ("Created (UTC)", "Served by", "Rate", "Client")
    EMPTY = "No client exchanges."
    TOPICS = frozenset({"fx_exchanges", "clients"})
    STATUSES = ("SUBMITTED", "PROCESSING", "SUCCEEDED", "FAILED", "REJECTED", "CANCELLED", "UNKNOWN")
    HELP = (
        "Client exchanges, newest first. n submits a new one on a client's behalf: client, pair, amount on "
        "either side, the reference rate with its markup and age or a custom rate, and a preview of both "
        "amounts; submitting holds the source amount. a approves the selected request awaiting review (a pool exchange "
        "then settles at once; a bank exchange goes to its channel); x rejects it with a reason (the "
        "client's hold is released); c cancels a request not yet executed (its hold is released); f cycles "
        "the status filter. The maker never reviews their own request. Needs fx.customer_exchange_inquiry "
        "(a, x: fx.customer_exchange_approval; n, c: fx.customer_exchange_operation)."
    )
    BINDINGS = [
        Binding("n", "new_exchange", "New exchange", id="fx-exchange-new",
                tooltip="Submit a client exchange on a client's behalf"),
        Binding("a", "approve", "Approve", id="fx-exchange-approve", tooltip="Approve the selected request"),
        Binding("x", "reject", "Reject", id="fx-exchange-reject", tooltip="Reject the selected request"),
        Binding("c", "cancel_exchange", "Cancel request", id="fx-exchange-cancel",
                tooltip="Cancel the selected request before execution"),
        Binding("f", "cycle_status", "Status filter", id="fx-exchange-filter", tooltip="Cycle the status filter"),
    ]
    ROW_ACTIONS = frozenset({"approve", "reject", "cancel_exchange"})

    def list_query(self) -> ListClientExchanges:
        return ListClientExchanges(forex_status=self.status_filter)

    def row_key(self, item: ExchangeDTO) -> str:
        return item.forex_id

    def _side(self, amount: Any, currency: str) -> Text:  # noqa: ANN401
        return Text(f"{self.amount(amount, currency)} {currency}", justify="right", no_wrap=True)

    def row_cells(self, e: ExchangeDTO) -> Sequence[object]:
        review = {"NONE": "—", "PENDING": "awaiting", "APPROVED": "approved", "REJECTED": "rejected"}[e.audit_status]
        return (cell(e.forex_id), cell(e.client.account_no), self._side(e.from_amount, e.from_currency),
                self._side(e.to_amount, e.to_currency), Text(str(e.rate), justify="right"),
                cell(f"{STRATEGY_SHORT[e.service_strategy]}{' ' + e.channel_name if e.channel_name else ''}"),
                cell(e.forex_status.lower()), Text(review, style="bold yellow" if review == "awaiting" else ""),
                cell(when(e.created_at)))

    def describe(self, e: ExchangeDTO) -> str:
        return (f"{e.forex_id}: {e.client.account_no} {e.client.name} sells "
                f"{self.amount(e.from_amount, e.from_currency)} {e.from_currency} for "
                f"{self.amount(e.to_amount, e.to_currency)} {e.to_currency} at {e.rate}")

    def show_detail(self, e: ExchangeDTO | None) -> None:
        text = ""
        if e is not None:
            served = f"{STRATEGY_SHORT[e.service_strategy]} strategy {e.strategy_id}" + (
                f" via {e.channel_name}" if e.channel_name else "")
            text = f"{self.describe(e)} ({e.rate_steps}); {served}; {e.forex_status.lower()}."
            if e.review_reasons:
                text += f" Review: {'; '.join(e.review_reasons)}."
            if e.audit_remark:
                text += f" Remark: {e.audit_remark}"
        self.query_one(".pane-detail", Static).update(text)

    def why_not(self, action: str, item: ExchangeDTO | None) -> Unavailable | str | None:
        if item is None:
            return "no row is selected"
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        if action == "cancel_exchange":
            if item.forex_status != "SUBMITTED":
                return f"only a request not yet executed is cancelled; {item.forex_id} is {item.forex_status.lower()}"
            if not session.can(OPERATION):
                return Unavailable(f"you need the permission {OPERATION} to cancel client exchanges (R requests it)",
                                   permission=OPERATION, wanted_for="cancel client exchanges")
            return None
        if item.audit_status != "PENDING" or item.forex_status != "SUBMITTED":
            return f"only a request awaiting review is reviewed; {item.forex_id} is {item.forex_status.lower()}"
        if item.maker_id == session.operator_id:
            return "you submitted this request; another checker must review it"
        if not session.can(APPROVAL):
            return Unavailable(f"you need the permission {APPROVAL} to review client exchanges (R requests it)",
                               permission=APPROVAL, wanted_for="review client exchanges")
        return None

    def unavailable(self, action: str, parameters: tuple[object, ...] = ()) -> Unavailable | None:
        if action != "new_exchange":
            return super().unavailable(action, parameters)
        session = self.wbo.session
        if session is None or not session.can(OPERATION):
            return Unavailable(f"you need the permission {OPERATION} to submit client exchanges",
                               permission=OPERATION, wanted_for="submit client exchanges")
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "new_exchange" and not self.has_class("-denied"):
            return None if self.unavailable(action, parameters) is not None else True
        return super().check_action(action, parameters)

    def action_new_exchange(self) -> None:
        self.app.push_screen(ClientExchangeScreen(), callback=self._submitted)

    def _submitted(self, e: ExchangeDTO | None) -> None:
        if e is None:
            return
        then = {"SUCCEEDED": "settled from the exchange pool", "PROCESSING": f"sent to the bank {e.channel_name}",
                "SUBMITTED": f"awaiting review ({'; '.join(e.review_reasons)})"}.get(e.forex_status,
                                                                                    e.forex_status.lower())
        self.app.notify(f"{self.describe(e)}: {then}. The client's {e.from_currency} is held until it settles.",
                        title=f"{e.forex_id} submitted", markup=False)
        self.selected_key = e.forex_id
        self.load()

    def action_approve(self) -> None:
        e: ExchangeDTO = self.selected
        consequences = [
            self.describe(e) + f" ({e.rate_steps}).",
            f"Why it needs review: {'; '.join(e.review_reasons) or 'the strategy asks for it'}.",
            ("It then settles at once from the exchange pool: the client's cash and the pool quotas move in the "
             "same transaction." if e.service_strategy == "BATCH" else
             f"It then goes to the bank channel {e.channel_name}; its answer settles it."),
            "The decision is final and recorded in the audit log.",
        ]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_command(ReviewClientExchange(exchange_id=e.id, approve=True), f"{e.forex_id} approved.")

        self.app.push_screen(ConfirmScreen(f"Approve client exchange {e.forex_id}?", consequences, "Approve",
                                           danger=False, does="approves it"), callback=confirmed)

    def action_reject(self) -> None:
        e: ExchangeDTO = self.selected
        self.app.push_screen(ExchangeReasonScreen(e, self.describe(e), approve=False), callback=self._decided)

    def action_cancel_exchange(self) -> None:
        e: ExchangeDTO = self.selected
        self.app.push_screen(ExchangeReasonScreen(e, self.describe(e), approve=None), callback=self._decided)

    def _decided(self, e: ExchangeDTO | None) -> None:
        if e is not None:
            self.app.notify(f"{e.forex_id} {e.forex_status.lower()}: the client's hold is released.", markup=False)
            self.load()


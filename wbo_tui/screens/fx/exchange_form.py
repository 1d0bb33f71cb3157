"""A client exchange submitted on a client's behalf (Client Currency Exchange): the client,
the pair (the source's default target preselected, only its targets offered), the client's
withdrawable cash per currency, the rate (the reference rate with its markup and age, or a
custom rate), the amount on either side, and a preview of both amounts with each
currency's precision and rounding, worked out by the engine (``QuoteClientExchange``, the
submission's own functions) a moment after the operator stops typing."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static
from textual.worker import Worker

from wbo_tui.engine import PermissionDenied, SessionInfo, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.fx import (
    ClientCash,
    ClientCashDTO,
    ExchangeDTO,
    ExchangePairs,
    ExchangeQuoteDTO,
    ListClients,
    QuoteClientExchange,
    SubmitClientExchange,
)
from wbo_tui.engine.fx.rate_math import ROUND_MODE_LABELS

from wbo_tui.widgets.forms import FormFields, PositionForm, amount_text, labelled, select_value

QUOTE_DELAY_S = 0.3
"""How long after the last key the preview is worked out (typing never waits for it)."""
SIDES = (("Sell (the client pays it)", "FROM"), ("Buy (the client receives it)", "TO"))


def age_text(seconds: int | None) -> str:
    if seconds is None:
        return "no age (both currencies are the standard currency)"
    hours, minutes = divmod(max(seconds, 0) // 60, 60)
    return f"{hours} h {minutes:02d} min old" if hours else f"{minutes} min old"


def quote_text(q: ExchangeQuoteDTO) -> str:
    """The preview: the rate and how it was reached, both amounts, who serves it."""
    rate = (f"Rate {q.rate} ({q.rate_steps}; {q.rate_source}, {age_text(q.age_s)})" if q.reference_rate is not None
            else f"Rate {q.rate} (custom rate; the reference rate is not used)")
    lines = [rate]
    pays, gets = q.from_side, q.to_side
    if pays.amount is None or gets.amount is None:
        lines.append("Type an amount to see both sides.")
    else:
        lines.append(f"Client pays {amount_text(pays.amount, pays.precision)} {pays.currency} → receives "
                     f"{amount_text(gets.amount, gets.precision)} {gets.currency} ({gets.currency}: {gets.precision} "
                     f"places, {ROUND_MODE_LABELS[gets.round_mode]}; {pays.currency}: {pays.precision} places, "
                     f"{ROUND_MODE_LABELS[pays.round_mode]})")
        lines.append(("Refused now: " if q.refused else "Served by ") + q.served_by)
    return "\n".join(lines)


class ClientExchangeScreen(PositionForm[ExchangeDTO]):
    FORM_TITLE = "New client exchange"
    SUBMIT_LABEL = "Submit exchange"
    CANCEL_NOTICE = "No exchange was submitted."
    HELP = (
        "Exchange a client's cash from one currency to another, on the client's behalf. Choose the client (their "
        "withdrawable cash per currency is shown), the source currency and a target the pair includes (the "
        "default target is preselected), which side the amount is (what the client pays, or receives), and the "
        "amount. The rate is the pair's reference rate less its markup, unless you type a custom rate (at most 8 "
        "decimal places). The preview below the fields shows both amounts with each currency's precision and "
        "rounding and the strategy that would serve it. Submitting holds the source amount; the exchange then "
        "settles (pool), goes to its bank channel, or waits for a checker's review. Escape changes nothing."
    )
    DEFAULT_CSS = """
    ClientExchangeScreen .fx-pair { height: auto; }
    ClientExchangeScreen .fx-pair > Vertical { height: auto; width: 1fr; }
    ClientExchangeScreen #fx-quote { height: auto; padding: 0 1; color: $text; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.targets: dict[str, tuple[list[str], str | None]] = {}
        self.cash: dict[str, ClientCashDTO] = {}
        self.cash_known = False  # the chosen client's cash is loaded (an empty one: no cash at all)
        self._timer: Timer | None = None
        self._asked = 0

    def compose(self) -> ComposeResult:
        # The form's own layout, with the preview outside the scrolling fields: at 80x24 the
        # fields scroll, and the preview, the refusal and the buttons stay in view.
        with Vertical(classes="modal-box"):
            yield Static(self.FORM_TITLE, classes="modal-title", markup=False)
            with FormFields(classes="form-fields"):
                yield from self.compose_fields()
            yield Static("Choose the client and the pair to see the rate.", id="fx-quote", markup=False)
            yield Static("", id="form-error", classes="form-error", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button(self.SUBMIT_LABEL, id="submit", variant="primary")
                yield Button("Cancel", id="cancel")

    def compose_fields(self) -> Iterable[Widget]:
        yield from labelled("Client", Select([], id="fx-client", prompt="Loading clients…"))
        yield Static("", id="fx-cash", markup=False)
        with Horizontal(classes="fx-pair"):
            with Vertical():
                yield from labelled("Source currency", Select([], id="fx-from", prompt="Loading pairs…"))
            with Vertical():
                yield from labelled("Target currency", Select([], id="fx-to", prompt="Choose the source first"))
        with Horizontal(classes="fx-pair"):
            with Vertical():
                yield from labelled("Amount is", Select(SIDES, id="fx-side", value="FROM", allow_blank=False))
            with Vertical():
                yield from labelled("Amount", Input(id="fx-amount", placeholder="e.g. 1,000.00"))
        yield from labelled("Custom rate (blank: the reference rate with its markup)",
                            Input(id="fx-custom-rate", placeholder="at most 8 decimal places"))
        yield from labelled("Remark (optional, on the client's statement)", Input(id="fx-remark"))

    def on_mount(self) -> None:
        self._load_choices()

    @work(exclusive=True, group="choices", exit_on_error=False)
    async def _load_choices(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        cards = await engine.query(session, ExchangePairs())
        self.targets = {c.from_currency: ([t.to_currency for t in c.targets], c.default_target) for c in cards}
        source = self.query_one("#fx-from", Select)
        source.prompt = "Choose the source" if cards else "No currency pairs configured"
        source.set_options([(code, code) for code in self.targets])
        try:
            people = await engine.query(session, ListClients(limit=1000))
        except PermissionDenied as error:
            self.query_one("#fx-client", Select).prompt = "You may not list clients"
            self.show_error(str(error))
            return
        client = self.query_one("#fx-client", Select)
        client.prompt = "Choose the client" if people else "No clients"
        client.set_options([(f"{p.account_no} {p.name} ({p.account_type})", p.id) for p in people])

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "fx-client":
            self._load_cash()
        if event.select.id == "fx-from":
            codes, default = self.targets.get(str(event.value), ([], None))
            target = self.query_one("#fx-to", Select)
            target.set_options([(code, code) for code in codes])
            target.prompt = "Choose the target" if codes else "Choose the source first"
            if default is not None:
                target.value = default
        self._quote_later()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in ("fx-amount", "fx-custom-rate"):
            event.stop()
            self._quote_later()

    # --- the client's cash ----------------------------------------------------------------

    @work(exclusive=True, group="cash", exit_on_error=False)
    async def _load_cash(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        value = self.query_one("#fx-client", Select).value
        shown = self.query_one("#fx-cash", Static)
        self.cash, self.cash_known = {}, False
        if not isinstance(value, int):
            shown.update("")
            return
        detail = await engine.query(session, ClientCash(client_id=value))
        self.cash, self.cash_known = {c.currency: c for c in detail.cash}, True
        parts = [f"{c.currency} {c.withdrawable:,}" for c in detail.cash]
        shown.update(f"Withdrawable: {' · '.join(parts) if parts else 'no cash'}")
        self._quote_later()

    # --- the preview ------------------------------------------------------------------------

    def _quote_later(self) -> None:
        """Work the preview out once the operator pauses: every key restarts the wait."""
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(QUOTE_DELAY_S, self._quote)

    def _quote(self) -> None:
        self._timer = None
        source, target = self.query_one("#fx-from", Select).value, self.query_one("#fx-to", Select).value
        if not isinstance(source, str) or not isinstance(target, str):
            self.query_one("#fx-quote", Static).update("Choose the source and target currencies to see the rate.")
            return
        self._asked += 1
        self._run_quote(self._asked, source, target, self.value("#fx-amount").strip(),
                        self.value("#fx-custom-rate").strip(), str(self.query_one("#fx-side", Select).value))

    @work(exclusive=True, group="quote", exit_on_error=False)
    async def _run_quote(self, asked: int, source: str, target: str, amount: str, custom: str, side: str) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        fields: dict[str, object] = {"from_currency": source, "to_currency": target, "fixed_side": side}
        if amount:
            fields["amount"] = amount
        if custom:
            fields["custom_rate"] = custom
        quote: ExchangeQuoteDTO = await engine.query(session, build(QuoteClientExchange, **fields))
        if asked != self._asked:
            return  # the operator typed on meanwhile: a newer preview is on its way
        text = quote_text(quote)
        held = self.cash.get(source)
        withdrawable = held.withdrawable if held is not None else Decimal(0)
        if quote.from_side.amount is not None and self.cash_known and quote.from_side.amount > withdrawable:
            text += f"\nMore than the client's withdrawable {withdrawable:,} {source}: submitting would be refused."
        self.query_one("#fx-quote", Static).update(text)
        self._fit_later()

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        if worker.group == "quote" and isinstance(error, ValidationFailed):
            self.query_one("#fx-quote", Static).update(f"No preview: {error}")
            self._fit_later()
            return True
        if worker.group == "cash" and isinstance(error, (ValidationFailed, PermissionDenied)):
            self.query_one("#fx-cash", Static).update(f"Withdrawable not shown: {error}")
            return True
        return super().handle_engine_error(worker, error)

    # --- submitting -------------------------------------------------------------------------

    async def perform(self, engine: Engine, session: SessionInfo) -> ExchangeDTO:
        client = select_value(self, "#fx-client", "Client")
        source = select_value(self, "#fx-from", "Source currency")
        target = select_value(self, "#fx-to", "Target currency")
        fields: dict[str, object] = {
            "client_id": int(client), "from_currency": source, "to_currency": target,
            "fixed_side": select_value(self, "#fx-side", "Amount is"), "amount": self.value("#fx-amount").strip(),
            "order_remark": self.value("#fx-remark")}
        custom = self.value("#fx-custom-rate").strip()
        if custom:
            fields["custom_rate"] = custom
        return await engine.execute(session, build(SubmitClientExchange, **fields))

"""The profit and loss tab's dialogs: the filter form (Hong Kong days, currency, pair,
client, channel), the totals per Hong Kong day and currency with the standard currency's,
and writing an XLSX export beside the CSV ones."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from wbo_tui.engine import SessionInfo, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.fx import DayTotalDTO, ListProfitLoss, ProfitLossTotalsDTO

from wbo_tui.widgets.forms import PositionForm, amount_text, labelled


def describe_filters(f: ListProfitLoss) -> str:
    """The filters in words, for the status line, the totals and the export notice."""
    parts = []
    if f.from_day or f.to_day:
        parts.append(f"HK days {f.from_day or '…'} to {f.to_day or '…'}")
    if f.from_currency or f.currency:
        parts.append(f"pair {f.from_currency or 'any'} → {f.currency or 'any'}")
    if f.account_no:
        parts.append(f"client {f.account_no}")
    if f.channel:
        parts.append(f"channel {f.channel}")
    return "filters: " + (", ".join(parts) if parts else "none")


class ProfitLossFilterScreen(PositionForm[ListProfitLoss]):
    FORM_TITLE = "Filter exchange profit and loss"
    SUBMIT_LABEL = "Apply"
    HELP = ("Every field is optional; an empty one does not filter. Days are Hong Kong calendar days (YYYY-MM-DD, "
            "both ends included). The currency is the target currency, the one the profit and loss is in; with a "
            "source currency it is one pair. Channel: a bank channel's name, or POOL for Exchange Pool exchanges. "
            "Escape keeps the filters as they were.")

    def __init__(self, current: ListProfitLoss) -> None:
        super().__init__()
        self._current = current

    def compose_fields(self) -> Iterable[Widget]:
        c = self._current
        yield from labelled("From HK day (YYYY-MM-DD)", Input(str(c.from_day or ""), id="pnl-from-day"))
        yield from labelled("To HK day (YYYY-MM-DD)", Input(str(c.to_day or ""), id="pnl-to-day"))
        yield from labelled("Source currency", Input(c.from_currency or "", id="pnl-from-currency"))
        yield from labelled("Target (P&L) currency", Input(c.currency or "", id="pnl-currency"))
        yield from labelled("Client account no", Input(c.account_no or "", id="pnl-account"))
        yield from labelled("Channel (a bank's name, or POOL)", Input(c.channel or "", id="pnl-channel"))

    async def perform(self, engine: Engine, session: SessionInfo) -> ListProfitLoss:
        fields = {"from_day": "#pnl-from-day", "to_day": "#pnl-to-day", "from_currency": "#pnl-from-currency",
                  "currency": "#pnl-currency", "account_no": "#pnl-account", "channel": "#pnl-channel"}
        typed = {name: self.value(selector).strip() or None for name, selector in fields.items()}
        for code in ("from_currency", "currency", "account_no", "channel"):
            typed[code] = typed[code].upper() if typed[code] else None
        filters = build(ListProfitLoss, **{k: v for k, v in typed.items() if v is not None})
        if filters.from_day and filters.to_day and filters.to_day < filters.from_day:
            raise ValidationFailed("To HK day", f"must not be before the from day ({filters.from_day})")
        return filters


def _total_line(t: DayTotalDTO, first: str, standard: str, places: dict[str, int]) -> str:
    p = places.get(t.currency, 2)
    missing = f" ({t.unconverted} without a rate)" if t.unconverted else ""
    return (f"{first:<10} {t.currency:<3} {t.count:>4}× P&L {signed(t.profit_loss, p):>11} rounding "
            f"{exact(t.order_offset):>10} = {signed(t.standard_profit_loss, 2):>11} {standard}{missing}")


def totals_text(totals: ProfitLossTotalsDTO, places: dict[str, int]) -> str:
    standard = totals.standard_currency
    lines = ["Per Hong Kong day and currency: exchanges, P&L in the currency, the rounding difference within it, "
             f"and the P&L in {standard} at the HKEX spot mid of the day (each row's to the cent, then summed)."]
    lines += [_total_line(t, str(t.day), standard, places) for t in totals.days] or ["  (no rows)"]
    lines += ["", "Per currency:"]
    lines += [_total_line(t, "all days", standard, places) for t in totals.currencies] or ["  (no rows)"]
    lines += ["", f"Everything selected: {totals.count} exchange(s), {amount_text(totals.standard_profit_loss, 2)} "
                  f"{standard}."]
    return "\n".join(lines)


class ProfitLossTotalsScreen(ModalScreen[None]):
    """Totals of the rows the filters select (all of them, not only the page shown)."""

    BINDINGS = [Binding("escape", "close", "Close", id="pnl-totals-close")]
    HELP = ("Totals of every row the filters select, per Hong Kong day and currency and per currency, with the "
            "standard currency's. Escape or Close returns to the list.")

    def __init__(self, totals: ProfitLossTotalsDTO, filters: ListProfitLoss, places: dict[str, int]) -> None:
        super().__init__()
        self._totals, self._filters, self._places = totals, filters, places

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="pnl-totals-box"):
            yield Static(f"Exchange profit and loss totals ({describe_filters(self._filters)})", classes="modal-title",
                         markup=False)
            with VerticalScroll(classes="form-fields"):
                yield Static(totals_text(self._totals, self._places), id="pnl-totals", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button("Close", id="close", variant="primary")

    def help_text(self) -> tuple[str, str]:
        return ("Profit and loss totals", self.HELP)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


def signed(value: Decimal, places: int) -> str:
    """An amount at its currency's precision with its sign shown (a loss and a gain read
    apart at a glance); one that shows as zero has none."""
    text = amount_text(abs(value), places)
    if not any(ch in "123456789" for ch in text):
        return text
    return f"-{text}" if value < 0 else f"+{text}"


def exact(value: Decimal) -> str:
    """An amount as stored, every digit, sign shown: a rounding difference is smaller than
    the currency's precision and would otherwise always read 0.00."""
    if value.is_zero():
        return "0"
    text = format(value.normalize(), "f")
    return text if value < 0 else f"+{text}"

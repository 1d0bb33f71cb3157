"""FX › Rates: each channel's current reference rates against the standard currency, with
their record date and age; a rate older than the quoting limit is marked stale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from wbo_tui.engine.fx import ListReferenceRates, ReferenceRateDTO
from wbo_tui.engine.fx.rates import MAX_AGE_S

from wbo_tui.widgets.table_pane import TablePane, cell


def age_text(seconds: float) -> str:
    """A rate's age, as coarse as a daily rate needs: minutes, then hours, then days."""
    minutes = max(0, int(seconds)) // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours}h" if hours < 48 else f"{hours // 24}d"


class RatesPane(TablePane):
    COLUMNS = ("Ccy", "Channel", "Type", "Bid", "Offer", "Average", "Record date", "Age", "Source")
    DROP_ORDER = ("Source", "Record date", "Type")
    EMPTY = "No reference rates: import the template or wait for the 13:00 refresh."
    TOPICS = frozenset({"fx_reference_rates", "fx_currency_configs"})
    HELP = ("The current reference rate of each currency per channel and type (the latest record date), "
            "against the standard currency: bid (the broker buys), offer (the broker sells), average (mid). "
            f"A rate older than {MAX_AGE_S // 3600} hours is STALE and not used for quoting. "
            "Needs fx.reference_rate_inquiry.")

    AGE_EVERY_S = 60.0

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        # Ages (and staleness) move with the clock, not the database: redraw them once a
        # minute while the list is shown, and only when one of them moved.
        self.set_interval(self.AGE_EVERY_S, self._tick)

    def _tick(self) -> None:
        if self.items and self.shown_now() and not self.has_class("-denied"):
            ages = tuple(age_text(self._age_s(r)) for r in self.items.values())
            if ages != getattr(self, "_ages_shown", None):
                self._show(list(self.items.values()))

    def _show(self, items: Sequence[Any]) -> None:
        super()._show(items)
        self._ages_shown = tuple(age_text(self._age_s(r)) for r in items)

    async def fetch(self) -> Sequence[Any]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        return await engine.query(session, ListReferenceRates())

    def row_key(self, item: ReferenceRateDTO) -> str:
        return str(item.id)

    def _age_s(self, r: ReferenceRateDTO) -> float:
        engine = self.wbo.engine
        assert engine is not None
        return (engine.clock.now() - r.updated_at).total_seconds()

    def row_cells(self, r: ReferenceRateDTO) -> Sequence[object]:
        age = self._age_s(r)
        stale = age > MAX_AGE_S
        return (cell(r.other_currency), cell(r.channel_label), cell(r.type_label), _rate(r.bid_rate),
                _rate(r.offer_rate), _rate(r.average_rate), cell(r.record_date),
                Text("STALE " + age_text(age) if stale else age_text(age), style="bold red" if stale else ""),
                cell(r.source.lower()))

    def show_detail(self, r: ReferenceRateDTO | None) -> None:
        text = "" if r is None else (
            f"{r.other_currency}/{r.base_currency} {r.channel_label} {r.type_label} of {r.record_date}: bid "
            f"{r.bid_rate}, offer {r.offer_rate}, average {r.average_rate}; set by {r.source.lower()} at "
            f"{r.updated_at:%Y-%m-%d %H:%M} UTC (version {r.version}).")
        self.query_one(".pane-detail", Static).update(text)

    def status_text(self, items: Sequence[Any]) -> str:
        return f"{len(items)} current rates." if items else self.EMPTY


def _rate(value: object) -> Text:
    return Text(str(value), justify="right", no_wrap=True)

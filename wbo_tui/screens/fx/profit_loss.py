"""FX › P&L: exchange profit and loss per executed client exchange, newest first: what the
channel gave (for the pool: the source amount at the reference rate before the markup)
against what the client got, the rounding difference within it, and the profit and loss
in the standard currency at the HKEX spot mid of its Hong Kong day.  f filters, t shows the
totals per day and currency, E and W export what the filters select to CSV and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine.fx import ExportProfitLoss, ListProfitLoss, ProfitLossDTO, ProfitLossTotals

from wbo_tui.screens.fx.pnl_forms import (
    ProfitLossFilterScreen,
    ProfitLossTotalsScreen,
    describe_filters,
    exact,
    signed,
)
from wbo_tui.widgets.exports import write_export, write_export_bytes
from wbo_tui.widgets.money_pane import MoneyPane
from wbo_tui.widgets.moments import when
from wbo_tui.widgets.table_pane import cell

PAGE = 200


class ProfitLossPane(MoneyPane):
    COLUMNS = ("Order no", "Client", "Pair", "Served by", "Channel gave", "Client got", "P&L", "Rounding", "HKD P&L",
               "Executed (UTC)")
    # At 80 columns: the order, the pair, the profit and loss and its HKD value; the detail
    # line says what the channel gave and the client got, the rounding, client and channel.
    DROP_ORDER = ("Executed (UTC)", "Served by", "Client", "Channel gave", "Client got", "Rounding")
    EMPTY = "No exchange profit and loss (a row appears when an exchange is executed)."
    TOPICS = frozenset({"fx_profit_loss", "fx_exchanges", "clients", "fx_reference_rates"})
    HELP = (
        "Exchange profit and loss, one row per executed client exchange, newest first (200 a page; f narrows "
        "them). Channel gave: what the bank paid at its channel rate, or for an Exchange Pool exchange the source "
        "amount at the reference rate before the markup. Client got: the target amount at the client's rate, "
        "rounded with the currency's precision and rounding. P&L = channel gave − client got, in the target "
        "currency; Rounding is the part of it due to rounding (the exact amount at the client's rate less what "
        "the client got), shown to every digit. HKD P&L: the P&L at the HKEX spot mid of the target currency "
        "on the exchange's Hong Kong day (the rate the approval starting point uses), to the cent. f filters by "
        "Hong Kong days, pair, client and channel (POOL for the pool); t shows the totals per Hong Kong day and currency; E exports "
        "what the filters select to CSV, W to XLSX, in the export folder. Needs fx.exchange_pnl_inquiry."
    )
    BINDINGS = [
        Binding("f", "filter", "Filter", id="fx-pnl-filter", tooltip="Filter by day, pair, client or channel"),
        Binding("t", "totals", "Totals", id="fx-pnl-totals", tooltip="Totals per Hong Kong day and currency"),
        Binding("E", "export('csv')", "Export CSV", key_display="E", id="fx-pnl-export-csv",
                tooltip="Export the filtered rows to a CSV file"),
        Binding("W", "export('xlsx')", "Export XLSX", key_display="W", id="fx-pnl-export-xlsx",
                tooltip="Export the filtered rows and their totals to an XLSX workbook"),
    ]

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.filters = ListProfitLoss(limit=PAGE)

    def list_query(self) -> ListProfitLoss:
        return self.filters

    def row_key(self, item: ProfitLossDTO) -> str:
        return item.forex_id

    def row_cells(self, r: ProfitLossDTO) -> Sequence[object]:
        places = self.precision.get(r.currency, 2)
        pnl_style = "red" if r.profit_loss < 0 else ""
        hkd = "no rate" if r.standard_profit_loss is None else signed(r.standard_profit_loss, 2)
        return (cell(r.forex_id), cell(r.account_no), cell(f"{r.from_currency}→{r.currency}"), cell(r.served_by),
                self.money(r.channel_amount, r.currency), self.money(r.user_amount, r.currency),
                Text(signed(r.profit_loss, places), justify="right", no_wrap=True, style=pnl_style),
                Text(exact(r.order_offset), justify="right", no_wrap=True),
                Text(hkd, justify="right", no_wrap=True), cell(when(r.created_at)))

    def status_text(self, items: Sequence[object]) -> str:
        counted = f"{len(items)} shown, newest first" if items else self.EMPTY.rstrip(".")
        more = f" (the newest {PAGE}: f narrows)" if len(items) >= PAGE else ""
        return f"{counted}{more}; {describe_filters(self.filters)}. t totals, E/W export CSV/XLSX."

    def show_detail(self, r: ProfitLossDTO | None) -> None:
        text = ""
        if r is not None:
            p = self.precision.get(r.currency, 2)
            gave = (f"the bank {r.channel_name} (order {r.client_ordid}) paid" if r.channel_name else
                    "at the reference rate before the markup the pool would give")
            hkd = ("no HKEX spot rate of that day" if r.standard_profit_loss is None else
                   f"{signed(r.standard_profit_loss, 2)} {r.standard_currency}" +
                   (f" at {r.standard_rate}" if r.standard_rate is not None else ""))
            # The pool's amount at the reference rate is exact, finer than the currency's precision.
            finer = -r.channel_amount.normalize().as_tuple().exponent > p  # type: ignore[operator]
            channel = f"{r.channel_amount.normalize():,f}" if finer else self.amount(r.channel_amount, r.currency)
            text = (f"{r.forex_id} {r.account_no} {r.client_name}: {self.amount(r.from_amount, r.from_currency)} "
                    f"{r.from_currency} → {r.currency}; {gave} {channel} at "
                    f"{r.channel_rate}, the client got {self.amount(r.user_amount, r.currency)} at {r.user_rate}. "
                    f"P&L {exact(r.profit_loss)} {r.currency} = rate {exact(r.rate_profit_loss)} + rounding "
                    f"{exact(r.order_offset)}; {hkd}. HK day {r.day}, executed {when(r.created_at)} UTC.")
        self.query_one(".pane-detail", Static).update(text)

    # --- filters, totals, export ----------------------------------------------------------

    def action_filter(self) -> None:
        def chosen(filters: ListProfitLoss | None) -> None:
            if filters is not None:
                self.filters = filters.model_copy(update={"limit": PAGE})
                self.load()

        self.app.push_screen(ProfitLossFilterScreen(self.filters), callback=chosen)

    def action_totals(self) -> None:
        self._totals()

    @work(exclusive=True, group="pnl-totals", exit_on_error=False)
    async def _totals(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        totals = await engine.query(session, ProfitLossTotals(filters=self.filters))
        self.app.push_screen(ProfitLossTotalsScreen(totals, self.filters, dict(self.precision)))

    def action_export(self, file_format: str) -> None:
        if not self.busy:
            self.busy = True
            self._export(file_format)

    @work(group="act", exit_on_error=False)
    async def _export(self, file_format: str) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        data = await engine.query(session, ExportProfitLoss(filters=self.filters, file_format=file_format))
        folder, moment = self.wbo.settings.export_folder(), engine.clock.now()
        if isinstance(data, str):
            path = await write_export(folder, "exchange-pnl", moment, data)
            rows = len(list(csv.reader(io.StringIO(data)))) - 1
            said = f"{rows} row(s)"
        else:
            path = await write_export_bytes(folder, "exchange-pnl", moment, data, "xlsx")
            said = "the rows and their totals per day"
        self.busy = False
        self.app.notify(f"Exported {said} to {path} ({describe_filters(self.filters)}).",
                        title=f"{file_format.upper()} export", markup=False)

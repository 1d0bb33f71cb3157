"""FX › Rates: each channel's current reference rates against the standard currency, with
their record date and age; a rate older than the quoting limit is marked stale.  t writes
the import template (CSV and XLSX) to the export folder, i imports it filled in, e edits
the selected rate, h shows its history."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine.fx import ListReferenceRates, RateImportResult, ReferenceRateDTO, template_csv, template_xlsx
from wbo_tui.engine.fx.rates import INQUIRY, MAX_AGE_S, OPERATION

from wbo_tui.widgets.exports import write_export, write_export_bytes
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import TablePane, cell
from wbo_tui.screens.fx.rate_forms import EditRateScreen, ImportRatesScreen, PreparedImport, RateHistoryScreen

TEMPLATE_NAME = "reference-rates-template"
# Each key's permission, what it allows in words (one reason for both of the changes: the hint
# line then says it once), and whether it acts on the selected row.
CHANGES = "import and edit reference rates"
KEYS = {"import_rates": (OPERATION, CHANGES, False),
        "edit_rate": (OPERATION, CHANGES, True),
        "rate_history": (INQUIRY, "view reference rate history", True)}


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
            f"A rate older than {MAX_AGE_S // 3600} hours is STALE and not used for quoting. t writes the import "
            "template (CSV and XLSX) to the export folder and names both files; I imports it filled in (every "
            "field mandatory; one bad row is refused naming its row and field, and nothing is imported); e edits "
            "the selected rate's bid, offer and average; h shows its history. "
            f"Needs {INQUIRY} (I, e: {OPERATION}).")
    BINDINGS = [
        Binding("t", "template", "Template", id="fx-rate-template",
                tooltip="Write the import template (CSV and XLSX) to the export folder"),
        # Capital I: a plain i opens the inbox everywhere in the shell.
        Binding("I", "import_rates", "Import", key_display="I", id="fx-rate-import",
                tooltip="Import the template filled in"),
        Binding("e", "edit_rate", "Edit", id="fx-rate-edit", tooltip="Edit the selected rate"),
        Binding("h", "rate_history", "History", id="fx-rate-history", tooltip="The selected rate's history"),
    ]
    ROW_ACTIONS = frozenset(KEYS)

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

    # --- template, import, edit, history --------------------------------------------------

    def why_not(self, action: str, item: ReferenceRateDTO | None) -> Unavailable | str | None:
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        permission, wanted, on_row = KEYS[action]
        if on_row and item is None:
            return "no row is selected"
        if not session.can(permission):
            return Unavailable(f"you need the permission {permission} to {wanted} (R requests it)",
                               permission=permission, wanted_for=wanted)
        return None

    def action_template(self) -> None:
        if not self.busy and not self.has_class("-denied"):
            self.busy = True
            self._write_templates()

    @work(group="act", exit_on_error=False)
    async def _write_templates(self) -> None:
        engine = self.wbo.engine
        assert engine is not None
        folder, moment = self.wbo.settings.export_folder(), engine.clock.now()
        csv_path = await write_export(folder, TEMPLATE_NAME, moment, template_csv())
        xlsx_path = await write_export_bytes(folder, TEMPLATE_NAME, moment, await asyncio.to_thread(template_xlsx),
                                             "xlsx")
        self.busy = False
        self.app.notify(f"Templates written: {csv_path} and {xlsx_path}. Fill in one (every field is mandatory, "
                        "one row per channel, type, currency and record date) and press i to import it.",
                        title="Reference rate template", markup=False, timeout=30)

    def action_import_rates(self) -> None:
        self.app.push_screen(ImportRatesScreen(), callback=self._imported)

    def _imported(self, done: tuple[PreparedImport, RateImportResult] | None) -> None:
        if done is not None:
            prepared, result = done
            self.app.notify(f"Imported {result.imported + result.replaced:,} reference rate(s) from "
                            f"{prepared.path}: {result.imported:,} new, {result.replaced:,} replaced.",
                            title="Reference rates imported", markup=False)
            self.load()

    def action_edit_rate(self) -> None:
        self.app.push_screen(EditRateScreen(self.selected), callback=self._edited)

    def _edited(self, r: ReferenceRateDTO | None) -> None:
        if r is not None:
            self.app.notify(f"{r.other_currency} {r.channel_label} {r.type_label} of {r.record_date} saved: bid "
                            f"{r.bid_rate}, offer {r.offer_rate}, average {r.average_rate}.", markup=False)
            self.load()

    def action_rate_history(self) -> None:
        self.app.push_screen(RateHistoryScreen(self.selected))


def _rate(value: object) -> Text:
    return Text(str(value), justify="right", no_wrap=True)

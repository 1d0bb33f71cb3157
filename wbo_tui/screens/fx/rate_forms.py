"""The Rates tab's dialogs: importing the template filled in (CSV or XLSX, through
``file_import``: a 100,000-row file is tens of megabytes, read off the event loop, and an
XLSX one is base64-encoded for the command), editing one reference rate, and one rate's
history."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from wbo_tui.engine import SessionInfo, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.fx import (
    EditReferenceRate,
    ImportReferenceRates,
    ReferenceRateDTO,
    ReferenceRateHistory,
)
from wbo_tui.engine.fx.rate_import import MAX_XLSX_BYTES, TEMPLATE_COLUMNS, csv_rows
from wbo_tui.engine.fx.rates import JOURNAL_PAGE

from wbo_tui.widgets.engine_workers import EngineWorkers
from wbo_tui.widgets.forms import PositionForm, fit_body, labelled
from wbo_tui.screens.fx.file_import import FileImportScreen, PreparedImport, csv_text, read_file

FORMATS = {".csv": "CSV", ".xlsx": "XLSX"}
MAX_CSV_CHARS = next(m.max_length for m in ImportReferenceRates.model_fields["csv_text"].metadata
                     if hasattr(m, "max_length"))
NO_ROWS = "has no rows under the header; nothing was imported"


def read_rates_file(path_text: str) -> PreparedImport:
    """Read the file named ``path_text`` (``~`` expanded) into an import command.  Blocking:
    run it in a thread."""
    path, file_format, data = read_file(path_text, FORMATS, {"CSV": MAX_CSV_CHARS * 4, "XLSX": MAX_XLSX_BYTES},
                                        "the template filled in")
    if file_format == "CSV":
        text = csv_text(path, data, MAX_CSV_CHARS)
        rows = sum(1 for _ in csv_rows(text))  # the engine's reading: its header check, blank rows skipped
        if not rows:
            raise ValidationFailed("File", NO_ROWS)
        return PreparedImport(path, "CSV", len(data), rows, build(ImportReferenceRates, csv_text=text))
    _check_workbook(path, data)
    return PreparedImport(path, file_format, len(data), None,
                          build(ImportReferenceRates, xlsx_base64=base64.b64encode(data).decode("ascii")))


def _check_workbook(path: Path, data: bytes) -> None:
    """Whether ``data`` is an XLSX workbook at all: a glance at its zip directory.  Its
    rows are read once, by the import (openpyxl needs seconds for 100,000 of them)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            if "xl/workbook.xml" not in book.namelist():
                raise zipfile.BadZipFile("no workbook")
    except zipfile.BadZipFile:
        raise ValidationFailed("File", f"{path} is not an XLSX workbook (save it from the template as .xlsx)") from None


class ImportRatesScreen(FileImportScreen):
    """The path of the template filled in; read, confirmed, then imported."""

    FORM_TITLE = "Import reference rates"
    HELP = ("The path of the template filled in, as .csv (UTF-8) or .xlsx (its first worksheet); ~ is your home "
            f"folder. Columns: {', '.join(TEMPLATE_COLUMNS)}; every field is mandatory, the record date is "
            "YYYYMMDD and not in the future, and bid ≤ average ≤ offer at the currency's rate precision. The "
            "file is read, you confirm, then every row is checked before any is written: one bad row is refused "
            "naming its row and field, and nothing is imported. A rate already held for a channel, type, "
            "currency and date is replaced (its history keeps both). Escape imports nothing.")
    PATH_ID = "rate-import-path"
    PLACEHOLDER = "~/reference-rates.csv"
    PATH_LABEL = "File (.csv or .xlsx; ~ is your home folder)"
    INTRO = ("t writes the template (CSV and XLSX) to the export folder. Every field is mandatory; the first bad row "
             "is refused naming its row and field, and then nothing is imported.")
    CONFIRM_TITLE = "Import reference rates from {name}?"
    CONSEQUENCES = (
        "Every row is checked first: one bad row is refused naming its row and field, and then nothing is imported.",
        "A rate already held for the same channel, type, currency and record date is replaced; the history keeps "
        "both. The import is recorded in the audit log with the file's SHA-256.",
    )
    READER = staticmethod(read_rates_file)


RATE_LABELS = {"bid_rate": "Bid rate (the broker buys)", "offer_rate": "Offer rate (the broker sells)",
               "average_rate": "Average rate (mid)"}


class EditRateScreen(PositionForm[ReferenceRateDTO]):
    """Bid, offer and average of one current rate; saved only if nobody changed it since."""

    SUBMIT_LABEL = "Save rate"
    CANCEL_NOTICE = "Nothing was changed."
    HELP = ("The three rates of the selected record against the standard currency: bid (the broker buys), offer "
            "(the broker sells) and average (mid), each greater than 0, at most the currency's rate precision in "
            "decimals, and bid ≤ average ≤ offer. Channel, type, currencies and record date stay. Saved only if "
            "nobody changed the rate since you opened it; recorded in the audit log and the rate's history, "
            "source manual. Escape changes nothing.")

    def __init__(self, rate: ReferenceRateDTO) -> None:
        super().__init__()
        self._rate = rate
        self.FORM_TITLE = f"Edit reference rate: {rate.other_currency}/{rate.base_currency} {rate.channel_label}"

    def compose_fields(self) -> Iterable[Widget]:
        r = self._rate
        yield Static(f"{r.channel_label}, {r.type_label}, record date {r.record_date}; version {r.version}, set by "
                     f"{r.source.lower()} at {r.updated_at:%Y-%m-%d %H:%M} UTC.", markup=False, classes="what-happens")
        for name, label in RATE_LABELS.items():
            yield from labelled(label, Input(str(getattr(r, name)), id=f"rate-{name.replace('_', '-')}"))

    async def perform(self, engine: Engine, session: SessionInfo) -> ReferenceRateDTO:
        typed = {name: self.value(f"#rate-{name.replace('_', '-')}").strip() for name in RATE_LABELS}
        return await engine.execute(session, build(EditReferenceRate, rate_id=self._rate.id,
                                                   expected_version=self._rate.version, **typed))


def history_line(r: ReferenceRateDTO) -> str:
    """One entry, in columns that fit the dialog at 80 columns (a rate of 10 decimals too)."""
    return (f"{r.updated_at:%Y-%m-%d %H:%M}  {r.record_date:<11} {r.bid_rate!s:>12} {r.offer_rate!s:>12} "
            f"{r.average_rate!s:>12}  {r.source.lower()}")


HISTORY_HEADER = f"{'Set at (UTC)':<16}  {'Record date':<11} {'Bid':>12} {'Offer':>12} {'Average':>12}  Source"


class RateHistoryScreen(EngineWorkers, ModalScreen[None]):
    """Every rate set for one currency, channel and type (imported, edited, refreshed),
    newest first, a page at a time (``ReferenceRateHistory``)."""

    BINDINGS = [Binding("escape", "close", "Close", id="rate-history-close")]
    HELP = ("Every rate set for the currency, channel and type, newest first: when it was set (UTC), its record "
            "date, bid, offer, average and source (import; manual: an edit; gateway: the scheduled refresh). "
            f"{JOURNAL_PAGE} at a time: Older shows the ones before. Escape closes.")

    def __init__(self, rate: ReferenceRateDTO) -> None:
        super().__init__()
        self._rate = rate
        self._title = f"History: {rate.other_currency}/{rate.base_currency} {rate.channel_label}, {rate.type_label}"
        self.entries: list[ReferenceRateDTO] = []
        self.more = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(self._title, classes="modal-title", markup=False)
            with VerticalScroll(id="confirm-scroll"):
                yield Static("Loading…", id="rate-history", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button("Older", id="older", disabled=True)
                yield Button("Close", id="close", variant="primary")

    def help_text(self) -> tuple[str, str]:
        return (self._title, self.HELP)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()
        self._fit_later()
        self._load()

    def on_resize(self) -> None:
        self._fit_later()

    def _fit_later(self) -> None:
        self.call_after_refresh(fit_body, self.query_one("#confirm-scroll"))

    @work(exclusive=True, group="history", exit_on_error=False)
    async def _load(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        r = self._rate
        page = await engine.query(session, ReferenceRateHistory(
            other_currency=r.other_currency, channel_name=r.channel_name, rate_type=r.rate_type,
            before_id=self.entries[-1].id if self.entries else None))
        self.entries.extend(page)
        self.more = len(page) == JOURNAL_PAGE
        self.query_one("#older", Button).disabled = not self.more
        lines = [history_line(e) for e in self.entries] or ["No rates recorded yet."]
        count = f"{len(self.entries)} entr{'y' if len(self.entries) == 1 else 'ies'}" + (
            ", Older shows more" if self.more else "")
        self.query_one("#rate-history", Static).update("\n".join([HISTORY_HEADER, *lines, "", count + "."]))
        self._fit_later()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "older":
            event.button.disabled = True
            self._load()
        else:
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

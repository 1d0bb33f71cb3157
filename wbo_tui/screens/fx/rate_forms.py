"""The Rates tab's dialogs: importing the template filled in (CSV or XLSX), editing one
reference rate, and one rate's history.

An import reads its file off the event loop (a 100,000-row file is tens of megabytes, and
an XLSX one is base64-encoded for the command), says what it is about to import, and
imports only once the operator confirms.  The engine checks every row before writing any:
its refusal, naming the row and the field, stays in the form beside the path, so the
operator fixes the file and imports it again from the same form.
"""

from __future__ import annotations

import asyncio
import base64
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
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
    RateImportResult,
    ReferenceRateDTO,
    ReferenceRateHistory,
)
from wbo_tui.engine.fx.rate_import import MAX_XLSX_BYTES, TEMPLATE_COLUMNS, csv_rows
from wbo_tui.engine.fx.rates import JOURNAL_PAGE

from wbo_tui.widgets.burst_input import TypedValues
from wbo_tui.widgets.engine_workers import EngineWorkers
from wbo_tui.widgets.forms import ConfirmScreen, PositionForm, fit_body, labelled

FORMATS = {".csv": "CSV", ".xlsx": "XLSX"}
MAX_CSV_CHARS = next(m.max_length for m in ImportReferenceRates.model_fields["csv_text"].metadata
                     if hasattr(m, "max_length"))
NO_ROWS = "has no rows under the header; nothing was imported"


@dataclass(frozen=True, slots=True)
class PreparedImport:
    """A rates file read and ready to import: the command carries the file itself."""

    path: Path
    file_format: str
    size_bytes: int
    data_rows: int | None
    """The CSV's data rows (the engine's own count); None for an XLSX workbook, whose rows
    only the import itself reads (reading them twice would double a long wait)."""
    command: ImportReferenceRates

    def describe(self) -> str:
        rows = "every row of its first worksheet" if self.data_rows is None else f"{self.data_rows:,} data row(s)"
        return f"{self.path} ({self.file_format}, {self.size_bytes:,} bytes): {rows}"


def read_rates_file(path_text: str) -> PreparedImport:
    """Read the file named ``path_text`` (``~`` expanded) into an import command.  Blocking:
    run it in a thread.  Whatever is wrong with the path or the file is refused naming the
    file, before anything reaches the engine."""
    text = path_text.strip()
    if not text:
        raise ValidationFailed("File", "is required: the path of the template filled in (.csv or .xlsx)")
    path = Path(text).expanduser()
    file_format = FORMATS.get(path.suffix.lower())
    if file_format is None:
        raise ValidationFailed("File", f"must end in .csv or .xlsx (the template's two formats), not {path.name!r}")
    limit = MAX_XLSX_BYTES if file_format == "XLSX" else MAX_CSV_CHARS * 4
    try:
        size = path.stat().st_size
        if size > limit:
            raise ValidationFailed("File", f"{path} is larger than {limit:,} bytes; split it into several imports")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValidationFailed("File", f"{path} does not exist") from None
    except IsADirectoryError:
        raise ValidationFailed("File", f"{path} is a folder, not a file") from None
    except OSError as error:
        raise ValidationFailed("File", f"{path} could not be read: {error.strerror or error}") from None
    if file_format == "CSV":
        return _prepared_csv(path, data)
    _check_workbook(path, data)
    return PreparedImport(path, file_format, len(data), None,
                          build(ImportReferenceRates, xlsx_base64=base64.b64encode(data).decode("ascii")))


def _prepared_csv(path: Path, data: bytes) -> PreparedImport:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("File", f"{path} is not UTF-8 text; save the CSV as UTF-8") from None
    if len(text) > MAX_CSV_CHARS:
        raise ValidationFailed("File", f"{path} has more than {MAX_CSV_CHARS:,} characters; split it")
    rows = sum(1 for _ in csv_rows(text))  # the engine's reading: its header check, blank rows skipped
    if not rows:
        raise ValidationFailed("File", NO_ROWS)
    return PreparedImport(path, "CSV", len(data), rows, build(ImportReferenceRates, csv_text=text))


def _check_workbook(path: Path, data: bytes) -> None:
    """Whether ``data`` is an XLSX workbook at all: a glance at its zip directory.  Its
    rows are read once, by the import (openpyxl needs seconds for 100,000 of them)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            if "xl/workbook.xml" not in book.namelist():
                raise zipfile.BadZipFile("no workbook")
    except zipfile.BadZipFile:
        raise ValidationFailed("File", f"{path} is not an XLSX workbook (save it from the template as .xlsx)") from None


class ImportRatesScreen(PositionForm[tuple[PreparedImport, RateImportResult]]):
    """The path of the template filled in; read, confirmed, then imported."""

    FORM_TITLE = "Import reference rates"
    SUBMIT_LABEL = "Read and import"
    CANCEL_NOTICE = "Nothing was imported."
    HELP = ("The path of the template filled in, as .csv (UTF-8) or .xlsx (its first worksheet); ~ is your home "
            f"folder. Columns: {', '.join(TEMPLATE_COLUMNS)}; every field is mandatory, the record date is "
            "YYYYMMDD and not in the future, and bid ≤ average ≤ offer at the currency's rate precision. The "
            "file is read, you confirm, then every row is checked before any is written: one bad row is refused "
            "naming its row and field, and nothing is imported. A rate already held for a channel, type, "
            "currency and date is replaced (its history keeps both). Escape imports nothing.")

    _ready: PreparedImport | None = None
    """The file read and confirmed: the next submit imports it."""

    def compose_fields(self) -> Iterable[Widget]:
        yield Static("t writes the template (CSV and XLSX) to the export folder. Every field is mandatory; the first "
                     "bad row is refused naming its row and field, and then nothing is imported.", markup=False,
                     classes="what-happens")
        yield from labelled("File (.csv or .xlsx; ~ is your home folder)",
                            Input(id="rate-import-path", placeholder="~/reference-rates.csv"))
        yield Static("", id="rate-import-status", markup=False)

    def submit(self) -> None:
        if self._ready is not None:
            super().submit()
        elif not any(w.group == "read" and not w.is_finished for w in self.workers):
            self.read_after_typed_keys(self._read_typed)

    def _read_typed(self, submitted: TypedValues) -> None:
        field = self.query_one("#rate-import-path", Input)
        self.query_one("#submit", Button).disabled = True
        self.show_error("")
        self._status("Reading the file…")
        self._read(submitted.get(field, field.value))

    def _status(self, text: str) -> None:
        self.query_one("#rate-import-status", Static).update(text)
        self._fit_later()

    @work(exclusive=True, group="read", exit_on_error=False)
    async def _read(self, path_text: str) -> None:
        try:
            prepared = await asyncio.to_thread(read_rates_file, path_text)
        finally:
            self._status("")
        self.query_one("#submit", Button).disabled = False
        consequences = [
            f"Import {prepared.describe()}.",
            "Every row is checked first: one bad row is refused naming its row and field, and then nothing is "
            "imported.",
            "A rate already held for the same channel, type, currency and record date is replaced; the history "
            "keeps both. The import is recorded in the audit log with the file's SHA-256.",
        ]
        self.app.push_screen(ConfirmScreen(f"Import reference rates from {prepared.path.name}?", consequences,
                                           "Import", danger=False, does="imports the file"),
                             callback=lambda yes: self._decided(prepared, yes))

    def _decided(self, prepared: PreparedImport, yes: bool | None) -> None:
        if yes:
            self._ready = prepared
            self.submit()
        else:
            self.show_error("Not imported: you cancelled.")

    async def perform(self, engine: Engine, session: SessionInfo) -> tuple[PreparedImport, RateImportResult]:
        prepared, self._ready = self._ready, None  # after a refusal the file is read again (it may be fixed)
        if prepared is None:
            raise ValidationFailed("File", "was not read; press Read and import again")
        self._status(f"Importing {prepared.describe()}…")
        try:
            return prepared, await engine.execute(session, prepared.command)
        finally:
            self._status("")


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

"""Importing a file the operator names by path (reference rates, clients): read off the
event loop, described, confirmed, then handed to the engine as one command.

The engine checks every row before writing any; its refusal, naming the row and the
field, stays in the form beside the path, so the operator fixes the file and imports it
again from the same form (the file is read again: it may have been fixed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel
from textual import work
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from wbo_tui.engine import SessionInfo, ValidationFailed
from wbo_tui.engine.api import Engine

from wbo_tui.widgets.burst_input import TypedValues
from wbo_tui.widgets.forms import ConfirmScreen, PositionForm, labelled


@dataclass(frozen=True, slots=True)
class PreparedImport:
    """A file read and ready to import: the command carries the file itself."""

    path: Path
    file_format: str
    size_bytes: int
    data_rows: int | None
    """The data rows counted as the engine reads them; None where counting them would
    mean reading the file twice (an XLSX workbook)."""
    command: BaseModel

    def describe(self) -> str:
        rows = "every row of its first worksheet" if self.data_rows is None else f"{self.data_rows:,} data row(s)"
        return f"{self.path} ({self.file_format}, {self.size_bytes:,} bytes): {rows}"


def read_file(path_text: str, formats: dict[str, str], limits: dict[str, int], what: str) -> tuple[Path, str, bytes]:
    """The path typed (``~`` expanded), its format (by extension, one of ``formats``) and
    its bytes.  Blocking: run it in a thread.  Whatever is wrong with the path is refused
    naming the file, before anything reaches the engine."""
    text = path_text.strip()
    kinds = " or ".join(formats)
    if not text:
        raise ValidationFailed("File", f"is required: the path of {what} ({kinds})")
    path = Path(text).expanduser()
    file_format = formats.get(path.suffix.lower())
    if file_format is None:
        raise ValidationFailed("File", f"must end in {kinds}, not {path.name!r}")
    limit = limits[file_format]
    try:
        if path.stat().st_size > limit:
            raise ValidationFailed("File", f"{path} is larger than {limit:,} bytes; split it into several imports")
        return path, file_format, path.read_bytes()
    except FileNotFoundError:
        raise ValidationFailed("File", f"{path} does not exist") from None
    except IsADirectoryError:
        raise ValidationFailed("File", f"{path} is a folder, not a file") from None
    except OSError as error:
        raise ValidationFailed("File", f"{path} could not be read: {error.strerror or error}") from None


def csv_text(path: Path, data: bytes, max_chars: int) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("File", f"{path} is not UTF-8 text; save the CSV as UTF-8") from None
    if len(text) > max_chars:
        raise ValidationFailed("File", f"{path} has more than {max_chars:,} characters; split it")
    return text


class FileImportScreen(PositionForm[tuple[PreparedImport, Any]]):
    """The path of a file; read, confirmed, then imported.  A subclass names its reader,
    its fields' ids, what it says before the path and what the confirmation says."""

    SUBMIT_LABEL = "Read and import"
    CANCEL_NOTICE = "Nothing was imported."
    PATH_ID: ClassVar[str]
    PLACEHOLDER: ClassVar[str] = ""
    PATH_LABEL: ClassVar[str]
    INTRO: ClassVar[str]
    CONFIRM_TITLE: ClassVar[str]
    """Formatted with ``name``: the file's name."""
    CONSEQUENCES: ClassVar[tuple[str, ...]]
    READER: ClassVar[Callable[[str], PreparedImport]]

    _ready: PreparedImport | None = None
    """The file read and confirmed: the next submit imports it."""

    def compose_fields(self) -> Iterable[Widget]:
        yield Static(self.INTRO, markup=False, classes="what-happens")
        yield from labelled(self.PATH_LABEL, Input(id=self.PATH_ID, placeholder=self.PLACEHOLDER))
        yield Static("", id=f"{self.PATH_ID}-status", markup=False)

    def submit(self) -> None:
        if self._ready is not None:
            super().submit()
        elif not any(w.group == "read" and not w.is_finished for w in self.workers):
            self.read_after_typed_keys(self._read_typed)

    def _read_typed(self, submitted: TypedValues) -> None:
        field = self.query_one(f"#{self.PATH_ID}", Input)
        self.query_one("#submit", Button).disabled = True
        self.show_error("")
        self._status("Reading the file…")
        self._read(submitted.get(field, field.value))

    def _status(self, text: str) -> None:
        self.query_one(f"#{self.PATH_ID}-status", Static).update(text)
        self._fit_later()

    @work(exclusive=True, group="read", exit_on_error=False)
    async def _read(self, path_text: str) -> None:
        try:
            prepared = await asyncio.to_thread(type(self).READER, path_text)
        finally:
            self._status("")
        self.query_one("#submit", Button).disabled = False
        self.app.push_screen(ConfirmScreen(self.CONFIRM_TITLE.format(name=prepared.path.name),
                                           [f"Import {prepared.describe()}.", *self.CONSEQUENCES],
                                           "Import", danger=False, does="imports the file"),
                             callback=lambda yes: self._decided(prepared, yes))

    def _decided(self, prepared: PreparedImport, yes: bool | None) -> None:
        if yes:
            self._ready = prepared
            self.submit()
        else:
            self.show_error("Not imported: you cancelled.")

    async def perform(self, engine: Engine, session: SessionInfo) -> tuple[PreparedImport, Any]:
        prepared, self._ready = self._ready, None  # after a refusal the file is read again (it may be fixed)
        if prepared is None:
            raise ValidationFailed("File", "was not read; press Read and import again")
        self._status(f"Importing {prepared.describe()}…")
        try:
            return prepared, await engine.execute(session, prepared.command)
        finally:
            self._status("")

"""FX › Clients: importing clients and their opening cash from CSV (``ImportClients``:
one row per client and currency, every row checked before any is written)."""

from __future__ import annotations

from wbo_tui.engine import build
from wbo_tui.engine.fx import ImportClients
from wbo_tui.engine.fx.clients import IMPORT_COLUMNS, read_import_rows

from wbo_tui.screens.fx.file_import import FileImportScreen, PreparedImport, csv_text, read_file

MAX_CSV_CHARS = next(m.max_length for m in ImportClients.model_fields["csv_text"].metadata
                     if hasattr(m, "max_length"))


def read_clients_file(path_text: str) -> PreparedImport:
    """The CSV named ``path_text`` (``~`` expanded) as an import command, its data rows
    counted as the engine reads them (its header check first).  Blocking: run it in a thread."""
    path, file_format, data = read_file(path_text, {".csv": "CSV"}, {"CSV": MAX_CSV_CHARS * 4},
                                        "the clients file")
    text = csv_text(path, data, MAX_CSV_CHARS)
    rows = len(read_import_rows(text))  # a wrong header or row shape is refused before the confirmation
    return PreparedImport(path, file_format, len(data), rows, build(ImportClients, csv_text=text))


class ImportClientsScreen(FileImportScreen):
    FORM_TITLE = "Import clients"
    HELP = (f"The path of a CSV file (UTF-8) with the header {','.join(IMPORT_COLUMNS)}: one row per client and "
            "currency (a client with cash in two currencies has two rows, with the same name and account type). "
            "account_type is cash or margin; opening_balance is at the currency's amount precision, 0 or more. "
            "The file is read, you confirm, then every row is checked before any is written: one bad row is "
            "refused naming its row and field, and nothing is imported. A client already held is refused. "
            "Escape imports nothing.")
    PATH_ID = "client-import-path"
    PLACEHOLDER = "~/clients.csv"
    PATH_LABEL = "File (.csv; ~ is your home folder)"
    INTRO = (f"Columns: {','.join(IMPORT_COLUMNS)}; one row per client and currency. Every row is checked "
             "first; one bad row is refused naming its row and field, and then nothing is imported.")
    CONFIRM_TITLE = "Import clients from {name}?"
    CONSEQUENCES = (
        "Every row is checked first: one bad row is refused naming its row and field, and then nothing is imported.",
        "Each client is created with its opening cash per currency as a ledger movement; the import is recorded "
        "in the audit log.",
    )
    READER = staticmethod(read_clients_file)

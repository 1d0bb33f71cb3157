"""Writing an export file: into the configured export folder (``WBO_EXPORT_DIR``, by default
``$XDG_DATA_HOME/wbo-tui/exports``), never over an existing file, off the event loop."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

from wbo_tui.engine.errors import WboError


def _write_new(folder: Path, base: str, data: str | bytes, suffix: str = "csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    count = 1
    while True:
        path = folder / (f"{base}.{suffix}" if count == 1 else f"{base}-{count}.{suffix}")
        try:
            # "x": another console exporting in the same second gets the next number,
            # rather than both writing one file.
            if isinstance(data, bytes):
                with path.open("xb") as out:
                    out.write(data)
            else:
                with path.open("x", encoding="utf-8", newline="") as out:
                    out.write(data)
            return path
        except FileExistsError:
            count += 1


async def write_export(folder: Path, name: str, moment: datetime, text: str) -> Path:
    """Write ``text`` to ``<folder>/<name>-<moment>.csv`` (``-2``, ``-3`` … when taken) and
    return the file's path.  A folder that cannot be written is said in one sentence."""
    return await _write(folder, name, moment, text, "csv")


async def write_export_bytes(folder: Path, name: str, moment: datetime, data: bytes, suffix: str) -> Path:
    """``data`` (an XLSX workbook) to ``<folder>/<name>-<moment>.<suffix>``, as ``write_export``
    writes CSV text: the same folder and naming, never over a file, off the event loop."""
    return await _write(folder, name, moment, data, suffix)


async def _write(folder: Path, name: str, moment: datetime, data: str | bytes, suffix: str) -> Path:
    base = f"{name}-{moment:%Y%m%dT%H%M%SZ}"
    try:
        return await asyncio.to_thread(_write_new, folder, base, data, suffix)
    except OSError as error:
        raise WboError(f"The export could not be written to {folder}: {error.strerror or error}. "
                       "Set WBO_EXPORT_DIR to a folder this console may write.") from None

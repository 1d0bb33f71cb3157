"""Benchmark ``rates``: 100,000 reference-rate template rows imported through the engine's
import command, against Python's ``csv`` and ``sqlite3.executemany`` writing the same rows
into the same table.

Data (built per run in a temporary folder, not timed): the schema from the migration, the
demo operators (cheap argon2 parameters: logging in is set-up here), the currency setup
of HKD (standard), USD, CNH and EUR, and an operator holding
``fx.reference_rate_operation``.  The file: the template's header and 100,000 distinct
rows (4 channels x 3 rate types x 3 currencies per record date, a day at a time back
from the benchmark's fixed today), as an operator would fill it in.

Measured, each round on a fresh copy of that database:

* engine: ``Engine.execute(ImportReferenceRates(csv_text=...))`` as the console sends it
  (one hop to the engine's thread): the session and permission check, every row checked
  (every field, the currency setup, the date, the rate precision, bid <= average <=
  offer, no repeated key), which keys are already held, the rows inserted, each one
  written to the rate journal (the history), the audit record, commit with fsync.
* raw: ``csv.reader`` over the same text and ``sqlite3.executemany`` of the rows into
  ``fx_reference_rates`` (same table, its unique key and foreign keys), one transaction,
  the engine's pragmas (WAL, synchronous=FULL, foreign keys).  No checks, no journal, no
  audit: the floor for storing those rows.

Goal: raw / engine >= 0.25 (the RATIO line is engine / raw <= 4.0).  For information,
once per run (not with ``--quick``): the same rows as an XLSX workbook through
``ImportReferenceRates(xlsx_base64=...)`` (openpyxl's read-only reader is most of it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import io
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from .core import Goal, Result, Series

DESCRIPTION = "100,000 template rates imported through the engine vs csv + sqlite3.executemany of the same rows"
GOAL = Goal(4.0, "engine / raw <= 4.0 (raw / engine >= 0.25)")
ROWS, QUICK_ROWS = 100_000, 20_000
ROUNDS, QUICK_ROUNDS = 5, 2
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)  # 17:30 in Hong Kong
TODAY = date(2026, 11, 20)
CHANNELS = ("HKEX", "IB", "HANG_SENG", "ICBC")
TYPES = ("BOOK", "SPOT", "HKEX")
OTHERS = {"USD": ("7.8147", "7.8200", "7.8173"), "CNH": ("1.0890", "1.0950", "1.0920"),
          "EUR": ("8.4120", "8.4480", "8.4300")}
DESK, DESK_PASSWORD = "ratesdesk", "Kowloon-Tong-77"


def run(args: argparse.Namespace) -> Result:
    count = QUICK_ROWS if args.quick else ROWS
    rounds = args.repeat or (QUICK_ROUNDS if args.quick else ROUNDS)
    data = template_rows(count)
    text = "\n".join([",".join(_columns()), *(",".join(r) for r in data)]) + "\n"
    with tempfile.TemporaryDirectory(prefix="wbo-bench-rates-") as tmp:
        folder = Path(tmp)
        template = folder / "template.db"
        started = time.perf_counter()
        asyncio.run(_build(template))
        build_s = time.perf_counter() - started
        engine_s, raw_s = [], []
        for i in range(rounds):
            print(f"    round {i + 1}/{rounds}", flush=True)
            engine_db, raw_db = folder / f"engine-{i}.db", folder / f"raw-{i}.db"
            _copy(template, engine_db)
            _copy(template, raw_db)
            # Alternate which goes first, so neither always finds the disk's cache warmer.
            if i % 2:
                raw_s.append(_raw_round(raw_db, text))
                engine_s.append(asyncio.run(_engine_round(engine_db, csv_text=text, expected=count)))
            else:
                engine_s.append(asyncio.run(_engine_round(engine_db, csv_text=text, expected=count)))
                raw_s.append(_raw_round(raw_db, text))
        xlsx_s: list[float] = []
        if not args.quick:
            print("    XLSX round (for information)", flush=True)
            workbook = _xlsx(data)
            _copy(template, folder / "xlsx.db")
            xlsx_s.append(asyncio.run(_engine_round(folder / "xlsx.db", xlsx_base64=workbook, expected=count)))
    subject = Series("engine: ImportReferenceRates (CSV)", tuple(engine_s))
    baseline = Series("raw: csv + sqlite3 executemany", tuple(raw_s))
    ratio_up = baseline.median / subject.median
    notes = [
        f"DIRECTION: raw / engine = {ratio_up:.3f} (higher is better; goal >= 0.25: "
        f"{'MET' if ratio_up >= 0.25 else 'NOT MET'}); the RATIO line above is its inverse, goal <= 4.00",
        f"{count:,} rows per round, {rounds} rounds; engine {count / subject.median:,.0f} rows/s, raw "
        f"{count / baseline.median:,.0f} rows/s; set-up built in {build_s:.1f} s (not timed)",
        "the engine also journals every row (the history) and writes the audit record; raw stores the rows only",
    ]
    if xlsx_s:
        notes.append(f"for information: the same rows as XLSX (ImportReferenceRates xlsx_base64) "
                     f"{statistics.median(xlsx_s):.2f} s, {statistics.median(xlsx_s) / baseline.median:.1f}x raw")
    if args.quick:
        notes.append(f"--quick: {QUICK_ROWS:,} rows; indicative only")
    details = (Series("for information: engine, XLSX", tuple(xlsx_s)),) if xlsx_s else ()
    return Result(name="rates", description=DESCRIPTION, subject=subject, baseline=baseline, goal=GOAL,
                  details=details, notes=tuple(notes))


def _columns() -> tuple[str, ...]:
    from wbo_tui.engine.fx.rate_import import TEMPLATE_COLUMNS

    return TEMPLATE_COLUMNS


def template_rows(count: int) -> list[tuple[str, ...]]:
    """``count`` distinct valid rows: every channel, type and currency per record date,
    a day at a time back from ``TODAY``."""
    combos = [(c, t, o) for c in CHANNELS for t in TYPES for o in OTHERS]
    days = [(TODAY - timedelta(days=d)).strftime("%Y%m%d") for d in range(count // len(combos) + 1)]
    out = []
    for i in range(count):
        channel, kind, other = combos[i % len(combos)]
        out.append((channel, kind, "HKD", other, days[i // len(combos)], *OTHERS[other]))
    return out


def _xlsx(data: list[tuple[str, ...]]) -> str:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("reference_rates")
    sheet.append(_columns())
    for row in data:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    for suffix in ("-wal", "-shm"):
        if Path(str(source) + suffix).exists():
            shutil.copyfile(str(source) + suffix, str(target) + suffix)


async def _open(path: Path, *, own_loop: bool = False) -> Any:
    from wbo_tui.engine import Engine, FixedClock

    from .poll_db import cheap_hasher

    return await Engine.open(f"sqlite:///{path}", clock=FixedClock(NOW), hasher=cheap_hasher(), own_loop=own_loop)


async def _build(path: Path) -> None:
    """Schema, demo operators, the currency setup and the rates desk (not timed)."""
    from wbo_tui.engine import CreateOperator, CreateRole, migrate, seed
    from wbo_tui.engine.fx import UpdateCurrencySetup

    from .auditdb import DEMO_DATA

    await migrate.upgrade_async(f"sqlite:///{path}")
    engine = await _open(path)
    try:
        await seed.seed(engine, seed.load(DEMO_DATA))
        for code in ("HKD", *OTHERS):
            await engine.setup_execute(tool="bench", command=UpdateCurrencySetup(
                currency=code, support_exchange=True, exchange_rate_precision=4, amount_precision=2,
                amount_round_mode="round", min_exchange_amount="1", standard_money=code == "HKD",
                expected_version=0))
        await engine.setup_execute(tool="bench", command=CreateRole(
            name="rates_desk", permissions=["fx.reference_rate_inquiry", "fx.reference_rate_operation"]))
        await engine.setup_execute(tool="bench", command=CreateOperator(
            username=DESK, display_name="Rates desk", password=DESK_PASSWORD, roles=["rates_desk"]))
    finally:
        await engine.close()


async def _engine_round(path: Path, *, expected: int, **file: str) -> float:
    from wbo_tui.engine.fx import ImportReferenceRates

    engine = await _open(path, own_loop=True)
    try:
        desk = await engine.login(DESK, DESK_PASSWORD)
        command = ImportReferenceRates(**file)
        started = time.perf_counter()
        result = await engine.execute(desk, command)
        seconds = time.perf_counter() - started
        assert result.imported == expected, result
        return seconds
    finally:
        await engine.close()


def _raw_round(path: Path, text: str) -> float:
    """``csv`` + ``executemany`` of the same rows into the same table, one transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    started = time.perf_counter()
    reader = csv.reader(io.StringIO(text))
    next(reader)
    rows = [(*r, "IMPORT", 1, stamp, stamp) for r in reader if r]
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO fx_reference_rates (channel_name, rate_type, base_currency, other_currency, "
                     "record_date, bid_rate, offer_rate, average_rate, source, version, created_at, updated_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds

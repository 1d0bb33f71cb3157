"""Benchmark ``records``: the allocation records list with 1,000,000 records against 1,000.

What an operator waits for, in the real console (``WboApp`` headless, a child process per
session, ``bench/records_child.py``): from pressing 2 (Allocations, records tab) to the
first page shown, plus from pressing } to the last page (the oldest records) shown.
Subject: that sum on a database of 1,000,000 allocation records; baseline: the same on
1,000, measured in the same run.  Goal: subject / baseline <= 1.5.

Sessions alternate between the two databases (small first in even sessions, big first in
odd ones) so that a load change on the machine hits both.  Data: ``bench/records_db.py``
(built once per size, cached in ``bench/.cache``; each run measures a private copy).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
from typing import Any

from .auditdb import REPO_ROOT
from .core import Goal, Result, Series

DESCRIPTION = ("Allocations records list: enter the area → first page, } → last page, with 1,000,000 records "
               "vs 1,000")
GOAL = Goal(1.5, "1,000,000 records / 1,000 records <= 1.5")
SMALL, BIG = 1_000, 1_000_000
SESSIONS, QUICK_SESSIONS = 4, 2
ROUNDS, QUICK_ROUNDS = 5, 2
CHILD_TIMEOUT_S = 600
PREFIX = "BENCH-RECORDS "


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--records-big", type=int, default=BIG, metavar="N",
                       help=f"records in the big database (default {BIG:,})")


def run(args: argparse.Namespace) -> Result:
    from . import records_db

    big_n = args.records_big
    sessions = args.repeat or (QUICK_SESSIONS if args.quick else SESSIONS)
    rounds = QUICK_ROUNDS if args.quick else ROUNDS
    cached = {n: records_db.ensure(n) for n in (SMALL, big_n)}
    copies = {n: records_db.working_copy(db, f"{n}") for n, db in cached.items()}
    samples: dict[int, list[dict[str, float]]] = {SMALL: [], big_n: []}
    try:
        for s in range(sessions):
            for n in (SMALL, big_n) if s % 2 == 0 else (big_n, SMALL):
                samples[n] += _session(copies[n], rounds)
        plans = _plans(copies[big_n].path)
    finally:
        for db in copies.values():
            records_db.remove(db)

    def series(label: str, n: int, *keys: str) -> Series:
        return Series(label, tuple(sum(r[k] for k in keys) for r in samples[n]))

    subject = series(f"{big_n:,} records: first + last page", big_n, "first_s", "last_s")
    baseline = series(f"{SMALL:,} records: first + last page", SMALL, "first_s", "last_s")
    details = (
        series(f"{SMALL:,}: 2 → first page", SMALL, "first_s"),
        series(f"{big_n:,}: 2 → first page", big_n, "first_s"),
        series(f"{SMALL:,}: }} → last page", SMALL, "last_s"),
        series(f"{big_n:,}: }} → last page", big_n, "last_s"),
        series(f"{SMALL:,}: first page's query", SMALL, "first_query_s"),
        series(f"{big_n:,}: first page's query", big_n, "first_query_s"),
        series(f"{SMALL:,}: last page's query", SMALL, "last_query_s"),
        series(f"{big_n:,}: last page's query", big_n, "last_query_s"),
    )
    last_ratio = details[3].median / details[2].median
    notes = [
        "first + last page = from pressing 2 (Allocations, from Positions) to the newest page shown, plus from "
        "pressing } to the oldest page shown (the operator reads each page first; not counted)",
        f"last page alone: {big_n:,} / {SMALL:,} = {last_ratio:.2f}; a page's query = the pane's fetch (the "
        "engine's ListAllocations with its thread hop); the rest is the console's own work and waiting",
        f"{sessions} console sessions per database, alternating, {rounds} measured rounds each after a warm-up "
        f"round; login as {records_db.USERNAME}; 50 records a page; 160x48 headless",
        "databases: " + "; ".join(
            f"{n:,} records in {db.folder.relative_to(REPO_ROOT)}"
            + (f" (built in {db.build_s:.0f} s)" if db.build_s is not None else "") for n, db in cached.items()),
        *(f"plan at {big_n:,}, {name}: {plan}" for name, plan in plans),
    ]
    if args.quick:
        notes.append("--quick: few repetitions; indicative only")
    return Result(name="records", description=DESCRIPTION, subject=subject, baseline=baseline, goal=GOAL,
                  details=details, notes=tuple(notes))


def _session(db: Any, rounds: int) -> list[dict[str, float]]:  # noqa: ANN401
    from . import records_db

    command = [sys.executable, "-m", "bench.records_child", db.url, records_db.USERNAME, records_db.password(),
               str(rounds), db.newest_order_no, db.oldest_order_no]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                          check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(PREFIX)]
    if not lines:
        raise RuntimeError(f"the console child reported nothing (exit {done.returncode}): {done.stderr[-2000:]}")
    report = json.loads(lines[-1][len(PREFIX):])
    if "error" in report:
        raise RuntimeError(f"the console child failed: {report['error']}")
    return list(report["rounds"])


def _plans(path: Any) -> list[tuple[str, str]]:  # noqa: ANN401
    """SQLite's plan for each filter of the list, as the engine sends its page query."""
    from sqlalchemy.dialects import sqlite

    from wbo_tui.engine.allocations import ListAllocations
    from wbo_tui.engine.allocations.records import _filtered
    from wbo_tui.engine.allocations.tables import allocations

    c = allocations.c
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    out = []
    try:
        for name, filters in (("none, last page (rowid order, stops after a page)", {}),
                              ("status", {"status": "failed"}),
                              ("origin", {"origin": "manual"}), ("currency", {"currency": "BTC"}),
                              ("order no", {"order_no": "FA-0"})):
            stmt = _filtered(ListAllocations(**filters))
            stmt = stmt.order_by(c.id.asc()) if not filters else stmt.where(c.id < 2**31 - 1).order_by(c.id.desc())
            sql = str(stmt.limit(51).compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            out.append((name, next(r[3] for r in rows if " allocations " in f" {r[3]} ")))
    finally:
        conn.close()
    return out

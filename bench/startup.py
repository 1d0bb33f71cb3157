"""Benchmark ``startup``: process start until the console's shell is interactive.

Time from process start until the shell is interactive on a database holding 1,000,000
audit records, divided by the same for a bare one-screen Textual app, measured in the
same run.  Goal <= 2.0.

Both sides are separate processes started with ``subprocess`` from the venv's python,
run headless at 160x48 and driven by an auto pilot (``startup_child_wbo.py``,
``startup_child_bare.py``).  The parent takes ``time.time()`` just before ``Popen``; the
child prints ``time.time()`` at the interactive moment; the difference is the figure.
Process exit (wall time from before ``Popen`` to ``wait()`` returning; the child first
lets the app's workers finish, see ``startup_child_common.finish``) is reported too, with
the children's phase marks.  The two sides alternate (baseline, console, baseline,
console…) after one unmeasured warm-up run of each (bytecode caches, the OS page cache).
Each run measures a private copy of the cached database, removed afterwards.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from .auditdb import REPO_ROOT, ensure_audit_db, remove_copy, working_copy
from .core import BenchmarkUnavailable, Goal, Result, Series
from .startup_child_common import MARKS_PREFIX

DESCRIPTION = "process start until the shell is interactive, 1,000,000 audit records, vs a bare Textual app"
GOAL = Goal(2.0, "wbo / bare app <= 2.0")
RECORDS = 1_000_000
QUICK_RECORDS = 50_000
REPEAT, QUICK_REPEAT = 7, 3
USERNAME, PASSWORD = "admin", "Victoria-Peak-1"  # the demo administrator (data/demo.json)
CHILD_TIMEOUT_S = 60

NEEDED_MODULES = ("wbo_tui.app", "wbo_tui.screens.login", "wbo_tui.screens.shell")


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--startup-records", type=int, metavar="N",
        help=f"audit records in the database (default {RECORDS:,}; {QUICK_RECORDS:,} with --quick)",
    )


@dataclass(frozen=True, slots=True)
class Run:
    interactive_s: float
    exit_s: float | None
    """None when the child had to be killed after reporting its marks (it hung on exit)."""
    marks: dict[str, float]
    """Child marks relative to the parent's start, in seconds."""


def run(args: argparse.Namespace) -> Result:
    missing = [m for m in NEEDED_MODULES if not _module_exists(m)]
    if missing:
        raise BenchmarkUnavailable(f"the console is not there yet: no {', '.join(missing)}")
    records = args.startup_records or (QUICK_RECORDS if args.quick else RECORDS)
    repeat = args.repeat or (QUICK_REPEAT if args.quick else REPEAT)

    cached = ensure_audit_db(records)
    db = working_copy(cached, "startup-run")
    try:
        bare_runs, wbo_runs, stack_runs = _measure_alternately(db.url, repeat)
        size_mb = db.path.stat().st_size / 1e6
    finally:
        remove_copy(db)

    notes = [
        f"database: {records:,} audit records ({size_mb:,.0f} MB), "
        f"a copy of {cached.path.relative_to(REPO_ROOT)}"
        + (f"; generated in {cached.build_s:.1f} s" if cached.build_s is not None else ""),
        "interactive = child's time.time() when the top screen (ShellScreen / the bare screen) is mounted, "
        "minus the parent's time.time() just before Popen",
    ]
    for side, runs in (("bare app", bare_runs), ("wbo", wbo_runs)):
        hung = sum(r.exit_s is None for r in runs)
        if hung:
            notes.append(f"{side}: {hung} of {len(runs)} runs did not exit within {CHILD_TIMEOUT_S} s "
                         "after reporting and were killed (their interactive figures are kept)")
    floor = statistics.median(r.interactive_s for r in stack_runs) / statistics.median(
        r.interactive_s for r in bare_runs)
    notes.append(
        f"floor: the bare app after merely importing the console's libraries (SQLAlchemy asyncio, aiosqlite, "
        f"pydantic, pydantic-settings, argon2) reaches {floor:.2f} x the bare app"
    )
    if records != RECORDS:
        notes.append(f"the goal is defined at {RECORDS:,} records; this run used {records:,} (indicative only)")
    return Result(
        name="startup",
        description=DESCRIPTION.replace(f"{RECORDS:,}", f"{records:,}"),
        subject=Series("wbo: interactive", tuple(r.interactive_s for r in wbo_runs)),
        baseline=Series("bare app: interactive", tuple(r.interactive_s for r in bare_runs)),
        goal=GOAL,
        details=(
            *_exits("bare app", bare_runs),
            *_exits("wbo", wbo_runs),
            *_phases("bare app", bare_runs, ("imported", "app_ready", "settled")),
            *_phases("wbo", wbo_runs, ("imported", "app_ready", "login_screen", "settled")),
            Series("wbo: Enter pressed -> shell", tuple(r.marks["interactive"] - r.marks["submit"] for r in wbo_runs)),
            Series("bare app + libraries: interactive", tuple(r.interactive_s for r in stack_runs)),
        ),
        notes=tuple(notes),
    )


def _measure_alternately(db_url: str, repeat: int) -> tuple[list[Run], list[Run], list[Run]]:
    wbo_cmd = [sys.executable, "-m", "bench.startup_child_wbo", db_url, USERNAME, PASSWORD]
    bare_cmd = [sys.executable, "-m", "bench.startup_child_bare"]
    stack_cmd = [*bare_cmd, "--with-stack"]
    print("   warm-up", end="", flush=True)
    for cmd in (bare_cmd, wbo_cmd, stack_cmd):
        measure(cmd)  # not counted: bytecode caches, the OS page cache
    bare_runs: list[Run] = []
    wbo_runs: list[Run] = []
    stack_runs: list[Run] = []
    for i in range(repeat):
        print(f", {i + 1}/{repeat}", end="", flush=True)
        bare_runs.append(measure(bare_cmd))
        wbo_runs.append(measure(wbo_cmd))
        stack_runs.append(measure(stack_cmd))
    print(flush=True)
    return bare_runs, wbo_runs, stack_runs


def _exits(side: str, runs: list[Run]) -> list[Series]:
    exits = tuple(r.exit_s for r in runs if r.exit_s is not None)
    return [Series(f"{side}: process exit", exits)] if exits else []


def _phases(side: str, runs: list[Run], names: tuple[str, ...]) -> list[Series]:
    return [Series(f"{side}: {name.replace('_', ' ')} at", tuple(r.marks[name] for r in runs)) for name in names]


def measure(cmd: list[str]) -> Run:
    """Start one child, wait for it, return its figures relative to the start."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WBO_", "TEXTUAL"))}
    started = time.time()
    started_perf = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=CHILD_TIMEOUT_S)
        exit_s: float | None = time.perf_counter() - started_perf
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        exit_s = None
    marks = _parse_marks(out)
    if marks is None or "error" in marks or "interactive" not in marks:
        problem = (marks or {}).get("error") or (
            f"no interactive mark after {CHILD_TIMEOUT_S} s" if exit_s is None
            else f"exit status {proc.returncode}, no interactive mark"
        )
        raise RuntimeError(f"{_name(cmd)} failed: {problem}\n{_tail(err or out)}")
    if exit_s is not None and proc.returncode != 0:
        raise RuntimeError(f"{_name(cmd)} exited with status {proc.returncode}\n{_tail(err or out)}")
    relative = {k: v - started for k, v in marks.items() if isinstance(v, float)}
    return Run(interactive_s=relative["interactive"], exit_s=exit_s, marks=relative)


def _parse_marks(out: str) -> dict[str, Any] | None:
    lines = [line for line in out.splitlines() if line.startswith(MARKS_PREFIX)]
    return json.loads(lines[-1][len(MARKS_PREFIX):]) if lines else None


def _name(cmd: list[str]) -> str:
    return cmd[2]


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False

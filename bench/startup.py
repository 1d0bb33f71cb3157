"""Benchmark ``startup``: what an operator waits for when starting the console.

Two goals (issue 10, part 7), on a database holding 1,000,000 audit records:

- **Login screen**: process start until the login screen is interactive, divided by the
  same for a bare one-screen Textual app, measured in the same run.  Goal <= 1.3.
- **Enter -> shell**: Enter pressed in the password field (once the console has started
  behind the login screen, as it does while the operator types) until the shell's first
  frame is composed (``startup_child_wbo.first_frame_of``), divided by a floor measured in the same run: argon2 verification with
  production parameters plus the login's one write transaction, with the stdlib
  ``sqlite3`` module on the same database (``startup_child_floor.py``).  Goal <= 2.0.

Every side is a separate process started with ``subprocess`` from the venv's python: the
console and the bare app run headless at 160x48 driven by an auto pilot
(``startup_child_wbo.py``, ``startup_child_bare.py``).  The parent takes ``time.time()``
just before ``Popen``; the children print ``time.time()`` marks; start-up figures are
differences to the parent's clock, Enter -> shell and the floor are differences of two
marks of one child.  Process exit (the child first lets the app's workers finish, see
``startup_child_common.finish``) is reported too.  The sides alternate (bare app,
console, floor, bare app…) after one unmeasured warm-up run of each (bytecode caches,
the OS page cache).  Each run measures a private copy of the cached database, removed
afterwards.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from .auditdb import REPO_ROOT, ensure_audit_db, remove_copy, working_copy
from .core import BenchmarkUnavailable, Goal, Result, Series
from .startup_child_common import MARKS_PREFIX

DESCRIPTION = ("login screen vs a bare Textual app; Enter -> shell vs argon2 + the login transaction; "
               "1,000,000 audit records")
GOAL = Goal(1.3, "wbo login screen / bare app <= 1.3")
SHELL_GOAL = Goal(2.0, "wbo Enter -> shell / floor (argon2 verify + login transaction) <= 2.0")
RECORDS = 1_000_000
QUICK_RECORDS = 50_000
REPEAT, QUICK_REPEAT = 7, 3
USERNAME, PASSWORD = "admin", "Victoria-Peak-1"  # the demo administrator (data/demo.json)
CHILD_TIMEOUT_S = 60

NEEDED_MODULES = ("wbo_tui.app", "wbo_tui.screens.login", "wbo_tui.screens.shell", "wbo_tui.startup")


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--startup-records", type=int, metavar="N",
        help=f"audit records in the database (default {RECORDS:,}; {QUICK_RECORDS:,} with --quick)",
    )


@dataclass(frozen=True, slots=True)
class Run:
    interactive_s: float
    """The side's figure: start until interactive (bare app, console's login screen), or
    the floor's verify + transaction."""
    exit_s: float | None
    """None when the child had to be killed after reporting its marks (it hung on exit)."""
    marks: dict[str, float]
    """Child marks relative to the parent's start, in seconds."""

    def between(self, first: str, last: str) -> float:
        return self.marks[last] - self.marks[first]


@dataclass(frozen=True, slots=True)
class StartupResult(Result):
    """A ``Result`` with a second goal: Enter -> shell against the floor."""

    shell: Series = Series("", (1.0,))
    floor: Series = Series("", (1.0,))
    shell_goal: Goal = SHELL_GOAL

    @property
    def shell_ratio(self) -> float:
        return self.shell.median / self.floor.median

    @property
    def met(self) -> bool:  # type: ignore[override]
        return self.goal.met(self.ratio) and self.shell_goal.met(self.shell_ratio)


def run(args: argparse.Namespace) -> Result:
    missing = [m for m in NEEDED_MODULES if not _module_exists(m)]
    if missing:
        raise BenchmarkUnavailable(f"the console is not there yet: no {', '.join(missing)}")
    records = args.startup_records or (QUICK_RECORDS if args.quick else RECORDS)
    repeat = args.repeat or (QUICK_REPEAT if args.quick else REPEAT)

    cached = ensure_audit_db(records)
    db = working_copy(cached, "startup-run")
    try:
        bare_runs, wbo_runs, floor_runs = _measure_alternately(db, repeat)
        size_mb = db.path.stat().st_size / 1e6
    finally:
        remove_copy(db)

    shell = Series("wbo: Enter -> shell interactive", tuple(r.between("submit", "shell") for r in wbo_runs))
    floor = Series("floor: argon2 verify + login transaction", tuple(r.interactive_s for r in floor_runs))
    shell_ratio = shell.median / floor.median
    notes = [
        f"RATIO {shell.label} / {floor.label} (medians) = {shell_ratio:.2f}   goal <= {SHELL_GOAL.max_ratio:.2f}: "
        + ("MET" if SHELL_GOAL.met(shell_ratio) else "NOT MET"),
        "MET / NOT MET in the summary: both goals (login screen and Enter -> shell)",
        f"database: {records:,} audit records ({size_mb:,.0f} MB), "
        f"a copy of {cached.path.relative_to(REPO_ROOT)}"
        + (f"; generated in {cached.build_s:.1f} s" if cached.build_s is not None else ""),
        "interactive = the child's time.time() when the top screen (LoginScreen / the bare screen) is mounted, "
        "minus the parent's time.time() just before Popen",
        "Enter -> shell: from just before Enter is pressed (fields filled and drawn, the console started behind "
        "the login screen) until the first frame of the ShellScreen on top is composed at the terminal's size; "
        "'session' = the login's answer reached the app",
        "floor: one process, connection open and modules imported beforehand: operator row, argon2 verify "
        "(production parameters), the login's write transaction (sqlite3, WAL, synchronous=FULL)",
    ]
    for side, runs in (("bare app", bare_runs), ("wbo", wbo_runs)):
        hung = sum(r.exit_s is None for r in runs)
        if hung:
            notes.append(f"{side}: {hung} of {len(runs)} runs did not exit within {CHILD_TIMEOUT_S} s "
                         "after reporting and were killed (their figures are kept)")
    if records != RECORDS:
        notes.append(f"the goal is defined at {RECORDS:,} records; this run used {records:,} (indicative only)")
    if args.quick:
        notes.append("--quick: few repetitions; indicative only")
    return StartupResult(
        name="startup",
        description=DESCRIPTION.replace(f"{RECORDS:,}", f"{records:,}"),
        subject=Series("wbo: login screen interactive", tuple(r.interactive_s for r in wbo_runs)),
        baseline=Series("bare app: interactive", tuple(r.interactive_s for r in bare_runs)),
        goal=GOAL,
        details=(
            floor,
            shell,
            Series("wbo: Enter -> session (login answered)", tuple(r.between("submit", "session") for r in wbo_runs)),
            Series("wbo: session -> shell interactive", tuple(r.between("session", "shell") for r in wbo_runs)),
            Series("wbo: login screen -> console started", tuple(r.between("login_screen", "console_started")
                                                                 for r in wbo_runs)),
            *_phases("bare app", bare_runs, ("imported", "app_ready", "settled")),
            *_phases("wbo", wbo_runs, ("imported", "app_ready", "console_started", "shell", "settled")),
            *_exits("bare app", bare_runs),
            *_exits("wbo", wbo_runs),
        ),
        notes=tuple(notes),
        shell=shell,
        floor=floor,
    )


def _measure_alternately(db: Any, repeat: int) -> tuple[list[Run], list[Run], list[Run]]:
    wbo_cmd = [sys.executable, "-m", "bench.startup_child_wbo", db.url, USERNAME, PASSWORD]
    bare_cmd = [sys.executable, "-m", "bench.startup_child_bare"]
    floor_cmd = [sys.executable, "-m", "bench.startup_child_floor", str(db.path), USERNAME, PASSWORD]
    print("   warm-up", end="", flush=True)
    for cmd, figure in ((bare_cmd, "interactive"), (wbo_cmd, "login_screen"), (floor_cmd, None)):
        measure(cmd, figure)  # not counted: bytecode caches, the OS page cache
    bare_runs: list[Run] = []
    wbo_runs: list[Run] = []
    floor_runs: list[Run] = []
    for i in range(repeat):
        print(f", {i + 1}/{repeat}", end="", flush=True)
        bare_runs.append(measure(bare_cmd, "interactive"))
        wbo_runs.append(measure(wbo_cmd, "login_screen"))
        floor_runs.append(measure(floor_cmd, None))
    print(flush=True)
    return bare_runs, wbo_runs, floor_runs


def _exits(side: str, runs: list[Run]) -> list[Series]:
    exits = tuple(r.exit_s for r in runs if r.exit_s is not None)
    return [Series(f"{side}: process exit", exits)] if exits else []


def _phases(side: str, runs: list[Run], names: tuple[str, ...]) -> list[Series]:
    return [Series(f"{side}: {name.replace('_', ' ')} at", tuple(r.marks[name] for r in runs)) for name in names]


def measure(cmd: list[str], figure: str | None) -> Run:
    """Start one child, wait for it, return its figures relative to the start.  ``figure``:
    the mark that ends the side's interval from the start; None: the floor child, whose
    figure is ``committed - verify_start``."""
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
    last = figure or "committed"
    if marks is None or "error" in marks or last not in marks:
        problem = (marks or {}).get("error") or (
            f"no {last} mark after {CHILD_TIMEOUT_S} s" if exit_s is None
            else f"exit status {proc.returncode}, no {last} mark"
        )
        raise RuntimeError(f"{_name(cmd)} failed: {problem}\n{_tail(err or out)}")
    if exit_s is not None and proc.returncode != 0:
        raise RuntimeError(f"{_name(cmd)} exited with status {proc.returncode}\n{_tail(err or out)}")
    relative = {k: v - started for k, v in marks.items() if isinstance(v, float)}
    value = relative[figure] if figure else relative["committed"] - relative["verify_start"]
    return Run(interactive_s=value, exit_s=exit_s, marks=relative)


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

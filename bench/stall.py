"""Benchmark ``stall``: the longest event-loop stall in a real console process, in three cases.

A console (``WboApp``, headless, 160x48, logged in on the shell) measures how late a task
that sleeps 1 ms in a loop wakes up on its event loop (``bench/stall_child_app.py``)
while

* ``poll``: it runs its own position poll (the ``poll`` benchmark's 4,000 accounts);
* ``batch``: it runs one allocation batch of 1,000 events (the ``allocate`` benchmark's
  500 accounts and 400 rules; 1,000 new events written before each round);
* ``write``: four consoles, each its own process on one database, each submitting manual
  allocations back to back at the same time (every console's stall counts).

Goal: the worst stall of every case under 33 ms (two frames at 60 fps).  Baseline, in
the same run: the same console and cases with the engine on the console's loop, as the
console ran before (``Engine.open(…, own_loop=False)``); the RATIO line is the median,
over the cases, of each case's worst stall, console / baseline, goal <= 1.0 (no worse).  Both goals make
the verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .core import Goal, Result, Series

DESCRIPTION = ("the console's longest event-loop stall during its poll, a 1,000-event allocation batch and four "
               "consoles writing; engine on its own loop vs on the console's loop")
GOAL = Goal(1.0, "console / engine-on-the-console's-loop <= 1.0")
STALL_GOAL_S = 0.033
CASES = ("poll", "batch", "write")
WRITERS = 4
ROUNDS, QUICK_ROUNDS = 3, 1
CHILD_TIMEOUT_S = 600
MODES = {"own": "console (engine on its own loop)", "inline": "baseline (engine on the console's loop)"}


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--stall-cases", default=",".join(CASES), metavar="CASES",
                       help=f"comma-separated subset of {', '.join(CASES)}")


@dataclass(frozen=True, slots=True)
class StallResult(Result):
    """A ``Result`` with a second goal: every case's worst stall under ``STALL_GOAL_S``."""

    stall_met: bool = True

    @property
    def met(self) -> bool:  # type: ignore[override]
        return self.goal.met(self.ratio) and self.stall_met


def run(args: argparse.Namespace) -> Result:
    import asyncio

    from . import allocate, poll_db

    rounds = args.repeat or (QUICK_ROUNDS if args.quick else ROUNDS)
    cases = [c.strip() for c in args.stall_cases.split(",") if c.strip()]
    if not cases or any(c not in CASES for c in cases):
        raise ValueError(f"--stall-cases takes some of {', '.join(CASES)}")
    stalls: dict[tuple[str, str], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="wbo-bench-stall-") as tmp:
        folder = Path(tmp)
        template = folder / "allocate.db"
        started = time.perf_counter()
        if {"batch", "write"} & set(cases):
            asyncio.run(allocate._build(template, folder / "bank.sqlite", 0))
        poll_template = asyncio.run(poll_db.ensure_template())[0] if "poll" in cases else None
        build_s = time.perf_counter() - started
        for case in cases:
            for mode in ("inline", "own"):  # the baseline first: the cache is as warm for both
                print(f"    {case}: {MODES[mode]}", flush=True)
                if case == "poll":
                    assert poll_template is not None
                    db, _ = poll_db.working_copy(poll_template, f"stall-{mode}")
                    try:
                        stalls[(case, mode)] = _children(mode, case, [db.url], str(db.store), poll_db.USERNAME,
                                                         poll_db.password(), rounds, folder)
                    finally:
                        poll_db.remove(db)
                    continue
                path = folder / f"{case}-{mode}.db"
                allocate._copy(template, path)
                url = f"sqlite:///{path}"
                stalls[(case, mode)] = _children(mode, case, [url] * (WRITERS if case == "write" else 1),
                                                 str(folder / f"go-{mode}"), "maker", allocate._password("maker"),
                                                 rounds, folder)
    return _result(stalls, cases, rounds, build_s, args.quick)


def _result(stalls: dict[tuple[str, str], list[dict[str, Any]]], cases: list[str], rounds: int, build_s: float,
            quick: bool) -> StallResult:
    def longest(mode: str, case: str | None = None) -> tuple[float, ...]:
        return tuple(r["longest_stall_s"] for (c, m), rs in stalls.items() if m == mode and case in (None, c)
                     for r in rs)

    # One figure per case, its worst round: the median of per-round figures was mostly
    # the write case's twelve rounds, where both modes wait alike for the OS scheduler.
    subject = Series(f"{MODES['own']}: worst stall of each case", tuple(max(longest("own", c)) for c in cases))
    baseline = Series(f"{MODES['inline']}: worst stall of each case", tuple(max(longest("inline", c)) for c in cases))
    details: list[Series] = []
    notes: list[str] = []
    stall_met = True
    for case in cases:
        for mode in ("own", "inline"):
            rs = stalls[(case, mode)]
            details.append(Series(f"{case}, {mode}: longest stall", tuple(r["longest_stall_s"] for r in rs)))
            details.append(Series(f"{case}, {mode}: the case's duration", tuple(r["case_s"] for r in rs)))
            details.append(Series(f"{case}, {mode}: longest stall idle ({0.5:.1f} s)",
                                  tuple(r["idle_stall_s"] for r in rs)))
            details.append(Series(f"{case}, {mode}: longest stall less the wait for a CPU",
                                  tuple(r.get("own_stall_s", 0.0) for r in rs)))
            details.append(Series(f"{case}, {mode}: longest garbage collection",
                                  tuple(r.get("longest_gc", (0.0, -1))[0] for r in rs)))
        worst, before = max(longest("own", case)), max(longest("inline", case))
        met = worst < STALL_GOAL_S
        stall_met = stall_met and met
        notes.append(f"STALL {case}: worst {worst * 1000:.1f} ms (engine on the console's loop: {before * 1000:.1f} ms)"
                     f"; goal < {STALL_GOAL_S * 1000:.0f} ms: {'MET' if met else 'NOT MET'}")
    notes += [
        "stall = how late a task sleeping 1 ms in a loop wakes up on the app's event loop (WboApp headless 160x48, "
        "logged in, on the shell; its schedules set to an hour so only the measured work runs)",
        f"poll: 4,000 accounts (bench poll's data); batch: consume_events over 1,000 new events; write: {WRITERS} "
        f"console processes at once, {_writes()} CreateManualAllocation each per round, every console's stall counted",
        f"{rounds} measured round(s) per case and mode after a warm-up; set-up {build_s:.1f} s (not timed)",
        "MET / NOT MET in the summary: both goals (ratio and every case's worst stall)",
    ]
    if quick:
        notes.append("--quick: one round per case; indicative only")
    return StallResult(name="stall", description=DESCRIPTION, subject=subject, baseline=baseline, goal=GOAL,
                       details=tuple(details), notes=tuple(notes), stall_met=stall_met)


def _writes() -> int:
    from .stall_child_app import WRITES

    return WRITES


def _children(mode: str, case: str, urls: list[str], extra: str, username: str, password: str, rounds: int,
              folder: Path) -> list[dict[str, Any]]:
    """Run one console child per URL (at once); for ``write``, start them writing together."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WBO_", "TEXTUAL"))}
    env["WBO_LOG_FILE"] = str(folder / "console.log")
    go = Path(extra)
    if case == "write" and go.exists():
        go.unlink()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "bench.stall_child_app", mode, case, url, extra, username, password, str(rounds)],
        cwd=Path(__file__).resolve().parent.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for url in urls]
    try:
        if case == "write":
            for proc in procs:  # each says when it is logged in and waiting
                assert proc.stdout is not None
                while True:
                    line = proc.stdout.readline()
                    if not line:
                        raise RuntimeError(f"a writer console ended before it was ready: {proc.stderr.read()[-2000:]}"
                                           if proc.stderr else "a writer console ended before it was ready")
                    if line.startswith("BENCH-READY"):
                        break
            go.touch()
        out = []
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=CHILD_TIMEOUT_S)
            lines = [line for line in stdout.splitlines() if line.startswith("BENCH-STALL ")]
            data = json.loads(lines[-1][len("BENCH-STALL "):]) if lines else None
            if not data or data.get("error") or len(data.get("rounds", [])) < rounds:
                problem = (data or {}).get("error") or f"exit status {proc.returncode}, no result"
                tail = "\n".join((stderr or stdout).strip().splitlines()[-25:])
                raise RuntimeError(f"stall_child_app ({mode}, {case}) failed: {problem}\n{tail}")
            out += data["rounds"]
        return out
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

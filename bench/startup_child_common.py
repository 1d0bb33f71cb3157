"""Shared by the two measured start-up processes (stdlib only, imported by both).

A child records wall-clock marks (``time.time()``, the parent's clock too) as it goes and
prints them as a JSON line to the real stdout: once as soon as the measured moments are
known, and again after the app has exited (the parent reads the last line).  The first
report lets the parent keep the figures of a child that then fails to exit.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any

MARKS_PREFIX = "BENCH-MARKS "
SIZE = (160, 48)
POLL_S = 0.005
TIMEOUT_S = 60.0
WORKERS_TIMEOUT_S = 20.0

marks: dict[str, Any] = {}


def mark(name: str) -> None:
    marks[name] = time.time()


async def wait_until(app: Any, predicate: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    """Poll ``predicate`` every few milliseconds with a plain ``asyncio.sleep``.

    Not ``pilot.pause``: that first waits until every widget of the current screen has
    drained its message queue, which would move the mark past the moment the screen
    became active by whatever work the screen queued for itself.  The drained moment is
    recorded separately as ``settled``.
    """
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}; the screen is {type(app.screen).__name__}")
        await asyncio.sleep(POLL_S)


def screen_ready(app: Any, screen_type: type) -> bool:
    """The measured moment: a screen of this type is on top of the stack and mounted."""
    screen = app.screen
    return isinstance(screen, screen_type) and screen.is_mounted


async def finish(app: Any) -> None:
    """Let the app's workers finish before exiting, then exit.

    Exiting while a worker is inside a database call cancels it, and with aiosqlite 0.22
    SQLAlchemy's shielded close of that connection can then wait forever in
    ``asyncio.run``'s shutdown: the process never exits.  The console's own quit path
    has to deal with that; the benchmark only wants a clean exit after its marks.
    """
    report()
    deadline = time.monotonic() + WORKERS_TIMEOUT_S
    while any(not worker.is_finished for worker in app.workers):
        if time.monotonic() > deadline:
            marks["workers_note"] = f"workers still running after {WORKERS_TIMEOUT_S:.0f} s"
            break
        await asyncio.sleep(POLL_S)
    mark("workers_done")
    app.exit()


def report() -> None:
    out = sys.__stdout__ or sys.stdout
    out.write(MARKS_PREFIX + json.dumps(marks) + "\n")
    out.flush()

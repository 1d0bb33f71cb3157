"""Shared by the console children of ``stall``, ``poll`` and ``records``.

Each child runs ``WboApp`` headless at 160x48 (``run_console``): the auto pilot logs in
through the login form (``log_in``) and waits for the shell, then runs the child's own
steps; an exception is recorded as the result's ``error``.  The result is printed as one
JSON line (``PREFIX {...}``) to the real stdout before the app exits and again after it
has exited; the parent reads the last such line.  ``measure`` times one piece of work on
the app's event loop with a ``Monitor`` running, after an idle stretch measured the same
way.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bench.startup_child_common import SIZE, screen_ready, wait_until

TICK_S = 0.001
T = TypeVar("T")


def _cpu_wait_s() -> float:
    """How long this thread has waited, runnable, for a CPU the OS gave to others
    (Linux ``schedstat``; 0 elsewhere)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except OSError:
        return 0.0


class Monitor:
    """Sleeps ``TICK_S`` in a loop; the longest lateness is the longest stall.  Also the
    longest garbage collection meanwhile (in any thread: it holds the GIL throughout)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.longest_own = 0.0  # the same, less the time the thread waited for a CPU
        self.longest_gc = (0.0, -1)  # seconds, generation
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:  # not a collection that started before the monitor did
            self.longest_gc = max(self.longest_gc, (time.perf_counter() - self._gc_started, info["generation"]))
            self._gc_started = 0.0

    async def _loop(self) -> None:
        while True:
            before, waited_before = time.perf_counter(), _cpu_wait_s()
            await asyncio.sleep(TICK_S)
            late = time.perf_counter() - before - TICK_S
            self.longest = max(self.longest, late)
            self.longest_own = max(self.longest_own, late - (_cpu_wait_s() - waited_before))

    async def __aenter__(self) -> Monitor:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._loop())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        gc.callbacks.remove(self._on_gc)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


@dataclass(frozen=True)
class Measured(Generic[T]):
    """One measured piece of work: the idle stretch's longest stall, the work's longest
    stall, how long the work took (seconds) and what it returned."""

    idle_stall_s: float
    stall_s: float
    elapsed_s: float
    value: T
    longest_gc: tuple[float, int] = (0.0, -1)
    own_stall_s: float = 0.0
    """``stall_s`` less the time the event loop's thread waited for a CPU meanwhile."""


async def measure(idle_s: float, work: Callable[[], Awaitable[T]]) -> Measured[T]:
    """The longest stall of an idle ``idle_s``, then ``work`` run with a monitor on."""
    async with Monitor() as idle:
        await asyncio.sleep(idle_s)
    async with Monitor() as busy:
        started = time.perf_counter()
        value = await work()
        elapsed = time.perf_counter() - started
    return Measured(idle.longest, busy.longest, elapsed, value, busy.longest_gc, busy.longest_own)


async def log_in(pilot: Any, username: str, password: str) -> None:  # noqa: ANN401 - textual.pilot.Pilot
    """Fill the login form, press Enter and wait until the shell is up."""
    from textual.widgets import Input

    from wbo_tui.screens.login import LoginScreen
    from wbo_tui.screens.shell import ShellScreen

    app = pilot.app
    await wait_until(app, lambda: screen_ready(app, LoginScreen), "the login screen")
    screen = app.screen
    screen.query_one("#username", Input).value = username
    field = screen.query_one("#password", Input)
    field.value = password
    field.focus()
    await pilot.press("enter")
    await wait_until(app, lambda: screen_ready(app, ShellScreen), "the shell screen after logging in")


async def workers_idle(app: Any) -> None:  # noqa: ANN401
    """Until no worker of the app runs (the area just entered has loaded), then a beat."""
    await wait_until(app, lambda: all(w.is_finished for w in app.workers), "the app's workers to finish")
    await asyncio.sleep(0.1)


def report(prefix: str, result: dict[str, Any]) -> None:
    out = sys.__stdout__ or sys.stdout
    out.write(prefix + json.dumps(result) + "\n")
    out.flush()


def run_console(settings: Any, username: str, password: str, steps: Callable[[Any], Awaitable[None]], *,  # noqa: ANN401
                prefix: str, result: dict[str, Any], settle: bool = False) -> None:
    """Run ``WboApp`` headless on ``settings``: log in, run ``steps(pilot)``, report, exit.

    ``settle``: let the app's workers finish before exiting (a worker inside a database
    call when the app exits can keep the process from ending).
    """
    from wbo_tui.app import WboApp

    async def pilot_fn(pilot: Any) -> None:  # noqa: ANN401 - textual.pilot.Pilot
        app = pilot.app
        try:
            await log_in(pilot, username, password)
            await steps(pilot)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            result["error"] = f"{type(exc).__name__}: {exc}"
        report(prefix, result)
        if settle:
            await workers_idle(app)
        app.exit()

    WboApp(settings).run(headless=True, size=SIZE, auto_pilot=pilot_fn)
    report(prefix, result)

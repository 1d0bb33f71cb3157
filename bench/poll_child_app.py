"""The ``poll`` benchmark's console child: event-loop stalls while a poll runs.

``python -m bench.poll_child_app DB_URL STORE USERNAME PASSWORD ROUNDS``

Runs ``WboApp`` headless at 160x48 on the benchmark database.  The auto pilot logs in
(fills the login form, presses Enter) and waits for the shell; then, ROUNDS times: it
changes the upstream's balances (not measured), measures the longest stall of an idle
second, then runs ``app.engine.poll_positions`` on the app's own event loop while a
monitor task sleeps 1 ms in a loop and records how late it wakes up.  Prints one JSON
line (``BENCH-POLL {...}``) for the parent.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.poll import MARKS_PREFIX
from bench.startup_child_common import SIZE, screen_ready, wait_until

TICK_S = 0.001
IDLE_S = 1.0
result: dict[str, Any] = {"polls": []}


class Monitor:
    """Sleeps ``TICK_S`` in a loop; the longest lateness is the longest stall."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK_S)
            self.longest = max(self.longest, time.perf_counter() - before - TICK_S)

    async def __aenter__(self) -> Monitor:
        self._task = asyncio.create_task(self._loop())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def make_pilot(store: str, username: str, password: str, rounds: int):  # noqa: ANN201
    async def pilot_fn(pilot) -> None:  # noqa: ANN001 - textual.pilot.Pilot
        from textual.widgets import Input

        from bench import poll_db
        from wbo_tui.engine.upstream.simulator import SimulatedUpstream
        from wbo_tui.screens.login import LoginScreen
        from wbo_tui.screens.shell import ShellScreen

        app = pilot.app
        bank = None
        try:
            await wait_until(app, lambda: screen_ready(app, LoginScreen), "the login screen")
            screen = app.screen
            screen.query_one("#username", Input).value = username
            field = screen.query_one("#password", Input)
            field.value = password
            field.focus()
            await pilot.press("enter")
            await wait_until(app, lambda: screen_ready(app, ShellScreen), "the shell screen after logging in")
            await pilot.pause(0.2)
            accounts = [tuple(a) for a in json.loads((Path(store).parent / "accounts.json").read_text())]
            bank = SimulatedUpstream(store)
            for r in range(rounds + 1):
                await bank.set_balances(poll_db.balances_for_round(accounts, 100 + r))
                async with Monitor() as idle:
                    await asyncio.sleep(IDLE_S)
                async with Monitor() as busy:
                    started = time.perf_counter()
                    report = await app.engine.poll_positions(slot=f"bench:app:{r}:{time.time_ns()}",
                                                             holder=poll_db.HOLDER)
                    elapsed = time.perf_counter() - started
                if r == 0:
                    continue  # warm-up
                result["polls"].append({"longest_stall_s": busy.longest, "poll_s": elapsed,
                                        "idle_stall_s": idle.longest, "level_changes": report.level_changes,
                                        "accounts_ok": report.accounts_ok})
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            result["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if bank is not None:
                bank.close()
        _report()
        app.exit()

    return pilot_fn


def _report() -> None:
    out = sys.__stdout__ or sys.stdout
    out.write(MARKS_PREFIX + json.dumps(result) + "\n")
    out.flush()


def main(argv: list[str]) -> None:
    from wbo_tui.app import WboApp
    from wbo_tui.config import Settings

    db_url, store, username, password, rounds = argv
    WboApp(Settings(db_url=db_url)).run(headless=True, size=SIZE, auto_pilot=make_pilot(store, username, password,
                                                                                         int(rounds)))
    _report()


if __name__ == "__main__":
    main(sys.argv[1:])

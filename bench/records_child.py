"""The ``records`` benchmark's console child: enter Allocations, first page, last page.

``python -m bench.records_child DB_URL USERNAME PASSWORD ROUNDS NEWEST_ORDER_NO OLDEST_ORDER_NO``

Runs ``WboApp`` headless at 160x48 on the benchmark database, with its scheduled passes
(polls, allocation passes, deliveries, audit anchors) an hour apart so that none runs
while it is measured.  The auto pilot logs in (fills the login form, presses Enter) and
waits for the shell (``bench.child_common``), opens Allocations (2) and its Allocations
tab (Ctrl+T) once; then, ROUNDS + 1 times (the first round is a warm-up, not reported):
it goes to Positions (1) and waits until that area's work is done, then

- presses 2 and waits until the records pane has shown its first page (the newest
  record on top) after that key: **first page**;
- waits until the app's workers are done and 0.4 s more (the operator reads the page);
- presses } and waits until the pane has shown its last page (the oldest record at the
  bottom): **last page**; reads it;
- presses { to go back to the newest page (not measured).

"Shown" is the moment the pane's ``_show`` returns: the table holds the page's rows and
the status line names the page (Textual paints it on its next frame).  Each figure runs
from just before the key press to that moment (``time.perf_counter``); its "query" part is
the pane's ``fetch`` (the engine's query, with its hop to the engine's thread).  Prints one JSON
line (``BENCH-RECORDS {...}``) for the parent.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.child_common import run_console, workers_idle
from bench.startup_child_common import wait_until

MARKS_PREFIX = "BENCH-RECORDS "
QUIET_S = 3600
READ_S = 0.3
result: dict[str, Any] = {"rounds": []}


def make_steps(rounds: int, newest: str, oldest: str):  # noqa: ANN201
    async def steps(pilot) -> None:  # noqa: ANN001 - textual.pilot.Pilot
        from textual.widgets import DataTable

        from wbo_tui.screens.allocations.records import AllocationsPane

        app = pilot.app
        await workers_idle(app)
        await pilot.press("2")
        await wait_until(app, lambda: bool(app.screen.query("#allocations-pane")), "the Allocations area")
        pane = app.screen.query_one("#allocations-pane", AllocationsPane)
        shows: list[float] = []
        show = pane._show  # noqa: SLF001 - the measured moment

        def timed_show(items: Any) -> None:  # noqa: ANN401
            show(items)
            shows.append(time.perf_counter())

        pane._show = timed_show  # type: ignore[method-assign]  # noqa: SLF001
        fetches: list[float] = []
        fetch = pane.fetch

        async def timed_fetch() -> Any:  # noqa: ANN401 - the engine's share: the query, with its thread hop
            started = time.perf_counter()
            try:
                return await fetch()
            finally:
                fetches.append(time.perf_counter() - started)

        pane.fetch = timed_fetch  # type: ignore[method-assign]
        table = pane.query_one(DataTable)

        def cell(row: int) -> str:
            return str(table.get_row_at(row)[2]) if table.row_count > row >= -table.row_count else ""

        def first_page() -> bool:
            return pane.pager.label() == "Page 1" and cell(0) == newest

        def last_page() -> bool:
            return pane.pager.label() == "Last page" and cell(table.row_count - 1) == oldest

        async def timed(key: str, shown: Callable[[], bool], what: str) -> tuple[float, float]:
            """(key → page shown, the engine query's part); then the operator reads
            the page before the next key."""
            before = len(shows)
            started = time.perf_counter()
            _send_key(app, key)
            await wait_until(app, lambda: len(shows) > before and shown(), what)
            await workers_idle(app)
            await asyncio.sleep(READ_S)
            return shows[-1] - started, fetches[-1]

        await pilot.press("ctrl+t")
        await wait_until(app, first_page, "the first page of the records")
        for r in range(rounds + 1):
            _send_key(app, "1")
            await wait_until(app, lambda: app.screen.query_one("#areas").current == "positions", "Positions")
            await workers_idle(app)
            first, first_query = await timed("2", first_page, "the first page after entering Allocations")
            last, last_query = await timed("}", last_page, "the last page")
            await timed("{", first_page, "the first page again")
            if r:
                result["rounds"].append({"first_s": first, "last_s": last, "first_query_s": first_query,
                                         "last_query_s": last_query})
        result["rows_shown"] = table.row_count

    return steps


def _send_key(app: Any, key: str) -> None:  # noqa: ANN401
    """The key as the terminal driver delivers it.  Not ``pilot.press``: that then waits
    for the app to idle, and not ``App.simulate_key``: that takes key names only."""
    from textual import events
    from textual.keys import _character_to_key

    name = key if key.isalnum() else _character_to_key(key)
    event = events.Key(name, key)
    event.set_sender(app)
    app._driver.send_message(event)  # noqa: SLF001


def main(argv: list[str]) -> None:
    from wbo_tui.config import Settings

    db_url, username, password, rounds, newest, oldest = argv
    settings = Settings(db_url=db_url, poll_interval_s=QUIET_S, allocation_interval_s=QUIET_S,
                        delivery_interval_s=QUIET_S, audit_anchor_interval_s=QUIET_S)
    run_console(settings, username, password, make_steps(int(rounds), newest, oldest), prefix=MARKS_PREFIX,
                result=result, settle=True)


if __name__ == "__main__":
    main(sys.argv[1:])

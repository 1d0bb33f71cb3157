"""Helpers for the console's pilot and snapshot tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.text import Text
from sqlalchemy import select
from textual.content import Content
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import DataTable, Input

from wbo_tui.engine import Engine, QueryAuditLog
from wbo_tui.engine.schema import operators
from wbo_tui.widgets.live_feed import LiveFeed

START = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
HISTORY_START = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
# The demo operators' passwords, from the demo data itself.
DEMO_DATA = Path(__file__).resolve().parents[2] / "data" / "demo.json"
PASSWORDS = {op["username"]: op["password"] for op in json.loads(DEMO_DATA.read_text())["operators"]}


SETTLE_ROUNDS = 100  # a bound, never reached by a console that quiets down


async def settle(pilot: Pilot) -> None:
    """Let messages run and every worker finish (a worker may start another one), and the
    change feed report the commits made so far, until nothing is in flight.

    The console's own commits reach its change feed at the feed's next poll (SQLite, every
    0.25 s) or notification (PostgreSQL), and the lists and the header read again then: a
    picture taken before that raced it.  So each round first catches the feed up (it checks
    the database now and dispatches what changed, ``LiveFeed.catch_up``), then lets
    messages run and waits for the workers; it is quiet when twice running the feed had
    nothing new, no worker ran, and nothing else is in flight (``in_flight``).  Failed
    workers are part of what some tests check: they are not raised here."""
    quiet = 0
    for _ in range(SETTLE_ROUNDS):
        reported = await catch_up_feed(pilot)
        await pilot.pause()
        busy = [worker for worker in pilot.app.workers if not worker.is_finished]
        if busy:
            await asyncio.gather(*(worker.wait() for worker in busy), return_exceptions=True)
        waiting = in_flight(pilot)
        if waiting is not None:
            await asyncio.sleep(0.005)  # not a worker to wait for (the feed starting)
        if reported or busy or waiting is not None:
            quiet = 0
            continue
        quiet += 1
        if quiet == 2:
            return


def live_feed(pilot: Pilot) -> LiveFeed | None:
    """The shell's change feed, while the shell is up."""
    for screen in pilot.app.screen_stack:
        feed = getattr(screen, "live_feed", None)
        if isinstance(feed, LiveFeed):
            return feed
    return None


async def catch_up_feed(pilot: Pilot) -> bool:
    """Dispatch now what the change feed would report at its next poll; whether anything."""
    feed = live_feed(pilot)
    return feed is not None and await feed.catch_up()


@contextlib.asynccontextmanager
async def feed_held_back(pilot: Pilot) -> AsyncIterator[None]:
    """Keep the change feed's reports (its polls' and ``settle``'s) back until the block
    ends, then hand them to the widgets as one, under the screen on top by then.

    For an action that commits with the shell on top and then covers it (a result dialog):
    the feed's poll may fall among its commits, and the header and lists read again then,
    half-way, or only after the dialog is up, when they only mark themselves stale.  Held
    back, the report always comes after: what the pictures show is what was read before
    the action, marked stale, as when the poll falls late."""
    feed = live_feed(pilot)
    assert feed is not None, "the shell's change feed"
    kept: set[str] = set()
    feed.dispatch = kept.update  # type: ignore[method-assign]  # the instance's, for the block
    try:
        yield
    finally:
        del feed.dispatch
    if kept:
        feed.dispatch(frozenset(kept))


def in_flight(pilot: Pilot) -> str | None:
    """What the console is still doing besides its workers, or None: the change feed
    starting, a list loading (or to load again after its load), a list shown that changed
    and has not been read, the header counting or stale.  A list behind a modal only marks
    itself stale (``_stale``) and reads when uncovered: that is not in flight; the header
    counts above a dialog too, and only marks itself stale while the console is locked."""
    from wbo_tui.widgets.header import ConsoleHeader
    from wbo_tui.widgets.table_pane import TablePane

    feed = live_feed(pilot)
    if feed is not None and not feed.stopped and not feed.watching:
        return "the change feed starting"
    for screen in pilot.app.screen_stack:
        for pane in screen.query(TablePane):
            # The pane's own counters, read only (the pane owns them).
            if pane._loads_finished < pane._loads_started or pane._again:  # noqa: SLF001
                return f"{type(pane).__name__} loading"
            if pane._stale and pane.shown_now():  # noqa: SLF001
                return f"{type(pane).__name__} shown and stale"
        for header in screen.query(ConsoleHeader):
            if header._counting or header._again:  # noqa: SLF001
                return "the header counting"
            if header._stale and header.is_attached and not pilot.app.is_locked:  # noqa: SLF001
                return "the header stale"
    return None


async def wait_until(pilot: Pilot, condition: Callable[[], bool], what: str, attempts: int = 200) -> None:
    """Pause until ``condition`` holds; fail naming ``what`` if it never does."""
    for _ in range(attempts):
        if condition():
            return
        await settle(pilot)
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def wait_for_screen(pilot: Pilot, screen_type: type[Screen]) -> None:
    """Wait until ``screen_type`` is on top; failing, say which screen is, and what its form says."""

    def what() -> str:
        top = pilot.app.screen
        errors = [plain(error) for error in top.query("#form-error")]
        said = f" saying {errors[0]!r}" if errors and errors[0] else ""
        return f"the {screen_type.__name__} (on top: {type(top).__name__}{said})"

    try:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, screen_type), screen_type.__name__)
    except AssertionError:
        raise AssertionError(f"timed out waiting for {what()}") from None


async def submit_form(pilot: Pilot) -> None:
    """Click the form's submit button once the form has settled: a refusal just shown
    re-fits the form after the next refresh, and a click aimed before that may land where
    the button was."""
    await settle(pilot)
    await pilot.click("#submit")


def plain(widget: Widget) -> str:
    """The text a Static (or Label) shows."""
    content = getattr(widget, "content", None)
    if isinstance(content, (Text, Content)):
        return content.plain
    return str(content)


def screen_text(pilot: Pilot, selector: str) -> str:
    return plain(pilot.app.screen.query_one(selector))


async def type_into(pilot: Pilot, selector: str, text: str, *, keys: bool = False) -> None:
    """Focus a field and fill it: by setting its value, or key by key with ``keys``."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = "" if keys else text
    await pilot.pause()
    if keys and text:
        await pilot.press(*text)


def table_column(table: DataTable, index: int) -> list[str]:
    return [str(table.get_row_at(row)[index]) for row in range(table.row_count)]


async def login(pilot: Pilot, username: str, password: str | None = None) -> None:
    from wbo_tui.screens.login import LoginScreen

    await wait_for_screen(pilot, LoginScreen)
    await type_into(pilot, "#username", username)
    await pilot.press("enter")
    await type_into(pilot, "#password", PASSWORDS.get(username, "") if password is None else password)
    await pilot.press("enter")
    await settle(pilot)


def no_blink(pilot: Pilot) -> None:
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False



async def last_actions(engine: Engine, n: int = 3) -> list[str]:
    """The newest ``n`` audit actions, newest first."""
    page = await engine.setup_query(tool="test", query=QueryAuditLog(page_size=n))
    return [record.action for record in page.records]


async def operator_row(engine: Engine, username: str):  # noqa: ANN201
    async with engine.db.connect() as conn:
        return (await conn.execute(select(operators).where(operators.c.username == username))).one()


def lists_shown(pilot: Pilot) -> bool:
    """Every list on screen has shown its load and measured its rows.  A table lays its
    columns out from its rows on the next idle moment, not when the rows are added: a
    snapshot taken in between (a loaded machine) shows columns cut to the width of their
    labels.  Only what is on screen counts: a hidden tab loads when it is shown."""
    from wbo_tui.widgets.table_pane import TablePane

    screen = pilot.app.screen
    for pane in screen.query(TablePane):
        if pane.region.width and plain(pane.query_one(".pane-status")) == "Loading…":
            return False
    return not any(
        table.region.width and (table._require_update_dimensions or table._new_rows)  # noqa: SLF001 - see above
        for table in screen.query(DataTable)
    )


async def wait_for_lists(pilot: Pilot) -> None:
    await wait_until(pilot, lambda: lists_shown(pilot), "the lists on screen to load and lay out")

"""Helpers for the console's pilot and snapshot tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
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

START = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
HISTORY_START = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
# The demo operators' passwords, from the demo data itself.
DEMO_DATA = Path(__file__).resolve().parents[2] / "data" / "demo.json"
PASSWORDS = {op["username"]: op["password"] for op in json.loads(DEMO_DATA.read_text())["operators"]}


async def settle(pilot: Pilot) -> None:
    """Let messages run and every worker finish (a worker may start another one)."""
    quiet = 0
    for _ in range(20):
        await pilot.pause()
        busy = [worker for worker in pilot.app.workers if not worker.is_finished]
        if busy:
            quiet = 0
            # Failed workers are part of what some tests check: don't raise here.
            await asyncio.gather(*(worker.wait() for worker in busy), return_exceptions=True)
        else:
            quiet += 1
            if quiet == 2:
                return


async def wait_until(pilot: Pilot, condition: Callable[[], bool], what: str, attempts: int = 200) -> None:
    """Pause until ``condition`` holds; fail naming ``what`` if it never does."""
    for _ in range(attempts):
        if condition():
            return
        await settle(pilot)
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def wait_for_screen(pilot: Pilot, screen_type: type[Screen]) -> None:
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, screen_type), f"the {screen_type.__name__}")


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

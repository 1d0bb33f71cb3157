"""Steps the allocation decision-dialog tests share: go to a row of the records list as an
operator (or mark rows), press the key that opens a dialog and wait for it, leave it with
Escape."""

from __future__ import annotations

from console_helpers import wait_for_screen
from test_console_allocations import mark, open_tab, select_row
from textual.pilot import Pilot
from textual.screen import Screen

from wbo_tui.screens.allocations.records import AllocationsPane
from wbo_tui.screens.shell import ShellScreen


async def at_row(pilot: Pilot, order_no: str, username: str = "checker") -> AllocationsPane:
    """Log in as ``username``, open the allocation records and select ``order_no``'s row."""
    pane = await open_tab(pilot, username)
    await select_row(pilot, order_no)
    assert isinstance(pane, AllocationsPane)
    return pane


async def open_dialog(pilot: Pilot, key: str, screen_type: type[Screen]) -> Screen:
    """Press ``key`` and wait until a ``screen_type`` dialog is on top; the dialog."""
    await pilot.press(key)
    await wait_for_screen(pilot, screen_type)
    return pilot.app.screen


async def row_dialog(pilot: Pilot, order_no: str, key: str, screen_type: type[Screen]) -> Screen:
    """As the checker, the dialog ``key`` opens on ``order_no``'s row."""
    await at_row(pilot, order_no)
    return await open_dialog(pilot, key, screen_type)


async def marked_dialog(pilot: Pilot, order_nos: list[str], key: str, screen_type: type[Screen]) -> Screen:
    """As the checker, the bulk dialog ``key`` opens on the rows ``order_nos``, marked."""
    await open_tab(pilot, "checker")
    await mark(pilot, *order_nos)
    return await open_dialog(pilot, key, screen_type)


async def escape_to_shell(pilot: Pilot) -> None:
    """Escape the dialog on top and wait for the shell."""
    await pilot.press("escape")
    await wait_for_screen(pilot, ShellScreen)

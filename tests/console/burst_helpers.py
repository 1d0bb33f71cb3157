"""Keys that reach the console in one read: an SSH link, typing ahead, a password manager.

``Pilot.press`` waits until the app is idle after every key, so it never shows what a
burst does; these helpers hand the app keys the way the Linux driver does.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from textual._xterm_parser import XTermParser
from textual.pilot import Pilot

from wbo_tui.engine import Engine
from wbo_tui.engine.schema import audit_log

# What a terminal sends for these keys.
TAB, SHIFT_TAB, ENTER, BACKSPACE = "\t", "\x1b[Z", "\r", "\x7f"


def deliver(pilot: Pilot, typed: str) -> None:
    """Hand ``typed`` to the app as the Linux driver hands over one read of the terminal:
    parse it with Textual's xterm parser and pass every event to the driver in one
    synchronous loop. Nothing is awaited in between, so the app sees the whole burst
    queued before it handles its first key (``Pilot.press`` waits for idle after each)."""
    driver = pilot.app._driver
    for event in XTermParser().feed(typed):
        driver.process_message(event)


async def deliver_paced(pilot: Pilot, typed: str) -> None:
    """The same keys, each handled before the next arrives: a slow typist."""
    for event in XTermParser().feed(typed):
        pilot.app._driver.process_message(event)
        await pilot.pause()


def recorder(values: list[str]) -> Callable[[str], None]:
    """Every value a field takes, in order (Textual calls a plain function's watcher at once)."""

    def record(value: str) -> None:
        values.append(value)

    return record


async def audit_rows_text(engine: Engine) -> str:
    async with engine.db.connect() as conn:
        return "\n".join(repr(tuple(row)) for row in (await conn.execute(select(audit_log))).all())

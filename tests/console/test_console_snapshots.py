"""Snapshots of the console at fixed terminal sizes, with a fixed clock, sequential ids
and the seeded database.  Regenerate with ``pytest tests/console --snapshot-update`` and
look at the SVGs in ``__snapshots__`` before committing them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from console_helpers import login, no_blink, settle, type_into, wait_for_screen
from textual.pilot import Pilot

from wbo_tui.screens.login import LoginScreen

WIDE = (120, 36)
SMALL = (80, 24)
LARGE = (160, 48)


def after(*steps: str, username: str | None = "admin") -> Callable[[Pilot], Awaitable[None]]:
    """Log in (unless ``username`` is None), press ``steps``, wait for every worker."""

    async def run_before(pilot: Pilot) -> None:
        await wait_for_screen(pilot, LoginScreen)
        if username is not None:
            await login(pilot, username)
        for key in steps:
            await pilot.press(key)
            await settle(pilot)
        await settle(pilot)
        no_blink(pilot)

    return run_before


def test_login_screen(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=after(username=None))


def test_shell_as_admin(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=after("5"))


def test_audit_area(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=after("6"))


def test_shell_at_80x24(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=after("5"))


def test_fx_empty_state_as_maker_at_80x24(snap_compare, make_app) -> None:
    """A module whose screens arrive later: what the maker holds and lacks for it."""
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=after("3", username="maker"))


def test_audit_denied_for_maker(snap_compare, make_app) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=after("6", username="maker"))


def test_audit_area_filtered_at_160x48(snap_compare, make_app) -> None:
    """At 160 columns the filters take one line and the detail pane sits beside the table."""

    async def run_before(pilot: Pilot) -> None:
        await after("6")(pilot)
        await type_into(pilot, "#filter-action", "role.")
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("down")
        await settle(pilot)
        no_blink(pilot)

    assert snap_compare(make_app(), terminal_size=LARGE, run_before=run_before)

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


def test_risk_area_without_margin_calls_as_trader_at_80x24(snap_compare, make_app) -> None:
    """The Risk area on a book with no margin call: the list says so, its totals are zero."""
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=after("4", username="trader"))


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


# --- every list at 80x24 and 160x48 (issue 10, point 4) -------------------------------------
#
# Each list with its own seeded data, the clock fixed.  The snapshot is taken once every
# list on screen has loaded and laid its rows out (``wait_for_lists``): a table measures its
# rows on the next idle moment, and a snapshot taken before shows columns cut to their labels.

import pytest  # noqa: E402
from console_helpers import wait_for_lists  # noqa: E402

BOTH = pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x48"])


def listed(username: str, *steps: str) -> Callable[[Pilot], Awaitable[None]]:
    """Log in as ``username``, press ``steps``, wait for the lists, stop the cursors blinking."""
    before = after(*steps, username=username)

    async def run_before(pilot: Pilot) -> None:
        await before(pilot)
        await wait_for_lists(pilot)
        no_blink(pilot)

    return run_before


def _positions(db_url: str, tmp_path) -> None:  # noqa: ANN001
    from test_console_positions import seed_mixed

    seed_mixed(db_url, tmp_path)


def _withdrawals(db_url: str, tmp_path) -> None:  # noqa: ANN001
    from test_console_withdrawals import _withdrawals_of_each_status
    from withdrawal_helpers import seed_in_thread

    seed_in_thread(db_url, tmp_path, _withdrawals_of_each_status)


def _allocations(db_url: str, tmp_path, then: str | None = "_four") -> None:  # noqa: ANN001
    import test_console_allocations as allocations

    allocations.seed_in_thread(db_url, tmp_path, getattr(allocations, then) if then else None)


@BOTH
def test_list_positions(snap_compare, make_app, db_url, tmp_path, size) -> None:
    _positions(db_url, tmp_path)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("maker"))


@BOTH
def test_list_channel_accounts(snap_compare, make_app, db_url, tmp_path, size) -> None:
    _positions(db_url, tmp_path)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("maker", "ctrl+t"))


@BOTH
def test_list_withdrawals(snap_compare, make_app, db_url, tmp_path, size) -> None:
    _withdrawals(db_url, tmp_path)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("checker", "ctrl+t", "ctrl+t"))


@BOTH
def test_list_deposits(snap_compare, make_app, db_url, tmp_path, size) -> None:
    _withdrawals(db_url, tmp_path)
    assert snap_compare(make_app(), terminal_size=size,
                        run_before=listed("maker", "ctrl+t", "ctrl+t", "ctrl+t"))


@BOTH
def test_list_allocation_rules(snap_compare, make_app, db_url, tmp_path, size) -> None:
    _allocations(db_url, tmp_path, then=None)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("maker", "2"))


@BOTH
def test_list_allocations(snap_compare, make_app, db_url, tmp_path, size) -> None:
    _allocations(db_url, tmp_path)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("checker", "2", "ctrl+t"))


@BOTH
def test_list_explain(snap_compare, make_app, db_url, tmp_path, size) -> None:
    _allocations(db_url, tmp_path, then="_event_allocation")
    assert snap_compare(make_app(), terminal_size=size,
                        run_before=listed("viewer", "2", "ctrl+t", "ctrl+t", "down"))


ADMIN_TABS = {"operators": (), "roles": ("]",), "requests": ("]",) * 2, "changes": ("]",) * 3,
              "subscriptions": ("]",) * 4, "deliveries": ("[", "["), "submissions": ("[",)}


@BOTH
@pytest.mark.parametrize("tab", list(ADMIN_TABS))
def test_list_admin(snap_compare, make_app, db_url, size, tab: str) -> None:
    if tab in ("subscriptions", "deliveries"):
        from notify_helpers import seed
        from test_console_notify import _deliveries

        seed(db_url, _deliveries)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("admin", "5", *ADMIN_TABS[tab]))


@BOTH
def test_list_audit(snap_compare, make_app, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("admin", "6"))


@BOTH
def test_list_inbox(snap_compare, make_app, db_url, size) -> None:
    from notify_helpers import seed
    from test_console_notify import _checker_inbox

    seed(db_url, _checker_inbox)
    assert snap_compare(make_app(), terminal_size=size, run_before=listed("checker", "i"))

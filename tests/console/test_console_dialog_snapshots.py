"""Decision dialogs on a small terminal and what they say, and the allocation list's columns.

At 80x24 a reject dialog, a bulk reject and a bulk approval keep their buttons on screen:
what does not fit scrolls above them.  The approve dialog reads the item it decides by
its id (found however many others are pending) and says what Enter does: the decision
commits, then the transfer goes to the settlement channel and the list shows its outcome.
The allocation list's cells start where their column's label starts (status included).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from console_helpers import (login, no_blink, plain, settle, type_into, wait_for_lists, wait_for_screen,
                             wait_until)
from dialog_helpers import at_row, escape_to_shell, marked_dialog, open_dialog, row_dialog
from sqlalchemy import insert, select
from test_console_allocations import (
    OUTCOME_NOW,
    STATUS,
    Desk,
    _four,
    confirm,
    notices,
    open_desk,
    open_tab,
    records,
    row,
    seed_in_thread,
)
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Input
from withdrawal_helpers import open_desk as open_withdrawal_desk
from withdrawal_helpers import open_tab as open_positions_tab

from wbo_tui.engine import ListApprovals
from wbo_tui.engine.schema import approvals, operators
from wbo_tui.screens.allocations.forms import BulkRejectScreen, BulkResultScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.reject import RejectScreen

SMALL = (80, 24)
WIDE = (160, 48)


@pytest.fixture
async def desk(engine, tmp_path: Path):  # noqa: ANN001, ANN201
    opened = await open_desk(engine, tmp_path)
    yield opened
    opened.bank.close()


def fully_shown(screen: Screen, widget: Widget) -> bool:
    """Whether all of ``widget`` is on screen, nothing of it clipped by a container."""
    region = widget.region
    return bool(region.area) and screen.region.contains_region(region) and (
        screen.find_widget(widget).visible_region == region)


def buttons_shown(screen: Screen) -> bool:
    return all(fully_shown(screen, button) for button in screen.query(Button))


# --- reject, one and in bulk, at 80x24 ----------------------------------------------------


async def test_reject_dialog_shows_every_part_and_its_buttons_at_80x24(make_app, desk: Desk) -> None:
    a = await desk.submit(remarks="refill the HKD principal before the afternoon payout run")
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        screen = await row_dialog(pilot, a.order_no, "x", RejectScreen)
        await settle(pilot)
        assert buttons_shown(screen)
        # Every part at once, nothing to scroll to: what is rejected, what happens, the reason, the confirmation.
        for part in (*screen.query(".what-happens"), "#reject-reason", "#typed-confirmation", "#form-error"):
            widget = screen.query_one(part) if isinstance(part, str) else part
            assert fully_shown(screen, widget), widget
        # A refusal shows above the buttons, both on screen.
        await type_into(pilot, "#typed-confirmation-input", "REJECT 1")
        await pilot.press("enter")
        await settle(pilot)
        assert plain(screen.query_one("#form-error")) == "Reason is required when rejecting."
        assert fully_shown(screen, screen.query_one("#form-error")) and buttons_shown(screen)
        await type_into(pilot, "#reject-reason", "wrong receiving account")
        await pilot.click("#submit")
        await wait_for_screen(pilot, ShellScreen)
        await settle(pilot)
        assert row(pilot, a.order_no)[STATUS] == "rejected"


async def test_bulk_reject_scrolls_above_its_buttons_at_80x24(make_app, desk: Desk) -> None:
    await _four(desk)  # two pending, one failed, one rejected: each row wraps to two or three lines
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await open_tab(pilot, "checker")
        for _ in range(4):  # mark all four rows, top to bottom
            await pilot.press("space")
            await settle(pilot)
        screen = await open_dialog(pilot, "X", BulkRejectScreen)
        await settle(pilot)
        fields = screen.query_one(".form-fields")
        assert fields.max_scroll_y > 0  # four rows and what happens do not fit: they scroll
        # The reason, typed first, is in view below the rows, and so are the buttons.
        assert screen.focused is screen.query_one("#bulk-reject-reason", Input)
        assert buttons_shown(screen) and fully_shown(screen, screen.focused)
        # The keyboard reaches every part: the confirmation scrolls into view, the buttons stay.
        await pilot.press(*"month-end freeze", "enter")
        await settle(pilot)
        assert screen.focused is screen.query_one("#typed-confirmation-input", Input)
        assert fully_shown(screen, screen.focused) and buttons_shown(screen)
        await pilot.press("enter")  # before the confirmation is typed: nothing, and the form says why
        await settle(pilot)
        assert plain(screen.query_one("#form-error")) == "Not done: type REJECT 4 to confirm first."
        assert fully_shown(screen, screen.query_one("#form-error")) and buttons_shown(screen)
        await pilot.press(*"REJECT 4", "enter")
        await wait_for_screen(pilot, BulkResultScreen)
        results = plain(pilot.app.screen.query_one("#bulk-results")).splitlines()
        done = [line.split(": ", 1)[1] for line in results if line.startswith("✔")]
        assert done == ["rejected: month-end freeze"] * 2  # the two pending rows; the decided two refused
    assert sorted(a.status for a in await desk.rows()) == ["failed", "rejected", "rejected", "rejected"]


async def test_bulk_approve_keeps_its_confirmation_and_buttons_on_screen_at_80x24(make_app, desk: Desk) -> None:
    rows = [await desk.submit(f"{100 * n}.00", remarks=f"refill number {n}") for n in range(1, 9)]
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        screen = await marked_dialog(pilot, [a.order_no for a in rows], "A", ConfirmScreen)
        await settle(pilot)
        assert screen.query_one("#confirm-scroll").max_scroll_y > 0  # eight rows scroll
        assert buttons_shown(screen) and fully_shown(screen, screen.query_one("#typed-confirmation"))
        await pilot.press(*"APPROVE 8")
        await settle(pilot)
        assert not screen.query_one("#confirm", Button).disabled
        assert buttons_shown(screen) and fully_shown(screen, screen.query_one("#typed-confirmation"))
        await escape_to_shell(pilot)


@pytest.fixture
async def withdrawals(engine, tmp_path: Path):  # noqa: ANN001, ANN201
    opened = await open_withdrawal_desk(engine, tmp_path)
    yield opened
    opened.bank.close()


async def test_withdrawal_reject_dialog_keeps_its_buttons_at_80x24(make_app, withdrawals) -> None:  # noqa: ANN001
    await withdrawals.submit()
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await login(pilot, "checker")
        await open_positions_tab(pilot, "withdrawals")
        screen = await open_dialog(pilot, "x", RejectScreen)
        await settle(pilot)
        assert buttons_shown(screen)
        for part in ("#reject-reason", "#typed-confirmation", "#form-error"):
            screen.query_one(part).scroll_visible(animate=False, immediate=True)
            await settle(pilot)
            assert fully_shown(screen, screen.query_one(part)) and buttons_shown(screen), part


# --- approve: the item by its id, and what Enter does ---------------------------------------


async def _pending_items(desk: Desk, count: int) -> None:
    """``count`` more pending fund allocation items, newer than any the test submitted."""
    async with desk.engine.db.begin() as conn:
        maker_id = (await conn.execute(select(operators.c.id).where(operators.c.username == "maker"))).scalar_one()
        await conn.execute(insert(approvals), [
            {"ref": f"AP-FILL-{n:05d}", "kind": "fund_allocation", "payload": f'{{"order_no": "FA-FILL-{n}"}}',
             "summary": f"filler {n}", "status": "PENDING", "maker_id": maker_id,
             "submitted_at": desk.engine.clock.now()}
            for n in range(count)])


async def test_approve_finds_its_item_among_more_than_a_thousand_pending(make_app, desk: Desk) -> None:
    a = await desk.submit("25000.00", remarks="cover today's withdrawals")
    await _pending_items(desk, 1_000)
    checker = await desk.session("checker")
    newest = await desk.engine.query(checker, ListApprovals(kind="fund_allocation", limit=1000))
    assert a.approval_id not in {item.id for item in newest}  # beyond any list of pending items
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await at_row(pilot, a.order_no)
        await pilot.press("a")
        said = await confirm(pilot)
        assert f"Payload: approve allocation order {a.order_no}." in said
        assert notices(pilot)[-1] in {f"Allocation {a.order_no} approved → {w}" for w in OUTCOME_NOW}
        await wait_until(pilot, lambda: row(pilot, a.order_no)[STATUS] == "succeeded", "the succeeded row")


async def test_approve_dialog_says_what_enter_does(make_app, desk: Desk) -> None:
    a = await desk.submit("25000.00", remarks="cover today's withdrawals")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        screen = await row_dialog(pilot, a.order_no, "a", ConfirmScreen)
        await wait_until(pilot, lambda: screen.focused is screen.query_one("#confirm"), "the focused action")
        said = plain(screen.query_one("#confirm-consequences"))
        assert "at once" not in said
        assert ("Approving is refused, and nothing changes, when HK-POOL-001 cannot cover the amount on top of what "
                "is already committed out of it.") in said
        assert "is marked approved by you as the decision commits" in said
        assert ("Then the transfer is sent to settlement_hashkey_hk (the allocation is processing until the channel "
                "answers); the list shows the outcome when it arrives") in said
        assert plain(screen.query_one("#confirm-enter")) == (
            "Enter: Approve (approves it, then sends the transfer to the settlement channel; the list shows the "
            "outcome when it arrives). Escape cancels and changes nothing.")
        await escape_to_shell(pilot)


# --- the list's columns ---------------------------------------------------------------------


async def test_allocation_cells_start_under_their_labels(make_app, desk: Desk) -> None:
    """Each cell, the coloured status included, starts in the column its label starts (the
    amount is padded to the page's widest, so its digits end together)."""
    await _four(desk)
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_tab(pilot, "checker")
        await wait_for_lists(pilot)
        table = records(pilot)
        lines = [table.render_line(y).text for y in range(table.row_count + 1)]
        start = table.cell_padding
        for index, column in enumerate(table.ordered_columns):
            label = str(column.label)
            assert lines[0][start:start + len(label)] == label, label
            for y in range(table.row_count):
                text = table.get_row_at(y)[index].plain
                assert lines[y + 1][start:start + len(text)] == text, (label, text)
            start += column.get_render_width(table)
        statuses = [table.get_row_at(y)[[str(c.label) for c in table.ordered_columns].index(STATUS)].plain
                    for y in range(table.row_count)]
        assert sorted(statuses) == ["failed", "pending approval", "pending approval", "rejected"]


# --- snapshots ------------------------------------------------------------------------------


def _steps(*keys: str, until: type[Screen]):  # noqa: ANN202
    async def run_before(pilot: Pilot) -> None:
        await open_tab(pilot, "checker")
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        await wait_for_screen(pilot, until)
        await settle(pilot)
        no_blink(pilot)

    return run_before


def test_reject_dialog_at_80x24(snap_compare, make_app, db_url, tmp_path) -> None:  # noqa: ANN001
    seed_in_thread(db_url, tmp_path, _four)
    # The newest row (the USD refill) is selected and pending.
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=_steps("x", until=RejectScreen))


def test_bulk_reject_dialog_at_80x24(snap_compare, make_app, db_url, tmp_path) -> None:  # noqa: ANN001
    seed_in_thread(db_url, tmp_path, _four)
    # All four rows marked: the rows and what happens scroll above the buttons.
    assert snap_compare(make_app(), terminal_size=SMALL,
                        run_before=_steps("space", "space", "space", "space", "X", until=BulkRejectScreen))

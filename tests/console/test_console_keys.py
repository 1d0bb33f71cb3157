"""Honest keys and dialogs, as an operator meets them (issue 10, parts 2 and 3).

A key that does not apply to the selected row is greyed, the line under the table says
why, and pressing it anyway opens nothing and says why again; a permission request is
offered only where the permission would let the operator act.  A dialog says what Enter
does: an approval's Enter approves; a rejection or a bulk decision does nothing on Enter
until the operator has typed the confirmation naming the count; Escape cancels and says so."""

from __future__ import annotations

from burst_helpers import deliver
from console_helpers import plain, settle, type_into, wait_for_screen, wait_until
from dialog_helpers import at_row, escape_to_shell, marked_dialog, open_dialog, row_dialog
from test_console_allocations import (  # noqa: F401  (desk is a fixture)
    STATUS,
    WIDE,
    desk,
    mark,
    notices,
    open_tab,
    row,
)
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button

from wbo_tui.screens.allocations.forms import SENT, BulkRejectScreen, BulkResultScreen
from wbo_tui.screens.permission_request import PermissionRequestScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.reject import RejectScreen

APPROVAL = "atm.company_fund_allocation_approval"


def hint(pane) -> str:  # noqa: ANN001
    return plain(pane.query_one(".pane-hint"))


def footer_key(pilot, key: str) -> bool:  # noqa: ANN001
    """Whether the footer shows ``key`` enabled (False: greyed)."""
    return pilot.app.screen.active_bindings[key].enabled


async def refused(pilot: Pilot, key: str) -> str:
    """Press ``key``, which does not apply: nothing opens; what the console said last."""
    await pilot.press(key)
    await settle(pilot)
    assert isinstance(pilot.app.screen, ShellScreen)  # nothing opened
    return notices(pilot)[-1]


async def enter_does_nothing(pilot: Pilot, screen: Screen) -> None:
    """Press Enter in ``screen`` before its confirmation is typed: the dialog stays."""
    await pilot.press("enter")
    await settle(pilot)
    assert pilot.app.screen is screen


def form_error(screen: Screen) -> str:
    return plain(screen.query_one("#form-error"))


async def escape_from_dialog(make_app, desk, key: str, screen_type: type[Screen]) -> tuple[str, str]:  # noqa: ANN001
    """Submit an allocation, open the dialog ``key`` opens on it as the checker and press
    Escape: the allocation stays pending, undecided.  Its order no and what the console said."""
    a = await desk.submit()
    async with make_app().run_test(size=WIDE) as pilot:
        await row_dialog(pilot, a.order_no, key, screen_type)
        await escape_to_shell(pilot)
        said = notices(pilot)[-1]
    [still] = await desk.rows()
    assert (still.status, still.checker) == ("pending_approval", None)
    return a.order_no, said


async def test_the_maker_sees_approve_greyed_on_their_own_item_and_why(make_app, desk) -> None:
    a = await desk.submit(remarks="top up the principal")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await at_row(pilot, a.order_no, "maker")
        assert footer_key(pilot, "a") is False and footer_key(pilot, "x") is False
        assert hint(pane).startswith(
            "a Approve, x Reject unavailable: you submitted this allocation; another operator must decide it")
        # A permission would not let them decide their own item: no request is offered.
        assert pane.check_action("request_permission", ()) is False
        assert await refused(pilot, "a") == ("a Approve is not available: you submitted this allocation; another "
                                             "operator must decide it.")
        await refused(pilot, "R")
    [still] = await desk.rows()
    assert (still.status, still.checker) == ("pending_approval", None)


async def test_without_the_approval_permission_the_request_names_approving(make_app, desk) -> None:
    a = await desk.submit()
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await at_row(pilot, a.order_no, "viewer")  # reads allocations, may not decide them
        assert footer_key(pilot, "a") is False
        reason = f"you need the permission {APPROVAL} to decide fund allocation items (R requests it)"
        assert hint(pane).startswith(f"a Approve, x Reject unavailable: {reason} · ")
        assert await refused(pilot, "a") == f"a Approve is not available: {reason}."
        assert footer_key(pilot, "R") is True  # the permission would let them decide someone else's item
        screen = await open_dialog(pilot, "R", PermissionRequestScreen)
        said = plain(screen.query_one("#request-denial"))
        assert said == (f"You need the permission {APPROVAL} to decide fund allocation items. "
                        "You can file a permission request.")
        assert "list" not in said


async def test_a_finished_allocation_says_why_a_does_nothing(make_app, desk) -> None:
    a = await desk.submit()
    await desk.reject(a)
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await at_row(pilot, a.order_no)
        assert footer_key(pilot, "a") is False
        assert "a Approve, x Reject unavailable: this allocation is rejected; only a pending one can be decided" \
            in hint(pane)
        assert await refused(pilot, "a") == ("a Approve is not available: this allocation is rejected; only a "
                                             "pending one can be decided.")
        assert pane.check_action("request_permission", ()) is False


async def test_enter_in_the_approve_dialog_approves(make_app, desk) -> None:
    a = await desk.submit("25000.00", remarks="cover today's withdrawals")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await at_row(pilot, a.order_no)
        assert footer_key(pilot, "a") is True and "Approve" not in hint(pane)
        screen = await open_dialog(pilot, "a", ConfirmScreen)
        await wait_until(pilot, lambda: screen.focused is screen.query_one("#confirm", Button), "the focused action")
        assert plain(screen.query_one("#confirm-enter")).startswith("Enter: Approve (approves it")
        said = plain(screen.query_one("#confirm-consequences"))
        assert said.count("cover today's withdrawals") == 1  # the remarks, once
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
        await wait_until(pilot, lambda: row(pilot, a.order_no)[STATUS] == "succeeded", "the succeeded row")
    [done] = await desk.rows()
    assert (done.status, done.checker) == ("succeeded", "checker")


async def test_escape_cancels_the_approve_dialog_and_says_so(make_app, desk) -> None:
    order_no, said = await escape_from_dialog(make_app, desk, "a", ConfirmScreen)
    assert said == f"Cancelled, nothing changed: Approve fund allocation {order_no}?"


async def test_enter_in_the_reject_dialog_waits_for_the_typed_confirmation(make_app, desk) -> None:
    a = await desk.submit()
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        screen = await row_dialog(pilot, a.order_no, "x", RejectScreen)
        assert screen.query_one("#submit", Button).disabled
        assert plain(screen.query_one(".typed-prompt")).startswith("Type REJECT 1 to confirm. Until you do, "
                                                                   "Enter does nothing")
        await type_into(pilot, "#reject-reason", "wrong account")
        await pilot.press("enter")  # to the confirmation field
        await enter_does_nothing(pilot, screen)  # nothing typed there yet
        assert form_error(screen) == "Not done: type REJECT 1 to confirm first."
        assert (await desk.rows())[0].status == "pending_approval"
        await pilot.press(*"REJECT 1")
        await settle(pilot)
        assert not screen.query_one("#submit", Button).disabled
        await pilot.press("enter")
        await wait_for_screen(pilot, ShellScreen)
    [done] = await desk.rows()
    assert done.status == "rejected"


async def test_escape_cancels_the_reject_dialog_and_says_so(make_app, desk) -> None:
    _, said = await escape_from_dialog(make_app, desk, "x", RejectScreen)
    assert said == "Nothing was rejected."


async def test_bulk_approve_waits_for_the_typed_count(make_app, desk) -> None:
    first, second = await desk.submit("100.00"), await desk.submit("200.00")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await open_tab(pilot, "checker")
        assert pane.check_action("bulk_approve", ()) is None  # nothing marked yet
        assert await refused(pilot, "A") == ("A Approve marked is not available: no rows are marked; space marks "
                                             "the selected row.")
        await mark(pilot, first.order_no, second.order_no)
        screen = await open_dialog(pilot, "A", ConfirmScreen)
        assert screen.query_one("#confirm", Button).disabled
        await enter_does_nothing(pilot, screen)
        await pilot.press(*"APPROVE 3")  # the wrong count
        await enter_does_nothing(pilot, screen)
        assert screen.query_one("#confirm", Button).disabled
        for _ in "3":
            await pilot.press("backspace")
        await pilot.press("2")
        await settle(pilot)
        assert not screen.query_one("#confirm", Button).disabled
        await pilot.press("enter")
        await wait_for_screen(pilot, BulkResultScreen)
        assert plain(pilot.app.screen.query_one("#bulk-results")).splitlines() == [
            f"✔ {first.order_no}: approved → {SENT}", f"✔ {second.order_no}: approved → {SENT}"]
    assert {a.status for a in await desk.rows()} == {"succeeded"}


async def test_bulk_reject_waits_for_the_typed_count_and_escape_keeps_the_marks(make_app, desk) -> None:
    first, second = await desk.submit("100.00"), await desk.submit("200.00")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        screen = await marked_dialog(pilot, [first.order_no, second.order_no], "X", BulkRejectScreen)
        await type_into(pilot, "#bulk-reject-reason", "month-end freeze")
        await pilot.press("enter")  # to the confirmation field
        await enter_does_nothing(pilot, screen)
        assert form_error(screen) == "Not done: type REJECT 2 to confirm first."
        await escape_to_shell(pilot)
        assert notices(pilot)[-1] == "Nothing was rejected; the rows stay marked."
        pane = pilot.app.screen.query_one("#allocations-pane")
        assert set(pane.marked) == {first.order_no, second.order_no}
        await open_dialog(pilot, "X", BulkRejectScreen)
        await type_into(pilot, "#bulk-reject-reason", "month-end freeze")
        await type_into(pilot, "#typed-confirmation-input", "REJECT 2")
        await pilot.press("enter")
        await wait_for_screen(pilot, BulkResultScreen)
    assert {a.status for a in await desk.rows()} == {"rejected"}


async def test_reason_confirmation_and_enter_in_one_read_reject(make_app, desk) -> None:
    """Over SSH the reason, Tab, the typed confirmation and Enter can arrive in one read:
    the Enter is judged once the confirmation before it has landed in its field."""
    a = await desk.submit()
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await row_dialog(pilot, a.order_no, "x", RejectScreen)
        deliver(pilot, "wrong account\tREJECT 1\r")
        await wait_for_screen(pilot, ShellScreen)
    [done] = await desk.rows()
    assert done.status == "rejected"


async def test_typed_count_and_enter_in_one_read_approve_the_marked_rows(make_app, desk) -> None:
    first, second = await desk.submit("100.00"), await desk.submit("200.00")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await marked_dialog(pilot, [first.order_no, second.order_no], "A", ConfirmScreen)
        deliver(pilot, "APPROVE 2\r")
        await wait_for_screen(pilot, BulkResultScreen)
    assert {r.status for r in await desk.rows()} <= {"succeeded", "processing"}
    assert all(r.checker == "checker" for r in await desk.rows())

"""Live work lists: two consoles on one database, each showing what the other commits
without a key press (the change feed, ``widgets.live_feed``), keeping the operator's
cursor row, marks and scroll position; a checker's header counts what awaits them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from console_helpers import START, login, plain, settle, wait_for_screen, wait_until
from test_console_allocations import (
    STATUS,
    Desk,
    confirm,
    fill_manual,
    open_desk,
    open_tab,
    records,
    row,
    select_row,
)
from textual.pilot import Pilot
from textual.widgets import Static

from wbo_tui.app import WboApp
from wbo_tui.config import Settings
from wbo_tui.engine import Engine, FixedClock, SequentialIds
from wbo_tui.engine.changes import _Inbox
from wbo_tui.engine.notify import CreateSubscription, ListInbox
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.positions import SubmitWithdrawal
from wbo_tui.screens.allocations.records import AllocationsPane
from wbo_tui.screens.positions.withdrawals import WithdrawalsPane
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.widgets import live_feed

WIDE = (160, 40)
# Enough records that the checker's list scrolls (one page holds 50).
BACKLOG = 40
# Waiting for the other console: many settle rounds (a guard against a hang, not a measure).
ATTEMPTS = 600


@pytest.fixture
async def desk(engine: Engine, tmp_path: Path) -> Desk:
    opened = await open_desk(engine, tmp_path)
    yield opened
    opened.bank.close()


@pytest.fixture
def second_console(db_url: str) -> Callable[[], WboApp]:
    """Another console process's app on the same database, with ids of its own (two
    consoles never hand out the same reference)."""
    return lambda: WboApp(Settings(db_url=db_url), clock=FixedClock(START), ids=SequentialIds(start=800_000),
                          hasher=fast_hasher())


def cursor_key(pilot: Pilot) -> str:
    return pilot.app.screen.query_one(AllocationsPane).selected_key


def review_count(pilot: Pilot) -> Static:
    shell = next(screen for screen in pilot.app.screen_stack if isinstance(screen, ShellScreen))
    return shell.query_one("#hdr-review", Static)


async def test_makers_new_allocation_reaches_the_checker_who_approves_it_back(
        make_app, second_console, desk: Desk) -> None:
    backlog = [await desk.submit(f"{100 + n}.00", remarks=f"backlog {n}") for n in range(BACKLOG)]
    maker_app, checker_app = make_app(), second_console()
    async with maker_app.run_test(size=WIDE) as maker, checker_app.run_test(size=WIDE) as checker:
        await open_tab(checker, "checker")
        # The checker marks two rows and goes down the list, far enough that it scrolled.
        table = records(checker)
        marked = [backlog[-1].order_no, backlog[-2].order_no]  # newest first: the first two rows
        for order_no in marked:
            await select_row(checker, order_no)
            await checker.press("space")
            await settle(checker)
        on = backlog[5].order_no  # row 34 of 40
        await select_row(checker, on)
        assert table.scroll_y > 0
        place = table.cursor_row - table.scroll_y  # where the cursor's row is on screen

        await open_tab(maker, "maker")
        await maker.press("n")
        await fill_manual(maker, amount="2,500.00", remarks="live to the checker")
        await maker.press("enter")
        await wait_for_screen(maker, ShellScreen)
        await settle(maker)
        new = maker_app.screen.query_one(AllocationsPane).selected_key
        assert row(maker, new)[STATUS] == "pending approval"

        # No key pressed in the checker's console.
        await wait_until(checker, lambda: new in checker_app.screen.query_one(AllocationsPane).items,
                         "the maker's allocation in the checker's list", attempts=ATTEMPTS)
        await settle(checker)
        assert table.get_row_index(new) == 0  # newest first
        assert cursor_key(checker) == on and table.cursor_row == 35
        assert table.cursor_row - table.scroll_y == place  # the row stayed where the operator saw it
        assert [row(checker, o)[0] for o in marked] == ["●", "●"]
        assert set(checker_app.screen.query_one(AllocationsPane).marked) == set(marked)

        # The checker approves it; the maker's row follows, again without a key press.
        await select_row(checker, new)
        await checker.press("a")
        await confirm(checker)
        await wait_until(checker, lambda: row(checker, new)[STATUS] == "succeeded", "the approval")
        await wait_until(maker, lambda: row(maker, new)[STATUS] == "succeeded",
                         "the approval in the maker's list", attempts=ATTEMPTS)
        assert cursor_key(maker) == new


async def test_a_new_withdrawal_shows_in_the_checkers_list_and_header(make_app, desk: Desk) -> None:
    await desk.engine.setup_execute(tool="test", command=CreateSubscription(
        topic="approval.pending", channel="inbox", role="checker"))
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await login(pilot, "checker")
        await pilot.press("1")
        await settle(pilot)
        for _ in range(2):  # Positions › Withdrawals
            await pilot.press("ctrl+t")
            await settle(pilot)
        pane = app.screen.query_one(WithdrawalsPane)
        assert pane.items == {} and not review_count(pilot).display

        session = await desk.session("maker")
        withdrawal = await desk.engine.execute(session, SubmitWithdrawal(
            client_id="C-7", channel="settlement_hashkey_hk", currency="HKD", principal="1200.00", fee="12.00"))
        await wait_until(pilot, lambda: withdrawal.ref in pane.items, "the withdrawal in the checker's list",
                         attempts=ATTEMPTS)
        # (The console's allocation engine may submit automatic allocations meanwhile: at least one.)
        await wait_until(pilot, lambda: review_count(pilot).display, "the header's review count", attempts=ATTEMPTS)
        assert int(plain(review_count(pilot)).removeprefix("Review ")) >= 1
        # Told by subscription: an inbox message names the item awaiting review.
        inbox = app.screen.query_one("#hdr-inbox", Static)
        await wait_until(pilot, lambda: inbox.display, "the inbox count", attempts=ATTEMPTS)
        messages = await desk.engine.query(await desk.session("checker"), ListInbox())
        assert any(m.topic == "approval.pending" and withdrawal.ref in m.subject for m in messages), messages


async def test_a_list_not_shown_is_read_when_shown(make_app, desk: Desk) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        pane = await open_tab(pilot, "checker")
        await pilot.press("1")  # to Positions: the allocations list is hidden
        await settle(pilot)
        loads = pane._loads_started  # noqa: SLF001
        a = await desk.submit("700.00", remarks="while hidden")
        await wait_until(pilot, lambda: pane._stale, "the hidden list marked", attempts=ATTEMPTS)  # noqa: SLF001
        assert pane._loads_started == loads and a.order_no not in pane.items  # noqa: SLF001
        await pilot.press("2")
        await settle(pilot)
        assert a.order_no in pane.items


async def test_commits_close_together_are_dispatched_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """While other consoles commit back to back, each list reads itself once per
    ``DISPATCH_GAP_S``, not once per commit: what arrives while the feed rests after a
    dispatch is handed on in one dispatch."""
    monkeypatch.setattr(live_feed, "DISPATCH_GAP_S", 0.05)
    inbox = _Inbox(asyncio.get_running_loop())

    class Feed:
        def __aiter__(self) -> Feed:
            return self

        async def __anext__(self) -> frozenset[str]:
            return await inbox.take()

        def close(self) -> None:
            pass

    class Engine_:
        @contextlib.asynccontextmanager
        async def watch_changes(self):  # noqa: ANN202 - the engine's own shape
            yield Feed()

    class App:
        engine = Engine_()
        screen_stack: list = []

    dispatched: list[frozenset[str]] = []
    first = asyncio.Event()

    class Recording(live_feed.LiveFeed):
        def dispatch(self, topics: frozenset[str]) -> None:
            dispatched.append(topics)
            first.set()

    watcher = asyncio.create_task(Recording(App()).run())
    try:
        inbox.put({"allocations"})
        await first.wait()
        # Two commits with the event loop turning between them: without the rest after a
        # dispatch the watcher would take the first alone.
        inbox.put({"withdrawals"})
        for _ in range(5):
            await asyncio.sleep(0)
        inbox.put({"approvals"})
        while len(dispatched) < 2:
            await asyncio.sleep(0.01)
        assert dispatched == [frozenset({"allocations"}), frozenset({"withdrawals", "approvals"})]
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

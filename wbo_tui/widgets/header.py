"""The console header: product, current area, operator, unread inbox messages, items
awaiting the operator's review, database and time.  The counts are read when the shell
appears and again when the change feed says their tables changed (``widgets.live_feed``),
never on a timer."""

from __future__ import annotations

import logging

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from wbo_tui.engine import UnreadCount
from wbo_tui.engine.approvals import AwaitingMyReview
from wbo_tui.engine.changes import ACCESS_TOPICS, touches

from wbo_tui.widgets.engine_workers import EngineWorkers

log = logging.getLogger("wbo_tui.console")

# The tables the counts come from: the inbox, the approval items, and the operator's
# permissions (which items they may decide).
COUNT_TOPICS = frozenset({"inbox_messages", "approvals"}) | ACCESS_TOPICS


class ConsoleHeader(EngineWorkers, Horizontal):
    """One line across the top.  The time comes from the engine's clock (injected), so a
    fixed clock gives the same header in every snapshot.  The unread count shows only
    when there is something unread, so a header with an empty inbox looks as it always did."""

    area = reactive("", init=False)
    unread = reactive(0, init=False)
    awaiting_review = reactive(0, init=False)
    _stale = False  # the counts changed while the shell was covered
    _counting = False
    _again = False

    def compose(self) -> ComposeResult:
        yield Static("WBO Console", id="hdr-title")
        yield Static("", id="hdr-area")
        yield Static(self._operator_text(), id="hdr-operator", markup=False)
        yield Static(self._username_text(), id="hdr-username", markup=False)
        yield Static("", id="hdr-inbox", markup=False)
        yield Static("", id="hdr-review", markup=False)
        yield Static(self._database_text(), id="hdr-db", markup=False)
        yield Static("", id="hdr-time")

    def on_mount(self) -> None:
        self.refresh_time()
        self.set_interval(self.wbo.settings.clock_tick_s, self.refresh_time)
        # Once the shell is the screen on top: a count started before would be skipped.
        self.call_after_refresh(self.refresh_unread)

    def session_began(self) -> None:
        """The operator logged in (the header was composed with the shell, before)."""
        self.query_one("#hdr-operator", Static).update(self._operator_text())
        self.query_one("#hdr-username", Static).update(self._username_text())
        self.query_one("#hdr-db", Static).update(self._database_text())
        self.call_after_refresh(self.refresh_unread)

    def watch_area(self, area: str) -> None:
        self.query_one("#hdr-area", Static).update(area)

    def watch_unread(self, unread: int) -> None:
        inbox = self.query_one("#hdr-inbox", Static)
        inbox.update(f"Inbox {unread}")
        inbox.set_class(unread > 0, "-unread")

    def watch_awaiting_review(self, count: int) -> None:
        review = self.query_one("#hdr-review", Static)
        review.update(f"Review {count}")
        review.set_class(count > 0, "-awaiting")

    def show_unread(self, count: int) -> None:
        """Take a count someone else just read (the inbox, after marking messages read)."""
        self.unread = count

    def refresh_time(self) -> None:
        engine = self.wbo.engine
        if engine is None:
            return
        # The text is always as wide: no layout of the screen for it, only the time
        # redrawn (a layout pass every second was most of an idle console's work).
        label = self.query_one("#hdr-time", Static)
        text = f"{engine.clock.now():%Y-%m-%d %H:%M:%S} UTC"
        label.update(text, layout=len(text) != len(str(label.content)))

    # --- counts -----------------------------------------------------------------------

    def changes_committed(self, topics: frozenset[str]) -> None:
        """The change feed: count again when the inbox, the approval items or the
        operator's permissions changed (the header shows above a dialog too); while the
        console is locked only remember it, and count when it is unlocked."""
        if touches(COUNT_TOPICS, topics):
            self._stale = True
            self.refresh_unread()

    def resume_live(self) -> None:
        if self._stale:
            self.refresh_unread()

    def refresh_unread(self) -> None:
        """Count now, unless the console is locked (a locked session reads nothing) or a
        count is running (then once more after it).  A dialog over the shell leaves the
        header in sight, so it counts then too."""
        if not self.is_attached or self.wbo.session is None:
            return  # logged out or quitting: the shell and its header are going
        if self.wbo.is_locked:
            self._stale = True
        elif self._counting:
            self._again = True
        else:
            self._stale = False
            self._counting = True
            self._count_unread()

    def _count_unread(self) -> None:
        # The app's worker, not the header's: Textual cancels a widget's workers when it is
        # unmounted, and a count cancelled mid-query at quit or logout would leave the
        # database connection unclosed.  The app waits for its workers before closing.
        self.app.run_worker(self._count(), name="unread-count", group="unread", exit_on_error=False)

    async def _count(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        try:
            if engine is not None and session is not None:
                unread = await engine.query(session, UnreadCount())
                awaiting = await engine.query(session, AwaitingMyReview())
                if self.is_attached:
                    self.unread, self.awaiting_review = unread, awaiting
        except Exception as error:  # noqa: BLE001 - see below
            # A busy database or an ended session must not interrupt the operator: keep the
            # last counts; the next change counts again.  The operator's own next action
            # reports an ended session.
            log.warning("Header counts not refreshed: %s", error, exc_info=error)
        finally:
            self._counting = False
            if self._again and self.is_attached:
                self._again = False
                self.call_later(self.refresh_unread)

    # --- static parts -------------------------------------------------------------------

    def _operator_text(self) -> str:
        session = self.wbo.session
        if session is None:
            return ""
        return f"{session.display_name} ({session.username})"

    def _username_text(self) -> str:
        session = self.wbo.session
        return session.username if session is not None else ""

    def _database_text(self) -> str:
        engine = self.wbo.engine
        return engine.database_label if engine is not None else ""

"""The console header: product, current area, operator, unread inbox messages, database
and time."""

from __future__ import annotations

import logging

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from wbo_tui.engine import UnreadCount

from wbo_tui.widgets.engine_workers import EngineWorkers

log = logging.getLogger("wbo_tui.console")

# How often the header counts the operator's unread messages: one indexed count per
# operator every few seconds, not on every clock tick.
UNREAD_REFRESH_S = 5.0


class ConsoleHeader(EngineWorkers, Horizontal):
    """One line across the top.  The time comes from the engine's clock (injected), so a
    fixed clock gives the same header in every snapshot.  The unread count shows only
    when there is something unread, so a header with an empty inbox looks as it always did."""

    area = reactive("", init=False)
    unread = reactive(0, init=False)

    def compose(self) -> ComposeResult:
        yield Static("WBO Console", id="hdr-title")
        yield Static("", id="hdr-area")
        yield Static(self._operator_text(), id="hdr-operator", markup=False)
        yield Static(self._username_text(), id="hdr-username", markup=False)
        yield Static("", id="hdr-inbox", markup=False)
        yield Static(self._database_text(), id="hdr-db", markup=False)
        yield Static("", id="hdr-time")

    def on_mount(self) -> None:
        self.refresh_time()
        self.set_interval(self.wbo.settings.clock_tick_s, self.refresh_time)
        # Once the shell is the screen on top: a count started before would be skipped.
        self.call_after_refresh(self.refresh_unread)

    def watch_area(self, area: str) -> None:
        self.query_one("#hdr-area", Static).update(area)

    def watch_unread(self, unread: int) -> None:
        inbox = self.query_one("#hdr-inbox", Static)
        inbox.update(f"Inbox {unread}")
        inbox.set_class(unread > 0, "-unread")

    def show_unread(self, count: int) -> None:
        """Take a count someone else just read (the inbox, after marking messages read)."""
        self.unread = count

    def refresh_time(self) -> None:
        engine = self.wbo.engine
        if engine is None:
            return
        self.query_one("#hdr-time", Static).update(f"{engine.clock.now():%Y-%m-%d %H:%M:%S} UTC")

    # --- unread count -------------------------------------------------------------------

    def refresh_unread(self) -> None:
        """Count now, then again ``UNREAD_REFRESH_S`` after the count finished (so counts
        never overlap).  Skipped while something covers the shell (a modal, the lock): the
        inbox pushes its own count, and the count resumes once the shell is on top again."""
        if not self.is_attached:
            return  # logged out or quitting: the shell and its header are going
        if self.screen.is_active and self.wbo.session is not None:
            self._count_unread()
        else:
            self._rearm()

    def _rearm(self) -> None:
        # No new timer on a header that is being removed: it would outlive the shell.
        if self.is_attached:
            self.set_timer(UNREAD_REFRESH_S, self.refresh_unread, name="unread-count")

    def _count_unread(self) -> None:
        # The app's worker, not the header's: Textual cancels a widget's workers when it is
        # unmounted, and a count cancelled mid-query at quit or logout would leave the
        # database connection unclosed.  The app waits for its workers before closing.
        self.app.run_worker(self._count(), name="unread-count", group="unread", exit_on_error=False)

    async def _count(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        try:
            if engine is not None and session is not None:
                count = await engine.query(session, UnreadCount())
                if self.is_attached:
                    self.unread = count
        except Exception as error:  # noqa: BLE001 - see below
            # A busy database or an ended session must not interrupt the operator every few
            # seconds: keep the last count and try again at the next refresh.  The operator's
            # own next action reports an ended session.
            log.warning("Unread count not refreshed: %s", error, exc_info=error)
        finally:
            self._rearm()

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

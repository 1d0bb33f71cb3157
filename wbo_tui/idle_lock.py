"""The idle lock: after ``WBO_IDLE_LOCK_S`` without a key or a mouse event the console
hides behind the lock screen, and the session is suspended in the database as well, so
its token can do nothing anywhere until the operator's own password is entered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual import events, work

from wbo_tui import heap

if TYPE_CHECKING:  # imported with the engine, after the login screen is up (wbo_tui.startup)
    from wbo_tui.engine import SessionInfo

log = logging.getLogger("wbo_tui.console")


class IdleLock:
    """Mixed into ``WboApp``, which provides the session, the engine and the settings."""

    session: SessionInfo | None
    engine: Any
    settings: Any
    idle_clock: Callable[[], float]
    _last_input_s: float
    _locked: bool

    async def on_event(self, event: events.Event) -> None:
        # Every key and mouse event from the terminal passes here once before Textual
        # routes it, so this is the one place that sees all operator input.
        if isinstance(event, (events.Key, events.MouseEvent)) and not event.is_forwarded:
            self._last_input_s = self.idle_clock()
        await super().on_event(event)

    @property
    def is_locked(self) -> bool:
        """Whether the lock screen covers the console (its session reads nothing)."""
        return self._locked

    def _check_idle(self) -> None:
        if self.session is None or self._locked:
            return
        if self.idle_clock() - self._last_input_s >= self.settings.idle_lock_s:
            self.lock_console()

    def lock_console(self) -> None:
        if self.session is None or self._locked:
            return
        from wbo_tui.screens.lock import LockScreen

        self._locked = True
        self.push_screen(LockScreen(self.session), callback=self._on_unlocked)
        self._suspend_session(self.session)
        # No work list is on screen: the moment for one full collection (``heap``).
        self.call_after_refresh(heap.release)

    @work(group="session", exit_on_error=False)
    async def _suspend_session(self, session: SessionInfo) -> None:
        """Suspend the session in the database too: until the password is entered, its
        token can do nothing, from this console or from anywhere else."""
        from wbo_tui.engine import WboError

        if self.engine is None:
            return
        try:
            await self.engine.lock_session(session)
        except WboError as error:
            log.info("Locking the session of %s: %s", session.username, error)

    def _on_unlocked(self, _result: object) -> None:
        self._locked = False
        self._last_input_s = self.idle_clock()

    @property
    def locked(self) -> bool:
        return self._locked

    def action_lock(self) -> None:
        self.lock_console()


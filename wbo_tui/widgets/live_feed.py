"""The console's one watcher of the database's change feed (``engine.changes``).

The shell runs it while an operator is logged in.  Each time other connections (other
consoles, the scheduler of any console, set-up tools) commit, it hands the changed tables
to every widget of every open screen that has a ``changes_committed`` method: the lists
(``TablePane.TOPICS``) and the header's counts.  Each decides for itself whether the
change concerns it, and reads itself again in place, or marks itself to be read when it
is shown.  Nothing is read on a timer: an idle console does no work but the feed's own
check (on SQLite a thread asking ``PRAGMA data_version`` four times a second, on
PostgreSQL a LISTENing connection).  Commits that follow one another closely are
dispatched at most twice a second (``DISPATCH_GAP_S``), together.

This console's own commits come through the feed as well; a list the operator just
changed reloads itself after the command anyway, and the feed's reload of it finds the
rows unchanged (an in-place reload that changes nothing on screen).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

from textual.dom import DOMNode

from wbo_tui.engine.changes import EVERYTHING

log = logging.getLogger("wbo_tui.console")

# After the feed failed (the database unreachable), how long before watching again.
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)
# At most two dispatches a second: while other consoles commit back to back, what they
# commit within half a second of a dispatch is gathered in the feed and dispatched once,
# half a second later (each list then reads itself once, not once per commit).  A change
# after a quiet spell is dispatched as soon as the feed sees it.
DISPATCH_GAP_S = 0.5


def live_nodes(root: DOMNode) -> Iterator[Any]:
    """The widgets under ``root`` that follow the feed."""
    for node in root.walk_children(with_self=True):
        if callable(getattr(node, "changes_committed", None)):
            yield node


class LiveFeed:
    """Watches the change feed for ``app`` and dispatches each change to the widgets."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.reports = 0
        """How many changes were dispatched (for tests and the log)."""
        self.feed: Any = None
        self.stopped = False

    async def run(self) -> None:
        """Watch until cancelled (the shell goes: logout, quit).  A failing feed is logged
        and watched again; what changed meanwhile is unknown, so everything is read."""
        failures = 0
        while True:
            engine = self.app.engine
            if engine is None or self.stopped:
                return
            try:
                async with engine.watch_changes() as feed:
                    self.feed = feed
                    try:
                        if failures:
                            self.dispatch(EVERYTHING)
                        failures = 0
                        async for topics in feed:
                            self.dispatch(topics)
                            await asyncio.sleep(DISPATCH_GAP_S)
                    finally:
                        self.feed = None
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the console works on without it
                log.warning("Change feed failed (%s); lists refresh on entry until it is back", error,
                            exc_info=error)
                await asyncio.sleep(RETRY_S[min(failures, len(RETRY_S) - 1)])
                failures += 1

    def stop(self) -> None:
        """Stop watching now (the shell is going); the task running ``run`` ends with it."""
        self.stopped = True
        if self.feed is not None:
            self.feed.close()

    async def catch_up(self) -> bool:
        """Have the feed check the database now (not at its next poll) and hand what it
        finds to the widgets before returning: every commit made before the call is then
        dispatched.  Whether anything was (tests settle until nothing is).  The watching
        goes on as before; the console itself never needs this."""
        feed = self.feed
        if feed is None or self.stopped:
            return False
        topics = await feed.catch_up()
        if not topics or self.stopped or feed is not self.feed:
            return False
        self.dispatch(topics)
        return True

    @property
    def watching(self) -> bool:
        """Whether the feed is watching (its commits from then on are reported)."""
        return self.feed is not None and not self.stopped

    def dispatch(self, topics: frozenset[str]) -> None:
        self.reports += 1
        for screen in list(self.app.screen_stack):
            for node in live_nodes(screen):
                try:
                    node.changes_committed(topics)
                except Exception as error:  # noqa: BLE001 - one widget must not stop the others
                    log.warning("%s did not take a change (%s)", type(node).__name__, error, exc_info=error)

    @staticmethod
    def resume(screen: DOMNode) -> None:
        """``screen`` is on top again: its widgets read what changed while it was covered."""
        for node in live_nodes(screen):
            resume = getattr(node, "resume_live", None)
            if resume is not None:
                resume()

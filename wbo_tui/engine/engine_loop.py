"""The engine's own thread and event loop, so the console's loop never waits for the database.

A console draws on its event loop; a unit of work waits for disk (SQLite's commit and its
fsync, the write lock another console holds) or network (PostgreSQL, a settlement
channel).  ``Engine.open(url, own_loop=True)`` starts one ``EngineLoop``: a thread running
its own asyncio loop, on which every engine call runs whole (``Engine.execute``, ``query``,
the login calls, the scheduler's passes).  The caller awaits a future wrapped around it
(``run``): one hop per unit of work, never one per statement, so inside the unit SQLite
still runs inline (``sqlite_inline``) and ``bench allocate`` keeps its figures.

Python's GIL is shared: while the engine thread runs Python (SQLAlchemy compiling, a batch
deciding a thousand events) the console's thread gets it back within the interpreter's
switch interval, and the engine's waits (sqlite3, sockets, argon2) release it.  Each
sqlite3 call releases it too, and takes it back only when the other thread gives it up:
while the console's thread draws (a long list re-read), every statement of a unit would
wait up to a whole interval (5 ms by default) for it, with SQLite's write lock held and
the other consoles backing off.  So starting an engine loop shortens the process's
switch interval to ``SWITCH_INTERVAL_S``.

Work that outlives the call that queued it (``spawn``: the transfer after an approval's
commit) runs as a task on the engine loop; ``drain`` lets it finish before the engine
closes, and cancels what is still running after a time limit: such work is found again
by its state in the database (an allocation's lapsed claim).
"""

from __future__ import annotations

# Durations here are seconds of waiting (Seconds, a float), never money.

import asyncio
import logging
import sys
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from .clock import Seconds

T = TypeVar("T")
log = logging.getLogger(__name__)
SWITCH_INTERVAL_S = 0.0005


class EngineLoop:
    """A daemon thread running an asyncio loop; ``run`` awaits a coroutine on it."""

    def __init__(self, name: str = "wbo-engine") -> None:
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self.loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                pending = asyncio.all_tasks(self.loop)
                for task in pending:
                    task.cancel()
                if pending:
                    self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()

    def here(self) -> bool:
        """Whether the caller runs on this loop (then it awaits directly: no hop)."""
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the engine loop.  Cancelling the caller cancels it there."""
        if self.here():
            return await coro
        if not self._thread.is_alive():
            coro.close()
            raise RuntimeError("the engine is closed")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        """Run ``coro`` on the engine loop without anyone awaiting it (called there)."""
        task = self.loop.create_task(coro, name=what)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, timeout: Seconds | None = None) -> None:
        """Wait (on the engine loop) for spawned work; cancel what still runs after ``timeout``."""
        while self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            if pending:
                for task in pending:
                    log.warning("%s still running at shutdown; cancelling it (its state in the database "
                                "lets another pass pick it up)", task.get_name())
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                return

    # How long ``stop`` waits for the thread to cancel what is left and close its loop.
    STOP_TIMEOUT_S = 10.0

    async def stop(self) -> None:
        """Stop the loop and wait for its thread (off the caller's loop; a thread still
        busy after ``STOP_TIMEOUT_S`` is left to end with the process: it is a daemon)."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self.here():
                return  # stopping from inside: the thread ends once this call returns
            await asyncio.to_thread(self._thread.join, self.STOP_TIMEOUT_S)
            if self._thread.is_alive():
                log.warning("The engine's thread did not finish within %.0f s of closing", self.STOP_TIMEOUT_S)

"""SQLite for write units, run on the calling thread instead of aiosqlite's.

aiosqlite runs every call (cursor, execute, fetch, close, commit) on its own thread and
wakes the event loop for each answer.  A short write unit — a manual allocation is about
a dozen statements, each a few microseconds of SQLite — spends nearly all its time in
those round trips (measured here: about 0.2 ms each, four per statement; ``bench
allocate``).  Write units therefore use this adapter: the aiosqlite-shaped connection
SQLAlchemy's aiosqlite dialect expects (``async_creator``), whose calls run ``sqlite3``
directly and complete without suspending.  Reads keep aiosqlite (``db.create_engine``):
a long scan of the audit log must not hold up the console.

The other wait is a checkpoint: SQLite's automatic one runs inside the commit that
crosses the log's size threshold, copying the log into the database and syncing it —
milliseconds, on the event loop, in an operator's command.  Write connections therefore
turn it off and ``BackgroundCheckpoint`` does the same work on a worker thread at about
the same log size, so the log stays short and is rewritten in place rather than growing
(extending a file makes every sync slower).

"The calling thread" is, in a console, the engine's own (``engine_loop``): the console
hands each whole unit of work to it and awaits the result, one hop per unit, so the
commit's fsync and the statements' SQLite work never hold up a frame, while the unit
itself keeps the inline speed.  (Tools and tests without ``own_loop`` run units on their
own loop, as before.)

What running inline must not do is *wait* on the event loop's thread.  The only wait in
a WAL write unit is for the write lock, at ``BEGIN IMMEDIATE``; ``begin_immediate`` tries
without SQLite's busy handler and sleeps on the event loop between tries (the same
back-off SQLite's handler uses), so another console holding the lock delays this unit
without freezing this console.  Once the lock is held nothing else in the unit waits:
WAL commits take no further lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sqlalchemy.util.concurrency import await_

log = logging.getLogger(__name__)

# SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms, then
# 100 ms at a time; so do we, on the event loop.
_BACKOFF_S = (0.001, 0.002, 0.005, 0.010, 0.015, 0.020, 0.025, 0.025, 0.025, 0.050, 0.050, 0.100)


class InlineCursor:
    """aiosqlite's cursor interface over a ``sqlite3.Cursor``; every call completes at once."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> InlineCursor:
        self._cursor.executemany(sql, seq_of_parameters)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()

    async def close(self) -> None:
        self._cursor.close()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_: Any) -> None:
        return None


class InlineConnection:
    """aiosqlite's connection interface over a ``sqlite3.Connection`` (autocommit mode:
    transactions are begun explicitly, see ``begin_immediate`` and ``db``)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.sqlite = connection
        # SQLAlchemy's adapter checks ``_connection`` before commit and rollback.
        self._connection: sqlite3.Connection | None = connection

    @property
    def isolation_level(self) -> str | None:
        return self.sqlite.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self.sqlite.cursor())

    async def commit(self) -> None:
        self.sqlite.commit()

    async def rollback(self) -> None:
        self.sqlite.rollback()

    async def close(self) -> None:
        self.stop()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.sqlite.create_function(*args, **kwargs)

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self.sqlite.close()

    def begin_immediate(self, busy_timeout_ms: int) -> None:
        """``BEGIN IMMEDIATE``, waiting for another writer by sleeping on the event loop.

        Called from SQLAlchemy's ``begin`` event, inside its greenlet, where ``await_``
        suspends this unit (not the thread).  Gives up after ``busy_timeout_ms`` with
        SQLite's own "database is locked", as the busy handler would."""
        conn = self.sqlite
        deadline = time.monotonic() + busy_timeout_ms / 1000
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            tries = 0
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as error:
                    if getattr(error, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                        raise
                delay = _BACKOFF_S[min(tries, len(_BACKOFF_S) - 1)]
                tries += 1
                await_(asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic()))))
        finally:
            conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")


def connector(path: str) -> Callable[[], Awaitable[InlineConnection]]:
    """The ``async_creator`` for ``create_async_engine``: a connection to the file ``path``.

    ``check_same_thread`` is off because the pool may hand a connection to another
    thread's event loop (tests, the CLI); a connection is only ever used by one unit at
    a time, which the pool guarantees."""

    async def connect() -> InlineConnection:
        return InlineConnection(sqlite3.connect(path, isolation_level=None, check_same_thread=False))

    return connect


class BackgroundCheckpoint:
    """Checkpoint ``path``'s write-ahead log on a worker thread every ``every`` commits,
    one at a time, keeping the log near ``target_frames`` (SQLite's automatic checkpoint
    runs at 1,000 frames).

    How many frames a commit adds varies (a manual allocation: about twenty; a batch of a
    thousand decisions: thousands), so ``every`` adapts: each checkpoint reports how many
    frames the log held, and the next one is due after as many commits as would have
    filled ``target_frames`` at that rate.  The log is never inspected directly: opening
    and closing the ``-shm`` or database file in this process would drop SQLite's POSIX
    locks on it (https://www.sqlite.org/howtocorrupt.html, section 2.2) — found here as
    "database disk image is malformed" under two delivery processes.  PASSIVE: the
    checkpoint never waits for readers or writers; what it cannot copy now (a reader
    still needs it) is copied next time."""

    CATCH_UP_FRAMES = 100

    def __init__(self, path: str, target_frames: int = 1000, every: int = 50) -> None:
        self.path = path
        self.target_frames = target_frames
        self.every = every
        self.commits = 0
        self.running: asyncio.Future[tuple[int, int, int]] | None = None
        self.done = 0
        self._conn: sqlite3.Connection | None = None

    def after_commit(self) -> None:
        self.commits += 1
        if self.running is not None or self.commits < self.every:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        counted, self.commits = self.commits, 0
        self.running = loop.run_in_executor(None, self._checkpoint)
        self.running.add_done_callback(lambda future: self._finished(future, counted))

    def _checkpoint(self) -> tuple[int, int, int]:
        busy, frames, copied = self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return busy, frames, copied

    def _connection(self) -> sqlite3.Connection:
        # Used by the worker thread, then by the event loop, never by both at once.
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        return self._conn

    def _finished(self, future: asyncio.Future[tuple[int, int, int]], commits: int) -> None:
        self.running = None
        if future.cancelled():
            return
        if future.exception() is not None:  # the next one due tries again
            log.warning("Background WAL checkpoint of %s failed: %s", self.path, future.exception())
            return
        self.done += 1
        frames = future.result()[1]
        if frames > 0:
            self.every = max(1, min(1000, round(commits * self.target_frames / frames)))
        # Only a log copied *completely* lets the next writer start it over from the
        # beginning; under steady writes it never is (commits land while the worker
        # copies) and the file would grow for ever, every sync slower.  So copy what was
        # committed meanwhile here, on the event loop, between write units — when that is
        # a few frames (about ``CATCH_UP_FRAMES``, a millisecond or two), never a batch's.
        meanwhile = self.commits * self.target_frames / self.every
        if meanwhile <= self.CATCH_UP_FRAMES:
            try:
                self._connection().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as error:
                log.warning("WAL checkpoint of %s failed: %s", self.path, error)

    async def wait(self) -> None:
        """Let a checkpoint in flight finish, then close (before the engine closes)."""
        if self.running is not None:
            with contextlib.suppress(Exception):
                await self.running
        if self._conn is not None:
            self._conn.close()
            self._conn = None

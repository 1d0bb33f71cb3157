"""The change feed: which tables other connections (other consoles, the scheduler, set-up
tools) have committed changes to, as they happen.

    async for topics in watch_changes(engine.db):
        ...  # frozenset of table names; EVERYTHING when it cannot say which

A topic is a table's name (``WATCHED_TABLES``).  The database itself records the changes,
in the writing transaction (migration ``0010_change_feed``): on SQLite a counter per table
bumped by triggers, on PostgreSQL a ``pg_notify`` from a statement trigger.  So every
writer is seen, whatever path its statements take, and a rolled-back transaction is not.

Watching costs nearly nothing while nothing changes:

- SQLite: a thread of its own asks ``PRAGMA data_version`` of its own connection every
  ``interval_s`` (a read of the write-ahead log's index in shared memory, no disk); only
  when another connection committed does it read the counters (one row per table) and
  wake the event loop, with the topics whose counters moved.  The event loop never waits
  on the file.
- PostgreSQL: one dedicated connection LISTENs; notifications arrive as commits happen.
  The connection is checked every ``health_s``; after it was lost and made again, the
  watcher reports ``EVERYTHING`` (notifications sent meanwhile were missed).

Consecutive reports are folded while the consumer is busy: a burst of commits becomes
one report with the union of their topics.  ``ChangeFeed.catch_up`` checks at once rather
than at the next poll (tests that must know every commit so far was reported).
"""

from __future__ import annotations

# Durations here are seconds of waiting (Seconds, a float), never money.

import asyncio
import contextlib
import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from .clock import Seconds

log = logging.getLogger(__name__)

# The tables triggers watch (as created by migrations 0010, 0012, 0013 and 0014; a later migration
# that watches another table adds it here too).
WATCHED_TABLES: frozenset[str] = frozenset({
    "currencies", "roles", "role_permissions", "operators", "operator_roles", "operator_permissions",
    "approvals", "notifications", "inbox_messages", "message_subscriptions", "deliveries",
    "settlement_channels", "channel_accounts", "positions", "poll_runs", "withdrawals", "deposits",
    "allocation_rules", "allocations", "allocation_triggers",
    "clients", "client_cash_movements", "client_cash_holds", "fx_currency_configs", "fx_currency_pairs",
    "fx_exchange_strategies", "fx_pool_quotas", "fx_pool_ledger", "fx_amount_configs", "fx_reference_rates",
    "fx_reference_rate_journal", "fx_exchanges", "fx_reference_markups", "fx_executed_markups",
    "fx_bank_channels", "fx_channel_orders", "fx_profit_loss", "fx_rate_sources", "fx_rate_refresh_runs",
    "instruments", "client_positions", "market_prices", "margin_terms", "margin_settings", "margin_calls",
    "margin_call_snapshots", "margin_follow_ups", "liquidation_orders", "liquidation_fills",
})
ACCESS_TOPICS: frozenset[str] = frozenset({"operators", "operator_roles", "operator_permissions", "role_permissions"})
"""The tables an operator's permissions come from: a list refused for want of a permission
is read again when they change (a request approved, a role granted)."""
ALL = "*"
EVERYTHING: frozenset[str] = frozenset({ALL})
"""Reported when the watcher cannot say what changed (it lost its connection): every list
should be read again."""
PG_CHANNEL = "wbo_changes"

SQLITE_INTERVAL_S = 0.25
PG_HEALTH_S = 15.0
_RECONNECT_S = (0.5, 1.0, 2.0, 5.0, 10.0)


def touches(watched: frozenset[str], topics: frozenset[str]) -> bool:
    """Whether a report of ``topics`` concerns a list that shows ``watched``."""
    return ALL in topics or not watched.isdisjoint(topics)


class _Inbox:
    """Topics reported from any thread, folded until the consumer takes them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: set[str] = set()
        self.ready = asyncio.Event()

    def put(self, topics: frozenset[str] | set[str]) -> None:
        """On the event loop's thread."""
        if topics:
            self.pending |= topics
            self.ready.set()

    def put_threadsafe(self, topics: frozenset[str]) -> bool:
        """From the watcher's thread; False once the event loop is gone (stop watching)."""
        try:
            self.loop.call_soon_threadsafe(self.put, topics)
        except RuntimeError:  # the loop closed before the feed was left
            return False
        return True

    async def take(self, timeout: Seconds | None = None) -> frozenset[str]:
        """The topics reported since the last take; empty after ``timeout`` seconds of none."""
        while not self.pending:  # (again when ``take_now`` took what woke it)
            try:
                await asyncio.wait_for(self.ready.wait(), timeout)
            except TimeoutError:
                return frozenset()
        return self.take_now()

    def take_now(self) -> frozenset[str]:
        """The topics reported since the last take, without waiting (empty when none)."""
        taken, self.pending = frozenset(self.pending), set()
        self.ready.clear()
        return EVERYTHING if ALL in taken else taken


class ChangeFeed:
    """What ``watch_changes`` returns: entered, it watches (every commit from then on is
    reported); iterated, it yields the topics of each batch of commits; exited, it stops.

        async with watch_changes(db) as feed:
            async for topics in feed:
                ...
    """

    def __init__(self, db: AsyncEngine, interval_s: Seconds, health_s: Seconds) -> None:
        self.db = db
        self.interval_s = interval_s
        self.health_s = health_s
        self._inbox: _Inbox | None = None
        self._thread: _SqliteWatcher | None = None
        self._pg: Any = None
        self._pg_turn = asyncio.Lock()  # one statement at a time on the listening connection

    async def __aenter__(self) -> ChangeFeed:
        self._inbox = _Inbox(asyncio.get_running_loop())
        if self.db.dialect.name == "postgresql":
            self._pg = await _listen(self.db, self._inbox)
            return self
        database = self.db.url.database
        assert database is not None
        self._thread = _SqliteWatcher(database, self.interval_s, self._inbox)
        self._thread.start()
        # Changes count from the moment the thread has read the counters once.
        await asyncio.to_thread(self._thread.started_watching.wait)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop watching, at once and without waiting (also from outside the task that
        iterates the feed, when that task may never run again: an app shutting down)."""
        if self._thread is not None:
            self._thread.stopping.set()  # it notices within ``interval_s``; nothing waits for it
            self._thread = None
        if self._pg is not None:
            self._pg.terminate()
            self._pg = None

    async def catch_up(self) -> frozenset[str]:
        """Check now rather than at the next poll, and take what changed: the topics of
        every commit made before this call that iterating has not yielded yet (empty when
        none; ``EVERYTHING`` when it cannot say).  What this returns is not yielded again.
        The watching goes on as before; this is an extra way in for tests and tools that
        must know that their own commits have been reported (the console's ``settle``).

        SQLite: the counters are read now, on the watcher's connection.  PostgreSQL: a
        notification to the listening connection itself, on a channel of its own, makes
        the round trip; the server delivers notifications in commit order, so once it is
        back every notification committed before this call has been received."""
        inbox = self._inbox
        assert inbox is not None, "enter the feed (async with) before catching it up"
        if self._thread is not None:
            inbox.put(await asyncio.to_thread(self._thread.check_now))
            return inbox.take_now()
        if self._pg is None:
            return frozenset()  # left
        async with self._pg_turn:
            reached = await _round_trip(self._pg, self.health_s)
        if not reached or _LOST in inbox.pending:
            return EVERYTHING  # left for the iterator, which connects again (and says so too)
        return inbox.take_now()

    def __aiter__(self) -> ChangeFeed:
        return self

    async def __anext__(self) -> frozenset[str]:
        inbox = self._inbox
        assert inbox is not None, "enter the feed (async with) before iterating it"
        if self._pg is None and self._thread is None:
            raise StopAsyncIteration
        if self._thread is not None:
            return await inbox.take()
        while True:
            topics = await inbox.take(timeout=self.health_s)
            if self._pg is None:  # closed meanwhile
                raise StopAsyncIteration
            lost = _LOST in topics
            topics = topics - {_LOST}
            if topics and not lost:
                return topics
            if not lost:
                async with self._pg_turn:
                    healthy = await _healthy(self._pg, self.health_s)
                if healthy:
                    continue
            await self._reconnect()
            return EVERYTHING

    async def _reconnect(self) -> None:
        assert self._inbox is not None
        self._pg.terminate()
        failures = 0
        while True:
            await asyncio.sleep(_RECONNECT_S[min(failures, len(_RECONNECT_S) - 1)])
            failures += 1
            try:
                self._pg = await _listen(self.db, self._inbox)
                break
            except Exception as error:  # noqa: BLE001 - the server may still be down
                log.warning("Change feed could not connect again: %s", error)
        self._inbox.pending.discard(_LOST)


def watch_changes(db: AsyncEngine, *, interval_s: Seconds = SQLITE_INTERVAL_S,
                  health_s: Seconds = PG_HEALTH_S) -> ChangeFeed:
    """The topics (table names) other connections commit changes to; see the module's
    docstring and ``ChangeFeed``."""
    return ChangeFeed(db, interval_s, health_s)


# --- SQLite -------------------------------------------------------------------------------


class _SqliteWatcher(threading.Thread):
    """The thread that asks ``PRAGMA data_version`` every ``interval_s``."""

    def __init__(self, path: str, interval_s: Seconds, inbox: _Inbox) -> None:
        super().__init__(name="wbo-change-feed", daemon=True)
        self.path = path
        self.interval_s = interval_s
        self.inbox = inbox
        self.stopping = threading.Event()
        self.started_watching = threading.Event()
        self.versions: dict[str, int] = {}
        # The connection, what it last saw and the counters: a check at a time (a poll on
        # this thread, or ``check_now`` on another).
        self.lock = threading.Lock()
        self.conn: sqlite3.Connection | None = None
        self.seen: int | None = None

    def run(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                with self.lock:
                    self._poll()
                failures = 0
            except sqlite3.Error as error:
                failures += 1
                log.warning("Change feed on %s: %s; watching again shortly", self.path, error)
                with self.lock:
                    self._disconnect()
                self.started_watching.set()  # do not hold up the consumer; it gets EVERYTHING later
                if not self.inbox.put_threadsafe(EVERYTHING):
                    break
                self.stopping.wait(_RECONNECT_S[min(failures, len(_RECONNECT_S)) - 1])
                continue
            self.stopping.wait(self.interval_s)
        with self.lock:
            self._disconnect()

    def _poll(self) -> None:
        if self.conn is None:
            self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA busy_timeout = 1000")
            self.seen = self._data_version(self.conn)
            fresh = self._counters(self.conn)
            if self.versions:  # reconnected: what moved meanwhile is what differs
                self._report(fresh)
            self.versions = fresh
            self.started_watching.set()
        version = self._data_version(self.conn)
        if version != self.seen:
            self.seen = version
            self._report(self._counters(self.conn))

    def _disconnect(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            self.conn = None

    def check_now(self) -> frozenset[str]:
        """From another thread (``ChangeFeed.catch_up``): the topics whose counters moved
        since the last check, read now whatever ``data_version`` says; taken as seen."""
        with self.lock:
            if self.conn is None or self.stopping.is_set():
                return frozenset()  # not watching: a failure reported EVERYTHING already
            try:
                self.seen = self._data_version(self.conn)  # before the counters, as a poll
                return self._moved(self._counters(self.conn))
            except sqlite3.Error as error:  # the next poll connects again
                log.warning("Change feed on %s: %s", self.path, error)
                return EVERYTHING

    @staticmethod
    def _data_version(conn: sqlite3.Connection) -> int:
        return conn.execute("PRAGMA data_version").fetchone()[0]

    @staticmethod
    def _counters(conn: sqlite3.Connection) -> dict[str, int]:
        return dict(conn.execute("SELECT topic, version FROM change_feed").fetchall())

    def _moved(self, fresh: dict[str, int]) -> frozenset[str]:
        moved = frozenset(topic for topic, version in fresh.items() if self.versions.get(topic) != version)
        self.versions = fresh
        return moved

    def _report(self, fresh: dict[str, int]) -> None:
        moved = self._moved(fresh)
        if moved and not self.stopping.is_set() and not self.inbox.put_threadsafe(moved):
            self.stopping.set()


# --- PostgreSQL ---------------------------------------------------------------------------


_LOST = "-lost-"  # reported by the connection's termination listener, never yielded


async def _listen(db: AsyncEngine, inbox: _Inbox) -> Any:
    import asyncpg

    # The same connection arguments as the engine's pool (host, user, database, TLS …).
    args, params = db.dialect.create_connect_args(db.url)
    params = {k: v for k, v in params.items() if k not in ("prepared_statement_cache_size", "async_fallback")}
    conn = await asyncpg.connect(*args, **params)

    def notified(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
        inbox.put(frozenset(t for t in payload.split(",") if t))

    await conn.add_listener(PG_CHANNEL, notified)
    conn.add_termination_listener(lambda _conn: inbox.put(frozenset({_LOST})))
    return conn


async def _healthy(conn: Any, timeout: Seconds) -> bool:
    if conn.is_closed():
        return False
    try:
        await conn.fetchval("SELECT 1", timeout=timeout)
        return True
    except Exception as error:  # noqa: BLE001 - any failure means: connect again
        log.warning("Change feed connection lost (%s); connecting again", error)
        return False


async def _round_trip(conn: Any, timeout: Seconds) -> bool:
    """Whether a notification the listening connection sent itself came back: then every
    notification committed before this call has reached the listeners (``catch_up``)."""
    if conn.is_closed():
        return False
    back = asyncio.get_running_loop().create_future()

    def returned(*_: object) -> None:
        if not back.done():
            back.set_result(None)

    channel = f"{PG_CHANNEL}_back_{conn.get_server_pid()}"  # this connection's alone
    try:
        await conn.add_listener(channel, returned)
        try:
            await conn.execute(f"NOTIFY {channel}", timeout=timeout)
            await asyncio.wait_for(back, timeout)
        finally:
            await conn.remove_listener(channel, returned)
        return True
    except Exception as error:  # noqa: BLE001 - any failure means: cannot say what changed
        log.warning("Change feed could not catch up (%s)", error)
        return False

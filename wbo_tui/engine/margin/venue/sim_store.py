"""The simulated liquidation venue's store: one SQLite file shared by every process that
opens it (several consoles, a FIX acceptor in front of it, a test arranging faults).

Every call is one ``BEGIN IMMEDIATE`` transaction (``integration.sim_store``).  That
serialises writers across processes, so "is this id known? if not, book it" cannot
interleave with a second submission of the same id, and a cancel and a fill racing on one
order are decided by whichever transaction comes first: the other sees what it left.

The settings that drive the venue (fill pacing, suspended codes, faults, the venue being
down) live in the same file, so what a test arranges in one process holds for a console or
an acceptor in another.  This module holds the schema, the settings, the rows' reading and
the simulated venue's own side (``VenueHarness``: settings, faults, inspection); the
behaviour is ``simulator``'s.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, get_args

from ...clock import Seconds
from ...integration.sim_store import SqliteSimStore, ts
from .gateway import CL_ORD_ID, Fill, VenueOrder, VenueOrderStatus, check_id, clip_reason, require_quantity

VenueCall = Literal["submit", "cancel", "status"]
VENUE_CALLS: tuple[str, ...] = get_args(VenueCall)
Fault = Literal["reject", "timeout_before_accept", "timeout_after_accept"]
FAULTS: tuple[str, ...] = get_args(Fault)
DEFAULT_REJECT_REASON = "Rejected by the venue."
SUSPENDED_REASON = "Security suspended"

# Prices are stored as decimal text (format(d, "f")): SQLite has no decimal type and a
# REAL column would turn them into binary fractions.  ``next_step`` is the index of the
# next matching instant the order has not been matched at (see ``simulator``).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call TEXT NOT NULL CHECK (call IN ('submit', 'cancel', 'status')),
    action TEXT NOT NULL CHECK (action IN ('reject', 'timeout_before_accept', 'timeout_after_accept')),
    remaining INTEGER NOT NULL CHECK (remaining > 0),
    reason TEXT
);
CREATE TABLE IF NOT EXISTS venue_orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    cl_ord_id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    code TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('SELL', 'BUY')),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    limit_price TEXT NOT NULL,
    call_ref TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('NEW', 'PARTIALLY_FILLED', 'FILLED', 'CANCELLED', 'REJECTED')),
    filled_quantity INTEGER NOT NULL CHECK (filled_quantity BETWEEN 0 AND quantity),
    reason TEXT NOT NULL DEFAULT '',
    next_step INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS venue_fills (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_seq INTEGER NOT NULL REFERENCES venue_orders (seq),
    exec_id TEXT NOT NULL UNIQUE,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    price TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS venue_fills_order ON venue_fills (order_seq, seq);
CREATE TABLE IF NOT EXISTS request_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    call TEXT NOT NULL,
    cl_ord_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    answer_lost INTEGER NOT NULL DEFAULT 0,
    pid INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS request_log_order ON request_log (cl_ord_id, call);
"""

ORDER_COLUMNS = (
    "seq, cl_ord_id, account, code, side, quantity, limit_price, call_ref, state, filled_quantity, reason, "
    "next_step, created_at"
)


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """How the simulated venue trades.  ``max_lots_per_fill`` lots of ``board_lot`` shares
    at most per matching instant (None: the whole remainder at once); an instant every
    ``fill_step_s`` seconds (a duration, not money: float); orders in ``reject_codes`` are
    rejected as suspended."""

    max_lots_per_fill: int | None = None
    fill_step_s: Seconds = 1.0
    board_lot: int = 100
    reject_codes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.max_lots_per_fill is not None:
            require_quantity(self.max_lots_per_fill, "max_lots_per_fill", positive=True)
        require_quantity(self.board_lot, "board_lot", positive=True)
        if isinstance(self.fill_step_s, bool) or not isinstance(self.fill_step_s, int | float):
            raise TypeError(f"fill_step_s must be a number of seconds, got {self.fill_step_s!r}")
        if not 0 < self.fill_step_s < 86400:
            raise ValueError(f"fill_step_s must be more than 0 and less than a day, got {self.fill_step_s!r}")
        if not isinstance(self.reject_codes, frozenset) or not all(isinstance(c, str) for c in self.reject_codes):
            raise TypeError("reject_codes must be a frozenset of codes")

    @property
    def max_per_fill(self) -> int | None:
        return None if self.max_lots_per_fill is None else self.max_lots_per_fill * self.board_lot

    def rows(self) -> list[tuple[str, str]]:
        lots = "" if self.max_lots_per_fill is None else str(self.max_lots_per_fill)
        return [
            ("max_lots_per_fill", lots),
            ("fill_step_s", repr(float(self.fill_step_s))),  # seconds, not money
            ("board_lot", str(self.board_lot)),
            ("reject_codes", json.dumps(sorted(self.reject_codes))),
        ]


@dataclass(frozen=True, slots=True)
class VenueRequest:
    """One call the simulated venue received (``pid`` is the calling process's)."""

    seq: int
    call: str  # submit | cancel | status
    cl_ord_id: str
    # submit: accepted | rejected | replayed | conflict | unavailable | lost (lost: before accepting)
    # cancel: cancelled | already_cancelled | too_late | unknown | unavailable | lost
    # status: found | unknown | unavailable | lost
    outcome: str
    answer_lost: bool  # the caller got VenueTimeout instead of the answer
    pid: int
    at: datetime


class VenueStore(SqliteSimStore):
    """The schema, settings, faults and rows of ``SimulatedVenue`` (see there); the
    connection and transaction plumbing is ``SqliteSimStore``'s."""

    SCHEMA = _SCHEMA
    NAME = "the simulated liquidation venue"

    # --- settings, faults, request log --------------------------------------------------

    @classmethod
    def _settings(cls, conn: sqlite3.Connection) -> VenueSettings:
        lots = cls._setting(conn, "max_lots_per_fill", "")
        return VenueSettings(
            max_lots_per_fill=int(lots) if lots else None,
            fill_step_s=float(cls._setting(conn, "fill_step_s", "1.0")),  # seconds, not money
            board_lot=int(cls._setting(conn, "board_lot", "100")),
            reject_codes=frozenset(json.loads(cls._setting(conn, "reject_codes", "[]"))),
        )

    def _is_down(self, conn: sqlite3.Connection) -> bool:
        return self._setting(conn, "venue_down", "0") == "1"

    @staticmethod
    def _take_fault(conn: sqlite3.Connection, call: str, actions: tuple[str, ...]) -> tuple[str, str | None] | None:
        """Consume one injected fault of ``call`` among ``actions``: ``(action, reason)``."""
        marks = ", ".join("?" for _ in actions)
        taken = SqliteSimStore._consume_fault(
            conn, "action, reason", f"call = ? AND action IN ({marks})", (call, *actions)
        )
        return None if taken is None else (taken[0], taken[1])

    @staticmethod
    def _log(
        conn: sqlite3.Connection, call: str, cl_ord_id: str, outcome: str, now: datetime, *, answer_lost: bool = False
    ) -> None:
        conn.execute(
            "INSERT INTO request_log (call, cl_ord_id, outcome, answer_lost, pid, at) VALUES (?, ?, ?, ?, ?, ?)",
            (call, cl_ord_id, outcome, int(answer_lost), os.getpid(), ts(now)),
        )

    # --- rows -------------------------------------------------------------------------------

    @staticmethod
    def _find(conn: sqlite3.Connection, cl_ord_id: str) -> tuple | None:
        return conn.execute(f"SELECT {ORDER_COLUMNS} FROM venue_orders WHERE cl_ord_id = ?", (cl_ord_id,)).fetchone()

    @staticmethod
    def _order_of(row: tuple) -> VenueOrder:
        _, cl_ord_id, account, code, side, quantity, limit_price, call_ref = row[:8]
        return VenueOrder(cl_ord_id, account, code, side, quantity, Decimal(limit_price), call_ref)

    @staticmethod
    def _status_of(conn: sqlite3.Connection, row: tuple) -> VenueOrderStatus:
        seq, cl_ord_id, quantity, state, filled, reason = row[0], row[1], row[5], row[8], row[9], row[10]
        fills = tuple(
            Fill(exec_id, qty, Decimal(price), datetime.fromisoformat(at))
            for exec_id, qty, price, at in conn.execute(
                "SELECT exec_id, quantity, price, at FROM venue_fills WHERE order_seq = ? ORDER BY seq", (seq,)
            )
        )
        live = state in ("NEW", "PARTIALLY_FILLED")
        return VenueOrderStatus(
            cl_ord_id=cl_ord_id,
            venue_order_id=venue_order_id(seq),
            state=state,
            filled_quantity=filled,
            leaves_quantity=quantity - filled if live else 0,
            fills=fills,
            reason=clip_reason(reason),
        )


def venue_order_id(seq: int) -> str:
    return f"SIMV-{seq:08d}"


def instant(created_at: datetime, step: int, settings: VenueSettings) -> datetime:
    """The ``step``-th matching instant of an order booked at ``created_at``."""
    return created_at + timedelta(seconds=step * settings.fill_step_s)


class VenueHarness(VenueStore):
    """The simulated venue's own side: settings, faults, inspection (mixed into
    ``SimulatedVenue``).  Tests and the demo call these; they are not written to the request
    log, which records only what the venue received."""

    async def configure(self, settings: VenueSettings) -> None:
        """Trade by ``settings`` from now on (orders already booked keep their instants)."""
        if not isinstance(settings, VenueSettings):
            raise TypeError(f"configure takes VenueSettings, got {type(settings).__name__}")

        def write(conn: sqlite3.Connection) -> None:
            for name, value in settings.rows():
                self._put_setting(conn, name, value)

        await self._run(write)

    async def settings(self) -> VenueSettings:
        return await self._run(self._settings)

    async def down(self, is_down: bool = True) -> None:
        """While down, every call raises ``VenueUnavailable`` and nothing is booked, filled
        or cancelled (the refused call is still noted in the request log)."""
        await self._run(lambda conn: self._put_setting(conn, "venue_down", "1" if is_down else "0"))

    async def inject_fault(
        self, fault: Fault, *, call: VenueCall = "submit", count: int = 1, reason: str | None = None
    ) -> None:
        """The next ``count`` calls of ``call`` meet ``fault``:

        * ``timeout_before_accept``: the request is lost on the way in; nothing happens and
          the caller gets ``VenueTimeout`` (a ``status`` then finds no such order).
        * ``timeout_after_accept``: the venue does its part (books, fills, cancels) and the
          answer is lost: ``VenueTimeout``; a ``status`` finds what it did.
        * ``reject`` (submit only): the next new order is booked REJECTED with ``reason``;
          resubmitting an order already held does not use one up."""
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {', '.join(FAULTS)}, got {fault!r}")
        if call not in VENUE_CALLS or (fault == "reject" and call != "submit"):
            raise ValueError(f"call must be one of {', '.join(VENUE_CALLS)} (reject: submit only), got {call!r}")
        require_quantity(count, "count", positive=True)
        if fault == "reject":
            reason = reason or DEFAULT_REJECT_REASON
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO faults (call, action, remaining, reason) VALUES (?, ?, ?, ?)", (call, fault, count, reason)
            )
        )

    async def clear_faults(self) -> None:
        await self._run(lambda conn: conn.execute("DELETE FROM faults"))

    async def request_log(self, cl_ord_id: str | None = None) -> list[VenueRequest]:
        """Every call received (for ``cl_ord_id``, or all), oldest first, from every process."""
        if cl_ord_id is not None:
            check_id(cl_ord_id, "cl_ord_id", CL_ORD_ID)

        def read(conn: sqlite3.Connection) -> list[tuple]:
            sql = "SELECT seq, call, cl_ord_id, outcome, answer_lost, pid, at FROM request_log"
            if cl_ord_id is None:
                return conn.execute(sql + " ORDER BY seq").fetchall()
            return conn.execute(sql + " WHERE cl_ord_id = ? ORDER BY seq", (cl_ord_id,)).fetchall()

        return [
            VenueRequest(seq, call, oid, outcome, bool(lost), pid, datetime.fromisoformat(at))
            for seq, call, oid, outcome, lost, pid, at in await self._run(read)
        ]

    async def received(
        self, cl_ord_id: str | None = None, call: VenueCall | None = None, outcome: str | None = None
    ) -> int:
        """How many calls were received, filtered by id, call and outcome."""
        return sum(
            1
            for entry in await self.request_log(cl_ord_id)
            if (call is None or entry.call == call) and (outcome is None or entry.outcome == outcome)
        )

    async def order(self, cl_ord_id: str) -> VenueOrder | None:
        """The order held under ``cl_ord_id`` (a FIX acceptor reads its Account, Symbol
        and Side for its reports), or None."""
        check_id(cl_ord_id, "cl_ord_id", CL_ORD_ID)
        row = await self._run(self._find, cl_ord_id)
        return None if row is None else self._order_of(row)

    async def orders(self) -> list[tuple[VenueOrder, VenueOrderStatus]]:
        """Every order the venue holds with its status as stored, in booking order (no
        matching: that needs market prices, and happens on the gateway's calls)."""

        def read(conn: sqlite3.Connection) -> list[tuple[VenueOrder, VenueOrderStatus]]:
            rows = conn.execute(f"SELECT {ORDER_COLUMNS} FROM venue_orders ORDER BY seq").fetchall()
            return [(self._order_of(row), self._status_of(conn, row)) for row in rows]

        return await self._run(read)

"""The simulated bank's own side: the settings that drive it (rates, fill delay, faults,
the channel being down) and reading what it holds.  Tests and the demo call these; they
are not written to the request log, which records only what the gateway received.

Everything the simulator answers follows from these stored settings and the orders it
holds: there are no canned answers.
"""

from __future__ import annotations

import decimal
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from ...clock import Seconds
from .gateway import (
    ChannelOrderState,
    ExchangeOrder,
    check_channel_name,
    check_currency,
    check_order_id,
    require_decimal,
)
from .sim_store import GATEWAY_CALLS, BankChannelStore, GatewayCall, ts

# The rounding modes a channel may apply to its target amounts (the decimal module's).
ROUNDING_MODES: frozenset[str] = frozenset(
    {
        decimal.ROUND_HALF_UP,
        decimal.ROUND_HALF_EVEN,
        decimal.ROUND_HALF_DOWN,
        decimal.ROUND_DOWN,
        decimal.ROUND_UP,
        decimal.ROUND_FLOOR,
        decimal.ROUND_CEILING,
    }
)
DEFAULT_FAIL_REASON = "Rejected by the bank exchange channel."


@dataclass(frozen=True, slots=True)
class ChannelRequest:
    """One call the simulated channel received (``pid`` is the calling process's)."""

    seq: int
    call: str  # submit | query
    order_id: str
    # submit: accepted | failed | replayed | conflict | unavailable
    # query: found | unknown | timeout | unavailable
    outcome: str
    answer_lost: bool  # the caller got BankChannelTimeout instead of the answer
    pid: int
    at: datetime


@dataclass(frozen=True, slots=True)
class SimulatedExchangeOrder:
    """An exchange order as the simulated bank recorded it."""

    order: ExchangeOrder
    state: ChannelOrderState
    created_at: datetime
    fill_at: datetime | None


def fill_delay_setting(channel_name: str | None) -> str:
    """The settings row of a channel's fill delay (``None``: every channel's default)."""
    return "fill_delay_s" if channel_name is None else f"fill_delay_s:{channel_name}"


class BankHarness(BankChannelStore):
    """Settings and inspection of the simulated bank (mixed into ``SimulatedBankChannel``)."""

    # --- settings ----------------------------------------------------------------------------

    async def set_rate(
        self,
        channel_name: str,
        from_currency: str,
        to_currency: str,
        rate: Decimal,
        *,
        to_places: int = 2,
        rounding: str = decimal.ROUND_HALF_UP,
    ) -> None:
        """The channel fills ``from_currency`` into ``to_currency`` at ``rate`` (target
        per unit of source), the target amount quantized to ``to_places`` with
        ``rounding``.  Orders already booked keep the rate they were booked at."""
        check_channel_name(channel_name)
        check_currency(from_currency, "from_currency")
        check_currency(to_currency, "to_currency")
        require_decimal(rate, "rate", positive=True)
        if isinstance(to_places, bool) or not isinstance(to_places, int) or not 0 <= to_places <= 18:
            raise ValueError(f"to_places must be an integer from 0 to 18, got {to_places!r}")
        if rounding not in ROUNDING_MODES:
            raise ValueError(f"rounding must be one of {', '.join(sorted(ROUNDING_MODES))}, got {rounding!r}")
        row = (channel_name, from_currency, to_currency, format(rate, "f"), to_places, rounding)
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO channel_rates (channel_name, from_currency, to_currency, rate, to_places, rounding) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel_name, from_currency, to_currency) DO UPDATE SET "
                "rate = excluded.rate, to_places = excluded.to_places, rounding = excluded.rounding",
                row,
            )
        )

    async def set_fill_delay(self, delay: Seconds | timedelta, channel_name: str | None = None) -> None:
        """Orders booked from now on stay PROCESSING for ``delay`` (0: SUCCEEDED at once),
        on ``channel_name`` or, with ``None``, on every channel without its own delay."""
        if channel_name is not None:
            check_channel_name(channel_name)
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)  # seconds, not money
        if not seconds >= 0:
            raise ValueError(f"the fill delay must be zero or more seconds, got {delay!r}")
        await self._run(lambda conn: self._put_setting(conn, fill_delay_setting(channel_name), repr(seconds)))

    async def fail_next(self, count: int = 1, reason: str = DEFAULT_FAIL_REASON) -> None:
        """The next ``count`` new orders (on any channel) are booked FAILED with ``reason``.
        Resubmissions of orders already held do not use one up."""
        if not isinstance(reason, str) or not reason:
            raise ValueError("a failure needs a reason")
        await self._add_fault("submit", "fail", count, reason)

    async def timeout_next(self, count: int = 1, call: GatewayCall = "submit") -> None:
        """The next ``count`` calls of ``call`` that reach the bank lose their answer: the
        bank does what it would have done (a new order is recorded and converted) and the
        caller gets ``BankChannelTimeout``.  A later ``query`` finds what the bank did."""
        await self._add_fault(call, "timeout", count, None)

    async def down(self, is_down: bool = True) -> None:
        """While down, every call raises ``BankChannelUnavailable`` and no order is
        recorded or filled (the refused call is still noted in the request log)."""
        await self._run(lambda conn: self._put_setting(conn, "channel_down", "1" if is_down else "0"))

    async def clear_faults(self) -> None:
        """Drop every injected fault not yet used."""
        await self._run(lambda conn: conn.execute("DELETE FROM faults"))

    async def _add_fault(self, call: str, action: str, count: int, reason: str | None) -> None:
        if call not in GATEWAY_CALLS:
            raise ValueError(f"call must be one of {', '.join(GATEWAY_CALLS)}, got {call!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, got {count!r}")
        await self._run(
            lambda conn: conn.execute(
                "INSERT INTO faults (call, action, remaining, reason) VALUES (?, ?, ?, ?)",
                (call, action, count, reason),
            )
        )

    # --- inspection --------------------------------------------------------------------------

    async def request_log(self, order_id: str | None = None) -> list[ChannelRequest]:
        """Every call received (for ``order_id``, or all), oldest first, from every
        process sharing the store."""
        if order_id is not None:
            check_order_id(order_id)

        def read(conn: sqlite3.Connection) -> list[tuple]:
            sql = "SELECT seq, call, order_id, outcome, answer_lost, pid, at FROM request_log"
            if order_id is None:
                return conn.execute(sql + " ORDER BY seq").fetchall()
            return conn.execute(sql + " WHERE order_id = ? ORDER BY seq", (order_id,)).fetchall()

        rows = await self._run(read)
        return [
            ChannelRequest(seq, call, oid, outcome, bool(lost), pid, datetime.fromisoformat(at))
            for seq, call, oid, outcome, lost, pid, at in rows
        ]

    async def received(
        self, order_id: str | None = None, call: GatewayCall | None = None, outcome: str | None = None
    ) -> int:
        """How many calls were received, filtered by order id, call and outcome."""
        return sum(
            1
            for entry in await self.request_log(order_id)
            if (call is None or entry.call == call) and (outcome is None or entry.outcome == outcome)
        )

    async def orders(self) -> list[SimulatedExchangeOrder]:
        """Every order the bank holds, in the order it booked them (fills that have
        fallen due are applied first, as any gateway call would)."""

        def read(conn: sqlite3.Connection) -> list[tuple]:
            self._fill_due(conn, self._now())
            return conn.execute(f"SELECT {ORDER_COLUMNS} FROM exchange_orders ORDER BY seq").fetchall()

        return [
            SimulatedExchangeOrder(
                order=order_of(row),
                state=state_of(row),
                created_at=datetime.fromisoformat(row[11]),
                fill_at=datetime.fromisoformat(row[12]) if row[12] else None,
            )
            for row in await self._run(read)
        ]

    @staticmethod
    def _fill_due(conn: sqlite3.Connection, now: datetime) -> None:
        """Fill every PROCESSING order whose fill time has come.  Fills are lazy (no
        background worker shares the file); each is stamped with its due time, not with
        whenever somebody next looked."""
        conn.execute(
            "UPDATE exchange_orders SET status = 'SUCCEEDED', updated_at = fill_at "
            "WHERE status = 'PROCESSING' AND fill_at <= ?",
            (ts(now),),
        )


# The columns ``order_of`` and ``state_of`` read, in this order.
ORDER_COLUMNS = (
    "seq, order_id, channel_name, from_currency, from_amount, to_currency, status, booked_rate, "
    "booked_to_amount, reason, updated_at, created_at, fill_at"
)
RAW_STATUS = {"PROCESSING": "RECEIVED", "SUCCEEDED": "EXECUTED", "FAILED": "REJECTED"}


def order_of(row: tuple) -> ExchangeOrder:
    _, order_id, channel_name, from_currency, from_amount, to_currency = row[:6]
    return ExchangeOrder(order_id, channel_name, from_currency, Decimal(from_amount), to_currency)


def state_of(row: tuple) -> ChannelOrderState:
    """The state a booked order shows: the booked rate and amount only once filled."""
    seq, order_id, channel_name, from_currency, from_amount, to_currency, status, rate, to_amount, reason = row[:10]
    if status == "SUCCEEDED":
        message = f"Executed {from_amount} {from_currency} into {to_amount} {to_currency} at {rate}."
    elif status == "PROCESSING":
        message = f"Order received; {from_currency}/{to_currency} execution pending."
        rate = to_amount = None
    else:
        message = f"Order rejected: {reason}"
        rate = to_amount = None
    return ChannelOrderState(
        order_id=order_id,
        status=status,
        channel_rate=Decimal(rate) if rate is not None else None,
        to_amount=Decimal(to_amount) if to_amount is not None else None,
        serial_no=f"SIM-{channel_name}-{seq:08d}",
        reason=reason if status == "FAILED" else None,
        raw_status=RAW_STATUS[status],
        message=message,
    )

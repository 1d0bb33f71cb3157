"""A simulated bank exchange channel: the default for the demo and the tests.

The simulated bank lives in its own SQLite file (``sim_store``), so several console
processes, and an HTTP server in front of it, share one bank.  Each gateway call is one
``BEGIN IMMEDIATE`` transaction: looking up an order id and booking it cannot interleave
with another submission of the same id, so an order converts once however many
processes send it.

What the bank answers follows from the settings stored in the same file (``sim_bank``):
the rate of each channel and currency pair, the fill delay, injected failures and
timeouts, and whether the channel is down.  Time comes from the injected clock; a
delayed order fills lazily, on the first call after its fill time.
"""

from __future__ import annotations

import decimal
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal

from ...upstream.gateway import EXACT
from .gateway import (
    BankChannelTimeout,
    BankChannelUnavailable,
    ChannelIdempotencyConflict,
    ChannelOrderState,
    ExchangeOrder,
    UnknownChannelOrder,
    check_order_id,
)
from .sim_bank import (
    ORDER_COLUMNS,
    BankHarness,
    ChannelRequest,
    SimulatedExchangeOrder,
    fill_delay_setting,
    order_of,
    state_of,
)
from .sim_store import ts

__all__ = ["ChannelRequest", "SimulatedBankChannel", "SimulatedExchangeOrder", "convert"]

# Quantizing may round (that is its job), so unlike ``EXACT`` it does not trap Inexact;
# the precision is wide enough that no amount a bank could hold loses digits before it.
_QUANTIZE = decimal.Context(prec=60, traps=[decimal.InvalidOperation, decimal.Overflow])


def convert(from_amount: Decimal, rate: Decimal, to_places: int, rounding: str) -> Decimal:
    """``from_amount`` at ``rate``: the product is exact, then quantized to ``to_places``
    with the channel's named rounding mode (never the ambient context's)."""
    product = EXACT.multiply(from_amount, rate)
    return product.quantize(Decimal(1).scaleb(-to_places), rounding=rounding, context=_QUANTIZE)


class SimulatedBankChannel(BankHarness):
    """The built-in bank exchange channel (implements ``BankExchangeGateway``).

    ``store_path`` is the SQLite file (created on first use); ``clock`` gives the time
    that fill delays are measured on.  Safe to share between tasks and threads of one
    process; other processes open their own instance on the same file.
    """

    # --- submit -------------------------------------------------------------------------------

    async def submit(self, order: ExchangeOrder) -> ChannelOrderState:
        if not isinstance(order, ExchangeOrder):
            raise TypeError(f"submit takes an ExchangeOrder, got {type(order).__name__}")
        outcome, state = await self._run(self._submit, order)
        if outcome == "unavailable":
            raise BankChannelUnavailable(
                f"Bank exchange channel {order.channel_name} is unavailable; order {order.order_id} was not taken."
            )
        if outcome == "timeout":
            # The bank did its part; only the answer is lost, exactly as over a network.
            raise BankChannelTimeout(
                f"Bank exchange channel {order.channel_name} did not answer order {order.order_id} in time; "
                "query the order before doing anything else."
            )
        if outcome == "conflict":
            raise ChannelIdempotencyConflict(order.order_id, "the bank holds other fields under it")
        assert state is not None
        return state

    def _submit(self, conn: sqlite3.Connection, order: ExchangeOrder) -> tuple[str, ChannelOrderState | None]:
        now = self._now()
        self._fill_due(conn, now)
        if self._is_down(conn):
            self._log(conn, "submit", order.order_id, "unavailable", now)
            return "unavailable", None
        answer_lost, _ = self._take_fault(conn, "submit", "timeout")
        row = self._find(conn, order.order_id)
        if row is None:
            state = self._book(conn, order, now)
            outcome = "failed" if state.status == "FAILED" else "accepted"
        elif not order_of(row).same_order(order):
            state, outcome = None, "conflict"
        else:
            state, outcome = state_of(row), "replayed"
        self._log(conn, "submit", order.order_id, outcome, now, answer_lost=answer_lost)
        if answer_lost:
            return "timeout", None
        return ("conflict", None) if outcome == "conflict" else ("ok", state)

    def _book(self, conn: sqlite3.Connection, order: ExchangeOrder, now: datetime) -> ChannelOrderState:
        """Record a new order, converted at the channel's rate for the pair, or failed."""
        injected, injected_reason = self._take_fault(conn, "submit", "fail")
        quote = conn.execute(
            "SELECT rate, to_places, rounding FROM channel_rates "
            "WHERE channel_name = ? AND from_currency = ? AND to_currency = ?",
            (order.channel_name, order.from_currency, order.to_currency),
        ).fetchone()
        rate = to_amount = reason = fill_at = None
        if injected:
            status, reason = "FAILED", injected_reason
        elif quote is None:
            status = "FAILED"
            reason = f"Channel {order.channel_name} does not quote {order.from_currency}/{order.to_currency}."
        else:
            rate = Decimal(quote[0])
            to_amount = convert(order.from_amount, rate, quote[1], quote[2])
            delay_s = self._fill_delay_s(conn, order.channel_name)
            status = "PROCESSING" if delay_s > 0 else "SUCCEEDED"
            fill_at = now + timedelta(seconds=delay_s) if delay_s > 0 else None
        # The rate and amount are booked when the bank takes the order and shown once it
        # fills: a delayed fill cannot drift to whatever rate is configured later.
        conn.execute(
            "INSERT INTO exchange_orders (order_id, channel_name, from_currency, from_amount, to_currency, status, "
            "booked_rate, booked_to_amount, reason, created_at, fill_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                order.order_id,
                order.channel_name,
                order.from_currency,
                format(order.from_amount, "f"),
                order.to_currency,
                status,
                format(rate, "f") if rate is not None else None,
                format(to_amount, "f") if to_amount is not None else None,
                reason,
                ts(now),
                ts(fill_at) if fill_at else None,
                ts(now),
            ),
        )
        row = self._find(conn, order.order_id)
        assert row is not None
        return state_of(row)

    # --- query --------------------------------------------------------------------------------

    async def query(self, order_id: str) -> ChannelOrderState:
        check_order_id(order_id)
        outcome, state = await self._run(self._query, order_id)
        if outcome == "unavailable":
            raise BankChannelUnavailable(f"The bank exchange channel is unavailable; order {order_id} was not queried.")
        if outcome == "timeout":
            raise BankChannelTimeout(
                f"The bank exchange channel did not answer the query for order {order_id} in time."
            )
        if outcome == "unknown":
            raise UnknownChannelOrder(order_id)
        assert state is not None
        return state

    def _query(self, conn: sqlite3.Connection, order_id: str) -> tuple[str, ChannelOrderState | None]:
        now = self._now()
        self._fill_due(conn, now)
        if self._is_down(conn):
            self._log(conn, "query", order_id, "unavailable", now)
            return "unavailable", None
        answer_lost, _ = self._take_fault(conn, "query", "timeout")
        if answer_lost:
            self._log(conn, "query", order_id, "timeout", now, answer_lost=True)
            return "timeout", None
        row = self._find(conn, order_id)
        self._log(conn, "query", order_id, "unknown" if row is None else "found", now)
        return ("unknown", None) if row is None else ("ok", state_of(row))

    # --- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _find(conn: sqlite3.Connection, order_id: str) -> tuple | None:
        return conn.execute(f"SELECT {ORDER_COLUMNS} FROM exchange_orders WHERE order_id = ?", (order_id,)).fetchone()

    def _is_down(self, conn: sqlite3.Connection) -> bool:
        return self._setting(conn, "channel_down", "0") == "1"

    def _fill_delay_s(self, conn: sqlite3.Connection, channel_name: str) -> float:
        # A delay in seconds for the simulated clock, not money: float is right here.
        default = self._setting(conn, fill_delay_setting(None), "0")
        return float(self._setting(conn, fill_delay_setting(channel_name), default))  # seconds, not money

    async def __aenter__(self) -> SimulatedBankChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

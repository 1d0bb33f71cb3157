"""Tables for margin call (migration 0014_margin): instruments with their margin factors,
client positions, market prices, the margin terms of each client, the desk's settings,
margin calls (the vendor's ``risk_alert_logs``) with their snapshots and follow-up
records, and liquidation orders (``risk_batch_force_close_logs``) with their fills."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from ..schema import metadata
from ..types import Amount, UtcDateTime

INSTRUMENT_STATUSES = ("NORMAL", "SUSPENDED", "DELISTED")
ALERT_TYPES = ("MARGIN_CALL", "FORCE_CALL", "OVER_FINANCING")
CALL_STATUSES = ("OPEN", "EXCEPTION", "ENDED")
SNAPSHOT_REASONS = ("TRIGGERED", "FORCE_CALL", "MESSAGE", "DAILY", "ENDED")
ORDER_STATES = ("PENDING", "SENDING", "NEW", "PARTIALLY_FILLED", "FILLED", "CANCEL_REQUESTED", "CANCELLED",
                "REJECTED", "UNKNOWN")
"""A liquidation order is recorded PENDING, claimed SENDING by one console, then takes the
venue's states; UNKNOWN while a lost answer waits for a status request."""
OPEN_ORDER_STATES = ("PENDING", "SENDING", "NEW", "PARTIALLY_FILLED", "CANCEL_REQUESTED", "UNKNOWN")

# The vendor keeps the factors per stock as percentages (instrument_stock_margin_ratios):
# initial, maintenance, force and margin-call.
instruments = Table(
    "instruments",
    metadata,
    Column("code", String(16), primary_key=True),  # counter id, "700.HK"
    Column("name", String(100), nullable=False),
    Column("market", String(4), nullable=False),
    Column("currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("lot_size", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("status_since", UtcDateTime, nullable=True),
    Column("im_factor", Amount, nullable=False),
    Column("mm_factor", Amount, nullable=False),
    Column("fm_factor", Amount, nullable=False),
    Column("mcm_factor", Amount, nullable=False),
    Column("anchor_price", Amount, nullable=False),  # the simulated market's opening price
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("status IN ('NORMAL', 'SUSPENDED', 'DELISTED')", name="ck_instruments_status"),
    CheckConstraint("lot_size >= 1", name="ck_instruments_lot_size"),
)

# A client's holding of one instrument: positive long, negative short.
client_positions = Table(
    "client_positions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("code", String(16), ForeignKey("instruments.code"), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("avg_cost", Amount, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("client_id", "code", name="uq_client_positions_holding"),
    # A price change re-values only the clients holding that security.
    Index("ix_client_positions_code", "code", "client_id"),
)

# The latest quote of each instrument, as the price gateway gave it.
market_prices = Table(
    "market_prices",
    metadata,
    Column("code", String(16), ForeignKey("instruments.code"), primary_key=True),
    Column("bid", Amount, nullable=False),
    Column("ask", Amount, nullable=False),
    Column("last", Amount, nullable=False),
    Column("quoted_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
)

# Per client: the terms of the margin-to-be-collected formula, and the desk's handling.
margin_terms = Table(
    "margin_terms",
    metadata,
    Column("client_id", Integer, ForeignKey("clients.id"), primary_key=True),
    Column("accrued_interest", Amount, nullable=False),
    Column("outstanding_deposit", Amount, nullable=False),
    Column("trading_limit", Amount, nullable=False),
    Column("trading_limit_expired_at", UtcDateTime, nullable=True),
    Column("financing_limit", Amount, nullable=True),
    Column("additional_margin", Amount, nullable=False),
    Column("exempt", Boolean, nullable=False),  # ignore_margin_call: no call opens
    Column("exempt_reason", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The desk's settings: one row (id 1), versioned.
margin_settings = Table(
    "margin_settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("liquidation_enabled", Boolean, nullable=False),  # batch liquidation toggle
    Column("order_rule", String(16), nullable=False),
    Column("offset_steps", Integer, nullable=False),
    Column("buffer_pct", Amount, nullable=False),
    Column("cal_margin_owed", Boolean, nullable=False),  # is_cal_nav
    Column("cal_interest", Boolean, nullable=False),  # is_cal_in_debt
    Column("cal_trading_limit", Boolean, nullable=False),  # is_max_trade_credit
    Column("cal_over_finance", Boolean, nullable=False),  # is_cal_over_finance
    Column("expire_trading_limit", Boolean, nullable=False),
    Column("deadline_days", Integer, nullable=False),  # Hong Kong trading days
    Column("stale_price_s", Integer, nullable=False),
    Column("suspended_days", Integer, nullable=False),  # "long-suspended" from this many days
    Column("price_source", Text, nullable=False),  # the price gateway's configuration, JSON
    Column("venue", Text, nullable=False),  # the liquidation venue's configuration, JSON
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("id = 1", name="ck_margin_settings_one_row"),
    CheckConstraint("order_rule IN ('LARGEST_LOSS', 'LARGEST_VALUE', 'HIGHEST_MARGIN')",
                    name="ck_margin_settings_order_rule"),
)

# A margin call (risk alert): open from trigger to end; its figures are the latest valuation.
margin_calls = Table(
    "margin_calls",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("alert_type", String(16), nullable=False),
    Column("status", String(10), nullable=False),
    Column("triggered_at", UtcDateTime, nullable=False),
    Column("force_at", UtcDateTime, nullable=True),  # when it turned into a force call
    Column("deadline", UtcDateTime, nullable=False),  # end of the last trading day to cure it
    Column("auto_liquidate_at", UtcDateTime, nullable=True),  # set auto-liquidation
    Column("ended_at", UtcDateTime, nullable=True),
    Column("end_reason", String(40), nullable=False),
    Column("remarks", String(500), nullable=False),
    Column("net_asset_ratio", Amount, nullable=False),
    Column("lna", Amount, nullable=False),
    Column("equity", Amount, nullable=False),
    Column("cash_hkd", Amount, nullable=False),
    Column("market_value", Amount, nullable=False),
    Column("requirement", Amount, nullable=False),
    Column("margin_to_collect", Amount, nullable=False),
    Column("trigger_figures", Text, nullable=False),  # JSON: the valuation when it opened
    Column("valued_at", UtcDateTime, nullable=False),
    Column("prices_as_of", UtcDateTime, nullable=True),  # the oldest price the figures used
    Column("last_liquidation_at", UtcDateTime, nullable=True),
    Column("last_message_at", UtcDateTime, nullable=True),
    Column("version", Integer, nullable=False),
    CheckConstraint("status IN ('OPEN', 'EXCEPTION', 'ENDED')", name="ck_margin_calls_status"),
    CheckConstraint("alert_type IN ('MARGIN_CALL', 'FORCE_CALL', 'OVER_FINANCING')",
                    name="ck_margin_calls_alert_type"),
    CheckConstraint("(status = 'ENDED') = (ended_at IS NOT NULL)", name="ck_margin_calls_ended"),
    # At most one call open (or Exception) per client.
    Index("uq_margin_calls_open", "client_id", unique=True,
          sqlite_where=text("status <> 'ENDED'"), postgresql_where=text("status <> 'ENDED'")),
    Index("ix_margin_calls_status", "status", "triggered_at"),
)

margin_call_snapshots = Table(
    "margin_call_snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", Integer, ForeignKey("margin_calls.id"), nullable=False),
    Column("reason", String(12), nullable=False),
    Column("day", String(8), nullable=False),  # Hong Kong date, YYYYMMDD
    Column("figures", Text, nullable=False),  # JSON
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("reason IN ('TRIGGERED', 'FORCE_CALL', 'MESSAGE', 'DAILY', 'ENDED')",
                    name="ck_margin_call_snapshots_reason"),
    Index("ix_margin_call_snapshots_call", "call_id", "id"),
    # One daily record per call and day, whichever console takes it.
    Index("uq_margin_call_snapshots_daily", "call_id", "day", unique=True,
          sqlite_where=text("reason = 'DAILY'"), postgresql_where=text("reason = 'DAILY'")),
)

# Follow-up records: append-only notes for the next handler.
margin_follow_ups = Table(
    "margin_follow_ups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", Integer, ForeignKey("margin_calls.id"), nullable=False),
    Column("author_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("content", String(1000), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_margin_follow_ups_call", "call_id", "id"),
)

liquidation_orders = Table(
    "liquidation_orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cl_ord_id", String(40), nullable=False, unique=True),
    Column("call_id", Integer, ForeignKey("margin_calls.id"), nullable=False),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("code", String(16), ForeignKey("instruments.code"), nullable=False),
    Column("side", String(4), nullable=False),  # SELL a long, BUY to cover a short
    Column("quantity", BigInteger, nullable=False),
    Column("limit_price", Amount, nullable=False),
    Column("filled_quantity", BigInteger, nullable=False),
    Column("filled_amount", Amount, nullable=False),  # Σ fill quantity × price
    Column("state", String(18), nullable=False),
    Column("venue_order_id", String(40), nullable=True),
    Column("reason", String(300), nullable=False),
    Column("force_type", String(8), nullable=False),  # SINGLE, BULK (Details), BATCH (list), AUTO (at a set time)
    Column("batch_ref", String(40), nullable=False),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=True),  # None: auto-liquidation
    Column("cancelled_by", Integer, ForeignKey("operators.id"), nullable=True),
    Column("claimed_by", String(80), nullable=True),
    Column("claimed_at", UtcDateTime, nullable=True),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("version", Integer, nullable=False),
    CheckConstraint("side IN ('SELL', 'BUY')", name="ck_liquidation_orders_side"),
    CheckConstraint("quantity > 0 AND filled_quantity BETWEEN 0 AND quantity", name="ck_liquidation_orders_qty"),
    CheckConstraint("state IN ('PENDING', 'SENDING', 'NEW', 'PARTIALLY_FILLED', 'FILLED', 'CANCEL_REQUESTED', "
                    "'CANCELLED', 'REJECTED', 'UNKNOWN')", name="ck_liquidation_orders_state"),
    CheckConstraint("force_type IN ('SINGLE', 'BULK', 'BATCH', 'AUTO')", name="ck_liquidation_orders_force_type"),
    Index("ix_liquidation_orders_state", "state", "id"),
    Index("ix_liquidation_orders_call", "call_id", "id"),
    Index("ix_liquidation_orders_client", "client_id", "id"),
)

# Each execution applied once: the venue's exec id is the key.
liquidation_fills = Table(
    "liquidation_fills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("liquidation_orders.id"), nullable=False),
    Column("exec_id", String(64), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("price", Amount, nullable=False),
    Column("executed_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("order_id", "exec_id", name="uq_liquidation_fills_exec"),
    CheckConstraint("quantity > 0", name="ck_liquidation_fills_qty"),
)

# The price pass: one row per interval slot, taken by the one console that fetches it.
margin_price_runs = Table(
    "margin_price_runs",
    metadata,
    Column("slot", String(40), primary_key=True),
    Column("holder", String(80), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("outcome", String(300), nullable=False, server_default=""),
)

"""Tables for bank exchange execution: the configured bank exchange channels, the orders
sent to them (the vendor's ``atm_forex_channel_orders``) and each executed exchange's
profit and loss (``atm_forex_profit_loss``); migration 0012_fx_foundation."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from ..schema import metadata
from ..types import Amount, UtcDateTime

CHANNEL_STATUSES = ("PENDING_SEND", "PROCESSING", "SUCCEEDED", "FAILED", "UNKNOWN")

fx_bank_channels = Table(
    "fx_bank_channels",
    metadata,
    Column("channel_name", String(32), primary_key=True),
    Column("gateway", Text, nullable=False),  # JSON: {"kind": "simulated", ...} or {"kind": "http", ...}
    Column("enabled", Boolean, nullable=False),
)

fx_channel_orders = Table(
    "fx_channel_orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_no", String(40), nullable=False, unique=True),  # the id the bank knows it by
    Column("forex_id", String(40), ForeignKey("fx_exchanges.forex_id"), nullable=False),
    Column("channel_name", String(32), nullable=False),
    Column("from_currency", String(12), nullable=False),
    Column("from_amount", Amount, nullable=False),
    Column("to_currency", String(12), nullable=False),
    Column("to_amount", Amount, nullable=True),
    Column("channel_rate", Amount, nullable=True),
    Column("serial_no", String(64), nullable=True),
    Column("channel_status", String(12), nullable=False),
    Column("origin_status", String(32), nullable=False),
    Column("origin_text", String(300), nullable=False),
    Column("abnormal", Boolean, nullable=False),
    # Exception handling (the vendor's ``abnormal_apply``): one application at a time,
    # then a second person's review (``abnormal_batch_review``).
    Column("apply_type", String(16), nullable=True),  # SUCCESS_APPLY | FAILURE_APPLY | RETRY_APPLY
    Column("apply_channel_rate", Amount, nullable=True),
    Column("apply_channel_name", String(32), nullable=True),
    Column("apply_remark", String(200), nullable=True),
    Column("applied_by", Integer, ForeignKey("operators.id"), nullable=True),
    Column("apply_status", String(16), nullable=True),  # PENDING_REVIEW | APPROVED | REJECTED
    Column("reviewed_by", Integer, ForeignKey("operators.id"), nullable=True),
    Column("review_remark", String(200), nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("next_check_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("success_time", UtcDateTime, nullable=True),
    Index("ix_fx_channel_orders_due", "channel_status", "next_check_at"),
    Index("ix_fx_channel_orders_forex", "forex_id"),
)

fx_profit_loss = Table(
    "fx_profit_loss",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("forex_id", String(40), ForeignKey("fx_exchanges.forex_id"), nullable=False, unique=True),
    Column("client_ordid", String(40), nullable=True),  # the channel order (None: a pool exchange)
    Column("channel_name", String(32), nullable=True),
    Column("currency", String(12), nullable=False),  # the target currency
    Column("channel_rate", Amount, nullable=False),
    Column("channel_amount", Amount, nullable=False),
    Column("user_rate", Amount, nullable=False),
    Column("user_amount", Amount, nullable=False),
    Column("profit_loss", Amount, nullable=False),
    Column("order_offset", Amount, nullable=False),
    Column("standard_profit_loss", Amount, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_fx_profit_loss_day", "currency", "created_at"),
)

# Rate sources the reference rates are refreshed from, per channel and rate type: daily at
# 13:00 Hong Kong time, or hourly where the channel publishes hourly.
fx_rate_sources = Table(
    "fx_rate_sources",
    metadata,
    Column("channel_name", String(16), primary_key=True),
    Column("rate_type", String(8), primary_key=True),
    Column("gateway", Text, nullable=False),
    Column("hourly", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
)

# One row per refresh slot (channel, type, day or hour): the first process to insert it
# refreshes; every other console finds it taken.
fx_rate_refresh_runs = Table(
    "fx_rate_refresh_runs",
    metadata,
    Column("slot", String(60), primary_key=True),
    Column("holder", String(80), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("outcome", String(300), nullable=True),
)

"""Tables for currency exchange: clients and their cash, currency setup, currency pairs,
exchange strategies, exchange-pool quotas and their ledger, large-amount criteria
(migration 0012_fx_foundation); client exchanges and markups (0013_fx_exchanges)."""

from __future__ import annotations

from sqlalchemy import (
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

ACCOUNT_TYPES = ("cash", "margin")
HOLD_STATUSES = ("HELD", "POSTED", "VOIDED")

clients = Table(
    "clients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_no", String(20), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("account_type", String(8), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("account_type IN ('cash', 'margin')", name="ck_clients_account_type"),
)

# A client's cash per currency, as movements; each carries the balance after it.
client_cash_movements = Table(
    "client_cash_movements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("balance_after", Amount, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("ref", String(40), nullable=False),
    Column("remarks", String(200), nullable=False),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_client_cash_movements_latest", "client_id", "currency", "id"),
)

# Money held for a pending exchange or withdrawal: HELD, then POSTED (it left the
# client's cash, as a movement in the same transaction) or VOIDED (released).
client_cash_holds = Table(
    "client_cash_holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("purpose", String(20), nullable=False),
    Column("ref", String(40), nullable=False),
    Column("status", String(8), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("settled_at", UtcDateTime, nullable=True),
    CheckConstraint("status IN ('HELD', 'POSTED', 'VOIDED')", name="ck_client_cash_holds_status"),
    UniqueConstraint("purpose", "ref", name="uq_client_cash_holds_ref"),
    Index("ix_client_cash_holds_open", "client_id", "currency", "status"),
)

# Currency Setup's exchange settings (the switch itself is ``currencies.exchange_enabled``).
fx_currency_configs = Table(
    "fx_currency_configs",
    metadata,
    Column("currency", String(12), ForeignKey("currencies.code"), primary_key=True),
    Column("exchange_rate_precision", Integer, nullable=False),
    Column("amount_precision", Integer, nullable=False),
    Column("amount_round_mode", String(8), nullable=False),
    Column("min_exchange_amount", Amount, nullable=False),
    Column("standard_money", Boolean, nullable=False),
    Column("remarks", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("exchange_rate_precision BETWEEN 0 AND 10", name="ck_fx_currency_configs_rate_precision"),
    CheckConstraint("amount_precision BETWEEN 0 AND 2", name="ck_fx_currency_configs_amount_precision"),
    CheckConstraint("amount_round_mode IN ('round', 'truncate')", name="ck_fx_currency_configs_round_mode"),
    Index("uq_fx_currency_configs_standard", "standard_money", unique=True,
          sqlite_where=text("standard_money"), postgresql_where=text("standard_money")),
)

fx_currency_pairs = Table(
    "fx_currency_pairs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("from_currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("to_currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("default_currency", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("from_currency", "to_currency", name="uq_fx_currency_pairs_pair"),
    CheckConstraint("from_currency <> to_currency", name="ck_fx_currency_pairs_two_currencies"),
    Index("uq_fx_currency_pairs_default", "from_currency", unique=True,
          sqlite_where=text("default_currency"), postgresql_where=text("default_currency")),
)

SERVICE_STRATEGIES = ("BATCH", "SINGLE")
"""``BATCH``: Exchange Pool; ``SINGLE``: Bank Exchange (the vendor's codes)."""

# Exchange strategies: how a request is served, for which pairs, when.
fx_exchange_strategies = Table(
    "fx_exchange_strategies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_strategy", String(8), nullable=False),
    Column("change_type", Integer, nullable=False),
    Column("channel_name", String(32), nullable=True),
    Column("support_currency", Text, nullable=False),  # JSON list of "USD/HKD"
    Column("service_time", Text, nullable=False),  # JSON list of the vendor's period items
    Column("approval_start_amount", Amount, nullable=True),
    Column("enable_flag", Boolean, nullable=False),
    Column("remarks", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("service_strategy IN ('BATCH', 'SINGLE')", name="ck_fx_exchange_strategies_strategy"),
    CheckConstraint("change_type BETWEEN 0 AND 3", name="ck_fx_exchange_strategies_change_type"),
    CheckConstraint("(service_strategy = 'SINGLE') = (channel_name IS NOT NULL)",
                    name="ck_fx_exchange_strategies_channel"),
)

# Exchange-pool quota per currency, and every movement of it.
fx_pool_quotas = Table(
    "fx_pool_quotas",
    metadata,
    Column("currency", String(12), ForeignKey("currencies.code"), primary_key=True),
    Column("remaining_amount", Amount, nullable=False),
    Column("alarm_amount", Amount, nullable=False),
    Column("below_alarm", Boolean, nullable=False),
    Column("remark", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

fx_pool_ledger = Table(
    "fx_pool_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("change_type", String(16), nullable=False),
    Column("order_no", String(40), nullable=False),
    Column("before_occurred", Amount, nullable=False),
    Column("occurred_amount", Amount, nullable=False),
    Column("after_occurred", Amount, nullable=False),
    Column("occurred_from", String(8), nullable=False),
    Column("remark", String(200), nullable=False),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("occurred_from IN ('AUTO', 'MANUAL')", name="ck_fx_pool_ledger_from"),
    Index("ix_fx_pool_ledger_currency", "currency", "id"),
)

# Large-amount criteria: per currency, the amount from which an exchange is large.
fx_amount_configs = Table(
    "fx_amount_configs",
    metadata,
    Column("currency", String(12), ForeignKey("currencies.code"), primary_key=True),
    Column("amount", Amount, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

RATE_CHANNELS = {"HKEX": "Hong Kong Exchange", "IB": "IB", "HANG_SENG": "Hang Seng", "ICBC": "ICBC"}
RATE_TYPES = {"BOOK": "Book Rate", "SPOT": "Spot Rate", "HKEX": "HKEX Rate"}

# Reference rates: per channel, type and currency against the standard currency, one row
# per record date (the current rate is the latest date's).  Bid is the price at which the
# broker buys the currency, offer the price at which it sells, average the mid.
fx_reference_rates = Table(
    "fx_reference_rates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_name", String(16), nullable=False),
    Column("rate_type", String(8), nullable=False),
    Column("base_currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("other_currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("record_date", String(8), nullable=False),  # YYYYMMDD, as the vendor's
    Column("bid_rate", Amount, nullable=False),
    Column("offer_rate", Amount, nullable=False),
    Column("average_rate", Amount, nullable=False),
    Column("source", String(8), nullable=False),  # MANUAL | IMPORT | GATEWAY
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel_name", "rate_type", "base_currency", "other_currency", "record_date",
                     name="uq_fx_reference_rates_day"),
    CheckConstraint("source IN ('MANUAL', 'IMPORT', 'GATEWAY')", name="ck_fx_reference_rates_source"),
)

# Every rate ever set (imported, edited, refreshed): the history an auditor reads.
fx_reference_rate_journal = Table(
    "fx_reference_rate_journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_name", String(16), nullable=False),
    Column("rate_type", String(8), nullable=False),
    Column("base_currency", String(12), nullable=False),
    Column("other_currency", String(12), nullable=False),
    Column("record_date", String(8), nullable=False),
    Column("bid_rate", Amount, nullable=False),
    Column("offer_rate", Amount, nullable=False),
    Column("average_rate", Amount, nullable=False),
    Column("source", String(8), nullable=False),
    Column("operator_id", Integer, ForeignKey("operators.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_fx_reference_rate_journal_pair", "other_currency", "channel_name", "rate_type", "id"),
)

FOREX_STATUSES = ("SUBMITTED", "PROCESSING", "SUCCEEDED", "FAILED", "REJECTED", "CANCELLED", "UNKNOWN")
AUDIT_STATUSES = ("NONE", "PENDING", "APPROVED", "REJECTED")

# Client exchanges (the vendor's ``atm_forex_orders``): one row per request, its amounts,
# rates, the strategy that serves it, its status and its review.
fx_exchanges = Table(
    "fx_exchanges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("forex_id", String(40), nullable=False, unique=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("from_currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("from_amount", Amount, nullable=False),
    Column("to_currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("to_amount", Amount, nullable=False),
    Column("fixed_side", String(4), nullable=False),  # FROM | TO: the amount the operator typed
    Column("rate", Amount, nullable=False),
    Column("reference_rate", Amount, nullable=True),  # None for a custom rate
    Column("rate_source", String(40), nullable=False),  # "HKEX/SPOT" or "CUSTOM"
    Column("rate_steps", String(300), nullable=False),  # how the client's rate was reached
    Column("strategy_id", Integer, ForeignKey("fx_exchange_strategies.id"), nullable=False),
    Column("service_strategy", String(8), nullable=False),
    Column("change_type", Integer, nullable=False),
    Column("channel_name", String(32), nullable=True),
    Column("standard_amount", Amount, nullable=False),
    Column("forex_status", String(12), nullable=False),
    Column("audit_status", String(8), nullable=False),
    Column("review_reasons", Text, nullable=False),
    Column("maker_id", Integer, ForeignKey("operators.id"), nullable=False),
    Column("checker_id", Integer, ForeignKey("operators.id"), nullable=True),
    Column("audit_remark", String(200), nullable=False),
    Column("order_remark", String(200), nullable=False),
    Column("origin", String(12), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("success_time", UtcDateTime, nullable=True),
    CheckConstraint("forex_status IN ('SUBMITTED', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'REJECTED', 'CANCELLED', "
                    "'UNKNOWN')", name="ck_fx_exchanges_status"),
    CheckConstraint("audit_status IN ('NONE', 'PENDING', 'APPROVED', 'REJECTED')", name="ck_fx_exchanges_audit"),
    CheckConstraint("checker_id IS NULL OR checker_id <> maker_id", name="ck_fx_exchanges_four_eyes"),
    CheckConstraint("fixed_side IN ('FROM', 'TO')", name="ck_fx_exchanges_side"),
    Index("ix_fx_exchanges_status", "forex_status", "id"),
    Index("ix_fx_exchanges_client", "client_id", "id"),
)

SPREAD_MODES = {"VALUE": "Value", "RATE": "Ratio"}

# Markups on the reference rate (the vendor's ``atm_forex_rate_references``), per rate
# source channel and pair, applied when a request is submitted.
fx_reference_markups = Table(
    "fx_reference_markups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel_name", String(16), nullable=False),
    Column("from_currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("to_currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("spread_mode", String(8), nullable=False),
    Column("bp", Amount, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("channel_name", "from_currency", "to_currency", name="uq_fx_reference_markups_pair"),
    CheckConstraint("spread_mode IN ('VALUE', 'RATE')", name="ck_fx_reference_markups_mode"),
)

# Markups on the executed rate (the vendor's ``atm_forex_rate_configs``, "user rate"), per
# strategy kind (and bank channel), pair, amount tiers and effective period, applied when
# the exchange is executed.
fx_executed_markups = Table(
    "fx_executed_markups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_strategy", String(8), nullable=False),
    Column("channel_name", String(32), nullable=True),
    Column("from_currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("to_currency", String(12), ForeignKey("currencies.code"), nullable=False),
    Column("spread_mode", String(8), nullable=False),
    Column("spread_value", Text, nullable=False),  # JSON tiers [{start_value, end_value, markup}]
    Column("default_effective", Boolean, nullable=False),
    Column("start_time", UtcDateTime, nullable=True),
    Column("end_time", UtcDateTime, nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint("spread_mode IN ('VALUE', 'RATE')", name="ck_fx_executed_markups_mode"),
    CheckConstraint("(service_strategy = 'SINGLE') = (channel_name IS NOT NULL)",
                    name="ck_fx_executed_markups_channel"),
)

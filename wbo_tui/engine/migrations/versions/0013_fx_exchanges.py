"""Currency exchange, the exchanges: client exchanges, markups on the reference and the
executed rate, the bank exchange channels with the orders sent to them, and each
executed exchange's profit and loss.

- ``fx_exchanges``: one row per client exchange request (the vendor's
  ``atm_forex_orders``): amounts, rates and how they were reached, the strategy serving
  it, its status and review (the maker is never the checker: a CHECK).
- ``fx_reference_markups`` / ``fx_executed_markups``: the broker's markups (the vendor's
  ``atm_forex_rate_references`` and ``atm_forex_rate_configs``).
- ``fx_bank_channels``, ``fx_channel_orders``, ``fx_profit_loss``: the configured bank
  exchange channels, every order sent to one (``atm_forex_channel_orders``), and what
  each executed exchange made or lost (``atm_forex_profit_loss``).

Revision ID: 0013_fx_exchanges
Revises: 0012_fx_foundation
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wbo_tui.engine.types import Amount, UtcDateTime

revision = "0013_fx_exchanges"
down_revision = "0012_fx_foundation"
branch_labels = None
depends_on = None

WATCHED = ("fx_exchanges", "fx_reference_markups", "fx_executed_markups", "fx_bank_channels", "fx_channel_orders",
           "fx_profit_loss", "fx_rate_sources", "fx_rate_refresh_runs")


def upgrade() -> None:
    _exchange_table()
    _markup_tables()
    _channel_tables()
    _watch()


def _exchange_table() -> None:
    op.create_table(
        "fx_exchanges",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("forex_id", sa.String(40), nullable=False, unique=True),
        sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("from_currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("from_amount", Amount, nullable=False),
        sa.Column("to_currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("to_amount", Amount, nullable=False),
        sa.Column("fixed_side", sa.String(4), nullable=False),
        sa.Column("rate", Amount, nullable=False),
        sa.Column("reference_rate", Amount, nullable=True),
        sa.Column("rate_source", sa.String(40), nullable=False),
        sa.Column("rate_steps", sa.String(300), nullable=False),
        sa.Column("strategy_id", sa.Integer, sa.ForeignKey("fx_exchange_strategies.id"), nullable=False),
        sa.Column("service_strategy", sa.String(8), nullable=False),
        sa.Column("change_type", sa.Integer, nullable=False),
        sa.Column("channel_name", sa.String(32), nullable=True),
        sa.Column("standard_amount", Amount, nullable=False),
        sa.Column("forex_status", sa.String(12), nullable=False),
        sa.Column("audit_status", sa.String(8), nullable=False),
        sa.Column("review_reasons", sa.Text, nullable=False),
        sa.Column("maker_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("checker_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=True),
        sa.Column("audit_remark", sa.String(200), nullable=False),
        sa.Column("order_remark", sa.String(200), nullable=False),
        sa.Column("origin", sa.String(12), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("success_time", UtcDateTime, nullable=True),
        sa.CheckConstraint("forex_status IN ('SUBMITTED', 'PROCESSING', 'SUCCEEDED', 'FAILED', 'REJECTED', "
                           "'CANCELLED', 'UNKNOWN')", name="ck_fx_exchanges_status"),
        sa.CheckConstraint("audit_status IN ('NONE', 'PENDING', 'APPROVED', 'REJECTED')", name="ck_fx_exchanges_audit"),
        sa.CheckConstraint("checker_id IS NULL OR checker_id <> maker_id", name="ck_fx_exchanges_four_eyes"),
        sa.CheckConstraint("fixed_side IN ('FROM', 'TO')", name="ck_fx_exchanges_side"),
    )
    op.create_index("ix_fx_exchanges_status", "fx_exchanges", ["forex_status", "id"])
    op.create_index("ix_fx_exchanges_client", "fx_exchanges", ["client_id", "id"])


def _markup_tables() -> None:
    op.create_table(
        "fx_reference_markups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel_name", sa.String(16), nullable=False),
        sa.Column("from_currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("to_currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("spread_mode", sa.String(8), nullable=False),
        sa.Column("bp", Amount, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("channel_name", "from_currency", "to_currency", name="uq_fx_reference_markups_pair"),
        sa.CheckConstraint("spread_mode IN ('VALUE', 'RATE')", name="ck_fx_reference_markups_mode"),
    )
    op.create_table(
        "fx_executed_markups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_strategy", sa.String(8), nullable=False),
        sa.Column("channel_name", sa.String(32), nullable=True),
        sa.Column("from_currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("to_currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("spread_mode", sa.String(8), nullable=False),
        sa.Column("spread_value", sa.Text, nullable=False),
        sa.Column("default_effective", sa.Boolean, nullable=False),
        sa.Column("start_time", UtcDateTime, nullable=True),
        sa.Column("end_time", UtcDateTime, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("spread_mode IN ('VALUE', 'RATE')", name="ck_fx_executed_markups_mode"),
        sa.CheckConstraint("(service_strategy = 'SINGLE') = (channel_name IS NOT NULL)",
                           name="ck_fx_executed_markups_channel"),
    )


def _channel_tables() -> None:
    op.create_table(
        "fx_bank_channels",
        sa.Column("channel_name", sa.String(32), primary_key=True),
        sa.Column("gateway", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "fx_channel_orders",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("order_no", sa.String(40), nullable=False, unique=True),
        sa.Column("forex_id", sa.String(40), sa.ForeignKey("fx_exchanges.forex_id"), nullable=False),
        sa.Column("channel_name", sa.String(32), nullable=False),
        sa.Column("from_currency", sa.String(12), nullable=False),
        sa.Column("from_amount", Amount, nullable=False),
        sa.Column("to_currency", sa.String(12), nullable=False),
        sa.Column("to_amount", Amount, nullable=True),
        sa.Column("channel_rate", Amount, nullable=True),
        sa.Column("serial_no", sa.String(64), nullable=True),
        sa.Column("channel_status", sa.String(12), nullable=False),
        sa.Column("origin_status", sa.String(32), nullable=False),
        sa.Column("origin_text", sa.String(300), nullable=False),
        sa.Column("abnormal", sa.Boolean, nullable=False),
        sa.Column("apply_type", sa.String(16), nullable=True),
        sa.Column("apply_channel_rate", Amount, nullable=True),
        sa.Column("apply_channel_name", sa.String(32), nullable=True),
        sa.Column("apply_remark", sa.String(200), nullable=True),
        sa.Column("applied_by", sa.Integer, sa.ForeignKey("operators.id"), nullable=True),
        sa.Column("apply_status", sa.String(16), nullable=True),
        sa.Column("reviewed_by", sa.Integer, sa.ForeignKey("operators.id"), nullable=True),
        sa.Column("review_remark", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_check_at", UtcDateTime, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("success_time", UtcDateTime, nullable=True),
    )
    op.create_index("ix_fx_channel_orders_due", "fx_channel_orders", ["channel_status", "next_check_at"])
    op.create_index("ix_fx_channel_orders_forex", "fx_channel_orders", ["forex_id"])
    op.create_table(
        "fx_profit_loss",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("forex_id", sa.String(40), sa.ForeignKey("fx_exchanges.forex_id"), nullable=False, unique=True),
        sa.Column("client_ordid", sa.String(40), nullable=True),
        sa.Column("channel_name", sa.String(32), nullable=True),
        sa.Column("currency", sa.String(12), nullable=False),
        sa.Column("channel_rate", Amount, nullable=False),
        sa.Column("channel_amount", Amount, nullable=False),
        sa.Column("user_rate", Amount, nullable=False),
        sa.Column("user_amount", Amount, nullable=False),
        sa.Column("profit_loss", Amount, nullable=False),
        sa.Column("order_offset", Amount, nullable=False),
        sa.Column("standard_profit_loss", Amount, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_fx_profit_loss_day", "fx_profit_loss", ["currency", "created_at"])
    op.create_table(
        "fx_rate_sources",
        sa.Column("channel_name", sa.String(16), primary_key=True),
        sa.Column("rate_type", sa.String(8), primary_key=True),
        sa.Column("gateway", sa.Text, nullable=False),
        sa.Column("hourly", sa.Boolean, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "fx_rate_refresh_runs",
        sa.Column("slot", sa.String(60), primary_key=True),
        sa.Column("holder", sa.String(80), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("finished_at", UtcDateTime, nullable=True),
        sa.Column("outcome", sa.String(300), nullable=True),
    )


def _watch() -> None:
    from importlib import import_module

    feed = import_module("wbo_tui.engine.migrations.versions.0010_change_feed")
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"CREATE TRIGGER wbo_change_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION wbo_change_notify()")
        return
    for table in WATCHED:
        op.execute(f"INSERT INTO change_feed (topic, version) VALUES ('{table}', 0)")
        for statement in feed.sqlite_triggers(table):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS wbo_change_{table} ON {table}")
    else:
        for table in WATCHED:
            for suffix in ("ins", "upd", "del"):
                op.execute(f"DROP TRIGGER IF EXISTS wbo_change_{table}_{suffix}")
            op.execute(sa.text("DELETE FROM change_feed WHERE topic = :t").bindparams(t=table))
    for table in reversed(WATCHED):
        op.drop_table(table)

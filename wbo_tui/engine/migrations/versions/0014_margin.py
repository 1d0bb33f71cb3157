"""Margin call: instruments with their margin factors, client positions, market prices,
each client's margin terms, the desk's settings, margin calls with their snapshots and
follow-up records, liquidation orders with their fills, and the price pass's slots.

- ``instruments``: counter id ("700.HK"), market, currency, board lot, status (normal,
  suspended, delisted) and the vendor's per-stock factors (``im``, ``mm``, ``fm``,
  ``mcm``: percentages, as ``instrument_stock_margin_ratios`` keeps them).
- ``client_positions``: one row per client and instrument, positive long, negative short,
  indexed by instrument so a price change re-values only its holders.
- ``market_prices``: the latest quote per instrument; ``margin_price_runs``: one row per
  price interval, taken by the console that fetches it.
- ``margin_terms``, ``margin_settings``: the margin-to-be-collected formula's terms per
  client, and the desk's one row of settings (liquidation toggle, plan rules, the
  warning-value switches, deadline, staleness, the gateways' configurations).
- ``margin_calls`` (the vendor's ``risk_alert_logs``): at most one open call per client (a
  partial unique index); ``margin_call_snapshots`` (one DAILY per call and day);
  ``margin_follow_ups`` (append-only).
- ``liquidation_orders`` (``risk_batch_force_close_logs``) and ``liquidation_fills`` (each
  venue execution applied once: unique per order and exec id).

Revision ID: 0014_margin
Revises: 0013_fx_exchanges
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wbo_tui.engine.types import Amount, UtcDateTime

revision = "0014_margin"
down_revision = "0013_fx_exchanges"
branch_labels = None
depends_on = None

WATCHED = ("instruments", "client_positions", "market_prices", "margin_terms", "margin_settings", "margin_calls",
           "margin_call_snapshots", "margin_follow_ups", "liquidation_orders", "liquidation_fills")


def upgrade() -> None:
    _tables()
    _watch()


def _tables() -> None:
    op.create_table('margin_price_runs',
    sa.Column('slot', sa.String(length=40), nullable=False),
    sa.Column('holder', sa.String(length=80), nullable=False),
    sa.Column('started_at', UtcDateTime(), nullable=False),
    sa.Column('finished_at', UtcDateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=300), server_default='', nullable=False),
    sa.PrimaryKeyConstraint('slot', name=op.f('pk_margin_price_runs'))
    )
    op.create_table('margin_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('liquidation_enabled', sa.Boolean(), nullable=False),
    sa.Column('order_rule', sa.String(length=16), nullable=False),
    sa.Column('offset_steps', sa.Integer(), nullable=False),
    sa.Column('buffer_pct', Amount(), nullable=False),
    sa.Column('cal_margin_owed', sa.Boolean(), nullable=False),
    sa.Column('cal_interest', sa.Boolean(), nullable=False),
    sa.Column('cal_trading_limit', sa.Boolean(), nullable=False),
    sa.Column('cal_over_finance', sa.Boolean(), nullable=False),
    sa.Column('expire_trading_limit', sa.Boolean(), nullable=False),
    sa.Column('deadline_days', sa.Integer(), nullable=False),
    sa.Column('stale_price_s', sa.Integer(), nullable=False),
    sa.Column('suspended_days', sa.Integer(), nullable=False),
    sa.Column('price_source', sa.Text(), nullable=False),
    sa.Column('venue', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint("order_rule IN ('LARGEST_LOSS', 'LARGEST_VALUE', 'HIGHEST_MARGIN')",
        name=op.f('ck_margin_settings_ck_margin_settings_order_rule')),
    sa.CheckConstraint('id = 1', name=op.f('ck_margin_settings_ck_margin_settings_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_margin_settings'))
    )
    op.create_table('instruments',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('market', sa.String(length=4), nullable=False),
    sa.Column('currency', sa.String(length=12), nullable=False),
    sa.Column('lot_size', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('status_since', UtcDateTime(), nullable=True),
    sa.Column('im_factor', Amount(), nullable=False),
    sa.Column('mm_factor', Amount(), nullable=False),
    sa.Column('fm_factor', Amount(), nullable=False),
    sa.Column('mcm_factor', Amount(), nullable=False),
    sa.Column('anchor_price', Amount(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('NORMAL', 'SUSPENDED', 'DELISTED')",
        name=op.f('ck_instruments_ck_instruments_status')),
    sa.CheckConstraint('lot_size >= 1', name=op.f('ck_instruments_ck_instruments_lot_size')),
    sa.ForeignKeyConstraint(['currency'], ['currencies.code'], name=op.f('fk_instruments_currency_currencies')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_instruments'))
    )
    op.create_table('margin_calls',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('alert_type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('triggered_at', UtcDateTime(), nullable=False),
    sa.Column('force_at', UtcDateTime(), nullable=True),
    sa.Column('deadline', UtcDateTime(), nullable=False),
    sa.Column('auto_liquidate_at', UtcDateTime(), nullable=True),
    sa.Column('ended_at', UtcDateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=40), nullable=False),
    sa.Column('remarks', sa.String(length=500), nullable=False),
    sa.Column('net_asset_ratio', Amount(), nullable=False),
    sa.Column('lna', Amount(), nullable=False),
    sa.Column('equity', Amount(), nullable=False),
    sa.Column('cash_hkd', Amount(), nullable=False),
    sa.Column('market_value', Amount(), nullable=False),
    sa.Column('requirement', Amount(), nullable=False),
    sa.Column('margin_to_collect', Amount(), nullable=False),
    sa.Column('trigger_figures', sa.Text(), nullable=False),
    sa.Column('valued_at', UtcDateTime(), nullable=False),
    sa.Column('prices_as_of', UtcDateTime(), nullable=True),
    sa.Column('last_liquidation_at', UtcDateTime(), nullable=True),
    sa.Column('last_message_at', UtcDateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("(status = 'ENDED') = (ended_at IS NOT NULL)",
        name=op.f('ck_margin_calls_ck_margin_calls_ended')),
    sa.CheckConstraint("alert_type IN ('MARGIN_CALL', 'FORCE_CALL', 'OVER_FINANCING')",
        name=op.f('ck_margin_calls_ck_margin_calls_alert_type')),
    sa.CheckConstraint("status IN ('OPEN', 'EXCEPTION', 'ENDED')", name=op.f('ck_margin_calls_ck_margin_calls_status')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_margin_calls_client_id_clients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_margin_calls'))
    )
    with op.batch_alter_table('margin_calls', schema=None) as batch_op:
        batch_op.create_index('ix_margin_calls_status', ['status', 'triggered_at'], unique=False)
        batch_op.create_index('uq_margin_calls_open', ['client_id'], unique=True,
            sqlite_where=sa.text("status <> 'ENDED'"), postgresql_where=sa.text("status <> 'ENDED'"))

    op.create_table('margin_terms',
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('accrued_interest', Amount(), nullable=False),
    sa.Column('outstanding_deposit', Amount(), nullable=False),
    sa.Column('trading_limit', Amount(), nullable=False),
    sa.Column('trading_limit_expired_at', UtcDateTime(), nullable=True),
    sa.Column('financing_limit', Amount(), nullable=True),
    sa.Column('additional_margin', Amount(), nullable=False),
    sa.Column('exempt', sa.Boolean(), nullable=False),
    sa.Column('exempt_reason', sa.String(length=200), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_margin_terms_client_id_clients')),
    sa.PrimaryKeyConstraint('client_id', name=op.f('pk_margin_terms'))
    )
    op.create_table('client_positions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('avg_cost', Amount(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_client_positions_client_id_clients')),
    sa.ForeignKeyConstraint(['code'], ['instruments.code'], name=op.f('fk_client_positions_code_instruments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_positions')),
    sa.UniqueConstraint('client_id', 'code', name='uq_client_positions_holding')
    )
    with op.batch_alter_table('client_positions', schema=None) as batch_op:
        batch_op.create_index('ix_client_positions_code', ['code', 'client_id'], unique=False)

    op.create_table('liquidation_orders',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('cl_ord_id', sa.String(length=40), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('limit_price', Amount(), nullable=False),
    sa.Column('filled_quantity', sa.BigInteger(), nullable=False),
    sa.Column('filled_amount', Amount(), nullable=False),
    sa.Column('state', sa.String(length=18), nullable=False),
    sa.Column('venue_order_id', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('force_type', sa.String(length=8), nullable=False),
    sa.Column('batch_ref', sa.String(length=40), nullable=False),
    sa.Column('operator_id', sa.Integer(), nullable=True),
    sa.Column('cancelled_by', sa.Integer(), nullable=True),
    sa.Column('claimed_by', sa.String(length=80), nullable=True),
    sa.Column('claimed_at', UtcDateTime(), nullable=True),
    sa.Column('sent_at', UtcDateTime(), nullable=True),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.Column('updated_at', UtcDateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("force_type IN ('SINGLE', 'BULK', 'BATCH', 'AUTO')",
        name=op.f('ck_liquidation_orders_ck_liquidation_orders_force_type')),
    sa.CheckConstraint("side IN ('SELL', 'BUY')", name=op.f('ck_liquidation_orders_ck_liquidation_orders_side')),
    sa.CheckConstraint("state IN ('PENDING', 'SENDING', 'NEW', 'PARTIALLY_FILLED', 'FILLED', 'CANCEL_REQUESTED', "
                       "'CANCELLED', 'REJECTED', 'UNKNOWN')",
        name=op.f('ck_liquidation_orders_ck_liquidation_orders_state')),
    sa.CheckConstraint('quantity > 0 AND filled_quantity BETWEEN 0 AND quantity',
        name=op.f('ck_liquidation_orders_ck_liquidation_orders_qty')),
    sa.ForeignKeyConstraint(['call_id'], ['margin_calls.id'], name=op.f('fk_liquidation_orders_call_id_margin_calls')),
    sa.ForeignKeyConstraint(['cancelled_by'], ['operators.id'],
        name=op.f('fk_liquidation_orders_cancelled_by_operators')),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_liquidation_orders_client_id_clients')),
    sa.ForeignKeyConstraint(['code'], ['instruments.code'], name=op.f('fk_liquidation_orders_code_instruments')),
    sa.ForeignKeyConstraint(['operator_id'], ['operators.id'],
        name=op.f('fk_liquidation_orders_operator_id_operators')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_liquidation_orders')),
    sa.UniqueConstraint('cl_ord_id', name=op.f('uq_liquidation_orders_cl_ord_id'))
    )
    with op.batch_alter_table('liquidation_orders', schema=None) as batch_op:
        batch_op.create_index('ix_liquidation_orders_call', ['call_id', 'id'], unique=False)
        batch_op.create_index('ix_liquidation_orders_client', ['client_id', 'id'], unique=False)
        batch_op.create_index('ix_liquidation_orders_state', ['state', 'id'], unique=False)

    op.create_table('margin_call_snapshots',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=12), nullable=False),
    sa.Column('day', sa.String(length=8), nullable=False),
    sa.Column('figures', sa.Text(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint("reason IN ('TRIGGERED', 'FORCE_CALL', 'MESSAGE', 'DAILY', 'ENDED')",
        name=op.f('ck_margin_call_snapshots_ck_margin_call_snapshots_reason')),
    sa.ForeignKeyConstraint(['call_id'], ['margin_calls.id'],
        name=op.f('fk_margin_call_snapshots_call_id_margin_calls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_margin_call_snapshots'))
    )
    with op.batch_alter_table('margin_call_snapshots', schema=None) as batch_op:
        batch_op.create_index('ix_margin_call_snapshots_call', ['call_id', 'id'], unique=False)
        batch_op.create_index('uq_margin_call_snapshots_daily', ['call_id', 'day'], unique=True,
            sqlite_where=sa.text("reason = 'DAILY'"), postgresql_where=sa.text("reason = 'DAILY'"))

    op.create_table('margin_follow_ups',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('content', sa.String(length=1000), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['operators.id'], name=op.f('fk_margin_follow_ups_author_id_operators')),
    sa.ForeignKeyConstraint(['call_id'], ['margin_calls.id'], name=op.f('fk_margin_follow_ups_call_id_margin_calls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_margin_follow_ups'))
    )
    with op.batch_alter_table('margin_follow_ups', schema=None) as batch_op:
        batch_op.create_index('ix_margin_follow_ups_call', ['call_id', 'id'], unique=False)

    op.create_table('market_prices',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('bid', Amount(), nullable=False),
    sa.Column('ask', Amount(), nullable=False),
    sa.Column('last', Amount(), nullable=False),
    sa.Column('quoted_at', UtcDateTime(), nullable=False),
    sa.Column('received_at', UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['code'], ['instruments.code'], name=op.f('fk_market_prices_code_instruments')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_market_prices'))
    )
    op.create_table('liquidation_fills',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('exec_id', sa.String(length=64), nullable=False),
    sa.Column('quantity', sa.BigInteger(), nullable=False),
    sa.Column('price', Amount(), nullable=False),
    sa.Column('executed_at', UtcDateTime(), nullable=False),
    sa.Column('created_at', UtcDateTime(), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_liquidation_fills_ck_liquidation_fills_qty')),
    sa.ForeignKeyConstraint(['order_id'], ['liquidation_orders.id'],
        name=op.f('fk_liquidation_fills_order_id_liquidation_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_liquidation_fills')),
    sa.UniqueConstraint('order_id', 'exec_id', name='uq_liquidation_fills_exec')
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
    op.drop_table('liquidation_fills')
    op.drop_table('market_prices')
    with op.batch_alter_table('margin_follow_ups', schema=None) as batch_op:
        batch_op.drop_index('ix_margin_follow_ups_call')

    op.drop_table('margin_follow_ups')
    with op.batch_alter_table('margin_call_snapshots', schema=None) as batch_op:
        batch_op.drop_index('uq_margin_call_snapshots_daily',
            sqlite_where=sa.text("reason = 'DAILY'"), postgresql_where=sa.text("reason = 'DAILY'"))
        batch_op.drop_index('ix_margin_call_snapshots_call')

    op.drop_table('margin_call_snapshots')
    with op.batch_alter_table('liquidation_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_liquidation_orders_state')
        batch_op.drop_index('ix_liquidation_orders_client')
        batch_op.drop_index('ix_liquidation_orders_call')

    op.drop_table('liquidation_orders')
    with op.batch_alter_table('client_positions', schema=None) as batch_op:
        batch_op.drop_index('ix_client_positions_code')

    op.drop_table('client_positions')
    op.drop_table('margin_terms')
    with op.batch_alter_table('margin_calls', schema=None) as batch_op:
        batch_op.drop_index('uq_margin_calls_open',
            sqlite_where=sa.text("status <> 'ENDED'"), postgresql_where=sa.text("status <> 'ENDED'"))
        batch_op.drop_index('ix_margin_calls_status')

    op.drop_table('margin_calls')
    op.drop_table('instruments')
    op.drop_table('margin_settings')
    op.drop_table('margin_price_runs')

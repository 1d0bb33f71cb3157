"""Currency exchange, the foundation: clients and their cash, currency setup, currency
pairs, exchange strategies, exchange-pool quotas, large-amount criteria, and the vendor's
permission identifiers.

- ``clients``: the brokerage's client accounts (account number, name, cash or margin).
- ``client_cash_movements``: a client's cash per currency as a ledger.  Nothing edits a
  balance in place; each movement carries the balance after it, so a balance is one
  indexed read of the latest movement, however long the history.
- ``client_cash_holds``: money held for a pending exchange or withdrawal, later posted
  (it left) or voided (released).  Withdrawable = balance − held.
- ``fx_currency_configs``: per currency, what Currency Setup holds beside the exchange
  switch (``currencies.exchange_enabled``): rate precision, exchange amount precision and
  rounding ("round" or "truncate", as the vendor offers), minimum exchange amount, and
  whether it is the standard (base) currency, at most one.
- ``fx_currency_pairs``: one row per source → target, one default target per source.
- ``fx_exchange_strategies``: Exchange Pool (``BATCH``) or Bank Exchange (``SINGLE``, with
  its channel), the exchange type (``change_type`` 0–3), the covered pairs and the service
  time periods as the vendor's JSON, the approval starting point, enabled or not.
- ``fx_pool_quotas`` and ``fx_pool_ledger``: the remaining quota and alert amount per
  currency, and every movement of the quota with before, amount and after.
- ``fx_amount_configs``: the large-amount starting point per currency.

Grants move to the vendor's identifiers (``whale-api-facts.md`` section C) where it
publishes one; holders of the project's read permissions for rates and markups also get
the vendor's read permissions for markups and large-amount criteria.  Pending permission
requests are moved with them.

Revision ID: 0012_fx_foundation
Revises: 0011_records_paging
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wbo_tui.engine.types import Amount, UtcDateTime

revision = "0012_fx_foundation"
down_revision = "0011_records_paging"
branch_labels = None
depends_on = None

# The project's code → the vendor's (one to one: the old code leaves the catalog).
RENAMED = {
    "fx.currency_setup_operation": "atm.update_current_config",
    "fx.currency_pair_operation": "lb_hk_conversion.support_currency_update",
    "fx.exchange_strategy_inquiry": "lb_hk_conversion.exchangeserve_query",
    "fx.exchange_strategy_operation": "lb_hk_conversion.exchangeserve_update",
    "fx.exchange_pool_quota_inquiry": "lb_hk_conversion.exchange_pool_query",
    "fx.exchange_pool_quota_operation": "lb_hk_conversion.exchange_pool_config_update",
}
# A code that stays → the vendor's codes its holders also get (what the old one covered).
ADDED = {
    "fx.reference_rate_inquiry": ("lb_hk_conversion.fee_query", "lb_hk_conversion.forex_ib_rates",
                                  "lb_hk_conversion.amount_config_query"),
    "fx.reference_rate_operation": ("lb_hk_conversion.rate_reference_update", "lb_hk_conversion.fee_update"),
    "fx.exchange_strategy_operation": ("lb_hk_conversion.amount_config_update",),
}
WATCHED = ("clients", "client_cash_movements", "client_cash_holds", "fx_currency_configs", "fx_currency_pairs",
           "fx_exchange_strategies", "fx_pool_quotas", "fx_pool_ledger", "fx_amount_configs", "fx_reference_rates",
           "fx_reference_rate_journal")
GRANTS = (("role_permissions", "role_id"), ("operator_permissions", "operator_id"))


def upgrade() -> None:
    _tables()
    _move_grants()
    _watch()


def _tables() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account_no", sa.String(20), nullable=False, unique=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("account_type", sa.String(8), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("account_type IN ('cash', 'margin')", name="ck_clients_account_type"),
    )
    op.create_table(
        "client_cash_movements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("balance_after", Amount, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("ref", sa.String(40), nullable=False),
        sa.Column("remarks", sa.String(200), nullable=False),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_client_cash_movements_latest", "client_cash_movements", ["client_id", "currency", "id"])
    op.create_table(
        "client_cash_holds",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("ref", sa.String(40), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("settled_at", UtcDateTime, nullable=True),
        sa.CheckConstraint("status IN ('HELD', 'POSTED', 'VOIDED')", name="ck_client_cash_holds_status"),
        # One hold per purpose and reference: holding twice for one exchange is refused by
        # the database, whatever the caller does.
        sa.UniqueConstraint("purpose", "ref", name="uq_client_cash_holds_ref"),
    )
    op.create_index("ix_client_cash_holds_open", "client_cash_holds", ["client_id", "currency", "status"])
    op.create_table(
        "fx_currency_configs",
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), primary_key=True),
        sa.Column("exchange_rate_precision", sa.Integer, nullable=False),
        sa.Column("amount_precision", sa.Integer, nullable=False),
        sa.Column("amount_round_mode", sa.String(8), nullable=False),
        sa.Column("min_exchange_amount", Amount, nullable=False),
        sa.Column("standard_money", sa.Boolean, nullable=False),
        sa.Column("remarks", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("exchange_rate_precision BETWEEN 0 AND 10", name="ck_fx_currency_configs_rate_precision"),
        sa.CheckConstraint("amount_precision BETWEEN 0 AND 2", name="ck_fx_currency_configs_amount_precision"),
        sa.CheckConstraint("amount_round_mode IN ('round', 'truncate')", name="ck_fx_currency_configs_round_mode"),
    )
    # At most one standard currency (a partial unique index on both dialects).
    op.create_index("uq_fx_currency_configs_standard", "fx_currency_configs", ["standard_money"], unique=True,
                    sqlite_where=sa.text("standard_money"), postgresql_where=sa.text("standard_money"))
    op.create_table(
        "fx_currency_pairs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("from_currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("to_currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("default_currency", sa.Boolean, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("from_currency", "to_currency", name="uq_fx_currency_pairs_pair"),
        sa.CheckConstraint("from_currency <> to_currency", name="ck_fx_currency_pairs_two_currencies"),
    )
    op.create_index("uq_fx_currency_pairs_default", "fx_currency_pairs", ["from_currency"], unique=True,
                    sqlite_where=sa.text("default_currency"), postgresql_where=sa.text("default_currency"))
    _service_tables()


def _service_tables() -> None:
    op.create_table(
        "fx_exchange_strategies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("service_strategy", sa.String(8), nullable=False),
        sa.Column("change_type", sa.Integer, nullable=False),
        sa.Column("channel_name", sa.String(32), nullable=True),
        sa.Column("support_currency", sa.Text, nullable=False),
        sa.Column("service_time", sa.Text, nullable=False),
        sa.Column("approval_start_amount", Amount, nullable=True),
        sa.Column("enable_flag", sa.Boolean, nullable=False),
        sa.Column("remarks", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("service_strategy IN ('BATCH', 'SINGLE')", name="ck_fx_exchange_strategies_strategy"),
        sa.CheckConstraint("change_type BETWEEN 0 AND 3", name="ck_fx_exchange_strategies_change_type"),
        sa.CheckConstraint("(service_strategy = 'SINGLE') = (channel_name IS NOT NULL)",
                           name="ck_fx_exchange_strategies_channel"),
    )
    op.create_table(
        "fx_pool_quotas",
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), primary_key=True),
        sa.Column("remaining_amount", Amount, nullable=False),
        sa.Column("alarm_amount", Amount, nullable=False),
        sa.Column("below_alarm", sa.Boolean, nullable=False),
        sa.Column("remark", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "fx_pool_ledger",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("change_type", sa.String(16), nullable=False),
        sa.Column("order_no", sa.String(40), nullable=False),
        sa.Column("before_occurred", Amount, nullable=False),
        sa.Column("occurred_amount", Amount, nullable=False),
        sa.Column("after_occurred", Amount, nullable=False),
        sa.Column("occurred_from", sa.String(8), nullable=False),
        sa.Column("remark", sa.String(200), nullable=False),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.CheckConstraint("occurred_from IN ('AUTO', 'MANUAL')", name="ck_fx_pool_ledger_from"),
    )
    op.create_index("ix_fx_pool_ledger_currency", "fx_pool_ledger", ["currency", "id"])
    _rate_tables()
    op.create_table(
        "fx_amount_configs",
        sa.Column("currency", sa.String(12), sa.ForeignKey("currencies.code"), primary_key=True),
        sa.Column("amount", Amount, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )


def _rate_tables() -> None:
    rate_columns = (
        sa.Column("channel_name", sa.String(16), nullable=False),
        sa.Column("rate_type", sa.String(8), nullable=False),
    )
    op.create_table(
        "fx_reference_rates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        *rate_columns,
        sa.Column("base_currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("other_currency", sa.String(12), sa.ForeignKey("currencies.code"), nullable=False),
        sa.Column("record_date", sa.String(8), nullable=False),
        sa.Column("bid_rate", Amount, nullable=False),
        sa.Column("offer_rate", Amount, nullable=False),
        sa.Column("average_rate", Amount, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("channel_name", "rate_type", "base_currency", "other_currency", "record_date",
                            name="uq_fx_reference_rates_day"),
        sa.CheckConstraint("source IN ('MANUAL', 'IMPORT', 'GATEWAY')", name="ck_fx_reference_rates_source"),
    )
    op.create_table(
        "fx_reference_rate_journal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel_name", sa.String(16), nullable=False),
        sa.Column("rate_type", sa.String(8), nullable=False),
        sa.Column("base_currency", sa.String(12), nullable=False),
        sa.Column("other_currency", sa.String(12), nullable=False),
        sa.Column("record_date", sa.String(8), nullable=False),
        sa.Column("bid_rate", Amount, nullable=False),
        sa.Column("offer_rate", Amount, nullable=False),
        sa.Column("average_rate", Amount, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_fx_reference_rate_journal_pair", "fx_reference_rate_journal",
                    ["other_currency", "channel_name", "rate_type", "id"])


def _move_grants() -> None:
    for table, holder in GRANTS:
        for old, new in RENAMED.items():
            _copy_grant(table, holder, old, new)
        for kept, codes in ADDED.items():
            for new in codes:
                _copy_grant(table, holder, kept, new)
        for old in RENAMED:
            op.execute(sa.text(f"DELETE FROM {table} WHERE permission = :old").bindparams(old=old))
    # A pending request for a renamed permission asks for the vendor's identifier.
    for old, new in RENAMED.items():
        op.execute(sa.text("UPDATE approvals SET payload = REPLACE(payload, :old, :new) "
                           "WHERE status = 'PENDING' AND payload LIKE :like")
                   .bindparams(old=f'"{old}"', new=f'"{new}"', like=f'%"{old}"%'))


def _copy_grant(table: str, holder: str, old: str, new: str) -> None:
    op.execute(sa.text(
        f"INSERT INTO {table} ({holder}, permission) SELECT g.{holder}, :new FROM {table} g "
        f"WHERE g.permission = :old AND NOT EXISTS (SELECT 1 FROM {table} h "
        f"WHERE h.{holder} = g.{holder} AND h.permission = :new)").bindparams(old=old, new=new))


def _watch() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"CREATE TRIGGER wbo_change_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION wbo_change_notify()")
        return
    from importlib import import_module

    feed = import_module("wbo_tui.engine.migrations.versions.0010_change_feed")
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
    for table, holder in GRANTS:
        for old, new in RENAMED.items():
            _copy_grant(table, holder, new, old)
            op.execute(sa.text(f"DELETE FROM {table} WHERE permission = :new").bindparams(new=new))
        for codes in ADDED.values():
            for new in codes:
                op.execute(sa.text(f"DELETE FROM {table} WHERE permission = :new").bindparams(new=new))

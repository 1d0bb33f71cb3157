"""Foundation: currencies, operators, roles, grants, approvals, audit log.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wbo_tui.engine.types import UtcDateTime

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64

# Reference data: the currencies every deployment starts with.  Precision and rounding are
# editable later (FX currency setup); amounts are always validated against this table.
CURRENCIES = [
    ("HKD", "Hong Kong Dollar", "fiat", 2, "ROUND_HALF_UP"),
    ("USD", "US Dollar", "fiat", 2, "ROUND_HALF_UP"),
    ("CNH", "Offshore Renminbi", "fiat", 2, "ROUND_HALF_UP"),
    ("EUR", "Euro", "fiat", 2, "ROUND_HALF_UP"),
    ("SGD", "Singapore Dollar", "fiat", 2, "ROUND_HALF_UP"),
    ("JPY", "Japanese Yen", "fiat", 0, "ROUND_HALF_UP"),
    ("BTC", "Bitcoin", "crypto", 8, "ROUND_DOWN"),
    ("ETH", "Ether", "crypto", 8, "ROUND_DOWN"),
    ("USDT", "Tether USD", "crypto", 6, "ROUND_DOWN"),
    ("USDC", "USD Coin", "crypto", 6, "ROUND_DOWN"),
]


def upgrade() -> None:
    currencies = op.create_table(
        "currencies",
        sa.Column("code", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("amount_precision", sa.Integer, nullable=False),
        sa.Column("rounding", sa.String(20), nullable=False),
        sa.Column("exchange_enabled", sa.Boolean, nullable=False),
        sa.CheckConstraint("kind IN ('fiat', 'crypto')", name="ck_currencies_kind"),
        sa.CheckConstraint("amount_precision BETWEEN 0 AND 18", name="ck_currencies_amount_precision"),
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "role_permissions",
        sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("permission", sa.String(80), primary_key=True),
    )
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", UtcDateTime, nullable=True),
        sa.Column("password_changed_at", UtcDateTime, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("last_login_at", UtcDateTime, nullable=True),
    )
    op.create_table(
        "operator_roles",
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role_id", sa.Integer, sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(40), nullable=False, unique=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("summary", sa.String(300), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("maker_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=False),
        sa.Column("submitted_at", UtcDateTime, nullable=False),
        sa.Column("checker_id", sa.Integer, sa.ForeignKey("operators.id"), nullable=True),
        sa.Column("decided_at", UtcDateTime, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("outcome", sa.Text, nullable=True),
        sa.CheckConstraint("status IN ('PENDING', 'APPROVED', 'REJECTED', 'FAILED')", name="ck_approvals_status"),
        sa.CheckConstraint("checker_id IS NULL OR checker_id <> maker_id", name="ck_approvals_maker_is_not_checker"),
    )
    op.create_index("ix_approvals_kind_status", "approvals", ["kind", "status", "id"])
    op.create_index("ix_approvals_maker", "approvals", ["maker_id", "id"])
    op.create_table(
        "operator_permissions",
        sa.Column("operator_id", sa.Integer, sa.ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("permission", sa.String(80), primary_key=True),
        sa.Column("granted_at", UtcDateTime, nullable=False),
        sa.Column("approval_id", sa.Integer, sa.ForeignKey("approvals.id"), nullable=True),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_head_single_row"),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("operator_id", sa.Integer, nullable=True),
        sa.Column("operator", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target_type", sa.String(40), nullable=False),
        sa.Column("target_id", sa.String(80), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_operator_seq", "audit_log", ["operator", "seq"])
    op.create_index("ix_audit_log_action_seq", "audit_log", ["action", "seq"])
    op.create_index("ix_audit_log_target_seq", "audit_log", ["target_type", "target_id", "seq"])
    _append_only_guard()

    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])
    op.bulk_insert(
        currencies,
        [
            {"code": c, "name": n, "kind": k, "amount_precision": p, "rounding": r, "exchange_enabled": False}
            for c, n, k, p, r in CURRENCIES
        ],
    )


def _append_only_guard() -> None:
    """Refuse UPDATE and DELETE on the audit log at the database level.

    The hash chain detects tampering by anyone who gets past this (someone with the
    database's owner rights can drop the trigger); the trigger stops accidents and
    application bugs outright.
    """
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION wbo_audit_log_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_log is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION wbo_audit_log_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS wbo_audit_log_append_only()")
    for table in (
        "audit_log", "audit_head", "operator_permissions", "approvals", "operator_roles", "operators",
        "role_permissions", "roles", "currencies",
    ):
        op.drop_table(table)

"""Table definitions (SQLAlchemy Core).  Migrations in ``migrations/`` create them.

The engine works with Core statements and returns DTOs; no ORM objects ever leave it.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from .types import Amount, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

currencies = Table(
    "currencies",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("amount_precision", Integer, nullable=False),
    Column("rounding", String(20), nullable=False),
    Column("exchange_enabled", Boolean, nullable=False, default=False),
    # The largest amount accepted in this currency (migration 0006); NULL: the default of
    # its kind (money.default_max_amount).
    Column("max_amount", Amount, nullable=True),
    CheckConstraint("kind IN ('fiat', 'crypto')", name="kind"),
    CheckConstraint("amount_precision BETWEEN 0 AND 18", name="amount_precision"),
)

roles = Table(
    "roles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("description", String(200), nullable=False, default=""),
    Column("created_at", UtcDateTime, nullable=False),
)

role_permissions = Table(
    "role_permissions",
    metadata,
    Column("role_id", Integer, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
    Column("permission", String(80), primary_key=True),
)

operators = Table(
    "operators",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(100), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", UtcDateTime, nullable=True),
    Column("password_changed_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_login_at", UtcDateTime, nullable=True),
    # Set when an administrator creates the operator or resets its password: the first
    # login must choose a new one, so no administrator acts with a password it knows.
    Column("must_change_password", Boolean, nullable=False, default=False),
)

# Server-side sessions: login stores the SHA-256 of a random token, and every command
# presents the token; the engine resolves it to an operator inside its transaction.
operator_sessions = Table(
    "operator_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("operator_id", Integer, ForeignKey("operators.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("locked_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("revoked_reason", String(32), nullable=True),
    Index("ix_operator_sessions_operator", "operator_id", "revoked_at"),
)

operator_roles = Table(
    "operator_roles",
    metadata,
    Column("operator_id", Integer, ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", Integer, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)

# Grants made to one operator directly, by an approved permission request.
operator_permissions = Table(
    "operator_permissions",
    metadata,
    Column("operator_id", Integer, ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True),
    Column("permission", String(80), primary_key=True),
    Column("granted_at", UtcDateTime, nullable=False),
    Column("approval_id", Integer, ForeignKey("approvals.id"), nullable=True),
)

# Maker-checker: a command stored exactly as submitted, executed when approved.
approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ref", String(40), nullable=False, unique=True),
    Column("kind", String(40), nullable=False),
    Column("payload", Text, nullable=False),
    Column("summary", String(300), nullable=False),
    Column("status", String(12), nullable=False),
    Column("maker_id", Integer, ForeignKey("operators.id"), nullable=True),  # NULL: the system
    Column("submitted_at", UtcDateTime, nullable=False),
    Column("checker_id", Integer, ForeignKey("operators.id"), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("reason", Text, nullable=True),
    Column("outcome", Text, nullable=True),
    CheckConstraint("status IN ('PENDING', 'APPROVED', 'REJECTED', 'FAILED')", name="status"),
    CheckConstraint("checker_id IS NULL OR checker_id <> maker_id", name="maker_is_not_checker"),
    Index("ix_approvals_kind_status", "kind", "status", "id"),
)

# The audit chain's head: one row, updated by every audited transaction.  Locking it
# serialises appends so that the chain never forks (SQLite serialises writers anyway).
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    # The key the chain is kept under from the head back to its first keyed record (see
    # ``audit``); NULL while the chain is unkeyed.
    Column("key_id", String(16), nullable=True),
    CheckConstraint("id = 1", name="single_row"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime, nullable=False),
    Column("operator_id", Integer, nullable=True),
    Column("operator", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target_type", String(40), nullable=False),
    Column("target_id", String(80), nullable=False),
    Column("before", Text, nullable=True),
    Column("after", Text, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(16), nullable=True),  # NULL: plain SHA-256, written before a key existed
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_operator_seq", "operator", "seq"),
    Index("ix_audit_log_action_seq", "action", "seq"),
    Index("ix_audit_log_target_seq", "target_type", "target_id", "seq"),
)

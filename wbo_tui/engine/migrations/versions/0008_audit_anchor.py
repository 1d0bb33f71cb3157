"""Audit chain anchored outside the database.

Each record and the head say which key the chain is kept under (``key_id``; NULL for the
plain SHA-256 records written before a key existed, which stay verifiable as they are).
The append-only guard grows: TRUNCATE on PostgreSQL (row triggers never see it), and the
head may only move forward, so cutting the log short takes the rights to drop triggers.

Revision ID: 0008_audit_anchor
Revises: 0007_pass_errors
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_audit_anchor"
down_revision = "0007_pass_errors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding a nullable column is a plain ALTER TABLE on SQLite too (batch mode does not
    # rebuild the table, so the append-only triggers of 0001 stay in place).
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("key_id", sa.String(16), nullable=True))
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("key_id", sa.String(16), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guards()
    else:
        _sqlite_guards()


def _postgresql_guards() -> None:
    op.execute(
        "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION wbo_audit_log_append_only()"
    )
    # Nested IFs: NEW and OLD are unset in the statement-level TRUNCATE trigger.
    op.execute(
        """
        CREATE FUNCTION wbo_audit_head_forward_only() RETURNS trigger AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF NEW.id = OLD.id AND NEW.seq > OLD.seq THEN
                    RETURN NEW;
                END IF;
            END IF;
            RAISE EXCEPTION 'audit_head only moves forward';
        END;
        $$ LANGUAGE plpgsql
        """
    )
    op.execute(
        "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_head "
        "FOR EACH ROW EXECUTE FUNCTION wbo_audit_head_forward_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
        "FOR EACH STATEMENT EXECUTE FUNCTION wbo_audit_head_forward_only()"
    )


def _sqlite_guards() -> None:
    op.execute(
        "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head "
        "WHEN NEW.id <> OLD.id OR NEW.seq <= OLD.seq "
        "BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
        "BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward'); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head")
        op.execute("DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head")
        op.execute("DROP FUNCTION IF EXISTS wbo_audit_head_forward_only()")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.drop_column("audit_head", "key_id")
        op.drop_column("audit_log", "key_id")
        return
    op.execute("DROP TRIGGER IF EXISTS audit_head_no_delete")
    op.execute("DROP TRIGGER IF EXISTS audit_head_forward_only")
    # SQLite's own DROP COLUMN (3.35+) rather than batch mode: a batch rebuild of audit_log
    # would drop its append-only triggers with the old table.
    op.execute("ALTER TABLE audit_head DROP COLUMN key_id")
    op.execute("ALTER TABLE audit_log DROP COLUMN key_id")

"""Alembic environment: async engines for both SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import event
from sqlalchemy.engine import Connection

from wbo_tui.engine.db import create_engine
from wbo_tui.engine.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows with broken foreign keys: {broken[:5]}")


def _foreign_keys_off(dbapi_connection: Any, _record: Any) -> None:
    # SQLite's way to rebuild a table that others refer to (batch mode): foreign keys
    # off for the migration's connection (only possible outside a transaction), then a
    # foreign_key_check before commit (above).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = OFF")
    cursor.close()


async def _main() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _foreign_keys_off)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(wbo_write=True)
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run wbo-tui db upgrade")
asyncio.run(_main())

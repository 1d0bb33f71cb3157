"""``bulk.insert_many`` stores exactly what a normal INSERT stores, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, insert, select, text

from wbo_tui.engine.bulk import insert_many
from wbo_tui.engine.db import create_engine
from wbo_tui.engine.types import Amount, UtcDateTime

_metadata = MetaData()


def _columns() -> list[Column]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("amount", Amount, nullable=True),
        Column("at", UtcDateTime, nullable=True),
        Column("flag", Boolean, nullable=True),
        Column("label", String(20), nullable=True),
    ]


probe = Table("test_bulk_probe", _metadata, *_columns())
expected = Table("test_bulk_expected", _metadata, *_columns())  # written with a normal INSERT
COLUMNS = ("label", "id", "at", "amount", "flag")  # not the table's order on purpose
NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
HONG_KONG = timezone(timedelta(hours=8))
VALUES = [
    # Equal decimals written with different scales keep their scales; one instant given
    # in two zones is stored as one UTC time; whole seconds keep their microseconds field.
    ("a", 1, NOW, Decimal("1.5"), True),
    ("b", 2, NOW, Decimal("1.50"), False),
    ("c", 3, NOW.astimezone(HONG_KONG), Decimal("-0.00"), None),
    ("d", 4, NOW + timedelta(microseconds=7), Decimal("21000000.12345678"), True),
    (None, 5, None, None, None),
]


async def _stored(conn, table_name: str) -> list[tuple]:
    return [tuple(r) for r in (await conn.execute(text(
        f"SELECT id, amount, at, flag, label FROM {table_name} ORDER BY id"))).all()]


async def test_insert_many_stores_what_insert_stores(db_url: str) -> None:
    db = create_engine(db_url)
    try:
        async with db.begin() as conn:
            await conn.run_sync(_metadata.create_all)
            await conn.execute(insert(expected), [dict(zip(COLUMNS, row, strict=True)) for row in VALUES])
            await insert_many(conn, probe, COLUMNS, VALUES)
        async with db.connect() as conn:
            raw_bulk, raw_expected = await _stored(conn, "test_bulk_probe"), await _stored(conn, "test_bulk_expected")
            typed = (await conn.execute(select(probe).order_by(probe.c.id))).all()
    finally:
        await db.dispose()
    assert raw_bulk == raw_expected  # the very same stored form, byte for byte on SQLite
    assert [str(r.amount) for r in typed] == ["1.5", "1.50", "0.00", "21000000.12345678", "None"]
    assert typed[2].at == NOW and typed[2].at.tzinfo == UTC


def test_bind_processor_gives_the_stored_text_on_sqlite() -> None:
    """Poll's balance UPDATE and insert_many convert with ``bind_processor``: a time on a
    whole second keeps its microseconds field, as every other statement stores it (the
    driver's own datetime adapter would drop it, and equal times would differ as text)."""
    from sqlalchemy.dialects import sqlite

    from wbo_tui.engine.bulk import bind_processor
    from wbo_tui.engine.positions.tables import positions

    convert = bind_processor(positions.c.as_of, sqlite.dialect())
    assert convert(NOW.astimezone(HONG_KONG)) == "2026-11-20 09:30:00.000000"

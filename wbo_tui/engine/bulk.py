"""Writing many rows with one driver-level ``executemany``.

``conn.execute(insert(table), [dict, …])`` rebuilds the statement's parameters row by
row through SQLAlchemy's compiler, which for a thousand rows costs several times what
SQLite spends storing them.  ``insert_many`` compiles the INSERT once per (table, columns,
dialect), applies each column type's own bind conversion (``Amount``, ``UtcDateTime``: the
same stored forms as a normal insert) and hands the driver plain tuples.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, exc, insert
from sqlalchemy.ext.asyncio import AsyncConnection

_Plan = tuple[str, tuple[int, ...], tuple[Callable[[Any], Any] | None, ...]]
_PLANS: dict[tuple[str, tuple[str, ...], str], _Plan] = {}


def _plan(table: Table, columns: tuple[str, ...], conn: AsyncConnection) -> _Plan:
    dialect = conn.dialect
    key = (table.name, columns, dialect.name)
    plan = _PLANS.get(key)
    if plan is None:
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        names = compiled.positiontup or ()
        if sorted(names) != sorted(columns):
            raise ValueError(f"insert_many({table.name}): columns {columns} do not match {names}")
        plan = (str(compiled), tuple(columns.index(n) for n in names),
                tuple(bind_processor(table.c[n], dialect) for n in names))
        _PLANS[key] = plan
    return plan


def bind_processor(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """What SQLAlchemy does to a value of ``column`` before the driver sees it on
    ``dialect``: the type's own conversion, then the dialect's (on SQLite a ``UtcDateTime``
    becomes the same text a normal statement stores).  ``column.type.bind_processor``
    alone would skip the dialect's part and leave the datetime to the driver's adapter."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


async def insert_many(conn: AsyncConnection, table: Table, columns: Sequence[str],
                      rows: Sequence[Sequence[Any]], *, sqlite: sqlite3.Connection | None = None) -> None:
    """INSERT ``rows`` (value tuples in the order of ``columns``) into ``table``.
    ``sqlite``: the unit's driver connection (``UnitOfWork.sqlite``), when inline."""
    if not rows:
        return
    sql, order, processors = _plan(table, tuple(columns), conn)
    by_column = list(zip(*rows, strict=True))  # a column at a time: one conversion loop each
    converted = [_converted(by_column[i], convert) for i, convert in zip(order, processors, strict=True)]
    params = list(zip(*converted, strict=True))
    if sqlite is None:
        await conn.exec_driver_sql(sql, params)
        return
    try:
        sqlite.executemany(sql, params)
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(sql, params, error, sqlite3.Error) from error


def _converted(values: Sequence[Any], convert: Callable[[Any], Any] | None) -> Sequence[Any]:
    """``values`` in their stored form.  Batches repeat values (one timestamp for the
    whole unit), so each distinct one is converted once — except decimals: 1.5 and 1.50
    are equal keys but are stored as written."""
    if convert is None:
        return values
    done: dict[Any, Any] = {}
    out = []
    for value in values:
        if value is None:
            out.append(None)
        elif isinstance(value, Decimal):
            out.append(convert(value))
        else:
            key = (type(value), value)
            stored = done.get(key, _MISSING)
            if stored is _MISSING:
                done[key] = stored = convert(value)
            out.append(stored)
    return out


_MISSING = object()

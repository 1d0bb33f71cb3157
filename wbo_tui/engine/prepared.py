"""Statements every command runs, executed on the SQLite driver directly.

A Core statement through SQLAlchemy's execution machinery costs about 0.2 ms here, and
``sqlite3`` itself about 0.01 ms for the same work; a manual allocation runs seven of
them (``bench allocate``).  ``Prepared`` compiles its statement once per dialect — the
same SQL text SQLAlchemy would send — and, inside an inline SQLite write unit, runs it on
the ``sqlite3`` connection with each parameter and column converted by its type's own
bind and result processors: the values stored and returned are the ones a normal
``conn.execute`` gives (``tests/engine/test_prepared.py`` checks both ways).  Anywhere
else (PostgreSQL, read units) it is simply ``conn.execute``.  Driver errors are raised as
SQLAlchemy's (``IntegrityError`` …), as ``conn.execute`` would.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement

from .bulk import bind_processor


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # the parameter behind each "?", in order
    fixed: dict[str, Any]  # values written into the statement (``id == 1``)
    binds: tuple[Callable[[Any], Any] | None, ...]
    row: Any  # a namedtuple type with the statement's column keys
    results: tuple[Callable[[Any], Any] | None, ...]


class Prepared:
    """``statement`` (a Core select, insert … returning, update) with named ``bindparam``s;
    for an INSERT built as ``insert(table)``, ``keys`` names the columns given."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.keys = list(keys) if keys is not None else None
        self._plans: dict[str, _Plan] = {}

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any], *,
                   sqlite: sqlite3.Connection | None = None) -> list[Any]:
        """All result rows (attribute access by column key, like SQLAlchemy's rows).
        ``sqlite``: the unit's driver connection (``UnitOfWork.sqlite``), when inline."""
        if sqlite is None:
            result = await conn.execute(self.statement, dict(params))
            return list(result.all()) if result.returns_rows else []
        plan = self._plan(conn.dialect)
        values = [params[name] if name in params else plan.fixed[name] for name in plan.names]
        values = [convert(v) if convert is not None and v is not None else v
                  for v, convert in zip(values, plan.binds, strict=True)]
        try:
            fetched = sqlite.execute(plan.sql, values).fetchall()
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(plan.sql, values, error, sqlite3.Error) from error
        make, results = plan.row._make, plan.results
        return [make(v if convert is None or v is None else convert(v)
                     for v, convert in zip(r, results, strict=True)) for r in fetched]

    async def one(self, conn: AsyncConnection, params: Mapping[str, Any], *,
                  sqlite: sqlite3.Connection | None = None) -> Any:
        rows = await self.rows(conn, params, sqlite=sqlite)
        if not rows:
            raise exc.NoResultFound("No row was found when one was required")
        if len(rows) > 1:
            raise exc.MultipleResultsFound("Multiple rows were found when exactly one was required")
        return rows[0]

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = self._compile(dialect)
        return plan

    def _compile(self, dialect: Dialect) -> _Plan:
        compiled = self.statement.compile(dialect=dialect, column_keys=self.keys)
        if not compiled.positional or compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("Prepared needs plain positional parameters (no expanding IN)")
        names = tuple(compiled.positiontup or ())
        binds = tuple(bind_processor(compiled.binds[n], dialect) for n in names)
        columns = list(getattr(self.statement, "selected_columns", None) or ())
        if not columns:
            columns = list(getattr(self.statement, "exported_columns", None) or ())
        keys = [c.key for c in columns]
        results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
        fixed = {n: compiled.binds[n].effective_value for n in names if not compiled.binds[n].required}
        return _Plan(compiled.string, names, fixed, binds, namedtuple("Row", keys, rename=True), results)

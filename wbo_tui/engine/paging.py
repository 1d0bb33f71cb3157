"""Keyset paging of a list shown newest first, from either end: the records lists
(allocations now, FX and risk lists later) page through millions of rows by their
integer id without OFFSET and without counting them.

A page is asked for by where it starts:

- nothing: the newest page;
- ``before_id``: the page of rows older than that id (the next page, "]");
- ``after_id``: the page of rows newer than that id (the previous page, "[");
- ``oldest``: the oldest page (the last one).

Older pages are read newest first (``id < before_id ORDER BY id DESC``); newer pages and
the oldest one are read from the other end (``id > after_id ORDER BY id ASC``) and
reversed, so every page is one index range scan of ``page_size + 1`` rows whatever its
depth.  Whether there is a page on the other side is one more probe of one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationInfo


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Where a page starts; see the module's docstring."""

    before_id: int | None = None
    after_id: int | None = None
    oldest: bool = False
    page_size: int = 50


@dataclass(frozen=True, slots=True)
class KeysetPage:
    """Rows newest first, and the cursors of the pages on either side (None: no such page)."""

    rows: Sequence[Any]
    older_before_id: int | None
    """``before_id`` of the next older page."""
    newer_after_id: int | None
    """``after_id`` of the next newer page."""


def one_anchor(value: Any, info: ValidationInfo) -> Any:  # noqa: ANN401
    """A pydantic field validator for ``after_id`` and ``oldest`` (declared after
    ``before_id``): a page starts at one place only."""
    if value:
        given = [name for name in ("before_id", "after_id") if name != info.field_name and info.data.get(name)]
        if given:
            raise ValueError(f"cannot be combined with {given[0]} (a page starts at one place)")
    return value


async def keyset_page(conn: Any, stmt: Any, id_column: Any, request: PageRequest) -> KeysetPage:  # noqa: ANN401
    """Run the filtered ``stmt`` (a SELECT with its WHERE clauses, no ORDER BY or LIMIT)
    for the page ``request`` asks for.  ``id_column`` is the unique, increasing key."""
    size = request.page_size
    if request.after_id is None and not request.oldest:
        page_stmt = stmt if request.before_id is None else stmt.where(id_column < request.before_id)
        rows = list(await conn.execute(page_stmt.order_by(id_column.desc()).limit(size + 1)))
        more_older = len(rows) > size
        rows = rows[:size]
        newer = rows and request.before_id is not None and await _exists(conn, stmt, id_column, id_column > rows[0].id)
        return KeysetPage(rows, rows[-1].id if more_older else None, rows[0].id if newer else None)
    page_stmt = stmt if request.after_id is None else stmt.where(id_column > request.after_id)
    rows = list(await conn.execute(page_stmt.order_by(id_column.asc()).limit(size + 1)))
    more_newer = len(rows) > size
    rows = rows[:size][::-1]
    older = rows and not request.oldest and await _exists(conn, stmt, id_column, id_column < rows[-1].id)
    return KeysetPage(rows, rows[-1].id if older else None, rows[0].id if more_newer else None)


async def _exists(conn: Any, stmt: Any, id_column: Any, condition: Any) -> bool:  # noqa: ANN401
    probe = stmt.where(condition).with_only_columns(id_column).limit(1)
    return (await conn.execute(probe)).first() is not None

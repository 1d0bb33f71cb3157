"""Keyset paging of the allocation records from either end (issue 10, point 11): the
first, next, previous and last pages, with and without filters, on SQLite and
PostgreSQL; and every filter of the records list read through an index."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from allocations_support import open_allocation_desk
from sqlalchemy import insert

from wbo_tui.engine import ValidationFailed
from wbo_tui.engine.allocations import ListAllocations
from wbo_tui.engine.allocations.records import _filtered
from wbo_tui.engine.allocations.tables import allocations

ROWS = 233
PAGE = 50
STATUSES = ("succeeded", "failed", "rejected", "succeeded", "processing", "unknown", "pending_approval")


@pytest.fixture
async def desk(engine, tmp_path: Path):  # noqa: ANN001, ANN201
    d = await open_allocation_desk(engine, tmp_path / "bank.sqlite")
    yield d
    await d.bank.aclose()


async def _fill(desk: Any) -> list[dict[str, Any]]:  # noqa: ANN401
    """``ROWS`` allocations of several statuses, origins and currencies, oldest first."""
    accounts = desk.accounts
    rows = []
    for i in range(ROWS):
        usdt = i % 3 == 0
        at = desk.engine.clock.now() - timedelta(minutes=ROWS - i)
        rows.append({
            "order_no": f"AL-T{i:05d}", "origin": "manual" if i % 4 == 0 else "automatic", "rule_id": None,
            "trigger": "manual" if i % 4 == 0 else "test", "trigger_key": None,
            "from_account_id": accounts["usdt_principal" if usdt else "hkd_pool"],
            "to_account_id": accounts["usdt_fee" if usdt else "hkd_fee"],
            "currency": "USDT" if usdt else "HKD", "amount": Decimal(f"{i + 1}.25"), "remarks": "",
            "status": STATUSES[i % len(STATUSES)], "failure_reason": None, "attempt": 1,
            "attempt_key": f"AL-T{i:05d}.1", "maker": "maker", "created_at": at, "updated_at": at,
        })
    async with desk.engine.db.begin() as conn:
        await conn.execute(insert(allocations), rows)
    return rows


async def _page(desk: Any, **fields: Any) -> Any:  # noqa: ANN401
    return await desk.engine.query(desk.checker, ListAllocations(page_size=PAGE, **fields))


def _orders(page: Any) -> list[str]:  # noqa: ANN401
    return [a.order_no for a in page.rows]


FILTERS = [
    {},
    {"status": "failed"},
    {"origin": "manual"},
    {"currency": "USDT"},
    {"status": "succeeded", "origin": "automatic", "currency": "HKD"},
    {"order_no": "al-t00042"},
    {"currency": "EUR"},  # nothing matches
]


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "none")
async def test_pages_from_either_end_cover_every_matching_record_once(
        desk, filters: dict[str, str]) -> None:  # noqa: ANN001
    rows = await _fill(desk)
    wanted = [r["order_no"] for r in reversed(rows) if all(
        str(r[k]).upper() == v.upper() for k, v in {"order_no": "", **filters}.items() if v)]
    pages = [wanted[i:i + PAGE] for i in range(0, len(wanted), PAGE)] or [[]]

    # First page, then next (older) pages to the end.
    page = await _page(desk, **filters)
    assert page.newer_after_id is None
    seen = [_orders(page)]
    while page.next_before_id is not None:
        page = await _page(desk, before_id=page.next_before_id, **filters)
        assert page.newer_after_id is not None  # a previous page exists
        seen.append(_orders(page))
    assert seen == pages

    # Last page: the oldest records, newest first among them, with no older page.
    last = await _page(desk, oldest=True, **filters)
    assert _orders(last) == wanted[-PAGE:]
    assert last.next_before_id is None
    assert (last.newer_after_id is not None) == (len(wanted) > PAGE)

    # Previous (newer) pages from the last one back to the newest.
    back = [_orders(last)]
    page = last
    while page.newer_after_id is not None:
        page = await _page(desk, after_id=page.newer_after_id, **filters)
        assert page.next_before_id is not None  # an older page exists
        back.append(_orders(page))
    # Pages counted from the oldest end: the newest one holds the remainder.
    assert back[-1] == wanted[:len(back[-1])] and 0 < len(back[-1]) <= PAGE or not wanted
    assert [o for p in reversed(back) for o in p] == wanted  # every record once, in order


async def test_next_then_previous_returns_to_the_same_page(desk) -> None:  # noqa: ANN001
    await _fill(desk)
    first = await _page(desk, status="succeeded")
    second = await _page(desk, status="succeeded", before_id=first.next_before_id)
    again = await _page(desk, status="succeeded", after_id=second.newer_after_id)
    assert _orders(again) == _orders(first) and again.newer_after_id is None


async def test_a_page_starts_at_one_place_only() -> None:
    for fields, field in (({"before_id": 5, "after_id": 3}, "after"), ({"before_id": 5, "oldest": True}, "oldest"),
                          ({"after_id": 5, "oldest": True}, "oldest")):
        with pytest.raises(ValidationFailed, match=f"(?i){field}.*cannot be combined"):
            ListAllocations(**fields)


INDEXED = [({"status": "failed"}, "ix_allocations_status"), ({"origin": "manual"}, "ix_allocations_origin"),
           ({"currency": "USDT"}, "ix_allocations_currency"), ({"order_no": "AL-T00042"}, None)]


@pytest.mark.parametrize(("filters", "index"), INDEXED, ids=lambda v: next(iter(v)) if isinstance(v, dict) else "")
async def test_each_filter_of_the_records_list_reads_an_index(desk, is_pg: bool, filters: dict[str, str],
                                                              index: str | None) -> None:  # noqa: ANN001
    """The page queries from both ends; PostgreSQL is asked with sequential scans priced
    out, since on a test-sized table it would rightly prefer one."""
    await _fill(desk)
    c = allocations.c
    async with desk.engine.db.connect() as conn:
        for stmt in (_filtered(ListAllocations(**filters)).where(c.id < 10_000).order_by(c.id.desc()).limit(51),
                     _filtered(ListAllocations(**filters)).order_by(c.id.asc()).limit(51)):
            sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            if is_pg:
                await conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                plan = "\n".join(r[0] for r in await conn.exec_driver_sql("EXPLAIN " + sql))
                scans = [line for line in plan.splitlines() if "allocations" in line and " on allocations" in line]
                assert scans and all("Index" in line for line in scans), plan
                if index is not None:
                    assert index in plan, plan
            else:
                plan = "\n".join(r[3] for r in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
                table_line = next(line for line in plan.splitlines() if line.split()[1:2] == ["allocations"]
                                  or " allocations " in f" {line} " and "dst" not in line and "src" not in line)
                assert "INDEX" in table_line and "TEMP B-TREE" not in plan, plan
                if index is not None:
                    assert index in table_line, plan

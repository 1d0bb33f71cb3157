"""Allocations › Allocations paged from either end (issue 10, point 11): } jumps to the
last page, which shows the oldest records; [ and ] page from there; { returns to the
newest; a filter pages the same way."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from allocation_helpers import HKD_POOL, HKD_PRINCIPAL, USD_POOL, USD_PRINCIPAL, seed_allocations
from console_helpers import START, login, plain, settle, type_into
from sqlalchemy import insert, select
from textual.pilot import Pilot
from textual.widgets import DataTable

from wbo_tui.engine import Engine
from wbo_tui.engine.allocations.tables import allocations
from wbo_tui.screens.allocations.records import AllocationsPane

WIDE = (160, 40)
ORDER = 2
ROWS = 130
STATUSES = ("succeeded", "failed", "rejected", "succeeded", "succeeded")


@pytest.fixture
async def history(engine: Engine, tmp_path: Path) -> list[str]:
    """``ROWS`` older allocations in HKD and USD of several statuses, written straight
    into the table (as a long-running desk's history); every allocation's order number,
    currency and status, by id."""
    await seed_allocations(engine, tmp_path)
    await engine.run_allocations()
    rows = []
    for i in range(ROWS):
        usd = i % 4 == 0
        at = START - timedelta(days=400) + timedelta(hours=i)
        rows.append({
            "order_no": f"AL-OLD{i:05d}", "origin": "manual" if i % 3 == 0 else "automatic", "rule_id": None,
            "trigger": "history", "trigger_key": None, "from_account_id": USD_POOL if usd else HKD_POOL,
            "to_account_id": USD_PRINCIPAL if usd else HKD_PRINCIPAL, "currency": "USD" if usd else "HKD",
            "amount": Decimal(f"{100 + i}.00"), "remarks": "", "status": STATUSES[i % len(STATUSES)],
            "failure_reason": None, "attempt": 1, "attempt_key": f"AL-OLD{i:05d}.1", "maker": "maker",
            "created_at": at, "updated_at": at,
        })
    async with engine.db.begin() as conn:
        await conn.execute(insert(allocations), rows)
        return [f"{r.order_no} {r.currency} {r.status}" for r in await conn.execute(
            select(allocations.c.order_no, allocations.c.currency, allocations.c.status).order_by(allocations.c.id))]


def shown(pilot: Pilot) -> list[str]:
    table = pilot.app.screen.query_one("#allocations-pane DataTable", DataTable)
    return [str(table.get_row_at(i)[ORDER]) for i in range(table.row_count)]


def status(pane: AllocationsPane) -> str:
    return plain(pane.query_one(".pane-status"))


async def press(pilot: Pilot, key: str) -> None:
    await pilot.press(key)
    await settle(pilot)


async def test_the_last_page_key_shows_the_oldest_records(make_app, history: list[str]) -> None:
    newest_first = [h.split()[0] for h in history[::-1]]
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await login(pilot, "viewer")
        await press(pilot, "2")
        await press(pilot, "ctrl+t")
        pane = pilot.app.screen.query_one("#allocations-pane", AllocationsPane)
        assert shown(pilot) == newest_first[:50] and status(pane).startswith("Page 1: 50 shown")
        assert pane.check_action("page_end", ("newest",)) is None  # already there

        await press(pilot, "}")
        assert shown(pilot) == newest_first[-50:]  # the 50 oldest, newest first among them
        assert shown(pilot)[-1] == newest_first[-1] == "AL-OLD00000"
        assert status(pane).startswith("Last page: 50 shown, newest first; no older records")
        assert pane.check_action("page", (1,)) is None and pane.check_action("page_end", ("oldest",)) is None
        assert pane.unavailable("page_end", ("oldest",)).reason == "this is the last page (the oldest records)"

        await press(pilot, "[")  # one page newer than the last
        assert shown(pilot) == newest_first[-100:-50] and status(pane).startswith("Page 2 from the last")
        await press(pilot, "]")
        assert shown(pilot) == newest_first[-50:] and status(pane).startswith("Last page")

        await press(pilot, "{")
        assert shown(pilot) == newest_first[:50] and status(pane).startswith("Page 1: 50 shown")


async def test_the_last_page_of_a_filtered_list(make_app, history: list[str]) -> None:
    hkd_succeeded = [h.split()[0] for h in history[::-1] if h.endswith(" HKD succeeded")]
    assert len(hkd_succeeded) > 50
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await login(pilot, "viewer")
        await press(pilot, "2")
        await press(pilot, "ctrl+t")
        pane = pilot.app.screen.query_one("#allocations-pane", AllocationsPane)
        await type_into(pilot, "#alloc-filter-currency", "hkd")
        await type_into(pilot, "#alloc-filter-status", "succeeded")
        await pilot.press("enter")
        await settle(pilot)
        assert shown(pilot) == hkd_succeeded[:50]
        await press(pilot, "}")
        assert shown(pilot) == hkd_succeeded[-50:] and status(pane).startswith("Last page: 50 shown")
        assert "Filters: status succeeded, currency HKD" in status(pane)
        await press(pilot, "[")
        assert shown(pilot) == hkd_succeeded[:-50][-50:]

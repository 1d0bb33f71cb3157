"""Set-up for the Allocations console tests: the demo settlement channel, its 18 channel
accounts (HK-POOL-001 fund pool among them) and the 7 demo allocation rules, seeded
through a second engine and polled once at START.

Channel account ids follow data/demo_positions.json: 1 HKD principal, 2 HKD fee,
3 HKD deposit, 4–6 USD, 7–9 CNH, 10–12 BTC, 13–15 USDT, 16 HKD pool, 17 USD pool,
18 USDT pool.  Rule ids follow data/demo_allocations.json: 4 is the HKEX-trading-day
sweep, 5 the weekly Mon/Thu fee top-up.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from console_helpers import login, settle
from textual.pilot import Pilot

from wbo_tui.config import DATA_DIR
from wbo_tui.engine import Engine, seed
from wbo_tui.engine.allocations import ListAllocationRules, RuleDTO

HKD_PRINCIPAL, HKD_FEE, HKD_DEPOSIT, USD_PRINCIPAL, HKD_POOL, USD_POOL = 1, 2, 3, 4, 16, 17
TRADING_DAY_SWEEP, WEEKLY_FEE_TOP_UP = 4, 5
DEMO_RULES = 7


async def seed_allocations(engine: Engine, data_dir: Path) -> None:
    """The demo positions and rules, as ``wbo-tui demo`` loads them, and one poll."""
    await seed.seed(engine, seed.load(DATA_DIR / "demo_positions.json"), data_dir=data_dir)
    await seed.seed(engine, seed.load(DATA_DIR / "demo_allocations.json"), data_dir=data_dir)
    await engine.poll_positions(slot="allocations:1", holder="test")


@pytest.fixture
async def allocations(engine: Engine, tmp_path: Path) -> Engine:
    """The second engine, on a database holding the demo positions and rules."""
    await seed_allocations(engine, tmp_path)
    return engine


async def open_allocations(pilot: Pilot, username: str = "maker") -> None:
    """Log in and open the Allocations area (key 2) on its first tab, Rules."""
    await login(pilot, username)
    await pilot.press("2")
    await settle(pilot)


async def rules(engine: Engine) -> dict[int, RuleDTO]:
    return {r.id: r for r in await engine.setup_query(tool="test", query=ListAllocationRules())}

"""The demo's margin-call set-up for console tests (data/demo_fx.json for the currencies,
rates and the FX clients, then data/demo_margin.json), made through the engine's own
commands at the console tests' fixed clock (Friday 20 November 2026, 17:30 in Hong Kong),
and the first price pass at that moment: the simulated market is a function of time, so
at a fixed clock every console sees the same quotes and the app's own passes find the
interval's slot already taken (nothing moves under a test).

At the seed: M-300101 (Lau Chi Keung) in margin call, M-300102 (Ho Wing Sze) in a force call
triggered 120 days back (long-term), M-300103 (Tse Ka Wai, holding suspended Country
Garden) and M-300107 (Kwok Ah Ming, a loan and no positions) in force calls; the others
clear.  The simulated venue's store is in the test's folder."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from console_helpers import PASSWORDS, START, login, settle, wait_for_lists, wait_for_screen
from textual.pilot import Pilot

from wbo_tui.engine import Engine, FixedClock, SequentialIds
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.margin import ListMarginCalls, MarginCallDTO
from wbo_tui.engine.margin.revaluation import price_pass
from wbo_tui.engine.margin.seed_data import seed_margin
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.screens.risk.area import RiskArea
from wbo_tui.screens.shell import ShellScreen

REPO = Path(__file__).resolve().parents[2]


async def seed_risk(engine: Engine, data_dir: Path | None = None) -> None:
    """The FX and margin demo set-ups and a first price pass, at the engine's clock."""
    folder = data_dir or Path.cwd()
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup")
    await seed_margin(engine, json.loads((REPO / "data" / "demo_margin.json").read_text()), "test-setup", folder)
    await price_pass(engine, "test-setup")


def seed_risk_in_thread(db_url: str, data_dir: Path | None = None) -> None:
    """From a sync (snapshot) test: its own engine and event loop."""

    async def run() -> None:
        engine = await Engine.open(db_url, hasher=fast_hasher(), clock=FixedClock(START), ids=SequentialIds(900_000))
        try:
            await seed_risk(engine, data_dir)
        finally:
            await engine.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


async def open_calls(engine: Engine, username: str = "trader") -> dict[str, MarginCallDTO]:
    """The open calls by account number."""
    session = await engine.login(username, PASSWORDS[username])
    page = await engine.query(session, ListMarginCalls())
    return {call.account_no: call for call in page.rows}


async def open_risk_tab(pilot: Pilot, username: str, tab_id: str = "tab-risk-warnings",
                        password: str | None = None) -> None:
    """Log in, open the Risk area (4) and Ctrl+T to the tab ``tab_id`` (``RiskArea.TABS``),
    as an operator would; its lists loaded."""
    await login(pilot, username, password)
    await wait_for_screen(pilot, ShellScreen)
    await pilot.press("4")
    await settle(pilot)
    for _ in range([t.id for t in RiskArea.TABS].index(tab_id)):
        await pilot.press("ctrl+t")
        await settle(pilot)
    await wait_for_lists(pilot)

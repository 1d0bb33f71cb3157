"""The demo's FX set-up for console tests (data/demo_fx.json), made through the engine's
own commands at the console tests' fixed clock (Friday 20 November 2026, 17:30 in Hong
Kong: the pool is closed, the Hang Seng bank strategy serves small amounts), and client
exchanges submitted by the maker."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from console_helpers import PASSWORDS, START, login, settle, wait_for_lists, wait_for_screen
from sqlalchemy import text
from textual.pilot import Pilot

from wbo_tui.engine import Engine, FixedClock, SequentialIds
from wbo_tui.engine.fx import ListClients, SubmitClientExchange
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.screens.fx.area import FxArea
from wbo_tui.screens.shell import ShellScreen

REPO = Path(__file__).resolve().parents[2]


async def seed(engine: Engine, *, exchanges: bool = True) -> None:
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup")
    if not exchanges:
        return
    maker = await engine.login("maker", PASSWORDS["maker"])
    clients = {c.account_no: c.id for c in await engine.query(maker, ListClients())}
    # One that settles at the bank channel (processing), one that awaits review.
    first = await engine.execute(maker, SubmitClientExchange(client_id=clients["C-100001"], from_currency="USD",
                                                             to_currency="HKD", amount="1000"))
    await engine.execute(maker, SubmitClientExchange(client_id=clients["M-200001"], from_currency="USD",
                                                     to_currency="HKD", amount="70000"))
    # The first one's channel order failed at the bank: an exception record.
    async with engine.db.begin() as conn:
        await conn.execute(text("UPDATE fx_channel_orders SET channel_status = 'FAILED', abnormal = :t, "
                                "origin_text = 'beneficiary bank rejected' WHERE forex_id = :f"),
                           {"t": True, "f": first.forex_id})


def seed_in_thread(db_url: str, *, exchanges: bool = True) -> None:
    """From a sync (snapshot) test: its own engine and event loop."""

    async def run() -> None:
        engine = await Engine.open(db_url, hasher=fast_hasher(), clock=FixedClock(START), ids=SequentialIds(900_000))
        try:
            await seed(engine, exchanges=exchanges)
        finally:
            await engine.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


# --- exchanges with profit and loss (the P&L tab) -------------------------------------------

POOL_OPEN = START.replace(hour=2, minute=0)  # the same Friday, 10:00 in Hong Kong: the pool serves


async def trade_for_pnl(engine: Engine, db_url: str) -> list[str]:
    """Executed exchanges, so that the P&L tab has rows: three on the pool (made by an engine
    whose clock is at 10:00 HKT that Friday) and one at the Hang Seng bank, settled at the
    bank's 7.8120 (the console tests' bank channels are not configured, so the answer is
    handed to the engine's own settlement).  Their order numbers, oldest first."""
    from decimal import Decimal

    from wbo_tui.engine.fx.bank import ChannelOrderState
    from wbo_tui.engine.fx.channel_execution import settle

    pool_engine = await Engine.open(db_url, hasher=fast_hasher(), clock=FixedClock(POOL_OPEN),
                                    ids=SequentialIds(700_000))
    made = []
    try:
        maker = await pool_engine.login("maker", PASSWORDS["maker"])
        clients = {c.account_no: c.id for c in await pool_engine.query(maker, ListClients())}
        for account_no, source, target, amount in (("C-100002", "CNH", "HKD", "1234.56"),
                                                   ("C-100001", "USD", "HKD", "1000.01"),
                                                   ("C-100002", "HKD", "CNH", "10000")):
            made.append(await pool_engine.execute(maker, SubmitClientExchange(
                client_id=clients[account_no], from_currency=source, to_currency=target, amount=amount)))
    finally:
        await pool_engine.close()
    maker = await engine.login("maker", PASSWORDS["maker"])
    bank = await engine.execute(maker, SubmitClientExchange(client_id=clients["C-100001"], from_currency="USD",
                                                            to_currency="HKD", amount="1000"))
    await engine.after_commit_idle()
    async with engine.db.connect() as conn:
        order_no = (await conn.execute(text("SELECT order_no FROM fx_channel_orders WHERE forex_id = :f"),
                                       {"f": bank.forex_id})).scalar_one()
    await settle(engine, order_no, ChannelOrderState(
        order_id=order_no, status="SUCCEEDED", channel_rate=Decimal("7.8120"), to_amount=Decimal("7812.00"),
        serial_no="HSB-000001", reason=None, raw_status="SUCCESS", message="filled"))
    return [e.forex_id for e in (*made, bank)]


def pnl_in_thread(db_url: str) -> None:
    """From a sync (snapshot) test: the FX seed and the P&L trades, on their own loop."""

    async def run() -> None:
        engine = await Engine.open(db_url, hasher=fast_hasher(), clock=FixedClock(START), ids=SequentialIds(900_000))
        try:
            await seed(engine)
            await trade_for_pnl(engine, db_url)
        finally:
            await engine.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


async def open_fx_tab(pilot: Pilot, username: str, tab_id: str, password: str | None = None) -> None:
    """Log in, open the FX area (3) and Ctrl+T to the tab ``tab_id`` (``FxArea.TABS``: e.g.
    "tab-fx-pnl"), as an operator would; its lists loaded."""
    await login(pilot, username, password)
    await wait_for_screen(pilot, ShellScreen)
    await pilot.press("3")
    await settle(pilot)
    for _ in range([t.id for t in FxArea.TABS].index(tab_id)):
        await pilot.press("ctrl+t")
        await settle(pilot)
    await wait_for_lists(pilot)

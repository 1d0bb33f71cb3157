"""The demo's FX set-up for console tests (data/demo_fx.json), made through the engine's
own commands at the console tests' fixed clock (Friday 20 November 2026, 17:30 in Hong
Kong: the pool is closed, the Hang Seng bank strategy serves small amounts), and client
exchanges submitted by the maker."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from console_helpers import PASSWORDS, START
from sqlalchemy import text

from wbo_tui.engine import Engine, FixedClock, SequentialIds
from wbo_tui.engine.fx import ListClients, SubmitClientExchange
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.passwords import fast_hasher

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

"""The ``poll`` benchmark's data: 4,000 channel accounts on simulated upstreams.

Shared by the parent (``bench/poll.py``) and the console child
(``bench/poll_child_app.py``).  Imported lazily: it pulls in the engine.

Layout.  A channel may hold one account per (currency, business scenario) and there are
five scenarios, so a channel has at most 5 x 20 = 100 accounts: the 200 account numbers
x 20 currencies are spread over 40 channels of 5 account numbers each, all on **one**
simulated upstream store (one SQLite file), so that the raw baseline reads the same 4,000
rows in one query.  The schema has 10 currencies; 10 test currencies (``XB00``..``XB09``,
fiat, 2 decimals) are inserted into ``currencies`` directly.

Thresholds (alert 1,000, blocking 500) are set on every fourth account (1,000 of them).
The upstream balances of round ``r`` (``balances_for_round``) put a rotating 1-in-25 of
those accounts below the blocking threshold and another 1-in-25 below the alert
threshold, so every poll moves about 80 accounts between levels and raises that many
alerts; every other balance changes a little each round, so every row is rewritten.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from .auditdb import CACHE_DIR, DEMO_DATA

CHANNELS = 40
SCENARIOS = ("deposit", "withdrawal_principal", "withdrawal_fee", "trading", "fund_pool")
EXTRA_CURRENCIES = tuple(f"XB{i:02d}" for i in range(10))
ALERT, BLOCKING = Decimal("1000"), Decimal("500")
THRESHOLD_EVERY = 4
CROSS_EVERY = 25
USERNAME = "admin"
HOLDER = "bench-poll"


@dataclass(frozen=True, slots=True)
class PollDb:
    folder: Path
    db_path: Path
    store: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db_path}"


def cheap_hasher() -> Any:
    """The operators' passwords are hashed with cheap argon2 parameters: logging the
    console child in is set-up, not what this benchmark measures (argon2 verifies
    with the parameters stored in each hash)."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def password() -> str:
    data = json.loads(DEMO_DATA.read_text())
    return next(op["password"] for op in data["operators"] if op["username"] == USERNAME)


def account_numbers(channel: int) -> list[str]:
    return [f"BENCH-{channel:02d}-{s:02d}" for s in range(len(SCENARIOS))]


def balances_for_round(accounts: list[tuple[int, str, str]], round_no: int) -> list[tuple[str, str, Decimal]]:
    """Upstream balances of ``round_no`` for ``accounts`` (index, account_no, currency)."""
    rows = []
    for index, account_no, currency in accounts:
        if index % THRESHOLD_EVERY == 0:
            phase = (index // THRESHOLD_EVERY + round_no) % CROSS_EVERY
            if phase == 0:
                rows.append((account_no, currency, Decimal("250.00")))
                continue
            if phase == 1:
                rows.append((account_no, currency, Decimal("750.00")))
                continue
        rows.append((account_no, currency, Decimal(5000 + round_no) + Decimal(index % 100) / 100))
    return rows


async def build(folder: Path) -> tuple[PollDb, list[tuple[int, str, str]]]:
    """Create the database and the store in ``folder`` (fresh).  Returns the accounts as
    (index, account_no, currency); the store holds the balances of round 0."""
    from sqlalchemy import insert, select, update

    from wbo_tui.engine import Engine
    from wbo_tui.engine.migrate import upgrade_async
    from wbo_tui.engine.positions import CreateChannelAccount, RegisterSettlementChannel
    from wbo_tui.engine.positions.tables import positions
    from wbo_tui.engine.schema import currencies
    from wbo_tui.engine.seed import SEED_TOOL, seed
    from wbo_tui.engine.upstream.simulator import SimulatedUpstream

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    db = PollDb(folder, folder / "wbo.db", folder / "upstream.db")
    await upgrade_async(db.url)
    engine = await Engine.open(db.url, hasher=cheap_hasher())
    try:
        data = json.loads(DEMO_DATA.read_text())
        await seed(engine, {"roles": data["roles"], "operators": data["operators"]})
        async with engine.db.begin() as conn:
            await conn.execute(insert(currencies), [
                {"code": code, "name": f"Bench currency {code}", "kind": "fiat", "amount_precision": 2,
                 "rounding": "ROUND_HALF_UP", "exchange_enabled": False}
                for code in EXTRA_CURRENCIES
            ])
            kinds = {r.code: r.kind for r in await conn.execute(select(currencies.c.code, currencies.c.kind))}
        codes = sorted(kinds)
        assert len(codes) == 20, codes
        accounts: list[tuple[int, str, str]] = []
        ids: list[int] = []
        for ch in range(CHANNELS):
            code = f"bench_channel_{ch:02d}"
            await engine.setup_execute(tool=SEED_TOOL, command=RegisterSettlementChannel(
                code=code, name=f"Bench channel {ch:02d}", gateway={"kind": "simulated", "store": str(db.store)},
            ))
            for scenario, account_no in zip(SCENARIOS, account_numbers(ch), strict=True):
                for currency in codes:
                    dto = await engine.setup_execute(tool=SEED_TOOL, command=CreateChannelAccount(
                        channel=code, currency_type=kinds[currency], currency=currency, account_no=account_no,
                        scenario=scenario,
                    ))
                    accounts.append((len(accounts), account_no, currency))
                    ids.append(dto.id)
        # Thresholds written directly (SetThresholds would also evaluate a level against a
        # balance that has never been polled: nothing to do, and 1,000 more transactions).
        async with engine.db.begin() as conn:
            await conn.execute(
                update(positions).where(positions.c.channel_account_id.in_(
                    [ids[i] for i, _, _ in accounts if i % THRESHOLD_EVERY == 0]))
                .values(threshold_alert=ALERT, threshold_blocking=BLOCKING)
            )
    finally:
        await engine.close()
    bank = SimulatedUpstream(db.store)
    try:
        await bank.set_balances(balances_for_round(accounts, 0))
    finally:
        bank.close()
    return db, accounts


GENERATOR_VERSION = 1


def template_folder() -> Path:
    from wbo_tui.engine.api import SCHEMA_REVISION

    return CACHE_DIR / f"poll-template-{SCHEMA_REVISION}-g{GENERATOR_VERSION}"


async def ensure_template() -> tuple[Path, float | None]:
    """The built database and store, cached in ``bench/.cache`` (building takes ~35 s:
    4,000 accounts go through the engine's own command, one transaction each).
    Returns the folder and the build time (None when reused)."""
    import os
    import time

    folder = template_folder()
    if (folder / "accounts.json").exists():
        return folder, None
    started = time.perf_counter()
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    _, accounts = await build(tmp)
    (tmp / "accounts.json").write_text(json.dumps(accounts))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder, time.perf_counter() - started


def working_copy(template: Path, tag: str) -> tuple[PollDb, list[tuple[int, str, str]]]:
    """A private copy of the template; the channels point at the copy's store."""
    import os
    import sqlite3

    folder = CACHE_DIR / f"poll-{tag}-{os.getpid()}"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(template, folder)
    db = PollDb(folder, folder / "wbo.db", folder / "upstream.db")
    conn = sqlite3.connect(db.db_path)
    try:
        with conn:
            conn.execute("UPDATE settlement_channels SET gateway = ?",
                         (json.dumps({"kind": "simulated", "store": str(db.store)}, sort_keys=True),))
    finally:
        conn.close()
    accounts = [tuple(a) for a in json.loads((folder / "accounts.json").read_text())]
    return db, accounts  # type: ignore[return-value]


def remove(db: PollDb) -> None:
    shutil.rmtree(db.folder, ignore_errors=True)

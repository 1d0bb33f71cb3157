"""Benchmark ``exchange``: 1,000 client exchanges submitted and settled on the exchange
pool, each one's latency, against a raw ``sqlite3`` floor doing the same reads and writes
in the same run.

Data (built per run in a temporary folder, not timed): the schema from the migration, the
demo operators (cheap argon2 parameters: logging in is set-up here) and the demo's
currency-exchange set-up (``data/demo_fx.json`` through ``seed_fx``: currency setup, pairs,
the pool strategy and the two bank ones, pool quotas, large-amount criteria, markups,
the manual's rates, the clients).  The clock is fixed at Monday 23 November 2026 10:00
Hong Kong time: the pool strategy (HK trading days 09:00-16:00) is in service.

Measured, each round on a fresh copy of that database: ``maker`` submits, through
``Engine.execute`` as the console does (one hop to the engine's thread), 1,000 exchanges
for client M-200001, alternately 100 USD to HKD and 500 HKD to USD: small amounts, below
the pool strategy's approval starting point, so each settles in the transaction that
submits it (rate, amounts, the vendor's checks, hold, exchange row, client ledger, both
pool quotas with their ledger rows, profit and loss, two audit records, commit with
fsync).  The first 10 calls warm caches and are not counted; after them the heap is
settled as the console settles it once the operator's lists have loaded (``wbo_tui.heap``:
what survived is frozen, so a full collection walks only what came since).

Floor: raw ``sqlite3``, one ``BEGIN IMMEDIATE`` transaction per exchange, into a fresh copy
with the engine's pragmas (WAL, synchronous=FULL, foreign keys), replaying what each
engine call read and wrote: the session and operator, the client, both currencies' setup
and switch, the reference rate, the pair, the strategies, the large-amount criterion, the
pool quota, the client's balance and holds read; the exchange, the hold, two client
ledger movements, two pool ledger rows, the profit and loss row and two audit records
written (the very rows the engine wrote, read back from its database); both quotas, the
hold, the exchange and the audit head updated.  No Python decisions, no hashing: what the
disk's syncs and SQLite alone allow.

Goal: the engine's p99 <= 3 x the floor's p99 (the RATIO line: medians over the rounds of
each round's p99).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .core import Goal, Result, Series

DESCRIPTION = "1,000 client exchanges settled on the pool: p99 latency vs a raw sqlite3 floor (same reads and writes)"
GOAL = Goal(3.0, "engine p99 <= 3 x the raw sqlite3 floor's p99")
EXCHANGES, QUICK_EXCHANGES = 1000, 200
ROUNDS, QUICK_ROUNDS = 3, 1
WARM_UP = 10
MONDAY_10_HKT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CLIENT = "M-200001"
ORDERS = (("USD", "HKD", "100"), ("HKD", "USD", "500"))


def run(args: argparse.Namespace) -> Result:
    calls = QUICK_EXCHANGES if args.quick else EXCHANGES
    rounds = args.repeat or (QUICK_ROUNDS if args.quick else ROUNDS)
    with tempfile.TemporaryDirectory(prefix="wbo-bench-exchange-") as tmp:
        folder = Path(tmp)
        template = folder / "template.db"
        started = time.perf_counter()
        asyncio.run(_build(template))
        build_s = time.perf_counter() - started
        engine_p99, raw_p99, engine_all, raw_all = [], [], [], []
        for i in range(rounds):
            print(f"    round {i + 1}/{rounds}", flush=True)
            engine_db = folder / f"engine-{i}.db"
            _copy(template, engine_db)
            latencies, session = asyncio.run(_engine_round(engine_db, calls))
            floor = _raw_round(template, engine_db, folder / f"raw-{i}.db", session)
            engine_p99.append(percentile(latencies, 0.99))
            raw_p99.append(percentile(floor, 0.99))
            engine_all += latencies
            raw_all += floor
    subject = Series("engine: p99 of a round", tuple(engine_p99))
    baseline = Series("raw sqlite3 floor: p99 of a round", tuple(raw_p99))
    notes = [
        f"{calls:,} exchanges per round ({WARM_UP} more to warm up), {rounds} rounds; every one SUCCEEDED on the pool; "
        f"set-up built in {build_s:.1f} s (not timed)",
        f"engine p50 {statistics.median(engine_all) * 1000:.2f} ms, p99 {percentile(engine_all, 0.99) * 1000:.2f} ms; "
        f"floor p50 {statistics.median(raw_all) * 1000:.2f} ms, p99 {percentile(raw_all, 0.99) * 1000:.2f} ms "
        "(all rounds together)",
    ]
    if args.quick:
        notes.append(f"--quick: {QUICK_EXCHANGES} exchanges, one round; indicative only")
    return Result(name="exchange", description=DESCRIPTION, subject=subject, baseline=baseline, goal=GOAL,
                  details=(Series("engine: each exchange", tuple(engine_all)),
                           Series("raw floor: each exchange", tuple(raw_all))),
                  notes=tuple(notes))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    for suffix in ("-wal", "-shm"):
        if Path(str(source) + suffix).exists():
            shutil.copyfile(str(source) + suffix, str(target) + suffix)


def _password(username: str) -> str:
    from .auditdb import DEMO_DATA

    return next(op["password"] for op in json.loads(DEMO_DATA.read_text())["operators"]
                if op["username"] == username)


async def _open(path: Path, *, own_loop: bool = False) -> Any:
    from wbo_tui.engine import Engine, FixedClock

    from .poll_db import cheap_hasher

    return await Engine.open(f"sqlite:///{path}", clock=FixedClock(MONDAY_10_HKT), hasher=cheap_hasher(),
                             own_loop=own_loop)


async def _build(path: Path) -> None:
    """Schema, demo operators and the demo's FX set-up (not timed)."""
    from wbo_tui.engine import migrate, seed
    from wbo_tui.engine.fx.seed_data import seed_fx

    from .auditdb import DEMO_DATA, REPO_ROOT

    await migrate.upgrade_async(f"sqlite:///{path}")
    engine = await _open(path)
    try:
        await seed.seed(engine, seed.load(DEMO_DATA))
        await seed_fx(engine, json.loads((REPO_ROOT / "data" / "demo_fx.json").read_text()), "bench")
    finally:
        await engine.close()


async def _engine_round(path: Path, calls: int) -> tuple[list[float], Any]:
    from wbo_tui import heap
    from wbo_tui.engine.fx import ListClients, SubmitClientExchange

    engine = await _open(path, own_loop=True)
    try:
        maker = await engine.login("maker", _password("maker"))
        client = (await engine.query(maker, ListClients(search=CLIENT)))[0].id
        latencies = []
        for i in range(calls + WARM_UP):
            source, target, amount = ORDERS[i % 2]
            command = SubmitClientExchange(client_id=client, from_currency=source, to_currency=target, amount=amount)
            started = time.perf_counter()
            done = await engine.execute(maker, command)
            seconds = time.perf_counter() - started
            assert done.forex_status == "SUCCEEDED", done
            if i >= WARM_UP:
                latencies.append(seconds)
            elif i == WARM_UP - 1:
                # The engine runs in the console's process, whose heap is settled once the
                # operator's lists have loaded (``wbo_tui.heap``): do as it does.
                heap.settle_session()
        return latencies, maker
    finally:
        await engine.close()


def _rows(conn: sqlite3.Connection, table: str, key: str) -> tuple[str, list[str], dict[str, list[Any]]]:
    """Every row of ``table`` grouped by ``key`` (a forex id), with the INSERT writing it."""
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    by_key: dict[str, list[Any]] = {}
    for row in conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid"):
        by_key.setdefault(row[columns.index(key)], []).append(row)
    insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    return insert, columns, by_key


def _raw_round(template: Path, done: Path, fresh: Path, session: Any) -> list[float]:  # noqa: ANN401
    source = sqlite3.connect(done)
    exchanges = source.execute("SELECT forex_id, client_id, from_currency, to_currency FROM fx_exchanges "
                               "ORDER BY id").fetchall()
    ins_ex, cols_ex, ex_rows = _rows(source, "fx_exchanges", "forex_id")
    ins_hold, cols_hold, holds = _rows(source, "client_cash_holds", "ref")
    ins_mov, _, movements = _rows(source, "client_cash_movements", "ref")
    ins_pool, cols_pool, pool_rows = _rows(source, "fx_pool_ledger", "order_no")
    ins_pnl, _, pnl = _rows(source, "fx_profit_loss", "forex_id")
    ins_audit, cols_audit, audit = _rows(source, "audit_log", "target_id")
    source.close()
    _copy(template, fresh)
    conn = sqlite3.connect(fresh, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    token_hash = hashlib.sha256(session.token.encode()).hexdigest()
    at = {name: cols_ex.index(name) for name in ("id", "forex_status", "version", "updated_at", "success_time")}
    hold_at = {name: cols_hold.index(name) for name in ("id", "status", "settled_at")}
    pool_at = {name: cols_pool.index(name) for name in ("currency", "after_occurred")}
    seq_at, hash_at = cols_audit.index("seq"), cols_audit.index("hash")
    latencies = []
    for i, (forex_id, client_id, from_currency, to_currency) in enumerate(exchanges):
        exchange, hold, ledger = ex_rows[forex_id][0], holds[forex_id][0], pool_rows.get(forex_id, [])
        foreign = to_currency if from_currency == "HKD" else from_currency
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT s.operator_id, s.expires_at, s.revoked_at, s.locked_at, o.enabled, p.permission "
                     "FROM operator_sessions s JOIN operators o ON o.id = s.operator_id "
                     "LEFT JOIN operator_roles r ON r.operator_id = o.id "
                     "LEFT JOIN role_permissions p ON p.role_id = r.role_id WHERE s.token_hash = ?",
                     (token_hash,)).fetchall()
        conn.execute("SELECT account_no FROM clients WHERE id = ?", (client_id,)).fetchall()
        conn.execute("SELECT c.code, c.exchange_enabled, f.* FROM currencies c JOIN fx_currency_configs f "
                     "ON f.currency = c.code WHERE c.code IN (?, ?) OR f.standard_money",
                     (from_currency, to_currency)).fetchall()
        conn.execute("SELECT * FROM fx_reference_rates WHERE channel_name = 'HKEX' AND rate_type = 'SPOT' "
                     "AND other_currency = ? ORDER BY record_date DESC LIMIT 1", (foreign,)).fetchall()
        conn.execute("SELECT * FROM fx_currency_pairs WHERE from_currency = ? AND to_currency = ?",
                     (from_currency, to_currency)).fetchall()
        conn.execute("SELECT * FROM fx_exchange_strategies").fetchall()
        conn.execute("SELECT * FROM fx_amount_configs WHERE currency = ?", (from_currency,)).fetchall()
        conn.execute("SELECT * FROM fx_pool_quotas WHERE currency = ?", (to_currency,)).fetchall()
        conn.execute("SELECT balance_after FROM client_cash_movements WHERE client_id = ? AND currency = ? "
                     "ORDER BY id DESC LIMIT 1", (client_id, from_currency)).fetchall()
        conn.execute("SELECT amount FROM client_cash_holds WHERE client_id = ? AND currency = ? AND status = 'HELD'",
                     (client_id, from_currency)).fetchall()
        conn.execute(ins_ex, exchange)
        conn.execute(ins_hold, hold)
        conn.executemany(ins_mov, movements[forex_id])
        conn.execute("UPDATE client_cash_holds SET status = ?, settled_at = ? WHERE id = ?",
                     (hold[hold_at["status"]], hold[hold_at["settled_at"]], hold[hold_at["id"]]))
        for row in ledger:
            conn.execute("UPDATE fx_pool_quotas SET remaining_amount = ?, version = version + 1 WHERE currency = ?",
                         (row[pool_at["after_occurred"]], row[pool_at["currency"]]))
        conn.executemany(ins_pool, ledger)
        conn.execute("UPDATE fx_exchanges SET forex_status = ?, version = ?, updated_at = ?, success_time = ? "
                     "WHERE id = ?", tuple(exchange[at[n]] for n in ("forex_status", "version", "updated_at",
                                                                      "success_time", "id")))
        conn.executemany(ins_pnl, pnl.get(forex_id, []))
        records = audit.get(forex_id, [])
        conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchall()
        conn.executemany(ins_audit, records)
        if records:
            conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
                         (records[-1][seq_at], records[-1][hash_at]))
        conn.execute("COMMIT")
        if i >= WARM_UP:
            latencies.append(time.perf_counter() - started)
    conn.close()
    return latencies

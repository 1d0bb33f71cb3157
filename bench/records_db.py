"""The ``records`` benchmark's databases: the demo desk with N allocation records.

Built once per size and cached in ``bench/.cache/records-<N>-<schema revision>-g<generator
version>/`` (the database and the simulated bank's store beside it); each run measures a
private copy.  The schema comes from the Alembic migration; the demo operators (cheap
argon2 parameters: logging the child in is set-up, not what is measured), the demo
settlement channel with its 18 channel accounts and the 7 demo allocation rules come
through the engine's own seed.  The records are then appended with the stdlib ``sqlite3``
module in 50,000-row ``executemany`` batches in one transaction: a history over three
years, oldest first, of automatic allocations (70 %, each by one of the demo rules, on
that rule's accounts and currency, with its trigger) and manual ones (30 %, between two
accounts of one currency, made by ``maker`` and decided by ``checker``), in HKD, USD, CNH,
BTC and USDT with each currency's precision; 84 % succeeded, 9 % failed with a channel's
reason, 7 % rejected.  The newest 40 are what a desk has open: 12 pending approval (with
their approval items), 4 processing and 4 unknown (their lease runs for a month, so no
console drives them during a run), the rest succeeded.  No ``ANALYZE``: a production
database has no planner statistics unless someone gathers them.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import random
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .auditdb import CACHE_DIR, DEMO_DATA, REPO_ROOT

GENERATOR_VERSION = 1
RNG_SEED = 20_261_128
SPAN = timedelta(days=3 * 365)
BATCH_ROWS = 50_000
OPEN_ROWS = 40
STORE = "wbo-demo-bank.sqlite"
USERNAME = "checker"
FAILURES = ("Insufficient funds at the channel for the outgoing account.",
            "The channel rejected the transfer: beneficiary account closed.",
            "The channel did not answer within 30 s; the transfer was cancelled.")
REJECTIONS = ("duplicate of an earlier request", "amount above the desk limit", "wrong settlement account")


@dataclass(frozen=True, slots=True)
class RecordsDb:
    folder: Path
    records: int
    newest_order_no: str
    oldest_order_no: str
    build_s: float | None

    @property
    def path(self) -> Path:
        return self.folder / "wbo.db"

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"


def password() -> str:
    data = json.loads(DEMO_DATA.read_text())
    return next(op["password"] for op in data["operators"] if op["username"] == USERNAME)


def ensure(records: int, *, log: Any = print) -> RecordsDb:  # noqa: ANN401
    """The cached database with ``records`` allocations, built first when missing or stale."""
    from wbo_tui.engine.api import SCHEMA_REVISION

    CACHE_DIR.mkdir(exist_ok=True)
    folder = CACHE_DIR / f"records-{records}-{SCHEMA_REVISION}-g{GENERATOR_VERSION}"
    with open(CACHE_DIR / ".records-lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        meta_path = folder / "meta.json"
        if meta_path.exists():
            meta = json.loads(meta_path.read_text())
            return RecordsDb(folder, records, meta["newest"], meta["oldest"], meta["build_s"])
        log(f"building {folder.relative_to(REPO_ROOT)} ({records:,} allocation records); this happens once…")
        started = time.perf_counter()
        tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        asyncio.run(_migrate_and_seed(tmp))
        newest, oldest = _append(tmp / "wbo.db", records)
        build_s = round(time.perf_counter() - started, 1)
        log(f"built {records:,} records in {build_s:.1f} s ({(tmp / 'wbo.db').stat().st_size / 1e6:,.0f} MB)")
        (tmp / "meta.json").write_text(json.dumps({"records": records, "newest": newest, "oldest": oldest,
                                                    "build_s": build_s, "schema_revision": SCHEMA_REVISION}))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        return RecordsDb(folder, records, newest, oldest, build_s)


def working_copy(db: RecordsDb, tag: str) -> RecordsDb:
    """A private copy (the run's logins write sessions and audit records); its channel
    points at the copy's own simulated bank."""
    folder = CACHE_DIR / f"records-run-{tag}-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(db.folder, folder)
    conn = sqlite3.connect(folder / "wbo.db")
    try:
        with conn:
            conn.execute("UPDATE settlement_channels SET gateway = ?",
                         (json.dumps({"kind": "simulated", "store": str(folder / STORE)}, sort_keys=True),))
    finally:
        conn.close()
    return RecordsDb(folder, db.records, db.newest_order_no, db.oldest_order_no, db.build_s)


def remove(db: RecordsDb) -> None:
    shutil.rmtree(db.folder, ignore_errors=True)


async def _migrate_and_seed(folder: Path) -> None:
    from wbo_tui.config import DATA_DIR
    from wbo_tui.engine import Engine, seed
    from wbo_tui.engine.migrate import upgrade_async

    from .poll_db import cheap_hasher

    url = f"sqlite:///{folder / 'wbo.db'}"
    await upgrade_async(url)
    engine = await Engine.open(url, hasher=cheap_hasher())
    try:
        await seed.seed(engine, seed.load(DEMO_DATA))
        await seed.seed(engine, seed.load(DATA_DIR / "demo_positions.json"), data_dir=folder)
        await seed.seed(engine, seed.load(DATA_DIR / "demo_allocations.json"), data_dir=folder)
    finally:
        await engine.close()


def _append(path: Path, records: int) -> tuple[str, str]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")  # bulk load: no WAL growth, no fsync
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        desk = _Desk(conn)
        conn.execute("BEGIN")
        batch: list[tuple[Any, ...]] = []
        first = last = ""
        for row in desk.history(records):
            batch.append(row)
            first, last = first or row[0], row[0]
            if len(batch) >= BATCH_ROWS:
                _insert(conn, batch)
                batch.clear()
        _insert(conn, batch)
        desk.open_approvals()
        conn.execute("COMMIT")
        count = conn.execute("SELECT count(*) FROM allocations").fetchone()[0]
        assert count == records, (count, records)
        conn.execute("PRAGMA journal_mode = WAL")  # what the engine sets; persistent
    finally:
        conn.close()
    return last, first


COLUMNS = ("order_no", "origin", "rule_id", "trigger", "trigger_key", "from_account_id", "to_account_id", "currency",
           "amount", "remarks", "status", "failure_reason", "attempt", "attempt_key", "transfer_ref", "claimed_by",
           "claim_until", "step_failures", "approval_id", "maker", "checker", "created_at", "updated_at")


def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.executemany(f"INSERT INTO allocations ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                     rows)


def _at(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="microseconds")[:26]


class _Desk:
    """The seeded channel accounts and rules, and the history drawn from them."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.rng = random.Random(RNG_SEED)
        self.precision = dict(conn.execute("SELECT code, amount_precision FROM currencies"))
        accounts = conn.execute("SELECT id, currency, account_no FROM channel_accounts ORDER BY id").fetchall()
        self.by_currency: dict[str, list[int]] = {}
        for account_id, currency, _ in accounts:
            self.by_currency.setdefault(currency, []).append(account_id)
        self.by_currency = {c: ids for c, ids in self.by_currency.items() if len(ids) > 1}
        self.rules = conn.execute(
            "SELECT id, name, from_account_id, to_account_id, currency, trigger_kind, event_kind FROM allocation_rules"
        ).fetchall()
        self.operators = dict(conn.execute("SELECT username, id FROM operators"))
        self.pending: list[tuple[str, str, datetime]] = []
        self.end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def history(self, records: int) -> Iterator[tuple[Any, ...]]:
        rng = self.rng
        step = SPAN / max(records, 1)
        start = self.end - SPAN
        for i in range(records):
            at = start + step * i + timedelta(seconds=rng.uniform(0, step.total_seconds() * 0.9))
            # A bijection of i onto 64 bits: unique, random-looking order numbers (FA-…).
            order_no = f"FA-{(i * 0x9E3779B97F4A7C15 + 0x5851F42D4C957F2D) % 2**64:016X}"
            yield self._row(order_no, at, records - i)

    def _row(self, order_no: str, at: datetime, from_newest: int) -> tuple[Any, ...]:
        rng = self.rng
        manual = rng.random() < 0.3 or from_newest <= 12  # the open approvals are manual ones
        if manual:
            currency = rng.choice(sorted(self.by_currency))
            src, dst = rng.sample(self.by_currency[currency], 2)
            rule_id, trigger, trigger_key, maker = None, "manual", None, "maker"
        else:
            rule_id, name, src, dst, currency, kind, event = rng.choice(self.rules)
            trigger = (f"event {event} #{rng.randrange(1, 10**7)}" if kind == "event"
                       else f"schedule {at + timedelta(hours=8):%Y-%m-%d %H:%M} HKT")
            trigger_key, maker = f"bench:{order_no}", "system"
        places = self.precision[currency]
        amount = f"{rng.uniform(10, 50 if currency in ('BTC', 'ETH') else 2_000_000):.{places}f}"
        status, reason, checker, claim_until, approval_id = self._outcome(manual, from_newest, at)
        if status == "pending_approval":
            self.pending.append((order_no, f"{amount} {currency}", at))
        updated = at + timedelta(seconds=rng.uniform(1, 90))
        return (order_no, "manual" if manual else "automatic", rule_id, trigger, trigger_key, src, dst, currency,
                amount, "month-end refill" if manual and rng.random() < 0.5 else "", status, reason, 1,
                f"{order_no}.1", f"TR-{order_no[3:]}" if status in ("succeeded", "failed") else None, None,
                claim_until, 0, approval_id, maker, checker, _at(at), _at(updated))

    def _outcome(self, manual: bool, from_newest: int, at: datetime) -> tuple[Any, ...]:
        roll = self.rng.random()
        checker = "checker" if manual else None
        if from_newest <= OPEN_ROWS:
            if from_newest <= 12:
                return "pending_approval", None, None, None, None
            if from_newest <= 20:
                lease = _at(self.end + timedelta(days=30))
                return ("processing" if from_newest % 2 else "unknown"), None, checker, lease, None
            return "succeeded", None, checker, None, None
        if roll < 0.84:
            return "succeeded", None, checker, None, None
        if roll < 0.93:
            return "failed", self.rng.choice(FAILURES), checker, None, None
        return "rejected", self.rng.choice(REJECTIONS), "checker", None, None

    def open_approvals(self) -> None:
        """Approval items of the pending allocations, as ``CreateManualAllocation`` writes them."""
        maker_id = self.operators["maker"]
        for n, (order_no, what, at) in enumerate(self.pending):
            cur = self.conn.execute(
                "INSERT INTO approvals (ref, kind, payload, summary, status, maker_id, submitted_at) "
                "VALUES (?, 'fund_allocation', ?, ?, 'PENDING', ?, ?)",
                (f"AP-BENCH{n:08d}", json.dumps({"order_no": order_no}), f"Fund allocation {order_no}: {what}",
                 maker_id, _at(at)))
            self.conn.execute("UPDATE allocations SET approval_id = ? WHERE order_no = ?", (cur.lastrowid, order_no))

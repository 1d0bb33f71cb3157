"""A SQLite database seeded with the demo data and a large, valid audit log.

Built once and cached under ``bench/.cache/`` (git-ignored).  The schema and the demo
operators go through the engine itself (Alembic migration, then ``seed``) with the
production password hasher, so the measured console verifies real argon2 hashes.  The
bulk of the audit log is then appended with the stdlib ``sqlite3`` module in large
``executemany`` batches inside one transaction: going through the engine one unit of
work per record would take hours for a million records.  Every appended record is
chained with the engine's own ``audit.record_hash``, continuing from ``audit_head``, so
``audit.verify`` accepts the result.
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

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(__file__).resolve().parent / ".cache"
DEMO_DATA = REPO_ROOT / "data" / "demo.json"

# Bump when the generated content changes, so stale caches are rebuilt.
GENERATOR_VERSION = 1
RNG_SEED = 20_260_101
SPAN = timedelta(days=365)
BATCH_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class AuditDb:
    path: Path
    records: int
    head_hash: str
    built: bool
    """True when this call generated the database; False when the cache was reused."""
    build_s: float | None
    """Generation time in seconds (this call, or the one that built the cache)."""

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"


def ensure_audit_db(records: int, *, log: Any = print) -> AuditDb:
    """Return a cached database whose audit log holds exactly ``records`` records,
    building it first if the cache is missing or stale."""
    from wbo_tui.engine.api import SCHEMA_REVISION

    CACHE_DIR.mkdir(exist_ok=True)
    # One builder at a time: a second run started meanwhile waits, then reuses the cache.
    with open(CACHE_DIR / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure_locked(records, SCHEMA_REVISION, log)


def _ensure_locked(records: int, revision: str, log: Any) -> AuditDb:
    stem = f"audit-{records}-{revision}-g{GENERATOR_VERSION}"
    path, meta_path = CACHE_DIR / f"{stem}.db", CACHE_DIR / f"{stem}.json"
    meta = _valid_meta(path, meta_path, records, revision)
    if meta is not None:
        return AuditDb(path, records, meta["head_hash"], False, meta.get("build_s"))

    log(f"building {path.relative_to(REPO_ROOT)} ({records:,} audit records); this happens once…")
    started = time.perf_counter()
    partial = path.with_suffix(".partial.db")
    _remove_db(partial)
    _remove_db(path)
    head_hash = build(partial, records, log=log)
    build_s = time.perf_counter() - started
    log(f"generated {records:,} audit records in {build_s:.1f} s ({partial.stat().st_size / 1e6:,.0f} MB)")
    started = time.perf_counter()
    sentence = asyncio.run(verify_chain(partial))
    verify_s = time.perf_counter() - started
    log(f"engine audit.verify: {sentence} ({verify_s:.1f} s)")
    partial.rename(path)
    meta_path.write_text(json.dumps({
        "records": records, "schema_revision": revision, "generator_version": GENERATOR_VERSION,
        "head_hash": head_hash, "build_s": round(build_s, 1), "verify_s": round(verify_s, 1),
        "built_at": datetime.now(UTC).isoformat(),
    }, indent=2))
    return AuditDb(path, records, head_hash, True, build_s)


async def verify_chain(path: Path) -> str:
    """Walk the whole chain with the engine's own ``audit.verify`` (once per build)."""
    from wbo_tui.engine import audit
    from wbo_tui.engine.db import create_engine

    engine = create_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as conn:
            report = await audit.verify(conn)
    finally:
        await engine.dispose()
    if not report.ok:
        raise AssertionError(f"generated audit log fails verification: {report.sentence}")
    return report.sentence


def working_copy(db: AuditDb, name: str) -> AuditDb:
    """A private copy of the cached database for one benchmark run, so the logins the run
    performs (each appends an audit record) never alter the cache, and two runs at the
    same time never share a file.  Remove it with ``remove_copy`` when done."""
    _remove_stale_copies(name)
    target = CACHE_DIR / f"{name}-{os.getpid()}.db"
    _remove_db(target)
    shutil.copyfile(db.path, target)
    return AuditDb(target, db.records, db.head_hash, False, db.build_s)


def remove_copy(db: AuditDb) -> None:
    _remove_db(db.path)


def _remove_stale_copies(name: str) -> None:
    """Copies left by runs that were killed (their process is gone)."""
    for path in CACHE_DIR.glob(f"{name}-*.db"):
        pid = path.stem.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            _remove_db(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build(path: Path, records: int, *, log: Any = print) -> str:
    """Create the schema, seed the demo data, append audit records up to ``records``.
    Returns the chain's head hash."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    start = end - SPAN
    asyncio.run(_migrate_and_seed(f"sqlite:///{path}", start))
    return _append_bulk(path, records, start, end, log=log)


async def _migrate_and_seed(url: str, seeded_at: datetime) -> None:
    from wbo_tui.engine import migrate, seed
    from wbo_tui.engine.api import Engine
    from wbo_tui.engine.clock import FixedClock

    await migrate.upgrade_async(url)
    # The default (production) hasher: the measured console verifies these hashes.  The
    # clock puts the seed a year back, so the generated history follows it in time.
    engine = await Engine.open(url, clock=FixedClock(seeded_at))
    try:
        await seed.seed(engine, seed.load(DEMO_DATA))
    finally:
        await engine.close()


def _append_bulk(path: Path, records: int, start: datetime, end: datetime, *, log: Any) -> str:
    from wbo_tui.engine.audit import record_hash

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # Bulk load: no WAL (it would grow to the size of the whole load), no fsync.
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB
        seq, prev = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        if seq > records:
            raise ValueError(f"the seed alone wrote {seq} audit records, more than {records}")
        operators = dict(conn.execute("SELECT username, id FROM operators").fetchall())
        last_at = _parse_at(conn.execute("SELECT max(at) FROM audit_log").fetchone()[0])
        history = _History(random.Random(RNG_SEED), operators, max(start, last_at), end, records - seq)
        conn.execute("BEGIN")
        batch: list[tuple[Any, ...]] = []
        for rec in history:
            seq += 1
            digest = record_hash(seq, rec, prev)
            batch.append((
                seq, rec["at"].isoformat(sep=" ", timespec="microseconds")[:26], rec["operator_id"],
                rec["operator"], rec["action"], rec["target_type"], rec["target_id"], rec["before"],
                rec["after"], prev, digest,
            ))
            prev = digest
            if len(batch) >= BATCH_ROWS:
                _insert(conn, batch)
                batch.clear()
                if seq % 200_000 < BATCH_ROWS:
                    log(f"  … {seq:,} records")
        _insert(conn, batch)
        conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
        conn.execute("COMMIT")
        _check_head(conn, records, prev)
        conn.execute("PRAGMA journal_mode = WAL")  # what the engine sets; persistent
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return prev


def _insert(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.executemany(
        "INSERT INTO audit_log (seq, at, operator_id, operator, action, target_type, target_id, "
        "before, after, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def _check_head(conn: sqlite3.Connection, records: int, head_hash: str) -> None:
    """The stored head, the last record and the record count agree with what was written,
    and the last few thousand links re-hash correctly from the stored rows."""
    from wbo_tui.engine.audit import record_hash

    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    count, max_seq = conn.execute("SELECT count(*), max(seq) FROM audit_log").fetchone()
    if head != (records, head_hash) or count != records or max_seq != records:
        raise AssertionError(f"audit head {head}, {count} rows, max seq {max_seq}; expected {records}, {head_hash}")
    rows = conn.execute(
        "SELECT seq, at, operator_id, operator, action, target_type, target_id, before, after, prev_hash, hash "
        "FROM audit_log WHERE seq > ? ORDER BY seq", (max(0, records - 5_000),),
    ).fetchall()
    prev = rows[0][9]
    for seq, at, op_id, op, action, ttype, tid, before, after, prev_hash, digest in rows:
        rec = {"at": _parse_at(at), "operator_id": op_id, "operator": op, "action": action,
               "target_type": ttype, "target_id": tid, "before": before, "after": after}
        if prev_hash != prev or record_hash(seq, rec, prev) != digest:
            raise AssertionError(f"generated audit chain broken at #{seq}")
        prev = digest


def _parse_at(stored: str) -> datetime:
    return datetime.fromisoformat(stored).replace(tzinfo=UTC)


def _valid_meta(path: Path, meta_path: Path, records: int, revision: str) -> dict[str, Any] | None:
    if not path.exists() or not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            stored_revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
            last = conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
            hashes = [row[0] for row in conn.execute("SELECT password_hash FROM operators")]
        finally:
            conn.close()
    except (OSError, ValueError, sqlite3.Error, TypeError):
        return None
    ok = (
        meta.get("records") == records and meta.get("schema_revision") == revision == stored_revision
        and meta.get("generator_version") == GENERATOR_VERSION
        and head == last == (records, meta.get("head_hash"))
        and bool(hashes) and not _hashed_with_other_parameters(hashes)
    )
    return meta if ok else None


def _hashed_with_other_parameters(password_hashes: list[str]) -> bool:
    """True when the production hasher's parameters changed since the cache was built:
    argon2 verifies with the parameters stored in each hash, so the measured login would
    otherwise keep the old cost."""
    from wbo_tui.engine.passwords import default_hasher

    hasher = default_hasher()
    try:
        return any(hasher.check_needs_rehash(h) for h in password_hashes)
    except Exception:  # noqa: BLE001 - an unreadable hash: rebuild
        return True


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# --- the simulated year of console use -----------------------------------------------------

_ROLE_WEIGHTS = {"maker": 30, "checker": 24, "trader": 26, "admin": 10, "viewer": 10}
_CURRENCIES = ["USD", "HKD", "EUR", "JPY", "GBP", "SGD", "BTC", "USDT", "ETH"]
_KINDS = ["fund_allocation", "customer_exchange", "bank_account_change", "permission_request"]
_PERMISSIONS = ["fx.exchange_pnl_inquiry", "atm.funds_alloc_config_operation", "RiskWarningFull",
                "admin.audit_log_inquiry", "fx.reference_rate_inquiry", "atm.company_fund_allocation_inquiry"]
_REJECT_REASONS = ["amount above the desk limit", "wrong settlement account", "duplicate of an earlier request",
                   "client KYC pending", "rate moved; resubmit"]


class _History:
    """Operator sessions over a year: a login, a few actions, usually a logout.

    Makers and traders submit approval items, checkers approve or reject them,
    administrators maintain operators and roles, viewers mostly look.  Times increase
    with the sequence number: short steps inside a session, longer gaps between
    sessions, scaled so the records spread over the whole span.
    """

    def __init__(self, rng: random.Random, operators: dict[str, int], start: datetime, end: datetime,
                 count: int) -> None:
        self.rng, self.operators, self.count = rng, operators, count
        self.start, self.end = start, end
        self.step_us = (end - start) / timedelta(microseconds=1) / max(count, 1)
        self.pending: list[tuple[str, str, str]] = []  # (ref, kind, maker)
        self.roles = [r for r in _ROLE_WEIGHTS if r in operators]
        self.weights = [_ROLE_WEIGHTS[r] for r in self.roles]
        self.serial = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        at_us = 0.0
        span_us = (self.end - self.start) / timedelta(microseconds=1)
        inner = self.step_us / 5  # mean step between records of one session
        made = 0
        while made < self.count:
            session = self._session()
            # A session starts near where an even spread would put its first record, so
            # the whole log covers the span whatever the random draws; inside it the
            # records follow each other at short random steps.
            due = (made + rng.uniform(0, len(session))) * self.step_us
            at_us = max(at_us + rng.expovariate(1 / inner), due)
            for i, rec in enumerate(session):
                if made == self.count:
                    return
                if i:
                    at_us += rng.expovariate(1 / inner)
                at_us = min(at_us, span_us)
                rec["at"] = self.start + timedelta(microseconds=int(at_us))
                made += 1
                yield rec

    def _rec(self, who: str, action: str, target_type: str, target_id: str,
             before: Any = None, after: Any = None) -> dict[str, Any]:
        from wbo_tui.engine.audit import to_json

        return {"operator_id": self.operators.get(who), "operator": who, "action": action,
                "target_type": target_type, "target_id": target_id,
                "before": to_json(before), "after": to_json(after)}

    def _session(self) -> list[dict[str, Any]]:
        rng = self.rng
        who = rng.choices(self.roles, self.weights)[0]
        out: list[dict[str, Any]] = []
        if rng.random() < 0.04:
            out.append(self._rec(who, "operator.login_failed", "operator", who, None, {"failures": 1}))
        if rng.random() < 0.01:
            stranger = rng.choice(["admn", "root", "mei", "trader2", "test"])
            out.append(self._rec("system", "operator.login_failed", "operator", stranger, None,
                                 {"reason": "unknown username"}) | {"operator": stranger, "operator_id": None})
        out.append(self._rec(who, "operator.login", "operator", who))
        for _ in range(min(int(rng.expovariate(1 / 4)) + 1, 30)):
            action = self._action(who)
            if action is not None:
                out.append(action)
        if rng.random() < 0.8:
            out.append(self._rec(who, "operator.logout", "operator", who))
        return out

    def _ref(self) -> str:
        return f"AP-{self.rng.getrandbits(64):016X}"

    def _action(self, who: str) -> dict[str, Any] | None:
        """One audited action, or None for looking around (which is not audited)."""
        rng = self.rng
        if rng.random() < 0.01:
            return self._rec(who, "operator.change_password", "operator", who, None,
                             {"password_changed_at": self.start + timedelta(days=rng.randrange(365))})
        if who in ("maker", "trader"):
            return self._submit(who)
        if who == "checker":
            return self._decide(who) if self.pending else None
        if who == "admin":
            return self._admin(who)
        return self._submit(who) if rng.random() < 0.05 else None

    def _submit(self, who: str) -> dict[str, Any]:
        rng = self.rng
        ref = self._ref()
        kind = "permission_request" if who == "viewer" else rng.choice(_KINDS[:3])
        if kind == "permission_request":
            payload: dict[str, Any] = {"operator_id": self.operators.get(who), "permission_code": rng.choice(_PERMISSIONS),
                                       "reason": "covering for a colleague on leave"}
        else:
            ccy = rng.choice(_CURRENCIES)
            places = 8 if ccy in ("BTC", "ETH") else 0 if ccy == "JPY" else 2
            amount = f"{rng.uniform(100, 2_000_000):.{places}f}"
            self.serial += 1
            payload = {"amount": amount, "currency": ccy, "account": f"CA-{rng.randrange(1, 400):04d}",
                       "client": f"C{rng.randrange(10_000, 99_999)}", "note": f"ticket {self.serial}"}
        self.pending.append((ref, kind, who))
        if len(self.pending) > 500:
            self.pending.pop(0)
        return self._rec(who, "approval.submit", "approval", ref, None, {"kind": kind, "payload": payload})

    def _decide(self, who: str) -> dict[str, Any]:
        rng = self.rng
        ref, _kind, maker = self.pending.pop(rng.randrange(len(self.pending)))
        if rng.random() < 0.85:
            return self._rec(who, "approval.approve", "approval", ref, {"status": "PENDING"},
                             {"status": "APPROVED", "reason": None, "outcome": None, "maker": maker})
        return self._rec(who, "approval.reject", "approval", ref, {"status": "PENDING"},
                         {"status": "REJECTED", "reason": rng.choice(_REJECT_REASONS), "outcome": None, "maker": maker})

    def _admin(self, who: str) -> dict[str, Any]:
        rng = self.rng
        target = rng.choice(list(self.operators))
        roll = rng.random()
        if roll < 0.3 and any(k == "permission_request" for _, k, _ in self.pending):
            i = next(i for i, p in enumerate(self.pending) if p[1] == "permission_request")
            ref, _, maker = self.pending.pop(i)
            return self._rec(who, "approval.approve", "approval", ref, {"status": "PENDING"},
                             {"status": "APPROVED", "reason": None, "outcome": None, "maker": maker})
        if roll < 0.5:
            return self._rec(who, "operator.unlock", "operator", target,
                             {"failed_logins": rng.randrange(1, 5), "locked_until": None},
                             {"failed_logins": 0, "locked_until": None})
        if roll < 0.65:
            return self._rec(who, "operator.reset_password", "operator", target, None,
                             {"password_changed_at": self.start + timedelta(days=rng.randrange(365))})
        if roll < 0.8:
            roles = sorted(rng.sample(["maker", "checker", "trader", "viewer"], rng.randrange(1, 3)))
            return self._rec(who, "operator.set_roles", "operator", target, {"roles": roles[:1]}, {"roles": roles})
        if roll < 0.9:
            perm = rng.choice(_PERMISSIONS)
            return self._rec(who, "role.set_permissions", "role", rng.choice(["maker", "checker", "trader", "viewer"]),
                             None, {"granted": [perm], "revoked": []})
        enabled = rng.random() < 0.5
        return self._rec(who, "operator.enable" if enabled else "operator.disable", "operator", target,
                         {"enabled": not enabled}, {"enabled": enabled})

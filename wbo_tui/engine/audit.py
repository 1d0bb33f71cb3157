"""The append-only, hash-chained audit log.

Each record's hash covers its own fields and the previous record's hash, so editing,
deleting or reordering any record breaks the chain at a point ``verify`` can name.  The
single ``audit_head`` row holds the last sequence number and hash; updating it in every
audited transaction serialises appends (no forks) and lets ``verify`` notice records cut
off the end of the log.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .bulk import insert_many
from .prepared import Prepared
from .schema import audit_head, audit_log

GENESIS_HASH = "0" * 64
# ``text`` as a JSON string literal, exactly as ``json.dumps(text, ensure_ascii=False)``
# writes it: the C function json.dumps itself uses for strings (called directly: it runs
# several times for every audit record).
json_string = json.encoder.encode_basestring


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot audit {type(value).__name__}")


def to_json(value: Any) -> str | None:
    """Canonical JSON: sorted keys, no spaces, exact decimals."""
    if value is None:
        return None
    return _CANONICAL.encode(value)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_encode, ensure_ascii=False)


@dataclass(slots=True)  # not frozen: one per audited change, thousands in a batch
class PendingRecord:
    at: datetime
    operator_id: int | None
    operator: str
    action: str
    target_type: str
    target_id: str
    before: str | None
    after: str | None


def record_hash(seq: int, rec: PendingRecord | dict[str, Any], prev_hash: str) -> str:
    """SHA-256 of the JSON array [seq, at, operator_id, operator, action, target_type,
    target_id, before, after, prev_hash] (compact separators, non-ASCII kept): written out
    piece by piece, which is what ``json.dumps`` of that array produces
    (``tests/engine/test_audit_encoding.py``) at a fraction of the cost — it runs for
    every record written and every record verified."""
    if isinstance(rec, dict):
        at, operator_id, operator, action, target_type, target_id, before, after = (
            rec["at"], rec["operator_id"], rec["operator"], rec["action"], rec["target_type"], rec["target_id"],
            rec["before"], rec["after"])
    else:
        at, operator_id, operator, action, target_type, target_id, before, after = (
            rec.at, rec.operator_id, rec.operator, rec.action, rec.target_type, rec.target_id, rec.before, rec.after)
    body = (f"[{int(seq)},{json_string(at.isoformat(timespec='microseconds'))},"
            f"{'null' if operator_id is None else int(operator_id)},{json_string(operator)},{json_string(action)},"
            f"{json_string(target_type)},{json_string(target_id)},"
            f"{'null' if before is None else json_string(before)},{'null' if after is None else json_string(after)},"
            f"{json_string(prev_hash)}]")
    return hashlib.sha256(body.encode()).hexdigest()


_COLUMNS = ("seq", "at", "operator_id", "operator", "action", "target_type", "target_id", "before", "after",
            "prev_hash", "hash")
_HEAD = Prepared(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1))
_MOVE_HEAD = Prepared(
    update(audit_head).where(audit_head.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))


async def append(conn: AsyncConnection, records: list[PendingRecord], *,
                 sqlite: sqlite3.Connection | None = None) -> None:
    """Append records to the chain inside the caller's write transaction (``sqlite``: the
    unit's driver connection, when inline: see ``prepared``)."""
    if not records:
        return
    head = await _HEAD.one(conn, {}, sqlite=sqlite)
    seq, prev = head.seq, head.hash
    rows = []
    for rec in records:
        seq += 1
        digest = record_hash(seq, rec, prev)
        rows.append((seq, rec.at, rec.operator_id, rec.operator, rec.action, rec.target_type, rec.target_id,
                     rec.before, rec.after, prev, digest))
        prev = digest
    await insert_many(conn, audit_log, _COLUMNS, rows, sqlite=sqlite)
    await _MOVE_HEAD.rows(conn, {"new_seq": seq, "new_hash": prev}, sqlite=sqlite)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    records_checked: int
    first_broken_seq: int | None
    problem: str

    @property
    def sentence(self) -> str:
        if self.ok:
            return f"Audit chain intact: {self.records_checked:,} records verified."
        return f"Audit chain broken at record #{self.first_broken_seq}: {self.problem}"


async def _stream(conn: AsyncConnection, batch: int, upto: int) -> AsyncIterator[dict[str, Any]]:
    last = 0
    cols = [audit_log.c[name] for name in (
        "seq", "at", "operator_id", "operator", "action", "target_type", "target_id",
        "before", "after", "prev_hash", "hash",
    )]
    while True:
        rows = (
            await conn.execute(select(*cols).where(audit_log.c.seq > last, audit_log.c.seq <= upto).order_by(audit_log.c.seq).limit(batch))
        ).mappings().all()
        if not rows:
            return
        for row in rows:
            yield dict(row)
        last = rows[-1]["seq"]


async def verify(conn: AsyncConnection, *, batch: int = 20_000) -> VerifyReport:
    """Walk the chain in sequence order, in pages, and report the first broken link.

    The head is read first and only records up to it are checked, so appends committed
    while verification runs (other consoles keep working) are not mistaken for damage.
    """
    head = (await conn.execute(select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1))).one()
    expected_seq, prev, checked = 1, GENESIS_HASH, 0
    async for row in _stream(conn, batch, head.seq):
        seq = row["seq"]
        if seq != expected_seq:
            missing = f"#{expected_seq}" if seq == expected_seq + 1 else f"#{expected_seq}–#{seq - 1}"
            return VerifyReport(False, checked, expected_seq, f"record {missing} is missing (deleted).")
        if row["prev_hash"] != prev:
            return VerifyReport(
                False, checked, seq, "it does not follow the record before it (records deleted or reordered)."
            )
        if record_hash(seq, row, prev) != row["hash"]:
            return VerifyReport(False, checked, seq, "its contents do not match its hash (the record was altered).")
        prev = row["hash"]
        checked += 1
        expected_seq += 1
    if head.seq != checked or head.hash != prev:
        return VerifyReport(
            False, checked, checked + 1,
            f"the log ends at #{checked} but {head.seq} records were written (records at the end were deleted).",
        )
    return VerifyReport(True, checked, None, "")

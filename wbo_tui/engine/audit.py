"""The append-only, hash-chained audit log.

Each record's hash covers its own fields and the previous record's hash, so editing,
deleting or reordering any record breaks the chain at a point ``verify`` can name.  The
single ``audit_head`` row holds the last sequence number and hash; updating it in every
audited transaction serialises appends (no forks) and lets ``verify`` notice records cut
off the end of the log.

A chain kept only in the database can be rewritten whole by whoever can write the
database, so it is anchored outside it (``audit_anchor``): each record's hash is an
HMAC-SHA256 under a key the database never holds (the record's ``key_id`` names the key,
NULL for plain SHA-256 records written before a key was configured), and the head is
copied now and then to an append-only anchor file that ``verify`` checks the log against.
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

from .audit_anchor import Anchor, AnchorFile
from .audit_guards import guard_problems
from .bulk import insert_many
from .errors import WboError
from .prepared import Prepared
from .schema import audit_head, audit_log

GENESIS_HASH = "0" * 64
# ``text`` as a JSON string literal, exactly as ``json.dumps(text, ensure_ascii=False)``
# writes it: the C function json.dumps itself uses for strings (called directly: it runs
# several times for every audit record).
json_string = json.encoder.encode_basestring
KEY_SETTING = "WBO_AUDIT_KEY_FILE"


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


class AuditKeyMismatch(WboError):
    """This console's audit key (or its lack of one) is not the key the chain is kept under."""


class AuditKey:
    """HMAC-SHA256 (RFC 2104) under the chain's secret key.

    The inner and outer hash states are computed once per key and copied per record:
    ``hmac.new`` per record costs three times a plain SHA-256 of it, the copies a third
    more, and this runs for every record written (``bench allocate``)."""

    __slots__ = ("_inner", "_outer", "key_id")

    def __init__(self, secret: bytes) -> None:
        block = hashlib.sha256(secret).digest() if len(secret) > 64 else secret
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
        # What records and anchors store to say which key made them; reveals nothing of it.
        self.key_id = self.hexdigest(b"wbo audit key id")[:16]

    def hexdigest(self, body: bytes) -> str:
        inner = self._inner.copy()
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


_KEYS: dict[bytes, AuditKey] = {}


def audit_key(secret: bytes) -> AuditKey:
    """The ``AuditKey`` of ``secret``, built once per process (``Services`` holds bytes)."""
    found = _KEYS.get(secret)
    if found is None:
        found = _KEYS[secret] = AuditKey(secret)
    return found


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


def record_hash(seq: int, rec: PendingRecord | dict[str, Any], prev_hash: str, key: AuditKey | None = None) -> str:
    """SHA-256 (with ``key``: HMAC-SHA256) of the JSON array [seq, at, operator_id,
    operator, action, target_type, target_id, before, after, prev_hash] (compact
    separators, non-ASCII kept): written out piece by piece, which is what ``json.dumps``
    of that array produces (``tests/engine/test_audit_encoding.py``) at a fraction of the
    cost — it runs for every record written and every record verified."""
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
            f"{json_string(prev_hash)}]").encode()
    return hashlib.sha256(body).hexdigest() if key is None else key.hexdigest(body)


_COLUMNS = ("seq", "at", "operator_id", "operator", "action", "target_type", "target_id", "before", "after",
            "prev_hash", "hash", "key_id")
_HEAD = Prepared(select(audit_head.c.seq, audit_head.c.hash, audit_head.c.key_id).where(audit_head.c.id == 1))
_MOVE_HEAD = Prepared(
    update(audit_head).where(audit_head.c.id == 1)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"), key_id=bindparam("new_key_id")))


async def append(conn: AsyncConnection, records: list[PendingRecord], *,
                 sqlite: sqlite3.Connection | None = None, key: bytes | None = None) -> None:
    """Append records to the chain inside the caller's write transaction (``sqlite``: the
    unit's driver connection, when inline: see ``prepared``), HMAC-keyed under ``key``.

    A chain once keyed stays keyed under that key: a console without it (or with another)
    is refused rather than allowed to write records nobody could verify."""
    if not records:
        return
    keyed = None if key is None else audit_key(key)
    key_id = None if keyed is None else keyed.key_id
    head = await _HEAD.one(conn, {}, sqlite=sqlite)
    if head.key_id is not None and head.key_id != key_id:
        raise AuditKeyMismatch(mismatch_sentence(head.key_id, key_id))
    seq, prev = head.seq, head.hash
    rows = []
    for rec in records:
        seq += 1
        digest = record_hash(seq, rec, prev, keyed)
        rows.append((seq, rec.at, rec.operator_id, rec.operator, rec.action, rec.target_type, rec.target_id,
                     rec.before, rec.after, prev, digest, key_id))
        prev = digest
    await insert_many(conn, audit_log, _COLUMNS, rows, sqlite=sqlite)
    await _MOVE_HEAD.rows(conn, {"new_seq": seq, "new_hash": prev, "new_key_id": key_id}, sqlite=sqlite)


def mismatch_sentence(chain_key_id: str, key_id: str | None) -> str:
    if key_id is None:
        return (f"The audit chain is kept under a key (key id {chain_key_id}) and this console has none: "
                f"set {KEY_SETTING} to the installation's key file.")
    return (f"The audit chain is kept under another key (key id {chain_key_id}) than this console's "
            f"({key_id}): set {KEY_SETTING} to the installation's key file.")


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    records_checked: int
    first_broken_seq: int | None
    problem: str
    notes: tuple[str, ...] = ()
    """What the result does not cover (no key, no anchor file, records older than the key)."""
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    head_key_id: str | None = None
    anchors_checked: int = 0
    title: str = "Audit chain not verified"
    """The sentence's start when the problem is not one record (triggers, anchor file)."""

    @property
    def sentence(self) -> str:
        if self.ok:
            return f"Audit chain intact: {self.records_checked:,} records verified."
        if self.first_broken_seq is None:
            return f"{self.title}: {self.problem}"
        return f"Audit chain broken at record #{self.first_broken_seq}: {self.problem}"


async def _stream(conn: AsyncConnection, batch: int, upto: int) -> AsyncIterator[dict[str, Any]]:
    last = 0
    cols = [audit_log.c[name] for name in _COLUMNS]
    while True:
        rows = (
            await conn.execute(select(*cols).where(audit_log.c.seq > last, audit_log.c.seq <= upto).order_by(audit_log.c.seq).limit(batch))
        ).mappings().all()
        if not rows:
            return
        for row in rows:
            yield dict(row)
        last = rows[-1]["seq"]


async def verify(conn: AsyncConnection, *, key: bytes | None = None, anchors: AnchorFile | None = None,
                 batch: int = 20_000) -> VerifyReport:
    """Walk the chain in sequence order, in pages, and report the first broken link; then
    compare the head with the anchors and check the append-only triggers.

    Anchors are read (by the caller) before the head, and the head before the records;
    only records up to it are checked, so appends and anchors written by other consoles
    while verification runs are not mistaken for damage."""
    keyed = None if key is None else audit_key(key)
    anchored, conflicts = anchors.by_seq() if anchors is not None else ({}, {})
    head = (await conn.execute(select(audit_head.c.seq, audit_head.c.hash, audit_head.c.key_id)
                               .where(audit_head.c.id == 1))).one()
    walk = _Walk(keyed, anchored, conflicts)
    async for row in _stream(conn, batch, head.seq):
        broken = walk.step(row)
        if broken is not None:
            return walk.report(False, *broken, head)
    if head.seq != walk.checked or head.hash != walk.prev:
        return walk.report(False, walk.checked + 1,
                           f"the log ends at #{walk.checked} but {head.seq} records were written "
                           "(records at the end were deleted).", head)
    beyond = [a for a in anchored.values() if a.seq > head.seq]
    if beyond:
        last = max(beyond, key=lambda a: a.seq)
        return walk.report(False, head.seq + 1,
                           f"the log ends at #{head.seq} but the anchor written {last.at} ({last.where}) records "
                           f"#{last.seq} (records at the end were deleted and the head moved back).", head)
    if anchors is not None and anchors.bad_lines:
        return walk.report(False, None, f"{anchors.path} line {anchors.bad_lines[0]} is not an anchor "
                           "(the anchor file was edited or damaged).", head, title="Audit anchors damaged")
    for problem in await guard_problems(conn):
        return walk.report(False, None, problem, head, title="Audit log unprotected")
    if walk.unchecked:
        return walk.report(False, None, f"{walk.unchecked:,} records are keyed (key id {head.key_id}) and no key "
                           f"is configured to check them: set {KEY_SETTING}.", head)
    return walk.report(True, None, "", head, notes=_notes(walk, keyed, anchors, head.seq))


class _Walk:
    """The state of one verification walk; ``step`` checks one record against it."""

    def __init__(self, keyed: AuditKey | None, anchored: dict[int, Anchor], conflicts: dict[int, Anchor]) -> None:
        self.keyed, self.anchored, self.conflicts = keyed, anchored, conflicts
        self.checked, self.prev, self.prev_keyed = 0, GENESIS_HASH, False
        self.keyed_from: int | None = None
        self.unchecked = 0
        self.anchors_checked = 0

    def step(self, row: dict[str, Any]) -> tuple[int, str] | None:
        """None when ``row`` is sound, else (the broken record's seq, what is wrong)."""
        seq, expected = row["seq"], self.checked + 1
        if seq != expected:
            missing = f"#{expected}" if seq == expected + 1 else f"#{expected}–#{seq - 1}"
            return expected, f"record {missing} is missing (deleted)."
        problem = self._check(seq, row)
        return None if problem is None else (seq, problem)

    def _check(self, seq: int, row: dict[str, Any]) -> str | None:
        row_key = row["key_id"]
        if row_key is None and self.keyed_from is not None:
            return ("it is not keyed although the records before it are (the log was rewritten from here "
                    "without the key).")
        if row["prev_hash"] != self.prev:
            # A keyed record cannot be re-hashed without the key; a plain one can, and then
            # it is its successor whose link breaks.
            maybe = "" if self.prev_keyed or seq == 1 else (
                f"; or record #{seq - 1}, which is not keyed, was altered and its hash recomputed")
            return f"it does not follow the record before it (records deleted or reordered{maybe})."
        if row_key is None:
            digest: str | None = record_hash(seq, row, self.prev)
        elif self.keyed is None:
            digest, self.unchecked = None, self.unchecked + 1
        elif row_key != self.keyed.key_id:
            return f"it was keyed with another key (key id {row_key}) than the configured one ({self.keyed.key_id})."
        else:
            digest = record_hash(seq, row, self.prev, self.keyed)
        if digest is not None and digest != row["hash"]:
            return "its contents do not match its hash (the record was altered)."
        anchor = self.anchored.get(seq)
        if anchor is not None:
            other = self.conflicts.get(seq)
            if other is not None:
                return f"the anchors at {anchor.where} and {other.where} disagree about its hash."
            if anchor.hash != row["hash"]:
                return (f"its hash differs from the one anchored {anchor.at} ({anchor.where}): the log was "
                        "rewritten up to here.")
            self.anchors_checked += 1
        if row_key is not None and self.keyed_from is None:
            self.keyed_from = seq
        self.prev, self.prev_keyed = row["hash"], row_key is not None
        self.checked += 1
        return None

    def report(self, ok: bool, seq: int | None, problem: str, head: Any, *, title: str = "Audit chain not verified",
               notes: tuple[str, ...] = ()) -> VerifyReport:
        return VerifyReport(ok, self.checked, seq, problem, notes, head.seq, head.hash, head.key_id,
                            self.anchors_checked, title)


def _notes(walk: _Walk, keyed: AuditKey | None, anchors: AnchorFile | None, head_seq: int) -> tuple[str, ...]:
    notes = []
    if keyed is None:
        notes.append(f"Unanchored: no audit key is configured ({KEY_SETTING}), so anyone who can write the "
                     "database can rewrite the chain and recompute every hash undetected.")
    elif walk.keyed_from is None and head_seq:
        notes.append("No record is keyed yet: the next record this console writes starts the keyed chain.")
    if walk.keyed_from is not None and walk.keyed_from > 1:
        notes.append(f"Records #1–#{walk.keyed_from - 1} were written before the key: a change to them is "
                     f"detected (record #{walk.keyed_from} seals their hashes) but cannot be pinned to one record.")
    if anchors is None:
        notes.append("No anchor file is configured (WBO_AUDIT_ANCHOR_FILE), so records cut off the end of the "
                     "log go unnoticed.")
    elif not anchors.anchors and head_seq:
        notes.append(f"The anchor file {anchors.path} holds no anchor yet.")
    return tuple(notes)

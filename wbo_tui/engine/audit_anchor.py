"""What anchors the audit chain outside the database: the key file and the anchor file.

- The key file holds the chain's HMAC key (64 hex digits).  Only the console's service
  account can read it and the database never holds it, so someone who can write the
  database but not read the key cannot make an edited record's hash match again.
- The anchor file receives the chain's head (sequence number and hash), one JSON line per
  anchor, opened with ``O_APPEND`` so writers never overwrite each other: every console
  writes one every ``WBO_AUDIT_ANCHOR_INTERVAL_S`` and at its clean shutdown, and
  ``wbo-tui audit verify`` writes one after a successful walk.  A log cut short (its head
  moved back) no longer reaches the anchored sequence numbers; a log rewritten with the
  key no longer has the anchored hashes.

Neither protects against someone who can also write these files: they belong to the
service account, as the README's deployment sections set up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from .clock import Seconds
from .errors import WboError
from .schema import audit_head

log = logging.getLogger(__name__)

KEY_BYTES = 32
_HASH = re.compile(r"[0-9a-f]{64}")


class AuditKeyFileError(WboError):
    """The configured key file is missing, unreadable, open to everyone, or not a key."""


def new_key_file(path: Path) -> bytes:
    """Create ``path`` holding a new random key, readable by its owner only (0600).

    Refuses to replace an existing file: records written under a lost key can no longer
    be checked, so a key is made once per installation and kept (and backed up)."""
    secret = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secret.hex() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return secret


def load_key(path: Path) -> bytes:
    """The key in ``path``; a key file every account can read is refused outright, as ssh
    refuses such a private key (``wbo-tui doctor`` also flags group access)."""
    try:
        mode = path.stat().st_mode
        raw = path.read_text(encoding="ascii", errors="replace")
    except OSError as error:
        raise AuditKeyFileError(f"The audit key file {path} cannot be read ({error.strerror}).") from error
    if mode & stat.S_IRWXO:
        raise AuditKeyFileError(f"The audit key file {path} is open to every account on this host "
                                f"(mode {stat.S_IMODE(mode):04o}): chmod 600 {path}.")
    try:
        secret = bytes.fromhex(raw.strip())
    except ValueError:
        secret = b""
    if len(secret) < KEY_BYTES:
        raise AuditKeyFileError(f"The audit key file {path} does not hold a key (64 hex digits; "
                                "wbo-tui audit new-key FILE makes one).")
    return secret


# --- the anchor file -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Anchor:
    seq: int
    hash: str
    key_id: str | None
    at: str
    """When it was written (ISO 8601, UTC)."""
    by: str
    """The writing process (host:pid)."""
    reason: str
    """periodic, shutdown or verify."""
    path: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        return f"{self.path} line {self.line}"

    def to_line(self) -> str:
        return json.dumps({"at": self.at, "by": self.by, "hash": self.hash, "key_id": self.key_id,
                           "reason": self.reason, "seq": self.seq}, sort_keys=True, separators=(",", ":")) + "\n"


@dataclass(frozen=True, slots=True)
class AnchorFile:
    path: Path
    anchors: tuple[Anchor, ...]
    bad_lines: tuple[int, ...]
    """Line numbers that are not anchors: the file was edited, or a write was torn."""
    exists: bool

    def by_seq(self) -> tuple[dict[int, Anchor], dict[int, Anchor]]:
        """Each anchored sequence number's first anchor, and for those that two anchors
        disagree about, the first one that disagrees.  Sequence number 0 (the empty log)
        anchors nothing."""
        first: dict[int, Anchor] = {}
        conflicts: dict[int, Anchor] = {}
        for anchor in self.anchors:
            if anchor.seq == 0:
                continue
            seen = first.setdefault(anchor.seq, anchor)
            if seen.hash != anchor.hash and anchor.seq not in conflicts:
                conflicts[anchor.seq] = anchor
        return first, conflicts

    @property
    def latest(self) -> Anchor | None:
        return max(self.anchors, key=lambda a: a.seq, default=None)


def read_anchors(path: Path) -> AnchorFile:
    """Every anchor in ``path`` (none, ``exists`` False, when there is no such file)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return AnchorFile(path, (), (), False)
    anchors: list[Anchor] = []
    bad: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        anchor = _parse(line, str(path), number)
        if anchor is None:
            bad.append(number)
        else:
            anchors.append(anchor)
    return AnchorFile(path, tuple(anchors), tuple(bad), True)


def _parse(line: str, path: str, number: int) -> Anchor | None:
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict):
        return None
    seq, digest, key_id = raw.get("seq"), raw.get("hash"), raw.get("key_id")
    texts = [raw.get(name) for name in ("at", "by", "reason")]
    if (type(seq) is not int or seq < 0 or not isinstance(digest, str) or not _HASH.fullmatch(digest)
            or not (key_id is None or isinstance(key_id, str)) or not all(isinstance(t, str) for t in texts)):
        return None
    return Anchor(seq, digest, key_id, texts[0], texts[1], texts[2], path, number)


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append one anchor line and flush it to disk.  Blocking: call it off the event loop.

    One ``write`` of one short line on an ``O_APPEND`` descriptor: consoles writing at the
    same moment each add a whole line and never overwrite one another."""
    data = anchor.to_line().encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to the anchor file {path} ({written} of {len(data)} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)


async def current_head(db: Any) -> Any:
    """The chain's head (seq, hash, key_id) as committed, read outside any write."""
    async with db.connect() as conn:
        return (await conn.execute(select(audit_head.c.seq, audit_head.c.hash, audit_head.c.key_id)
                                   .where(audit_head.c.id == 1))).one()


class AnchorKeeper:
    """Writes the chain's head to the anchor file every ``interval_s`` while a console
    runs, and once more at ``aclose`` (its clean shutdown).

    Not on every commit: an anchor per ``interval_s`` bounds what a truncation can remove
    unnoticed to that interval's records.  The line is written on a worker thread: an
    fsync can take longer than a frame, and the console must keep drawing."""

    def __init__(self, engine: Any, path: Path, *, interval_s: Seconds) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.engine = engine
        self.path = path
        self.interval_s = interval_s
        self.last: Anchor | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start writing periodic anchors on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-anchors")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.write_now("periodic")
            except Exception:  # noqa: BLE001 - a failed anchor must not stop the next ones
                log.exception("Could not write the audit anchor to %s", self.path)

    async def write_now(self, reason: str) -> Anchor | None:
        """Anchor the current head; a periodic anchor is skipped when the head has not
        moved since this keeper's last one (None then)."""
        head = await self.engine.call(current_head, self.engine.db)  # on the engine's loop
        if reason == "periodic" and self.last is not None and self.last.seq == head.seq:
            return None
        anchor = Anchor(head.seq, head.hash, head.key_id, self.engine.clock.now().isoformat(), self.engine.holder,
                        reason)
        await asyncio.to_thread(append_anchor, self.path, anchor)
        self.last = anchor
        return anchor

    async def aclose(self) -> None:
        """Stop the periodic anchors and write the shutdown anchor (before the engine closes)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        try:
            await self.write_now("shutdown")
        except Exception:  # noqa: BLE001 - shutting down goes on; the log says why
            log.exception("Could not write the shutdown audit anchor to %s", self.path)

"""The audit chain anchored outside the database (issue 9, point 6): each record's hash is
an HMAC under a key the database never holds, the head is copied to an append-only anchor
file, and verify checks both and the append-only triggers.  Each attack the acceptance
run tried, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import audit_workers
import pytest
from audit_support import (
    EDITED,
    PG_GUARDS,
    SQLITE_GUARDS,
    audit_rows,
    busy_log,
    drop_guards,
    restore_guards,
    rewrite_chain,
    verify_chain,
)
from alembic import command
from engine_support import DEMO_DATA, audit_head_row, execute_raw, login, run_in_thread
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from wbo_tui.engine import Engine, FixedClock, SequentialIds, migrate, seed
from wbo_tui.engine.audit import AuditKey, AuditKeyMismatch, audit_key
from wbo_tui.engine.audit_anchor import (
    Anchor,
    AnchorKeeper,
    AuditKeyFileError,
    append_anchor,
    load_key,
    new_key_file,
    read_anchors,
)
from wbo_tui.engine.db import create_engine
from wbo_tui.engine.passwords import fast_hasher


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit.key"
    new_key_file(path)
    return path


@pytest.fixture
def anchor_file(tmp_path: Path) -> Path:
    return tmp_path / "audit-anchors.jsonl"


async def _open(db_url: str, key: bytes | None, clock: FixedClock | None = None) -> Engine:
    return await Engine.open(db_url, clock=clock, ids=SequentialIds(), hasher=fast_hasher(), audit_key=key)


@pytest.fixture
async def keyed(db_url: str, clock: FixedClock, key_file: Path) -> AsyncIterator[Engine]:
    """A demo installation whose chain is keyed from its first record."""
    engine = await _open(db_url, load_key(key_file), clock)
    try:
        await seed.seed(engine, seed.load(DEMO_DATA))
        yield engine
    finally:
        await engine.close()


# --- a keyed chain ------------------------------------------------------------------------


async def test_a_keyed_chain_verifies_under_its_key_only(keyed: Engine, key_file: Path, tmp_path: Path) -> None:
    head = await busy_log(keyed)
    key = load_key(key_file)
    rows = await audit_rows(keyed)
    assert {r["key_id"] for r in rows} == {audit_key(key).key_id}
    report = await verify_chain(keyed, key)
    assert report.ok and report.records_checked == head, report.sentence
    assert report.head_key_id == audit_key(key).key_id

    other = new_key_file(tmp_path / "other.key")
    wrong = await verify_chain(keyed, other)
    assert (wrong.ok, wrong.first_broken_seq) == (False, 1)
    assert "another key" in wrong.sentence
    keyless = await verify_chain(keyed)
    assert not keyless.ok
    assert f"{head:,} records are keyed" in keyless.sentence and "WBO_AUDIT_KEY_FILE" in keyless.sentence


async def test_a_console_without_the_key_cannot_write_to_a_keyed_chain(
        keyed: Engine, db_url: str, tmp_path: Path) -> None:
    head = await audit_head_row(keyed)
    for key in (None, new_key_file(tmp_path / "other.key")):
        stranger = await _open(db_url, key)
        try:
            with pytest.raises(AuditKeyMismatch, match="WBO_AUDIT_KEY_FILE"):
                await login(stranger, "admin")
        finally:
            await stranger.close()
    assert await audit_head_row(keyed) == head


# --- the attacks of the acceptance run ------------------------------------------------------


async def test_truncating_the_tail_and_moving_the_head_back_fails_on_the_anchor(
        keyed: Engine, key_file: Path, anchor_file: Path, is_pg: bool) -> None:
    key = load_key(key_file)
    head = await busy_log(keyed)
    assert (await AnchorKeeper(keyed, anchor_file, interval_s=60).write_now("periodic")).seq == head
    kept = head - 3
    guards = await drop_guards(keyed, is_pg)
    await execute_raw(keyed, "DELETE FROM audit_log WHERE seq > :s", s=kept)
    last = (await audit_rows(keyed, kept))[0]
    await execute_raw(keyed, "UPDATE audit_head SET seq = :s, hash = :h", s=kept, h=last["hash"])
    await restore_guards(keyed, guards)

    # The chain in the database alone is consistent again: the key cannot tell.
    assert (await verify_chain(keyed, key)).ok
    report = await verify_chain(keyed, key, anchor_file)
    assert not report.ok
    assert report.first_broken_seq == kept + 1
    assert f"the log ends at #{kept}" in report.sentence
    assert f"{anchor_file} line 1" in report.sentence and f"records #{head}" in report.sentence
    assert "deleted" in report.sentence


@pytest.mark.parametrize("attacker", ["sha256-keeping-key-ids", "sha256-as-unkeyed", "a-guessed-key"])
async def test_recomputing_every_hash_after_an_edit_names_the_edited_record(
        keyed: Engine, key_file: Path, is_pg: bool, attacker: str) -> None:
    await busy_log(keyed)
    guards = await drop_guards(keyed, is_pg)
    rows = await audit_rows(keyed, EDITED)
    rows[0]["after"] = '{"display_name":"Someone Else"}'
    guessed = None
    if attacker == "sha256-as-unkeyed":
        for row in rows:
            row["key_id"] = None
    elif attacker == "a-guessed-key":
        guessed = AuditKey(b"\x00" * 32)
        for row in rows:
            row["key_id"] = guessed.key_id
    await rewrite_chain(keyed, rows, guessed)
    await restore_guards(keyed, guards)

    report = await verify_chain(keyed, load_key(key_file))
    assert not report.ok
    assert report.first_broken_seq == EDITED, report.sentence
    expected = {"sha256-keeping-key-ids": "altered", "sha256-as-unkeyed": "not keyed",
                "a-guessed-key": "another key"}[attacker]
    assert expected in report.sentence


async def test_rehashing_one_record_blames_that_record_not_the_next(
        keyed: Engine, key_file: Path, is_pg: bool) -> None:
    await busy_log(keyed)
    await drop_guards(keyed, is_pg)
    row = (await audit_rows(keyed, EDITED))[0]
    row["operator"] = "checker"
    await rewrite_chain(keyed, [row], None, move_head=False)
    report = await verify_chain(keyed, load_key(key_file))
    assert report.first_broken_seq == EDITED
    assert f"broken at record #{EDITED}:" in report.sentence and "altered" in report.sentence


async def test_a_rewrite_with_the_key_itself_fails_on_the_anchored_hash(
        keyed: Engine, key_file: Path, anchor_file: Path, is_pg: bool) -> None:
    """Someone holding the key and the database (not the anchor file): the anchor still
    holds the hash the rewritten record had."""
    key = load_key(key_file)
    await busy_log(keyed)
    anchor = await AnchorKeeper(keyed, anchor_file, interval_s=60).write_now("periodic")
    guards = await drop_guards(keyed, is_pg)
    rows = await audit_rows(keyed, EDITED)
    rows[0]["after"] = '{"display_name":"Someone Else"}'
    await rewrite_chain(keyed, rows, audit_key(key))
    await restore_guards(keyed, guards)
    assert (await verify_chain(keyed, key)).ok
    report = await verify_chain(keyed, key, anchor_file)
    assert report.first_broken_seq == anchor.seq
    assert f"differs from the one anchored {anchor.at} ({anchor_file} line 1)" in report.sentence


async def test_stripping_every_key_and_recomputing_fails_on_the_anchor(
        keyed: Engine, key_file: Path, anchor_file: Path, is_pg: bool) -> None:
    """The whole chain rewritten as if it had never been keyed: with the database alone
    it looks like an installation from before the key; the anchor says otherwise.  (No
    record is left that could point at the edited one: every hash was recomputed.)"""
    key = load_key(key_file)
    await busy_log(keyed)
    anchor = await AnchorKeeper(keyed, anchor_file, interval_s=60).write_now("periodic")
    guards = await drop_guards(keyed, is_pg)
    rows = await audit_rows(keyed)
    rows[EDITED - 1]["after"] = '{"display_name":"Someone Else"}'
    for row in rows:
        row["key_id"] = None
    await rewrite_chain(keyed, rows, None)
    await restore_guards(keyed, guards)
    assert (await verify_chain(keyed, key)).ok
    report = await verify_chain(keyed, key, anchor_file)
    assert report.first_broken_seq == anchor.seq
    assert f"differs from the one anchored {anchor.at}" in report.sentence


# --- records written before the key --------------------------------------------------------


async def test_an_unkeyed_chain_turns_keyed_and_its_older_records_stay_sealed(
        engine: Engine, db_url: str, key_file: Path, is_pg: bool) -> None:
    """The conftest engine has no key: its records are plain SHA-256.  A console with a
    key keys the chain from its first record on; the older ones are sealed by it."""
    key = load_key(key_file)
    await login(engine, "admin")
    unkeyed, _ = await audit_head_row(engine)
    console = await _open(db_url, key)
    try:
        await login(console, "maker")
        await login(console, "checker")
    finally:
        await console.close()
    rows = await audit_rows(engine)
    assert [r["key_id"] is None for r in rows] == [True] * unkeyed + [False] * (len(rows) - unkeyed)
    report = await verify_chain(engine, key)
    assert report.ok, report.sentence
    assert any(f"Records #1–#{unkeyed} were written before the key" in note for note in report.notes)

    await drop_guards(engine, is_pg)
    older = [r for r in rows if r["seq"] >= 3 and r["key_id"] is None]
    older[0]["operator"] = "checker"
    await rewrite_chain(engine, older, None, move_head=False)  # re-hashed up to the last unkeyed record
    broken = await verify_chain(engine, key)
    assert broken.first_broken_seq == unkeyed + 1
    assert "does not follow the record before it" in broken.sentence
    assert f"record #{unkeyed}, which is not keyed, was altered" in broken.sentence


# --- the anchor file -------------------------------------------------------------------------


async def test_the_keeper_anchors_periodically_when_the_head_moves_and_at_shutdown(
        keyed: Engine, anchor_file: Path) -> None:
    keeper = AnchorKeeper(keyed, anchor_file, interval_s=0.01)
    keeper.start()
    for _ in range(1000):  # until the loop has written one (bounded; no timing asserted)
        if read_anchors(anchor_file).anchors:
            break
        await login(keyed, "viewer")
    await keeper.aclose()
    anchors = read_anchors(anchor_file)
    assert anchors.bad_lines == () and len(anchors.anchors) >= 2
    assert anchors.anchors[0].reason == "periodic" and anchors.anchors[-1].reason == "shutdown"
    head, head_hash = await audit_head_row(keyed)
    assert (anchors.anchors[-1].seq, anchors.anchors[-1].hash) == (head, head_hash)
    assert {a.by for a in anchors.anchors} == {keyed.holder}
    assert stat.S_IMODE(anchor_file.stat().st_mode) == 0o600

    again = AnchorKeeper(keyed, anchor_file, interval_s=60)
    assert await again.write_now("periodic") is not None
    assert await again.write_now("periodic") is None  # the head has not moved
    await login(keyed, "viewer")
    assert (await again.write_now("periodic")).seq == head + 1


async def test_an_edited_anchor_file_fails_verification(keyed: Engine, key_file: Path, anchor_file: Path) -> None:
    anchor = await AnchorKeeper(keyed, anchor_file, interval_s=60).write_now("verify")
    with anchor_file.open("a") as out:
        out.write('{"seq": "many"}\n')
    report = await verify_chain(keyed, load_key(key_file), anchor_file)
    assert not report.ok
    assert report.sentence == (f"Audit anchors damaged: {anchor_file} line 2 is not an anchor "
                               "(the anchor file was edited or damaged).")
    forged = anchor.to_line().replace(anchor.hash, "f" * 64)
    anchor_file.write_text(anchor.to_line() + forged)
    disagree = await verify_chain(keyed, load_key(key_file), anchor_file)
    assert disagree.first_broken_seq == anchor.seq and "disagree" in disagree.sentence


@pytest.mark.slow
async def test_three_consoles_anchor_into_one_file_while_writing(
        keyed: Engine, db_url: str, key_file: Path, anchor_file: Path) -> None:
    """Consoles append their anchors to one file at once (O_APPEND, one write each): every
    line is whole, and every anchor matches the chain they were writing together."""
    consoles, rounds = 3, 15
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    processes = [ctx.Process(target=audit_workers.anchor_while_working,
                             args=(db_url, load_key(key_file), str(anchor_file), rounds, results), daemon=True)
                 for _ in range(consoles)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=180) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert outcomes == [("ok", rounds)] * consoles, outcomes
    anchors = read_anchors(anchor_file)
    assert anchors.bad_lines == () and len(anchors.anchors) == consoles * rounds
    assert len({a.by for a in anchors.anchors}) == consoles
    report = await verify_chain(keyed, load_key(key_file), anchor_file)
    assert report.ok, report.sentence
    assert report.anchors_checked == len({a.seq for a in anchors.anchors})


def test_an_anchor_line_round_trips_and_is_one_json_object(tmp_path: Path) -> None:
    path = tmp_path / "anchors.jsonl"
    written = Anchor(12, "a" * 64, "0123456789abcdef", "2026-11-20T09:30:00+00:00", "host:1", "verify")
    append_anchor(path, written)
    append_anchor(path, written)
    assert json.loads(path.read_text().splitlines()[0])["seq"] == 12
    read = read_anchors(path)
    assert [(a.seq, a.hash, a.key_id, a.line) for a in read.anchors] == [(12, "a" * 64, "0123456789abcdef", 1),
                                                                         (12, "a" * 64, "0123456789abcdef", 2)]


def test_a_key_file_open_to_everyone_or_not_a_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    secret = new_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and load_key(path) == secret
    with pytest.raises(FileExistsError):
        new_key_file(path)
    path.chmod(0o604)
    with pytest.raises(AuditKeyFileError, match="open to every account.*chmod 600"):
        load_key(path)
    path.chmod(0o600)
    path.write_text("not hex\n")
    with pytest.raises(AuditKeyFileError, match="does not hold a key"):
        load_key(path)
    with pytest.raises(AuditKeyFileError, match="cannot be read"):
        load_key(tmp_path / "missing.key")


@settings(max_examples=60, deadline=None)
@given(secret=st.binary(min_size=1, max_size=100), body=st.binary(max_size=300))
def test_audit_key_is_hmac_sha256(secret: bytes, body: bytes) -> None:
    assert AuditKey(secret).hexdigest(body) == hmac.new(secret, body, hashlib.sha256).hexdigest()


async def _guards_and_columns(url: str) -> tuple[set[str], set[str]]:
    db = create_engine(url)
    try:
        async with db.connect() as conn:
            if conn.dialect.name == "postgresql":
                found = await conn.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
            else:
                found = await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            columns = await conn.run_sync(lambda sync: {c["name"] for c in inspect(sync).get_columns("audit_log")})
            return {r[0] for r in found}, columns
    finally:
        await db.dispose()


async def test_migration_0008_adds_the_guards_and_its_downgrade_keeps_those_of_0001(blank_url: str) -> None:
    is_pg = blank_url.startswith("postgresql")
    guards = set(PG_GUARDS if is_pg else SQLITE_GUARDS)
    original = {"audit_log_append_only"} if is_pg else {"audit_log_no_update", "audit_log_no_delete"}
    run_in_thread(migrate.upgrade, blank_url)
    triggers, columns = await _guards_and_columns(blank_url)
    assert guards <= triggers and "key_id" in columns
    run_in_thread(command.downgrade, migrate.alembic_config(blank_url), "0007_pass_errors")
    triggers, columns = await _guards_and_columns(blank_url)
    assert triggers & guards == original and "key_id" not in columns  # SQLite did not rebuild audit_log
    run_in_thread(migrate.upgrade, blank_url)
    assert guards <= (await _guards_and_columns(blank_url))[0]

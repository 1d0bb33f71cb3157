"""The wbo-tui command as an operator or installer uses it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from wbo_tui.cli import app
from wbo_tui.engine import SCHEMA_REVISION

runner = CliRunner()


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_console_refuses_an_unmigrated_database_and_names_the_fix(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--db", _url(tmp_path)])
    assert result.exit_code == 1
    assert "has no WBO schema" in result.output
    assert f"wbo-tui db upgrade --db {_url(tmp_path)}" in result.output
    assert "Traceback" not in result.output


def test_upgrade_then_status_is_current(tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "status", "--db", _url(tmp_path)]).exit_code == 1
    up = runner.invoke(app, ["db", "upgrade", "--db", _url(tmp_path)])
    assert up.exit_code == 0, up.output
    status = runner.invoke(app, ["db", "status", "--db", _url(tmp_path)])
    assert status.exit_code == 0
    assert SCHEMA_REVISION in status.output


def test_seed_then_audit_verify_and_tamper_detection(tmp_path: Path) -> None:
    url = _url(tmp_path)
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    seeded = runner.invoke(app, ["seed", "--db", url])
    assert seeded.exit_code == 0, seeded.output
    ok = runner.invoke(app, ["audit", "verify", "--db", url])
    assert ok.exit_code == 0
    assert "Audit chain intact: 11 records verified." in ok.output  # 5 roles + 6 operators
    assert "Unanchored: no audit key is configured (WBO_AUDIT_KEY_FILE)" in ok.output
    assert "No anchor file is configured (WBO_AUDIT_ANCHOR_FILE)" in ok.output

    with sqlite3.connect(tmp_path / "cli.db") as db:
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET after = '{\"display_name\":\"Mallory\"}' WHERE seq = 7")
    broken = runner.invoke(app, ["audit", "verify", "--db", url])
    assert broken.exit_code == 1
    assert "broken at record #7" in broken.output


def test_create_admin_prompts_for_password_and_validates_it(tmp_path: Path) -> None:
    url = _url(tmp_path)
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    # getpass reads the terminal; run in a subprocess whose stdin is a pipe (getpass
    # falls back to stdin with a warning), as an installer's script would.
    cmd = [sys.executable, "-m", "wbo_tui", "operator", "create-admin", "alice", "--display-name", "Alice Chan",
           "--db", url]
    short = subprocess.run(cmd, input="short\nshort\n", capture_output=True, text=True, timeout=60)
    assert short.returncode == 1
    assert "Password must be at least 10 characters long." in short.stderr
    good = subprocess.run(cmd, input="Kowloon-Tong-9\nKowloon-Tong-9\n", capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert "Administrator alice created." in good.stdout


@pytest.mark.parametrize("args", [["--help"], ["db", "--help"], ["audit", "--help"]])
def test_help_works(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 0


def test_demo_database_is_seeded_from_the_data_files(tmp_path: Path) -> None:
    """What ``wbo-tui demo`` creates: every data file loads through the engine's own
    commands (so the demo data is validated), and a first poll has run."""
    import asyncio

    from wbo_tui.cli import _create_seeded
    from wbo_tui.config import DATA_DIR

    asyncio.run(_create_seeded(_url(tmp_path), DATA_DIR / "demo.json", tmp_path))
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        rules = conn.execute("SELECT count(*), sum(enabled) FROM allocation_rules").fetchone()
        polled = conn.execute("SELECT count(*) FROM positions WHERE poll_status = 'OK'").fetchone()[0]
        accounts = conn.execute("SELECT count(*) FROM channel_accounts").fetchone()[0]
    assert rules == (7, 6)
    assert polled == accounts == 18


def test_a_database_that_cannot_be_opened_is_one_sentence(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'no' / 'such' / 'folder' / 'x.db'}"
    result = runner.invoke(app, ["audit", "verify", "--db", missing])
    assert result.exit_code == 1
    assert "Cannot use the database: unable to open database file" in result.output
    assert "sqlite:////" in result.output  # the hint on absolute paths
    assert "Traceback" not in result.output


def test_audit_verify_checks_the_key_anchors_the_head_and_catches_a_cut_log(tmp_path: Path) -> None:
    """The installer's path: a key made with ``audit new-key``, every record keyed under
    it, verify anchoring the head; then the log cut short, the head moved back and the
    triggers put back, which the key alone cannot tell."""
    url, key, anchors = _url(tmp_path), tmp_path / "audit.key", tmp_path / "anchors.jsonl"
    env = {"WBO_AUDIT_KEY_FILE": str(key), "WBO_AUDIT_ANCHOR_FILE": str(anchors)}
    made = runner.invoke(app, ["audit", "new-key", str(key)])
    assert made.exit_code == 0, made.output
    assert (key.stat().st_mode & 0o777) == 0o600
    again = runner.invoke(app, ["audit", "new-key", str(key)])
    assert again.exit_code == 1 and "already exists" in again.output
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    assert runner.invoke(app, ["seed", "--db", url], env=env).exit_code == 0
    with sqlite3.connect(tmp_path / "cli.db") as db:
        head = db.execute("SELECT seq FROM audit_head").fetchone()[0]
        assert db.execute("SELECT count(*) FROM audit_log WHERE key_id IS NULL").fetchone()[0] == 0
    ok = runner.invoke(app, ["audit", "verify", "--db", url], env=env)
    assert ok.exit_code == 0, ok.output
    assert f"Audit chain intact: {head} records verified." in ok.output and "Unanchored" not in ok.output
    assert [json.loads(line)["seq"] for line in anchors.read_text().splitlines()] == [head]
    no_key = runner.invoke(app, ["audit", "verify", "--db", url], env={"WBO_AUDIT_ANCHOR_FILE": str(anchors)})
    assert no_key.exit_code == 1
    assert "records are keyed" in no_key.output and "set WBO_AUDIT_KEY_FILE" in no_key.output

    kept = head - 2
    with sqlite3.connect(tmp_path / "cli.db") as db:
        triggers = db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                              "AND tbl_name IN ('audit_log', 'audit_head')").fetchall()
        db.executescript("DROP TRIGGER audit_log_no_delete; DROP TRIGGER audit_head_forward_only;")
        db.execute("DELETE FROM audit_log WHERE seq > ?", (kept,))
        db.execute("UPDATE audit_head SET seq = ?, hash = (SELECT hash FROM audit_log WHERE seq = ?)", (kept, kept))
        db.executescript("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_head_no_delete;")
        for (sql,) in triggers:
            db.execute(sql)
    cut = runner.invoke(app, ["audit", "verify", "--db", url], env=env)
    assert cut.exit_code == 1
    assert f"Audit chain broken at record #{kept + 1}: the log ends at #{kept}" in cut.output
    assert f"{anchors} line 1" in cut.output and f"records #{head}" in cut.output


def test_demo_keeps_its_key_beside_the_database_readable_by_its_owner_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wbo_tui.cli as cli

    started: list[Any] = []
    monkeypatch.setattr(cli, "_start_console", started.append)
    db = tmp_path / "wbo-demo.db"
    assert runner.invoke(app, ["demo", "--db", str(db)]).exit_code == 0
    key, anchors = tmp_path / "wbo-demo-audit.key", tmp_path / "wbo-demo-audit-anchors.jsonl"
    assert (key.stat().st_mode & 0o777) == 0o600
    assert (started[0].audit_key_file, started[0].audit_anchor_file) == (key, anchors)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE key_id IS NULL").fetchone()[0] == 0
        assert conn.execute("SELECT count(DISTINCT key_id) FROM audit_log").fetchone()[0] == 1
    secret = key.read_text()
    assert runner.invoke(app, ["demo", "--db", str(db), "--keep"]).exit_code == 0
    assert key.read_text() == secret  # kept with the database it keys

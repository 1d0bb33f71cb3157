"""The wbo-tui command as an operator or installer uses it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

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
    assert "Audit chain intact: 10 records verified." in ok.output  # 5 roles + 5 operators

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

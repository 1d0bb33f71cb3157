"""The console keeps the audit chain anchored: it signs with the configured key, writes
the chain's head to the anchor file when it quits, and refuses a key file open to all."""

from __future__ import annotations

from pathlib import Path

from console_helpers import START, login, screen_text, settle, wait_for_screen, wait_until

from wbo_tui.app import WboApp
from wbo_tui.config import Settings
from wbo_tui.engine import Engine, FixedClock, SequentialIds, audit
from wbo_tui.engine.audit import audit_key
from wbo_tui.engine.audit_anchor import load_key, new_key_file, read_anchors
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.screens.startup_error import StartupErrorScreen


def _app(db_url: str, key: Path, anchors: Path) -> WboApp:
    settings = Settings(db_url=db_url, audit_key_file=key, audit_anchor_file=anchors, audit_anchor_interval_s=3600)
    return WboApp(settings, clock=FixedClock(START), ids=SequentialIds(), hasher=fast_hasher())


async def test_the_console_signs_with_its_key_and_anchors_the_head_when_it_quits(
        db_url: str, tmp_path: Path) -> None:
    key, anchors = tmp_path / "audit.key", tmp_path / "anchors.jsonl"
    new_key_file(key)
    app = _app(db_url, key, anchors)
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "checker")
        await wait_until(pilot, lambda: app.session is not None, "the login")
        await app.action_quit()
        await settle(pilot)
    written = read_anchors(anchors).anchors
    assert [a.reason for a in written] == ["shutdown"]
    engine = await Engine.open(db_url, hasher=fast_hasher())
    try:
        async with engine.db.connect() as conn:
            report = await audit.verify(conn, key=load_key(key), anchors=read_anchors(anchors))
    finally:
        await engine.close()
    assert report.ok, report.sentence
    # The login and the logout on quit were keyed, and the anchor is of the head after them.
    assert (written[0].seq, written[0].hash) == (report.head_seq, report.head_hash)
    assert written[0].key_id == report.head_key_id == audit_key(load_key(key)).key_id


async def test_a_key_file_every_account_can_read_stops_the_console(db_url: str, tmp_path: Path) -> None:
    key = tmp_path / "audit.key"
    new_key_file(key)
    key.chmod(0o644)
    app = _app(db_url, key, tmp_path / "anchors.jsonl")
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for_screen(pilot, StartupErrorScreen)
        sentence = screen_text(pilot, "#startup-error")
        assert "open to every account on this host (mode 0644)" in sentence and f"chmod 600 {key}" in sentence
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 1

"""Fixtures for the console tests: a seeded SQLite database per test, the app built with a
fixed clock, sequential ids and a fast hasher, and a second engine to check what the
database holds.

The database is built once per session (migrate, seed the demo roles and operators, add
two days of logins so the audit log has more than one page) and copied for each test.
Each test runs in its own temporary directory and names the database relatively
(``sqlite:///wbo.db``), so the header's database label is the same in every snapshot.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from console_helpers import HISTORY_START, PASSWORDS, START  # noqa: E402

from wbo_tui.app import WboApp  # noqa: E402
from wbo_tui.config import DATA_DIR, Settings  # noqa: E402
from wbo_tui.engine import Engine, FixedClock, SequentialIds, migrate, seed  # noqa: E402
from wbo_tui.engine.passwords import fast_hasher  # noqa: E402

DB_NAME = "wbo.db"
DB_URL = f"sqlite:///{DB_NAME}"
HISTORY_LOGINS = 60


async def _seed_history(url: str) -> None:
    clock = FixedClock(HISTORY_START)
    engine = await Engine.open(url, hasher=fast_hasher(), clock=clock, ids=SequentialIds(start=900_000))
    try:
        await seed.seed(engine, seed.load(DATA_DIR / "demo.json"))
        # 120 audit records of logins and logouts over two days: more than one audit page.
        who = ("maker", "checker", "viewer", "trader")
        for i in range(HISTORY_LOGINS):
            clock.advance(minutes=30)
            username = who[i % len(who)]
            session = await engine.login(username, PASSWORDS[username])
            clock.advance(minutes=5)
            await engine.logout(session)
    finally:
        await engine.close()


def _build_template(path: Path) -> None:
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    asyncio.run(_seed_history(url))


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("console-template") / DB_NAME
    # Alembic and the seed run their own event loops: keep them off pytest-asyncio's.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(_build_template, path).result()
    return path


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    shutil.copyfile(template_db, tmp_path / DB_NAME)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WBO_LOG_FILE", str(tmp_path / "console.log"))
    monkeypatch.setenv("WBO_EXPORT_DIR", str(tmp_path))  # CSV exports, never the user's data folder
    return DB_URL


@pytest.fixture
def make_app(db_url: str) -> Callable[..., WboApp]:
    def make(*, idle_lock_s: int = 300) -> WboApp:
        settings = Settings(db_url=db_url, idle_lock_s=idle_lock_s)
        return WboApp(settings, clock=FixedClock(START), ids=SequentialIds(), hasher=fast_hasher())

    return make


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[Engine]:
    """A second engine on the test's database, as another console process would have."""
    opened = await Engine.open(db_url, hasher=fast_hasher(), clock=FixedClock(START), ids=SequentialIds(500_000))
    try:
        yield opened
    finally:
        await opened.close()

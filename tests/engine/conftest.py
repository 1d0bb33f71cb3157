"""Fixtures for the engine tests: a real database per test, SQLite always, PostgreSQL when
``WBO_TEST_PG_URL`` names a server (the PostgreSQL variants skip otherwise).

Every test gets a database of its own.  Migrating one costs a few hundred milliseconds,
so each session migrates one template per backend with ``migrate.upgrade`` and each test
clones it (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL).  The
migration itself is exercised directly in ``test_engine_schema.py``.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

# The helper modules beside this file are imported by their plain names (the race
# workers too, in spawned processes, which inherit sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine_support import (  # noqa: E402
    DEMO_DATA,
    PG_ENV,
    START,
    create_pg_database,
    drop_pg_database,
    pg_url_for,
    run_in_thread,
)

from wbo_tui.engine import Engine, FixedClock, SequentialIds, migrate, seed  # noqa: E402
from wbo_tui.engine.passwords import fast_hasher  # noqa: E402

BACKENDS = ["sqlite", pytest.param("pg", marks=pytest.mark.pg)]


def _require_backend(name: str) -> None:
    if name == "pg" and not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")


# --- session templates ------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    # Alembic's env.py runs its own event loop: keep it off any loop pytest-asyncio owns.
    run_in_thread(migrate.upgrade, f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    name = f"wbo_tpl_{uuid.uuid4().hex}"
    run_in_thread(create_pg_database, name)
    try:
        run_in_thread(migrate.upgrade, pg_url_for(name))
        yield name
    finally:
        run_in_thread(drop_pg_database, name)


# --- per-test databases -----------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    _require_backend(request.param)
    return request.param


@pytest.fixture
async def blank_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh database with no WBO schema at all."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    name = f"wbo_t_{uuid.uuid4().hex}"
    await create_pg_database(name)
    try:
        yield pg_url_for(name)
    finally:
        await drop_pg_database(name)


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated database of its own for this test (parametrised: sqlite, pg)."""
    _require_backend(request.param)
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "wbo.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"wbo_t_{uuid.uuid4().hex}"
    await create_pg_database(name, template=template_name)
    try:
        yield pg_url_for(name)
    finally:
        await drop_pg_database(name)


@pytest.fixture
def is_pg(db_url: str) -> bool:
    return db_url.startswith("postgresql")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
async def engine(db_url: str, clock: FixedClock) -> AsyncIterator[Engine]:
    eng = await Engine.open(db_url, clock=clock, ids=SequentialIds(), hasher=fast_hasher())
    try:
        await seed.seed(eng, seed.load(DEMO_DATA))
        yield eng
    finally:
        await eng.close()

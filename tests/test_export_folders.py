"""Where demo runs and exports put files (issue 10, point 9): CSV exports go to the
configured export folder (``WBO_EXPORT_DIR``, by default ``$XDG_DATA_HOME/wbo-tui/exports``),
a simulated bank seeded by ``wbo-tui seed`` goes beside its database (or
``WBO_SIMULATOR_DIR``), never the folder the command was started from."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wbo_tui.cli import app
from wbo_tui.config import DATA_DIR, Settings
from wbo_tui.engine.errors import WboError
from wbo_tui.widgets.exports import write_export

MOMENT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Started from a folder of its own, with no export or simulator setting inherited."""
    cwd = tmp_path / "started-here"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    for name in ("WBO_EXPORT_DIR", "WBO_SIMULATOR_DIR", "WBO_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return cwd


def test_exports_go_to_the_per_user_data_folder_by_default(tmp_path: Path) -> None:
    assert Settings().export_folder() == tmp_path / "xdg-data" / "wbo-tui" / "exports"


def test_the_export_folder_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WBO_EXPORT_DIR", str(tmp_path / "exports-here"))
    assert Settings().export_folder() == tmp_path / "exports-here"


def test_an_export_creates_its_folder_and_never_overwrites(tmp_path: Path, elsewhere: Path) -> None:
    folder = tmp_path / "new" / "exports"

    async def two() -> list[Path]:
        return [await write_export(folder, "allocations", MOMENT, f"n\n{i}\n") for i in (1, 2)]

    first, second = asyncio.run(two())
    assert (first.name, second.name) == ("allocations-20261120T093000Z.csv", "allocations-20261120T093000Z-2.csv")
    assert (first.read_text(), second.read_text()) == ("n\n1\n", "n\n2\n")
    assert list(elsewhere.iterdir()) == []


def test_an_export_folder_that_cannot_be_written_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(WboError) as caught:
        asyncio.run(write_export(blocker / "exports", "allocations", MOMENT, "n\n"))
    assert str(caught.value).startswith(f"The export could not be written to {blocker / 'exports'}: ")
    assert str(caught.value).endswith("Set WBO_EXPORT_DIR to a folder this console may write.")


@pytest.mark.parametrize(
    ("db_url", "expected"),
    [
        ("sqlite:///{tmp}/dbs/wbo.db", "{tmp}/dbs"),
        ("sqlite+aiosqlite:///{tmp}/dbs/wbo.db?mode=rwc", "{tmp}/dbs"),
        ("postgresql://wbo@dbhost/wbo", "{tmp}/xdg-data/wbo-tui"),
        ("sqlite:///:memory:", "{tmp}/xdg-data/wbo-tui"),
    ],
)
def test_a_seeded_simulator_goes_beside_its_database(tmp_path: Path, db_url: str, expected: str) -> None:
    settings = Settings(db_url=db_url.format(tmp=tmp_path))
    assert settings.simulator_folder() == Path(expected.format(tmp=tmp_path))


def test_the_simulator_folder_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WBO_SIMULATOR_DIR", str(tmp_path / "bank"))
    assert Settings(db_url=f"sqlite:///{tmp_path}/wbo.db").simulator_folder() == tmp_path / "bank"


def test_seeding_the_demo_positions_leaves_nothing_where_it_was_started(tmp_path: Path, elsewhere: Path) -> None:
    dbs = tmp_path / "dbs"
    dbs.mkdir()
    url = f"sqlite:///{dbs / 'wbo.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade", "--db", url]).exit_code == 0
    assert runner.invoke(app, ["seed", "--db", url]).exit_code == 0
    seeded = runner.invoke(app, ["seed", "--db", url, "--file", str(DATA_DIR / "demo_positions.json")])
    assert seeded.exit_code == 0, seeded.output
    store = json.loads((DATA_DIR / "demo_positions.json").read_text())["settlement_channels"][0]["gateway"]["store"]
    assert (dbs / Path(store).name).exists()
    assert list(elsewhere.iterdir()) == []

"""The ``wbo-tui`` command: start the console, set up databases, verify the audit log."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wbo_tui.config import DATA_DIR, Settings

app = typer.Typer(add_completion=False, no_args_is_help=False, help="WBO Console: a terminal back office.")
db_app = typer.Typer(help="Database schema.")
audit_app = typer.Typer(help="The audit log.")
operator_app = typer.Typer(help="Operators, for setting up a new database.")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(operator_app, name="operator")

DbOption = Annotated[str | None, typer.Option("--db", help="Database URL (default: $WBO_DB_URL or sqlite:///wbo.db).")]
DEMO_DB = "wbo-demo.db"


def _settings(db: str | None) -> Settings:
    settings = Settings()
    return settings.model_copy(update={"db_url": db}) if db else settings


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _run(coro: Any) -> Any:
    """Run engine work; business and database errors become one red sentence, never a
    traceback."""
    from sqlalchemy.exc import DBAPIError

    from wbo_tui.engine.errors import WboError

    try:
        return asyncio.run(coro)
    except WboError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(f"Cannot reach the database: {exc}")
    except DBAPIError as exc:
        hint = ("; a sqlite:/// path is relative to this folder, sqlite://// starts at /"
                if "unable to open database file" in str(exc.orig) else "")
        _fail(f"Cannot use the database: {exc.orig}{hint}")


async def _check_schema(url: str) -> None:
    from wbo_tui.engine import Engine

    engine = await Engine.open(url)
    await engine.close()


def _start_console(settings: Settings) -> None:
    _run(_check_schema(settings.db_url))
    from wbo_tui.app import WboApp

    WboApp(settings).run()


@app.callback(invoke_without_command=True)
def main_callback(ctx: typer.Context) -> None:
    """Without a sub-command, start the console on $WBO_DB_URL."""
    if ctx.invoked_subcommand is None:
        _start_console(Settings())


@app.command()
def run(db: DbOption = None) -> None:
    """Start the console."""
    _start_console(_settings(db))


@app.command()
def demo(
    db: Annotated[Path, typer.Option("--db", help="Demo SQLite file.")] = Path(DEMO_DB),
    reset: Annotated[bool, typer.Option("--reset/--keep", help="Start from fresh demo data (default) or keep it.")] = True,
) -> None:
    """Create a seeded demo database from data/ and start the console on it."""
    url = f"sqlite:///{db.resolve()}"
    if reset or not db.exists():
        bank = db.resolve().parent / "wbo-demo-bank.sqlite"
        for path in (db, bank):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        _run(_create_seeded(url, DATA_DIR / "demo.json", db.resolve().parent))
        typer.echo(f"Demo database ready: {db}")
    _start_console(_settings(url))


async def _create_seeded(url: str, data_file: Path, data_dir: Path) -> None:
    from wbo_tui.engine import Engine, migrate, seed

    await migrate.upgrade_async(url)
    engine = await Engine.open(url)
    try:
        await seed.seed(engine, seed.load(data_file), data_dir=data_dir)
        await seed.seed(engine, seed.load(data_file.with_name("demo_positions.json")), data_dir=data_dir)
        await seed.seed(engine, seed.load(data_file.with_name("demo_allocations.json")), data_dir=data_dir)
        # A first poll, so the demo opens on current positions.
        await engine.poll_positions(slot="demo:seed", holder="demo")
    finally:
        await engine.close()


@app.command("seed")
def seed_command(
    db: DbOption = None,
    file: Annotated[Path, typer.Option("--file", help="Roles and operators to create.")] = DATA_DIR / "demo.json",
) -> None:
    """Create the roles and operators in a JSON file (demo data by default) in an upgraded database."""
    url = _settings(db).db_url

    async def go() -> None:
        from wbo_tui.engine import Engine, seed

        engine = await Engine.open(url)
        try:
            await seed.seed(engine, seed.load(file), data_dir=Path.cwd())
        finally:
            await engine.close()

    _run(go())
    typer.echo(f"Seeded {url} from {file}.")


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None) -> None:
    """Create or migrate the schema to the version this console needs."""
    from wbo_tui.engine import migrate

    url = _settings(db).db_url
    migrate.upgrade(url)
    typer.echo(f"Schema is at {migrate.head_revision()}.")


@db_app.command("status")
def db_status(db: DbOption = None) -> None:
    """Say whether the schema is current."""
    from wbo_tui.engine import SCHEMA_REVISION, Engine

    async def go() -> str | None:
        engine = await Engine.open(_settings(db).db_url, check_schema=False)
        try:
            return await engine.schema_revision()
        finally:
            await engine.close()

    current = _run(go())
    typer.echo(f"Database schema: {current or 'none'}; this console needs: {SCHEMA_REVISION}.")
    if current != SCHEMA_REVISION:
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Walk the hash chain and report the first broken link, if any."""

    async def go() -> Any:
        from wbo_tui.engine import Engine
        from wbo_tui.engine import audit

        engine = await Engine.open(_settings(db).db_url)
        try:
            async with engine.db.connect() as conn:
                return await audit.verify(conn)
        finally:
            await engine.close()

    report = _run(go())
    if report.ok:
        typer.secho(report.sentence, fg=typer.colors.GREEN)
    else:
        _fail(report.sentence)


@operator_app.command("create-admin")
def create_admin(
    username: str,
    display_name: Annotated[str, typer.Option("--display-name", help="Full name shown in the console.")],
    db: DbOption = None,
) -> None:
    """Create the first administrator of a new database (asks for the password)."""
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Repeat password: "):
        _fail("The passwords differ.")

    async def go() -> None:
        from wbo_tui.engine import Actor, CreateOperator, CreateRole, Engine, build
        from wbo_tui.engine.permissions import BY_CODE

        engine = await Engine.open(_settings(db).db_url)
        setup = Actor.system("setup")
        try:
            admin_perms = sorted(code for code, p in BY_CODE.items() if p.module in ("Admin", "Audit"))
            try:
                await engine.execute(setup, CreateRole(name="administrator", description="Administration",
                                                       permissions=admin_perms))
            except Exception as exc:  # noqa: BLE001 - an existing role is fine
                if "already a role" not in str(exc):
                    raise
            await engine.execute(setup, build(CreateOperator, username=username, display_name=display_name,
                                              password=password, roles=["administrator"]))
        finally:
            await engine.close()

    _run(go())
    typer.echo(f"Administrator {username} created.")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

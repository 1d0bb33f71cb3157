"""The ``wbo-tui`` command: start the console, set up databases, verify the audit log.

Starting the console imports only what its login screen needs: the settings (pydantic)
and the engine (SQLAlchemy…) are imported by the console while the operator types, so
nothing here imports them at module level.
"""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from wbo_tui.config import Settings

# wbo_tui.config.DATA_DIR, without importing pydantic for it.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"

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
    from wbo_tui.config import Settings

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


def _start_console(settings: Settings | Callable[[], Settings]) -> None:
    """Run the console.  It reads ``settings`` (when given a callable) and opens the
    database behind its login screen; a database it cannot use gets the start-up error
    screen, whose sentence is printed here too once the console has quit (exit status 1)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # No terminal to show the console on (a script, a pipe): say what is wrong with
        # the settings or the database as a line of text, before any screen.
        from pydantic import ValidationError

        from wbo_tui.startup import load_settings, startup_sentence

        try:
            url = load_settings(settings).db_url
        except ValidationError as error:
            _fail(startup_sentence(error, None, Path()))
        _run(_check_schema(url))
    from wbo_tui.app import WboApp

    console = WboApp(settings)
    console.run()
    if console.startup_error is not None:
        _fail(console.startup_error)


@app.callback(invoke_without_command=True)
def main_callback(ctx: typer.Context) -> None:
    """Without a sub-command, start the console on $WBO_DB_URL."""
    if ctx.invoked_subcommand is None:
        _start_console(lambda: _settings(None))


@app.command()
def run(db: DbOption = None) -> None:
    """Start the console."""
    _start_console(lambda: _settings(db))


@app.command()
def demo(
    db: Annotated[Path, typer.Option("--db", help="Demo SQLite file.")] = Path(DEMO_DB),
    reset: Annotated[bool, typer.Option("--reset/--keep", help="Start from fresh demo data (default) or keep it.")] = True,
) -> None:
    """Create a seeded demo database from data/ and start the console on it."""
    from wbo_tui.engine.audit_anchor import new_key_file

    url = f"sqlite:///{db.resolve()}"
    # The demo's audit key and anchor file, beside its database (README, "Audit chain").
    key_file, anchor_file = demo_audit_files(db)
    if reset or not db.exists():
        folder = db.resolve().parent
        # The simulated settlement bank and the simulated FX bank beside it start afresh too.
        for path in (db, folder / "wbo-demo-bank.sqlite", folder / "wbo-demo-fx-bank.sqlite"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        key_file.unlink(missing_ok=True)
        anchor_file.unlink(missing_ok=True)
        key = new_key_file(key_file)
        _run(_create_seeded(url, DATA_DIR / "demo.json", db.resolve().parent, audit_key=key))
        typer.echo(f"Demo database ready: {db}")
    elif not key_file.exists():
        new_key_file(key_file)  # an older demo: its chain is keyed from the next record on
    # Read here: seeding has imported the engine (and pydantic) already.
    _start_console(_settings(url).model_copy(update={"audit_key_file": key_file, "audit_anchor_file": anchor_file}))


def demo_audit_files(db: Path) -> tuple[Path, Path]:
    """The demo's audit key file and anchor file, named after its database."""
    db = db.resolve()
    return db.with_name(f"{db.stem}-audit.key"), db.with_name(f"{db.stem}-audit-anchors.jsonl")


async def _create_seeded(url: str, data_file: Path, data_dir: Path, *, audit_key: bytes | None = None) -> None:
    from wbo_tui.engine import Engine, migrate, seed

    await migrate.upgrade_async(url)
    engine = await Engine.open(url, audit_key=audit_key)
    try:
        await seed.seed(engine, seed.load(data_file), data_dir=data_dir)
        await seed.seed(engine, seed.load(data_file.with_name("demo_positions.json")), data_dir=data_dir)
        await seed.seed(engine, seed.load(data_file.with_name("demo_allocations.json")), data_dir=data_dir)
        await seed.seed(engine, seed.load(data_file.with_name("demo_fx.json")), data_dir=data_dir)
        await seed.seed(engine, seed.load(data_file.with_name("demo_margin.json")), data_dir=data_dir)
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

        engine = await Engine.open(url, audit_key=_settings(db).audit_key())
        try:
            # A simulated bank's store goes beside the database (or $WBO_SIMULATOR_DIR), not here.
            data_dir = _settings(db).simulator_folder()
            data_dir.mkdir(parents=True, exist_ok=True)
            await seed.seed(engine, seed.load(file), data_dir=data_dir)
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
    """Walk the chain under the audit key, check it against the anchor file and the
    append-only triggers, and name the first record that was changed, if any.  An intact
    chain's head is then anchored."""
    settings = _settings(db)

    async def go() -> Any:
        from wbo_tui.engine import Engine, audit
        from wbo_tui.engine.audit_anchor import Anchor, append_anchor, read_anchors

        key = settings.audit_key()
        engine = await Engine.open(settings.db_url, audit_key=key)
        try:
            path = settings.audit_anchor_file
            # The anchors first, then the head (inside verify): anchors other consoles
            # write meanwhile are of heads this walk does not reach.
            anchors = None if path is None else await asyncio.to_thread(read_anchors, path)
            async with engine.db.connect() as conn:
                report = await audit.verify(conn, key=key, anchors=anchors)
            unwritten = None
            if report.ok and path is not None:
                try:
                    append_anchor(path, Anchor(report.head_seq, report.head_hash, report.head_key_id,
                                               engine.clock.now().isoformat(), engine.holder, "verify"))
                except OSError as error:  # verified all the same; the anchor is what failed
                    unwritten = f"Could not anchor the head in {path}: {error.strerror}."
            return report, unwritten
        finally:
            await engine.close()

    report, unwritten = _run(go())
    if not report.ok:
        _fail(report.sentence)
    typer.secho(report.sentence, fg=typer.colors.GREEN)
    for note in (*report.notes, *([unwritten] if unwritten else [])):
        typer.secho(note, fg=typer.colors.YELLOW)


@audit_app.command("new-key")
def audit_new_key(
    file: Annotated[Path, typer.Argument(help="The key file to create (e.g. /srv/wbo/audit.key).")],
) -> None:
    """Create the audit chain's key file (mode 0600); run it as the service account."""
    from wbo_tui.engine.audit_anchor import new_key_file

    try:
        new_key_file(file)
    except FileExistsError:
        _fail(f"{file} already exists; a key is made once and kept (records under a lost key cannot be checked).")
    except OSError as error:
        _fail(f"Cannot create {file}: {error.strerror}.")
    typer.echo(f"Audit key written to {file} (mode 0600). Set WBO_AUDIT_KEY_FILE={file.resolve()} for every "
               "console, keep a copy somewhere safe, and keep both out of operators' reach.")


@app.command()
def doctor(
    db: DbOption = None,
    service_user: Annotated[str | None, typer.Option(
        "--service-user", help="The account the console runs under (default: $WBO_SERVICE_USER or wbo).")] = None,
) -> None:
    """Check a deployment: file owners and modes, the PostgreSQL role's rights, the audit
    key, anchors and triggers, the schema.  Exits 1 when anything needs fixing."""
    from wbo_tui.engine.doctor import Deployment, diagnose

    settings = _settings(db)
    deployment = Deployment(settings.db_url, settings.audit_key_file, settings.audit_anchor_file,
                            service_user or settings.service_user)
    findings = asyncio.run(diagnose(deployment))
    for finding in findings:
        typer.secho(finding.line, fg=typer.colors.GREEN if finding.ok else typer.colors.RED)
    problems = sum(not f.ok for f in findings)
    if problems:
        _fail(f"{problems} thing{'s' if problems > 1 else ''} to fix.")
    typer.secho("The deployment looks right.", fg=typer.colors.GREEN)


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
        from wbo_tui.engine import CreateOperator, CreateRole, Engine, ListOperators, build
        from wbo_tui.engine.permissions import BY_CODE

        engine = await Engine.open(_settings(db).db_url, audit_key=_settings(db).audit_key())
        try:
            # The bootstrap of a new installation only: its first two administrators (four
            # eyes need two people).  After that, new ones go through the console, where
            # another administrator approves their roles.
            existing = [o.username for o in await engine.setup_query(ListOperators(), tool="create-admin")
                        if o.enabled and "administrator" in o.roles]
            if len(existing) >= 2:
                _fail(f"This installation already has its administrators ({', '.join(existing)}); "
                      "ask them to create the account in the console (Admin → Operators).")
            admin_perms = sorted(code for code, p in BY_CODE.items() if p.module in ("Admin", "Audit"))
            try:
                await engine.setup_execute(CreateRole(name="administrator", description="Administration",
                                                      permissions=admin_perms), tool="create-admin")
            except Exception as exc:  # noqa: BLE001 - an existing role is fine
                if "already a role" not in str(exc):
                    raise
            await engine.setup_execute(build(CreateOperator, username=username, display_name=display_name,
                                             password=password, roles=["administrator"]), tool="create-admin")
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

"""What the console does while the operator types at the login screen.

The login screen's own import path is Textual and the console's light modules only
(``app``, ``screens/login``, ``screens/startup_error``, ``idle_lock``, the burst-safe
inputs).  The engine and what it stands on (SQLAlchemy, pydantic, alembic, argon2,
exchange_calendars…), the settings, the audit key file, the notification senders and the
screens shown after the login (and their stylesheets) are loaded on a worker thread,
once the login screen is up: ``prepare`` before the engine opens, ``preload_console``
after; those two never touch the event loop (they run in ``asyncio.to_thread``).
``ConsoleStartup``, mixed into the app, drives them and does on the loop only what must
run there: ``Engine.open`` (which connects on the engine's own loop), starting the
schedule, adding the parsed stylesheets, composing the shell shown after the login
(``prepare_shell``: the login then only adds its header and shows it).  A login pressed
meanwhile waits for ``wait_until_started``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from textual import work
from textual.screen import Screen
from textual.widget import AwaitMount

from wbo_tui import heap
from wbo_tui.screens.login import LoginScreen
from wbo_tui.screens.startup_error import StartupErrorScreen

if TYPE_CHECKING:
    from argon2 import PasswordHasher
    from textual.css.stylesheet import Stylesheet

    from wbo_tui.config import Settings
    from wbo_tui.engine import Engine
    from wbo_tui.engine.clock import Clock, IdGenerator
    from wbo_tui.engine.policy import SecurityPolicy
    from wbo_tui.screens.shell import ShellScreen

log = logging.getLogger("wbo_tui.console")

# How long one frame may spend drawing the next shell off screen (``lay_out_next_shell``).
DRAW_SLICE_S = 0.008
FRAME_S = 1 / 60

# Shown right after the login; imported on the thread so that Enter -> shell imports nothing.
_AFTER_LOGIN = (
    "wbo_tui.screens.shell",
    "wbo_tui.screens.positions.area",  # the shell's first area
    "wbo_tui.screens.lock",
    "wbo_tui.screens.change_password",
    "wbo_tui.screens.help",
    "wbo_tui.screens.permission_request",
)


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything ``Engine.open`` and the scheduler need, read off the event loop."""

    settings: Settings
    policy: SecurityPolicy
    audit_key: bytes | None
    senders: dict[str, Any]


def load_settings(source: Settings | Callable[[], Settings]) -> Settings:
    """The settings themselves, or read now (pydantic-settings: the environment)."""
    return source() if callable(source) else source


def prepare(source: Settings | Callable[[], Settings]) -> Prepared:
    """On a worker thread: import the engine, read the settings and the audit key file,
    build the notification senders, and import the database driver's dialect, so that
    ``Engine.open`` on the event loop only connects.  Raises what opening would raise
    (``WboError`` for a bad key file, pydantic's ``ValidationError`` for a bad setting)."""
    import wbo_tui.engine  # noqa: F401  (registers every command and query handler)
    from wbo_tui.engine.db import normalise_url
    from wbo_tui.engine.scheduler import EngineScheduler  # noqa: F401  (started after the open)

    settings = load_settings(source)
    _import_dialect(normalise_url(settings.db_url))
    if settings.audit_anchor_file is not None:
        from wbo_tui.engine.audit_anchor import AnchorKeeper  # noqa: F401
    return Prepared(
        settings=settings,
        policy=settings.security_policy(),
        audit_key=settings.audit_key(),
        senders=settings.notification_senders(),
    )


def _import_dialect(url: str) -> None:
    """Import the SQLAlchemy dialect and the async driver ``url`` names (aiosqlite,
    asyncpg): otherwise ``create_async_engine`` imports them on the event loop."""
    from sqlalchemy.engine import make_url

    try:
        make_url(url).get_dialect().import_dbapi()
    except Exception:  # noqa: BLE001 - Engine.open reports a bad URL as such
        return


def preload_console(stylesheets: Iterable[str]) -> list[tuple[str, str]]:
    """On a worker thread, once the engine is open: import the screens shown after the
    login, so pressing Enter imports nothing, and read their ``stylesheets`` (paths);
    returns each one's absolute path and text, for the app's stylesheet."""
    for name in _AFTER_LOGIN:
        importlib.import_module(name)
    return [(str(Path(path).resolve()), Path(path).read_text(encoding="utf-8")) for path in stylesheets]


class ConsoleStartup:
    """Mixed into ``WboApp``: opens the engine behind the login screen.

    ``WboApp.on_mount`` shows the login screen, then starts ``_start_engine``.  A login
    pressed meanwhile awaits ``wait_for_engine`` (the login screen says "Starting…"); the
    keys typed meanwhile land in the fields as usual, since nothing blocks the loop.
    """

    _settings_source: Settings | Callable[[], Settings]
    _settings: Settings | None
    _clock: Clock | None
    _ids: IdGenerator | None
    _hasher: PasswordHasher | None
    _console_started: asyncio.Event
    CSS_AFTER_START: tuple[str, ...]
    stylesheet: Stylesheet
    css_path: list[PurePath]
    _started: bool
    _stopping: bool
    engine: Engine | None
    anchors: Any
    scheduler: Any
    startup_error: str | None
    log_path: Path
    screen_stack: list[Screen[Any]]
    _show_only: Callable[[Screen[Any]], Any]
    _next_shell: ShellScreen | None
    _register: Callable[..., Any]

    @property
    def settings(self) -> Settings:
        """The console's settings; read while the login screen is up when the app was given
        a callable (nothing asks for them before a login)."""
        if self._settings is None:
            raise RuntimeError("the settings are not read yet: the console is still starting")
        return self._settings

    @property
    def database_url(self) -> str | None:
        """The database named by the settings, once they are known."""
        return None if self._settings is None else self._settings.db_url

    @property
    def started(self) -> bool:
        """The engine is open, its schedule runs, the screens after the login are loaded and
        the shell is composed behind the login screen (``prepare_shell``)."""
        return self._started

    @work(group="startup", exit_on_error=False)
    async def _start_engine(self) -> None:
        """Import, read and open on a worker thread what the console runs on; the event
        loop only awaits (``Engine.open`` connects on the engine's own loop)."""
        try:
            prepared = await asyncio.to_thread(prepare, self._settings_source)
            self._settings = prepared.settings
            from wbo_tui.engine import Engine

            engine = await Engine.open(
                prepared.settings.db_url, clock=self._clock, ids=self._ids, hasher=self._hasher,
                policy=prepared.policy, audit_key=prepared.audit_key, own_loop=True,
            )
        except Exception as error:  # noqa: BLE001 - shown as a sentence (and logged when unexpected)
            if not self._stopping:
                self._show_startup_error(error)
            return
        self.engine = engine
        if self._stopping:  # quit while starting: on_unmount closes the engine
            return
        for screen in self.screen_stack:  # beneath the help screen, say
            if isinstance(screen, LoginScreen):
                screen.engine_opened(engine.database_label)
        if prepared.settings.audit_anchor_file is not None:
            from wbo_tui.engine.audit_anchor import AnchorKeeper

            self.anchors = AnchorKeeper(engine, prepared.settings.audit_anchor_file,
                                        interval_s=prepared.settings.audit_anchor_interval_s)
            self.anchors.start()
        # Every console runs the poll schedule; the database lets one process per
        # interval actually ask the upstream.
        from wbo_tui.engine.scheduler import EngineScheduler

        self.scheduler = EngineScheduler(
            engine, poll_interval_s=prepared.settings.poll_interval_s, senders=prepared.senders,
            delivery_interval_s=prepared.settings.delivery_interval_s,
            allocation_interval_s=prepared.settings.allocation_interval_s,
        )
        self.scheduler.start()
        try:
            stylesheets = await asyncio.to_thread(preload_console, self.CSS_AFTER_START)
        except Exception as error:  # noqa: BLE001 - a broken installation: said, and logged
            if not self._stopping:
                self._show_startup_error(error)
            return
        for path, css in stylesheets:  # after the login's own: the order of CSS_PATH + CSS_AFTER_START
            self.stylesheet.add_source(css, read_from=(path, ""), is_default_css=False)
        self.stylesheet.parse()  # now, while the operator types, not when the shell is first shown
        self.css_path.extend(PurePath(path) for path, _ in stylesheets)  # reloaded with the rest in dev mode
        heap.settle_start()
        if self._stopping:
            return
        # The shell shown after the login, composed now (after the start-up heap was
        # frozen: the shell is frozen once shown, ``heap.settle_session``).
        await self.prepare_shell()
        self.lay_out_next_shell()
        try:  # the first login's one-off costs, paid while the operator types
            await engine.prepare_login()
        except Exception as error:  # noqa: BLE001 - the login itself will say what is wrong
            log.warning("Preparing the login failed", exc_info=error)
        self._started = True
        self._console_started.set()  # a login waiting for the console proceeds

    def prepare_shell(self, shell: ShellScreen | None = None) -> AwaitMount:
        """Compose ``shell`` (by default the next operator's, kept for ``begin_session``),
        off screen: done while the operator types at the login screen, so that the login
        only adds the header and shows it.  Awaiting the result waits until it is mounted."""
        from wbo_tui.screens.shell import ShellScreen  # imported while the operator typed

        if shell is None:
            if self._next_shell is None:
                self._next_shell = ShellScreen()
            shell = self._next_shell
        if not shell.is_running:
            # What push_screen does first (``App._get_screen``): register the screen, which
            # composes and mounts it.  It is on no screen stack: nothing shows it yet.
            self._register(self, shell)
        return AwaitMount(shell, [shell])

    def lay_out_next_shell(self) -> None:
        """While the operator types: lay out, then draw, the shell composed for them off
        screen (``prepare_shell``), so that the login only names the operator in the
        header and composes the frame.  The layout takes one frame (10-20 ms); the drawing
        (30-45 ms in all) is done a few widgets per frame (``DRAW_SLICE_S``), so the login
        screen never freezes for it.  Textual lays out and draws the screen on top only;
        these are its own steps for that (``Screen._refresh_layout``; the compositor's
        per-widget renders, which each widget caches), run for a screen not shown yet
        (Textual is pinned).  A terminal resized meanwhile lays the shell out again when
        it is shown; anything drawn before a change is drawn again then."""
        shell = self._next_shell

        def ready() -> bool:
            return shell is not None and shell is self._next_shell and shell.is_mounted and not self._stopping

        def lay_out() -> None:
            if ready():
                heap.settle_session()  # the composed shell lives as long as its session
                shell._refresh_layout(self.size)  # noqa: SLF001 - see above
                shell.laid_out_ahead = True
                renders = iter(shell._compositor._get_renders())  # noqa: SLF001
                self.set_timer(FRAME_S, lambda: draw(renders))

        def draw(renders: Iterator[object]) -> None:
            if not ready() or shell.outer_size != self.size:
                return
            until = time.perf_counter() + DRAW_SLICE_S
            for _ in renders:  # each step draws one widget
                if time.perf_counter() > until:
                    self.set_timer(FRAME_S, lambda: draw(renders))
                    return

        # A frame apart from each other and from whatever composed the shell.
        self.set_timer(FRAME_S, lay_out)

    def _show_startup_error(self, error: Exception) -> None:
        """The start-up error screen replaces the login: one sentence, the traceback in the log."""
        heap.settle_start()  # collections again (``heap.pause``): this console goes no further
        self.startup_error = startup_sentence(error, self._settings, self.log_path)
        self._show_only(StartupErrorScreen(self.startup_error))

    async def wait_until_started(self) -> Engine:
        """The engine, once the console has started (``started``): a login pressed while it
        starts waits here (the start-up error screen replaces the login screen, and its
        waiting worker, if the console cannot start)."""
        await self._console_started.wait()
        assert self.engine is not None
        return self.engine


def startup_sentence(error: Exception, settings: Settings | None, log_path: Path) -> str:
    """What the start-up error screen says about ``error``; the CLI says the same about a
    database it cannot use.  Anything but a refusal or a bad setting is logged in full."""
    try:
        from pydantic import ValidationError
        from sqlalchemy.exc import ArgumentError, DBAPIError

        from wbo_tui.engine import WboError
    except Exception:  # noqa: BLE001 - a broken installation: the generic sentence below
        ValidationError = ArgumentError = DBAPIError = WboError = ()  # type: ignore[assignment,misc]  # noqa: N806
    if isinstance(error, WboError):
        return str(error)
    if isinstance(error, ValidationError):
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors())
        return f"The console's settings are not valid (WBO_… environment variables): {problems}."
    where = settings.db_url if settings is not None else "(settings not read)"
    log.error("Could not open the database %s", where, exc_info=error)
    if isinstance(error, DBAPIError):
        hint = ("; a sqlite:/// path is relative to this folder, sqlite://// starts at /"
                if "unable to open database file" in str(error.orig) else "")
        return f"Cannot use the database: {error.orig}{hint}."
    if isinstance(error, ArgumentError):
        return (f"The database URL is not valid ({error}): use sqlite:///path/to/file.db or "
                "postgresql://user@host/dbname (WBO_DB_URL or --db).")
    if isinstance(error, OSError):
        return f"Cannot reach the database: {error}."
    if isinstance(error, ValueError):  # the engine's own refusals of a URL (a backend, :memory:)
        return f"Cannot use the database: {error}."
    return (f"The console could not open its database ({type(error).__name__}); "
            f"see the log file {log_path}.")

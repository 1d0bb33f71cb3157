"""The WBO Console app: opens the engine, holds the operator's session, locks when idle.

The login screen comes first, before the engine's libraries are imported: they are
imported, and the engine opened, on a worker thread while the operator types
(``wbo_tui.startup``).  Nothing here imports the engine at module level.

Screens never touch the database; they call the engine in workers (see
``widgets/engine_workers.py``) and render the DTOs it returns.  The app owns what spans
screens: the engine, the session, the idle lock, the one error reporter and the
command palette's console commands.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from wbo_tui import heap
from wbo_tui.idle_lock import IdleLock
from wbo_tui.screens.login import LoginScreen
from wbo_tui.startup import ConsoleStartup
from wbo_tui.widgets.engine_workers import EngineWorkers

if TYPE_CHECKING:
    # The engine and everything it stands on are imported on a worker thread while the
    # operator types at the login screen (``wbo_tui.startup``); never at module level here.
    from argon2 import PasswordHasher

    from wbo_tui.config import Settings
    from wbo_tui.engine import ApprovalDTO, Engine, PermissionDenied, SessionInfo
    from wbo_tui.engine.clock import Clock, IdGenerator
    from wbo_tui.screens.shell import ShellScreen

log = logging.getLogger("wbo_tui.console")

_own_log_handler: logging.FileHandler | None = None


def configure_log_file() -> Path:
    """Send the console's log (tracebacks included) to a file, never to the terminal.

    A file handler someone else put on the ``wbo_tui`` logger (the CLI) wins; otherwise
    the file is ``$WBO_LOG_FILE`` or ``$XDG_STATE_HOME/wbo-tui/console.log``.
    """
    global _own_log_handler
    logger = logging.getLogger("wbo_tui")
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and handler is not _own_log_handler:
            return Path(handler.baseFilename)
    state_home = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    path = Path(os.environ.get("WBO_LOG_FILE") or state_home / "wbo-tui" / "console.log")
    if _own_log_handler is not None:
        if Path(_own_log_handler.baseFilename) == path.resolve():
            return path
        logger.removeHandler(_own_log_handler)
        _own_log_handler.close()
        _own_log_handler = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    except OSError:
        path = Path(tempfile.gettempdir()) / "wbo-tui-console.log"
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    _own_log_handler = handler
    return path


class WboApp(IdleLock, ConsoleStartup, EngineWorkers, App[None]):
    """The console.  ``WboApp(settings).run()``; tests inject clock, ids and a fast hasher."""

    TITLE = "WBO Console"
    # Every stylesheet is the app's (a Screen with a CSS_PATH of its own makes Textual
    # re-parse the whole stylesheet when that screen is first shown).  The login screen's
    # are read before it is shown; the shell's and the areas' (CSS_AFTER_START) while the
    # operator types, after them and in this order (``ConsoleStartup``).
    CSS_PATH = [
        "app.tcss",
        "screens/login.tcss",
        "screens/lock.tcss",
        "screens/startup_error.tcss",
        "widgets/modals.tcss",
    ]
    CSS_AFTER_START = tuple(str(Path(__file__).parent / path) for path in (
        "screens/shell.tcss",
        "screens/admin/admin.tcss",
        "screens/audit/audit.tcss",
        "screens/positions/positions.tcss",
        "screens/allocations/allocations.tcss",
    ))
    BINDINGS = [Binding("f1", "help", "Help", show=False, id="help")]

    # How often the idle lock compares the time since the last input with the limit.
    IDLE_CHECK_INTERVAL_S = 0.5

    def __init__(
        self,
        settings: Settings | Callable[[], Settings],
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        """``settings``, or a callable that reads them (``Settings``): the console then
        reads them on a worker thread once the login screen is up, as the CLI does, so
        importing pydantic does not delay the login screen either."""
        super().__init__()
        self._settings_source = settings
        self._settings: Settings | None = None if callable(settings) else settings
        self._clock = clock
        self._ids = ids
        self._hasher = hasher
        self.engine: Engine | None = None
        self.scheduler: Any = None
        self.anchors: Any = None  # writes the audit chain's head to the anchor file
        self.session: SessionInfo | None = None
        # The next operator's shell, composed behind the login screen (``prepare_shell``).
        self._next_shell: ShellScreen | None = None
        # The sentence the start-up error screen shows (None while starting or started).
        self.startup_error: str | None = None
        self._console_started = asyncio.Event()
        self._started = False
        self._stopping = False
        # Seconds from a monotonic source; tests replace it (before run_test) to move idle time.
        self.idle_clock: Callable[[], float] = time.monotonic
        self._last_input_s = 0.0
        self._locked = False
        self._heap = heap.HeapKeeper()
        self.log_path = configure_log_file()

    # --- start and stop ---------------------------------------------------------------

    async def on_mount(self) -> None:
        heap.pause()  # until the console has started (``heap.settle_start``)
        self._last_input_s = self.idle_clock()
        self.set_interval(self.IDLE_CHECK_INTERVAL_S, self._check_idle)
        self._heap.install()
        self.set_interval(1.0, self._heap.settle)
        await self.push_screen(LoginScreen())
        # The engine's libraries are imported while the operator types: once the login
        # screen has been drawn, so they do not delay it.
        self.call_after_refresh(self._start_engine)

    # How long quitting waits for engine calls in flight before cancelling them.
    WORKER_DRAIN_S = 5.0

    async def on_unmount(self) -> None:
        # Let engine calls in flight finish before the engine's connections close: a
        # query cancelled mid-way leaves aiosqlite's close task pending forever, and the
        # process would never exit.  Each call is one short transaction.
        # Workers of widgets already removed were cancelled before this runs: waiting on
        # them raises, so collect every outcome rather than stop at the first.  No new
        # scheduled tick starts meanwhile; the ticks in flight are waited for below.
        self._stopping = True
        self._heap.uninstall()
        heap.thaw()  # this console's objects are garbage soon (tests run many in one process)
        if self.scheduler is not None:
            self.scheduler.shutdown()
        drained = asyncio.gather(*(w.wait() for w in self.workers), return_exceptions=True)
        try:
            await asyncio.wait_for(drained, timeout=self.WORKER_DRAIN_S)
        except TimeoutError:
            log.warning("Engine calls still running after %.0f s at exit; cancelling them", self.WORKER_DRAIN_S)
            self.workers.cancel_all()
        if self.scheduler is not None:
            await self.scheduler.aclose()
            self.scheduler = None
        if self.anchors is not None:  # the shutdown anchor: after the last write, before the close
            await self.anchors.aclose()
            self.anchors = None
        if self.engine is not None:
            await self.engine.close()
            self.engine = None

    async def action_quit(self) -> None:
        """Quit, recording the logout first when someone is logged in."""
        if self.session is not None and self.engine is not None:
            try:
                await self.engine.logout(self.session)
            except Exception as error:  # noqa: BLE001 - quitting must not fail
                log.warning("Logout on quit failed", exc_info=error)
            self.session = None
        self.exit()

    # --- session ----------------------------------------------------------------------

    def begin_session(self, session: SessionInfo) -> None:
        """Called by the login screen once the engine accepted the password.  A password
        an administrator set must be replaced before anything else is shown."""
        self.session = session
        self._locked = False
        self._last_input_s = self.idle_clock()
        if session.must_change_password:
            from wbo_tui.screens.change_password import ChangePasswordScreen

            self._show_only(ChangePasswordScreen(forced=True))
            return
        shell, self._next_shell = self._next_shell, None
        self._show_shell(shell)

    async def fresh_session(self) -> SessionInfo:
        """Re-read the operator's permissions, so a grant takes effect without a restart."""
        from wbo_tui.engine import NotAuthenticated

        session, engine = self.session, self.engine
        if session is None or engine is None:
            raise NotAuthenticated("You are logged out.")
        refreshed = await engine.refresh_session(session)
        if self.session is session:  # Drop the result if the operator logged out meanwhile.
            self.session = refreshed
        return refreshed

    def end_session(self, message: str | None = None) -> None:
        """Log out (audited) and return to the login screen, showing ``message`` there."""
        self._end_session(message)

    @work(group="session", exit_on_error=False)
    async def _end_session(self, message: str | None) -> None:
        session, self.session, self._locked = self.session, None, False
        if session is not None and self.engine is not None:
            try:
                await self.engine.logout(session)
            except Exception as error:  # noqa: BLE001 - the operator leaves either way
                log.warning("Logout of %s was not recorded", session.username, exc_info=error)
        await self._show_only_now(LoginScreen(message=message))
        heap.release()  # the old shell is garbage now
        await self.prepare_shell()  # for the next login, while the operator types
        self.lay_out_next_shell()

    @work(group="screens", exit_on_error=False)
    async def _show_shell(self, shell: ShellScreen | None) -> None:
        """The shell composed behind the login screen (or now, without one), with the
        operator's header, as the only screen."""
        if shell is None:
            from wbo_tui.screens.shell import ShellScreen

            shell = ShellScreen()
        await self.prepare_shell(shell)
        shell.begin()
        await self._show_only_now(shell)
        if not shell.laid_out_ahead:  # else settled when laid out (``startup``)
            self.call_after_refresh(heap.settle_session)

    @work(group="screens", exit_on_error=False)
    async def _show_only(self, screen: Screen) -> None:
        await self._show_only_now(screen)

    async def _show_only_now(self, screen: Screen) -> None:
        """Make ``screen`` the only one above Textual's default screen: whatever was
        open (a lock, a modal, help) goes, so nothing of the previous state lingers."""
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        if len(self.screen_stack) == 2:
            await self.switch_screen(screen)
        else:
            await self.push_screen(screen)

    # --- errors -------------------------------------------------------------------------

    def report_error(self, error: BaseException) -> None:
        """The one place a failed engine call becomes something the operator reads."""
        from wbo_tui.engine import AccountLocked, NotAuthenticated, PasswordChangeRequired, PermissionDenied
        from wbo_tui.engine import SessionLocked, WboError

        if isinstance(error, SessionLocked):
            # A list refresh that raced the idle lock; the lock screen already says it all.
            log.info("Refused while locked: %s", error)
        elif isinstance(error, PasswordChangeRequired) and self.session is not None:
            self.begin_session(self.session.model_copy(update={"must_change_password": True}))
        elif isinstance(error, PermissionDenied):
            self.offer_permission_request(error)
        elif isinstance(error, (NotAuthenticated, AccountLocked)) and self.session is not None:
            self.end_session(str(error))
        elif isinstance(error, WboError):
            self.notify(str(error), title="Not done", severity="error", markup=False)
        else:
            log.error("Internal error", exc_info=error)
            self.notify(
                f"Internal error ({type(error).__name__}), see the log file {self.log_path}.",
                title="Internal error", severity="error", markup=False,
            )

    def offer_permission_request(self, error: PermissionDenied) -> None:
        from wbo_tui.screens.permission_request import PermissionRequestScreen

        if any(isinstance(screen, PermissionRequestScreen) for screen in self.screen_stack):
            return
        self.push_screen(PermissionRequestScreen(error), callback=self._request_filed)

    def _request_filed(self, approval: ApprovalDTO | None) -> None:
        if approval is None:
            return
        code = approval.payload.get("permission_code", "the permission")
        self.notify(
            f"Request {approval.ref} for {code} filed. An administrator decides it; "
            "follow it under Admin (5), My submissions. Press F5 once it is approved.",
            title="Permission request filed", markup=False, timeout=10,
        )

    def _handle_exception(self, error: Exception) -> None:
        log.critical("Unhandled error; the console stops", exc_info=error)
        super()._handle_exception(error)

    def _fatal_error(self) -> None:
        # Textual would print a traceback with local variables (passwords among them) to
        # the terminal.  The operator gets one sentence; the traceback is in the log.
        self.bell()
        self._exit_renderables.append(
            Text(f"WBO Console stopped after an internal error; see the log file {self.log_path}.")
        )
        self._close_messages_no_wait()

    # --- help and commands --------------------------------------------------------------

    def action_help(self) -> None:
        from wbo_tui.screens.help import HelpScreen

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        title, description = _help_text(screen)
        keys = []
        for key, active in screen.active_bindings.items():
            binding = active.binding
            # Textual's own hidden keys (cursor movement and the like) would drown the
            # console's; the console's bindings all carry an id.
            if binding.system or not binding.description or not (binding.show or binding.id):
                continue
            keys.append((self.get_key_display(binding), binding.description, active.enabled))
        keys.append((self.get_key_display(Binding(self.COMMAND_PALETTE_BINDING, "")), "Command palette", True))
        self.push_screen(HelpScreen(title, description, keys))

    def action_change_password(self) -> None:
        from wbo_tui.screens.change_password import ChangePasswordScreen

        if self.session is not None and not isinstance(self.screen, ChangePasswordScreen):
            self.push_screen(ChangePasswordScreen(), callback=self._password_changed)

    def _password_changed(self, changed: bool | None) -> None:
        if changed:
            self.notify("Password changed. Use the new one from your next login; your other "
                        "sessions have ended.", markup=False)

    def forced_password_changed(self, changed: bool) -> None:
        """The first-login change screen closed: on to the console, or back to the login."""
        if changed and self.session is not None:
            self.begin_session(self.session.model_copy(update={"must_change_password": False}))
            self.notify("Password changed. Welcome.", markup=False)
        else:
            self.end_session("Your password must be changed before you can use the console.")

    def action_logout(self) -> None:
        if self.session is not None:
            self.end_session("You logged out.")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        if self._locked:
            # Behind the lock only leaving is on offer: no areas, themes or screenshots.
            yield SystemCommand("Log out", "End your session and return to the login screen", self.action_logout)
            yield SystemCommand("Quit", "Log out and quit the console", self.action_quit)
            return
        # The shell's module is loaded with the engine: before that no screen is a shell.
        shell = sys.modules.get("wbo_tui.screens.shell")
        if shell is not None and isinstance(screen, shell.ShellScreen):
            for area_id, title in screen.AREAS:
                yield SystemCommand(
                    f"Go to {title}", f"Show the {title} area", lambda a=area_id: screen.action_show_area(a)
                )
            yield SystemCommand("Refresh", "Re-read your permissions and reload this area", screen.action_refresh)
            yield SystemCommand("Inbox", "Read your inbox messages and mark them read", screen.action_inbox)
        if self.session is not None:
            yield SystemCommand("Change password", "Change your own password", self.action_change_password)
            yield SystemCommand("Lock console", "Lock now; your password unlocks it", self.action_lock)
            yield SystemCommand("Log out", "End your session and return to the login screen", self.action_logout)
        yield SystemCommand("Help", "Describe this screen and its keys", self.action_help)
        yield from super().get_system_commands(screen)


def _help_text(screen: Screen) -> tuple[str, str]:
    describe = getattr(screen, "help_text", None)
    if callable(describe):
        return describe()
    return (screen.__class__.__name__, getattr(screen, "HELP", "") or "")

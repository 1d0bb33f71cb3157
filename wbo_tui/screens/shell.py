"""The shell: header, one area per module, footer.  Shown right after login.

Composing the shell does no I/O and mounts only the first area (and only its first tab's
pane); the others (and their modules) are mounted the first time they are shown, and each
area loads its data in workers when it is entered.  The console composes the next shell
while the operator types at the login screen (``WboApp.prepare_shell``); the login adds
its header (``begin``) and shows it.  So the shell is on screen at once after the login (a
benchmark waits for exactly that).
"""

from __future__ import annotations

import asyncio

from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import ScreenResume
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import ContentSwitcher

from wbo_tui.widgets.engine_workers import EngineWorkers
from wbo_tui.widgets.footer import FittingFooter
from wbo_tui.widgets.header import ConsoleHeader
from wbo_tui.widgets.live_feed import LiveFeed

from wbo_tui.widgets.area import Area

AREAS: tuple[tuple[str, str], ...] = (
    ("positions", "Positions"),
    ("allocations", "Allocations"),
    ("fx", "FX"),
    ("risk", "Risk"),
    ("admin", "Admin"),
    ("audit", "Audit"),
)
_AREA_KEYS = Binding.Group("Areas", compact=True)


def make_area(area_id: str) -> Area:
    """A new area widget; each area's module (tables, tabs, forms) is imported on first use."""
    if area_id == "admin":
        from wbo_tui.screens.admin.area import AdminArea

        return AdminArea(id="admin")
    if area_id == "audit":
        from wbo_tui.screens.audit.area import AuditArea

        return AuditArea(id="audit")
    if area_id == "positions":
        from wbo_tui.screens.positions.area import PositionsArea

        return PositionsArea(id="positions")
    if area_id == "allocations":
        from wbo_tui.screens.allocations.area import AllocationsArea

        return AllocationsArea(id="allocations")
    if area_id == "fx":
        from wbo_tui.screens.fx.area import FxArea

        return FxArea(id="fx")
    if area_id == "risk":
        from wbo_tui.screens.risk.area import RiskArea

        return RiskArea(id="risk")
    raise KeyError(f"no area {area_id!r}; the areas are {', '.join(a for a, _ in AREAS)}")

SHELL_HELP = (
    "Keys 1 to 6 switch between the module areas (Positions, Allocations, FX, Risk, Admin, "
    "Audit); they are ignored while you type in a field. F5 re-reads your permissions and "
    "reloads the area, so a permission an administrator just granted takes effect. "
    'i opens your inbox (the header shows "Inbox n" while n messages are unread, and "Review n" '
    "while n pending items await a decision you may take). Lists show other consoles' changes "
    "as they are committed, keeping your cursor, marks and scroll position. "
    "Ctrl+L locks the console, Ctrl+O logs out, F2 changes your password, Ctrl+P opens the "
    "command palette. Escape returns to the table from a filter field or the tabs. The footer "
    "shows the keys that fit the terminal's width; this list has them all. The console locks "
    "itself after a period without input."
)


class ShellScreen(EngineWorkers, Screen[None]):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-medium"), (160, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    AREAS = AREAS
    BINDINGS = [
        *(
            Binding(str(number), f"show_area('{area_id}')", title, group=_AREA_KEYS, id=f"area-{area_id}")
            for number, (area_id, title) in enumerate(AREAS, start=1)
        ),
        Binding("question_mark", "app.help", "Help", key_display="?", id="shell-help"),
        Binding("f5,ctrl+r", "refresh", "Refresh", key_display="F5", id="refresh"),
        Binding("ctrl+l", "app.lock", "Lock", id="lock"),
        Binding("ctrl+o", "app.logout", "Log out", id="logout"),
        Binding("f2", "app.change_password", "Change password", key_display="F2", id="change-password",
                show=False),
        # Not in the footer (it stays readable at 80x24): the header shows "Inbox n" instead.
        Binding("i", "inbox", "Inbox", id="inbox", show=False),
        # From a filter field, the tabs or anywhere else in the area: back to its table.
        Binding("escape", "focus_table", "Back to the table", key_display="Esc", id="focus-table", show=False),
    ]

    def __init__(self) -> None:
        # The size classes Textual would add on the first resize, set before the widgets are
        # styled: otherwise adding them restyles the whole shell once more on its way up.
        super().__init__(classes=" ".join(self._breakpoint_classes(self.app.size)))
        self.live_feed: LiveFeed | None = None
        self._live_task: asyncio.Task[None] | None = None
        self._styled_with: object = None
        self._resumed = False
        # Laid out and drawn off screen while the operator typed (``WboApp.lay_out_next_shell``).
        self.laid_out_ahead = False

    @classmethod
    def _breakpoint_classes(cls, size: Size) -> list[str]:
        """What ``Screen._on_resize`` sets for ``size`` (the widest breakpoint reached)."""
        classes = []
        for dimension, breakpoints in ((size.width, cls.HORIZONTAL_BREAKPOINTS),
                                       (size.height, cls.VERTICAL_BREAKPOINTS)):
            reached = [(at, name) for at, name in breakpoints or () if dimension >= at]
            if reached:
                classes.append(max(reached)[1])
        return classes

    def compose(self) -> ComposeResult:
        # Composed while the operator types (``WboApp.prepare_shell``); the header names
        # the operator once the session is known (``begin``).
        yield ConsoleHeader()
        with ContentSwitcher(initial=AREAS[0][0], id="areas"):
            yield make_area(AREAS[0][0])
        yield FittingFooter()

    def on_mount(self) -> None:
        self._styled_with = self.app.get_css_variables()

    def begin(self) -> None:
        """The operator's session has begun: the header names them, before the shell is shown."""
        self.query_one(ConsoleHeader).session_began()

    def on_unmount(self) -> None:
        if self.live_feed is not None and self._live_task is not None:
            self.live_feed.stop()
            self._live_task.cancel()

    def on_screen_resume(self, event: ScreenResume) -> None:
        if not self._resumed:
            self._resumed = True
            # Shown for the first time: every widget was styled as it was mounted, so
            # Textual's restyling of the whole screen on resuming would only repeat it
            # (unless the theme changed since, while the shell waited behind the login).
            if self.app.get_css_variables() == self._styled_with:
                event.refresh_styles = False
            if self.laid_out_ahead and self.outer_size == self.app.size:
                # Laid out and drawn behind the login (``WboApp.lay_out_next_shell``): the
                # first frame now, rather than at the next tick of Textual's frame timer
                # (up to 1/60 s).  Textual's own step for it; Textual is pinned.
                self._refresh_layout()  # noqa: SLF001
            self.call_after_refresh(self.action_show_area, AREAS[0][0])
            # Other consoles' changes, shown as they commit, for as long as the shell is up
            # (logout and quit end it).  A task, not a worker: it never finishes by itself,
            # and nothing should wait for it to.
            self.live_feed = LiveFeed(self.app)
            self._live_task = asyncio.create_task(self.live_feed.run(), name="live-feed")
        # A modal, the inbox or the lock closed: lists that changed meanwhile read again.
        LiveFeed.resume(self)

    @property
    def current_area(self) -> Area:
        switcher = self.query_one("#areas", ContentSwitcher)
        return switcher.query_one(f"#{switcher.current}", Area)

    async def action_show_area(self, area_id: str) -> None:
        switcher = self.query_one("#areas", ContentSwitcher)
        if not switcher.query_children(f"#{area_id}"):
            area = make_area(area_id)
            area.display = False
            await switcher.mount(area)
        switcher.current = area_id
        area = self.current_area
        self.query_one(ConsoleHeader).area = area.TITLE
        self.set_focus(None)
        area.focus_default()
        area.enter()

    def action_focus_table(self) -> None:
        self.set_focus(None)
        self.current_area.focus_default()

    def action_refresh(self) -> None:
        self.current_area.enter()

    def action_inbox(self) -> None:
        from wbo_tui.screens.inbox import InboxScreen

        self.app.push_screen(InboxScreen(on_unread=self.query_one(ConsoleHeader).show_unread))

    def help_text(self) -> tuple[str, str]:
        area = self.current_area
        return (f"{area.TITLE} area", f"{area.help_text()}\n\n{SHELL_HELP}")

"""The honest empty state for modules whose screens arrive in a later release."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from wbo_tui.engine import SessionInfo
from wbo_tui.engine.permissions import CATALOG

from wbo_tui.widgets.area import Area


class ModuleArea(Area):
    """Shows the module, that its screens come later, and which of its permissions the
    operator holds and lacks.  No buttons: there is nothing here to do yet."""

    def __init__(self, module: str, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id, classes="module-area")
        self.module = module
        self.TITLE = module
        self.HELP = (
            f"The {module} module's screens arrive in a later release. This area lists the "
            f"{module} permissions from the catalog and whether you hold each one, as of "
            "your last refresh (F5)."
        )

    def compose(self) -> ComposeResult:
        yield Static(self.module, classes="area-title")
        yield Static(f"The {self.module} screens arrive in a later release.", classes="module-later")
        yield Static("", classes="module-permissions")

    def on_mount(self) -> None:
        if self.wbo.session is not None:
            self._render_permissions(self.wbo.session)

    def enter(self) -> None:
        self._refresh()

    @work(exclusive=True, group="load", exit_on_error=False)
    async def _refresh(self) -> None:
        self._render_permissions(await self.wbo.fresh_session())

    def _render_permissions(self, session: SessionInfo) -> None:
        mine = [p for p in CATALOG if p.module == self.module]
        held = sum(1 for p in mine if session.can(p.code))
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0),
                      title=f"Your {self.module} permissions: you hold {held} of {len(mine)}.",
                      title_justify="left", title_style="bold")
        table.add_column("status", no_wrap=True)
        # The identifier over its description: the vendor's identifiers run to 40
        # characters, which beside the description left it a narrow column at 80x24.
        table.add_column("permission")
        for permission in mine:
            status = Text("✔ holds", style="bold green") if session.can(permission.code) else Text(
                "✘ lacks", style="bold red")
            table.add_row(status, Text.assemble((permission.code, "bold"), "\n", (permission.description, "dim")))
        self.query_one(".module-permissions", Static).update(table)

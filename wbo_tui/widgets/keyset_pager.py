"""A table pane over a list the engine pages by id from either end (``engine.paging``):
the allocation records now, the FX and risk lists later.

Only one page is ever in memory and no page counts the rows: ``]`` shows the next older
page, ``[`` the next newer one, ``}`` jumps to the oldest (last) page and ``{`` back to the
newest (first) one, each one keyset query however deep the page is.  Pages are numbered
from the end the operator started from ("Page 3", "Last page", "Page 2 from the last"),
since the total is never counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from textual.binding import Binding

from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import TablePane

Move = Literal["older", "newer", "oldest", "newest"]

# Hidden from the crowded footer; the pane's help text names them.  Home/End and
# Ctrl+Home/End belong to the focused table (cursor to the first/last row).
END_KEYS = [
    Binding("right_curly_bracket", "page_end('oldest')", "Last page (oldest)", key_display="}", show=False,
            tooltip="Jump to the oldest records"),
    Binding("left_curly_bracket", "page_end('newest')", "First page (newest)", key_display="{", show=False,
            tooltip="Back to the newest records"),
]


@dataclass
class KeysetPager:
    """Where the shown page is, as the query fields that read it again."""

    from_oldest: bool = False
    """Pages are counted from the oldest end (after ``}``), else from the newest."""
    number: int = 1
    """The shown page's number, counted from that end."""
    anchor: tuple[str, int | None] = ("before_id", None)
    """The query field that starts the shown page, and its value."""
    older: int | None = None
    newer: int | None = None
    """The shown page's neighbours' cursors (None: no such page), from its last read."""

    def fields(self) -> dict[str, Any]:
        """Every paging field of the query for the shown page (the others cleared)."""
        name, value = self.anchor
        fields: dict[str, Any] = {"before_id": None, "after_id": None, "oldest": False}
        if name == "oldest":
            fields["oldest"] = True
        else:
            fields[name] = value
        return fields

    @property
    def at_newest(self) -> bool:
        return self.anchor == ("before_id", None)

    def shown(self, older: int | None, newer: int | None) -> None:
        self.older, self.newer = older, newer

    def can(self, move: Move) -> bool:
        """Whether there is a page that way (the ends too: none when the shown page is it)."""
        return (self.older if move in ("older", "oldest") else self.newer) is not None

    def go(self, move: Move) -> bool:
        """Point at the page ``move`` leads to; False when there is none."""
        if not self.can(move):
            return False
        if move in ("oldest", "newest"):
            self._restart(from_oldest=move == "oldest")
            return True
        toward_start = (move == "older") == self.from_oldest
        if toward_start and self.number <= 2:
            # Back at the end the count started from: read that end itself, so rows that
            # arrived meanwhile are shown there, never on a page "before" the first.
            self._restart(from_oldest=self.from_oldest)
            return True
        self.number += -1 if toward_start else 1
        self.anchor = ("before_id", self.older) if move == "older" else ("after_id", self.newer)
        return True

    def _restart(self, *, from_oldest: bool) -> None:
        self.from_oldest, self.number = from_oldest, 1
        self.anchor = ("oldest", None) if from_oldest else ("before_id", None)
        self.older = self.newer = None

    def label(self) -> str:
        if not self.from_oldest:
            return f"Page {self.number}"
        return "Last page" if self.number == 1 else f"Page {self.number} from the last"


class KeysetPagedPane(TablePane):
    """A ``TablePane`` paged with a ``KeysetPager``.  Subclasses bind ``[``/``]`` to
    ``page(-1)``/``page(1)`` where their footer wants them, and read pages with
    ``fetch_page``; the page DTO has ``rows``, ``next_before_id`` and ``newer_after_id``."""

    BINDINGS = END_KEYS

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.pager = KeysetPager()

    async def fetch_page(self, read: Callable[[Any], Awaitable[Any]], query: Any) -> Any:  # noqa: ANN401
        """Read the shown page of ``query`` (its filters) with ``read``.  A page that came
        back empty (other consoles changed the rows) starts again from the newest."""
        page = await read(query.model_copy(update=self.pager.fields()))
        if not page.rows and not self.pager.at_newest:
            self.pager = KeysetPager()
            page = await read(query.model_copy(update=self.pager.fields()))
        self.pager.shown(page.next_before_id, page.newer_after_id)
        return page

    def action_page(self, step: int) -> None:
        if self.pager.go("older" if step > 0 else "newer"):
            self.load()

    def action_page_end(self, end: Move) -> None:
        if self.pager.go(end):
            self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        move = _move(action, parameters)
        if not allowed or move is None:
            return allowed
        return True if self.pager.can(move) else None

    def unavailable(self, action: str, parameters: tuple[object, ...] = ()) -> Unavailable | None:
        move = _move(action, parameters)
        if move is None or self.pager.can(move):
            return super().unavailable(action, parameters)
        return Unavailable(NO_PAGE[move])


NO_PAGE: dict[Move, str] = {"older": "no older records", "oldest": "this is the last page (the oldest records)",
                            "newer": "no newer records", "newest": "this is the first page (the newest records)"}


def _move(action: str, parameters: tuple[object, ...]) -> Move | None:
    """The paging move of an action of ``KeysetPagedPane``, or None for any other action."""
    if action == "page_end" and parameters and parameters[0] in NO_PAGE:
        return parameters[0]  # type: ignore[return-value]
    if action == "page" and parameters:
        return "older" if int(parameters[0]) > 0 else "newer"  # type: ignore[call-overload]
    return None

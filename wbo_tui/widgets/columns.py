"""Column priorities: which of a table's columns a terminal too narrow for all of them shows.

A pane lists its columns (``COLUMNS``), the ones it may leave out, least important first
(``DROP_ORDER``), and the long text columns it may narrow, with the narrowest they may get
(``NARROW``).  Before its rows are shown, the columns' natural widths (the widest cell or
label, plus the table's cell padding) are added up; while they exceed the table's width,
the next column of the drop order is left out, and then the narrowable columns give up
what is still too much (their text ends in an ellipsis).  Columns not in the drop order are
always shown, so an operator at 80x24 still sees the account, the currency, the amount and
the status without scrolling; what is left out or cut is in the pane's detail line.  The
first column (``fixed``) stays in place when the table scrolls sideways.

Only the shown columns are in the ``DataTable`` (keyed by their labels): a column
dropped on a narrow terminal is not in the table at all, so cells are picked with
``pick`` before they are added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


def text_width(value: object) -> int:
    """The cells a table cell's text takes on screen (its widest line)."""
    if isinstance(value, Text):
        return max((line.cell_len for line in value.split(allow_blank=True)), default=0)
    return max((cell_len(line) for line in str(value).splitlines()), default=0)


def natural_widths(labels: Sequence[str], rows: Iterable[Sequence[object]], padding: int) -> list[int]:
    """Each column's width with nothing cut: its widest cell or label, plus padding both sides."""
    widths = [text_width(label) for label in labels]
    for row in rows:
        for index, value in enumerate(row):
            widths[index] = max(widths[index], text_width(value))
    return [width + 2 * padding for width in widths]


def shown_columns(labels: Sequence[str], widths: Sequence[int], drop_order: Sequence[str],
                  available: int) -> tuple[int, ...]:
    """The indexes of the columns to show in ``available`` cells: every column, less the
    drop order's first ones until the rest fit (or nothing droppable is left); then the
    dropped ones that fit in the room left after all, the most important first (a wide
    column dropped late can leave room for a narrow one dropped before it)."""
    shown = set(range(len(labels)))
    total = sum(widths)
    dropped = []
    for label in drop_order:
        if total <= available:
            break
        index = labels.index(label)
        shown.discard(index)
        dropped.append(index)
        total -= widths[index]
    for index in reversed(dropped):
        if total + widths[index] <= available:
            shown.add(index)
            total += widths[index]
    return tuple(sorted(shown))


def narrowed(labels: Sequence[str], widths: Sequence[int], shown: Sequence[int], narrow: Mapping[str, int],
             available: int) -> dict[int, int]:
    """Fixed widths (content only) for the narrowable shown columns, so the shown columns
    fit ``available`` where narrowing down to each one's minimum can make them fit; empty
    when they fit already."""
    excess = sum(widths[i] for i in shown) - available
    fixed: dict[int, int] = {}
    for label, least in narrow.items():
        index = labels.index(label)
        if excess <= 0:
            break
        if index not in shown:
            continue
        content = widths[index] - PADDED
        give = min(excess, max(0, content - least))
        if give:
            fixed[index] = content - give
            excess -= give
    return fixed


PADDED = 2  # a cell's padding both sides, at the DataTable's default cell_padding of 1


class PriorityColumns:
    """The columns one ``DataTable`` shows, chosen by width and priority."""

    def __init__(self, labels: Sequence[str], drop_order: Sequence[str] = (), *, fixed: int = 1,
                 narrow: Mapping[str, int] | None = None) -> None:
        unknown = [label for label in (*drop_order, *(narrow or {})) if label not in labels]
        assert not unknown, f"DROP_ORDER or NARROW names columns the table does not have: {unknown}"
        self.labels = tuple(labels)
        self.drop_order = tuple(drop_order)
        self.narrow = dict(narrow or {})
        self.fixed = fixed
        self.shown: tuple[int, ...] | None = None
        self.widths: dict[int, int] = {}

    @staticmethod
    def available(table: DataTable) -> int:
        """The table's width for columns (its vertical scrollbar's room kept); 0 before the
        table has been laid out."""
        width = table.size.width
        return max(0, width - table.styles.scrollbar_size_vertical) if width else 0

    def fit(self, table: DataTable, rows: Sequence[Sequence[object]]) -> tuple[tuple[int, ...], dict[int, int]]:
        """The columns that fit ``table`` with ``rows`` in it, and every shown column's width
        (its content, without padding: the widest cell or label, or less where narrowed).
        A table not laid out yet (a hidden tab) shows every column; it is fitted again when
        it gets its size.

        The widths are measured here, in one pass over the rows, and given to the table:
        its columns are never auto-sized.  ``DataTable`` measures an auto-sized column
        again, every cell of it, for each cell that got narrower (a live update of a few
        hundred rows froze the console for a second), and draws rows it cached before
        measuring at the old widths (a cut column, seen now and then)."""
        padding = table.cell_padding
        widths = natural_widths(self.labels, rows, padding)
        available = self.available(table)
        if not available:
            shown, cut = tuple(range(len(self.labels))), {}
        else:
            shown = shown_columns(self.labels, widths, self.drop_order, available)
            cut = narrowed(self.labels, widths, shown, self.narrow, available)
        return shown, {i: cut.get(i, widths[i] - 2 * padding) for i in shown}

    def changes(self, table: DataTable, rows: Sequence[Sequence[object]]) -> bool:
        """Whether ``rows`` need other columns or widths than the table has (then the rows
        are laid out again; else only their changed cells are written)."""
        return self.fit(table, rows) != (self.shown, self.widths)

    def apply(self, table: DataTable, rows: Sequence[Sequence[object]]) -> None:
        """Lay ``table``'s columns out for ``rows`` (which the caller adds next, picked).
        The table's rows are cleared when its columns change."""
        shown, widths = self.fit(table, rows)
        if (shown, widths) == (self.shown, self.widths):
            return
        table.clear(columns=True)
        for index in shown:
            table.add_column(self.labels[index], key=self.labels[index], width=widths[index])
        table.fixed_columns = min(self.fixed, len(shown))
        self.shown, self.widths = shown, widths

    def pick(self, cells: Sequence[object]) -> list[object]:
        """The shown columns' cells out of a full row."""
        assert self.shown is not None, "apply() lays the columns out before rows are added"
        return [cells[index] for index in self.shown]

    def is_shown(self, label: str) -> bool:
        return self.shown is not None and self.labels.index(label) in self.shown

    def left_out(self) -> tuple[str, ...]:
        """The labels of the columns this width leaves out (for a detail line)."""
        return tuple(label for i, label in enumerate(self.labels) if self.shown is not None and i not in self.shown)

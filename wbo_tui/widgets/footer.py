"""The shell's footer: one line of keys that always fits the terminal.

Textual's footer lays every shown key out on one line and cuts what does not fit, so at
80 columns the last keys (and at 160 columns, on a busy pane, Refresh, Lock and Log out)
were simply not there.  This footer leaves keys out instead, in a fixed order, until the
rest fits: first the shell's own rarely used keys (``OPTIONAL_ACTIONS``: refresh, log out,
lock), then the pane's keys from the right (each pane lists its keys most used first).
The area keys, the tab key and ``?`` always stay, and ``?`` lists every key, those left
out here too.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey, FooterLabel, KeyGroup

# Shell keys shown only when there is room; they are always in ? help.
OPTIONAL_ACTIONS = ("refresh", "app.logout", "app.lock")
# Keys that always stay: help, and moving between tabs and areas (grouped keys stay too).
KEPT_ACTIONS = frozenset({"app.help", "tab(1)", "tab(-1)"})


def key_width(key: FooterKey) -> int:
    """Cells a compact footer key takes, its right margin included."""
    description = f" {key.description}" if key.description else ""
    return cell_len(key.key_display) + cell_len(description) + 1


def widget_width(widget: Widget) -> int:
    if isinstance(widget, FooterKey):
        return key_width(widget)
    if isinstance(widget, KeyGroup):
        # Compact group: one cell of padding, the keys side by side, one cell of margin.
        return 2 + sum(cell_len(k.key_display) for k in widget.query_children(FooterKey))
    if isinstance(widget, FooterLabel):
        return cell_len(str(widget.render())) + 1
    return 0


def left_out(widgets: list[Widget], available: int) -> set[int]:
    """Indexes of the keys to leave out so the rest fits ``available`` cells."""
    total = sum(widget_width(w) for w in widgets)
    keys = [(i, w) for i, w in enumerate(widgets) if isinstance(w, FooterKey)]
    optional = [i for action in OPTIONAL_ACTIONS for i, w in keys if w.action == action]
    pane = [i for i, w in reversed(keys) if w.action not in KEPT_ACTIONS and i not in optional]
    dropped: set[int] = set()
    for index in (*optional, *pane):
        if total <= available:
            break
        dropped.add(index)
        total -= widget_width(widgets[index])
    return dropped


class FittingFooter(Footer):
    """A compact footer without the command-palette key (``?`` lists it) that leaves keys
    out rather than cutting them (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__(compact=True, show_command_palette=False)

    _shown: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen) -> None:
        """Compose the keys again only when what the footer shows changed.  Bindings are
        refreshed after every live reload of a list (a row's keys may have changed), and
        composing the footer anew each time cost a frame or two for nothing."""
        shown = tuple((binding.key, binding.description, binding.action, binding.group, enabled, tooltip)
                      for (_, binding, enabled, tooltip) in screen.active_bindings.values() if binding.show)
        if shown == self._shown:
            return
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._shown = shown  # Footer composes now (it waits while the app lacks focus)
        super().bindings_changed(screen)

    async def recompose(self) -> None:
        await super().recompose()
        self.fit()

    def on_resize(self, event: events.Resize) -> None:
        self.fit()

    def fit(self) -> None:
        """Show every key, then leave out what does not fit the footer's width."""
        widgets = list(self.children)
        width = self.size.width
        dropped = left_out(widgets, width) if width else set()
        for index, widget in enumerate(widgets):
            widget.display = index not in dropped

    def shown_keys(self) -> list[FooterKey]:
        """The keys the operator sees (grouped ones too)."""
        return [key for key in self.query(FooterKey) if key.display and (
            key.parent is self or key.parent is not None and key.parent.display)]

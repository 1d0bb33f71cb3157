"""Screens whose fields take a burst of keys the way they take the same keys typed slowly.

Keys often reach the console in bursts: an SSH link delivers what was typed during one
round trip in one read, and a password manager types a whole ``user<Tab>password<Enter>``
at once.  Textual's app handles a read key by key: it checks priority bindings, then
forwards the key to whatever is focused *at that moment*, without waiting for earlier keys
to be handled.  Everything else happens later, in the receiving widget's own queue or once
the key has bubbled back up to the app: Textual's own Tab (a non-priority binding),
``Widget.focus()`` and ``Input.Submitted`` move the focus only after the rest of the burst
was forwarded, so the keys after a Tab land in the field before it (a password in clear
text in a Username or Display name field); a field's own editing keys (backspace, home)
run against whatever is focused by then.

So on a ``BurstSafeScreen``:

- Tab, shift+tab and Enter are priority bindings: they move the focus at once, while the
  app handles the key, so the keys after them go to the field the operator moved to.
- A key the focused widget binds for itself (backspace in a field, space in a list) runs
  in that widget's own queue, after the keys already sent to it, instead of against
  whatever is focused when the key comes back to the app.
- ``read_after_typed_keys`` hands over the fields' values as they stand once every key
  already sent to them has been handled: what a submit reads is what was typed before it.

What a screen cannot intercept is a paste: the app hands it straight to the focused
widget.  ``BurstInput`` is the field that keeps only a paste's first field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from textual import events
from textual.actions import SkipAction
from textual.binding import Binding, BindingsMap
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

ResultType = TypeVar("ResultType")

TypedValues = Mapping[Input, str]
"""Each field's value once every key typed into it before the submit had been handled."""

# Tab, shift+tab and Enter have bindings of their own below.
_MOVING_KEYS = {"tab", "shift+tab", "enter"}
# The keys the widgets forms are made of bind for themselves (``field_keys`` computes
# them; a test holds this list to it, so a Textual upgrade that binds another key fails
# there rather than typing it out of order).  Listed, not computed here: computing needs
# Select, SelectionList and OptionList imported, milliseconds before the login screen.
_FIELD_KEYS = [
    "alt+backspace", "backspace", "ctrl+a", "ctrl+backspace", "ctrl+c", "ctrl+d", "ctrl+e", "ctrl+k", "ctrl+left",
    "ctrl+pagedown", "ctrl+pageup", "ctrl+right", "ctrl+shift+a", "ctrl+shift+left", "ctrl+shift+right", "ctrl+u",
    "ctrl+v", "ctrl+w", "ctrl+x", "delete", "down", "end", "home", "left", "pagedown", "pageup", "right",
    "shift+end", "shift+home", "shift+left", "shift+right", "space", "super+backspace", "super+c", "up",
]


def field_keys() -> list[str]:
    """The keys Textual's form widgets bind for themselves (what ``_FIELD_KEYS`` lists)."""
    from textual.widgets import Button, Checkbox, OptionList, Select, SelectionList

    return sorted({key for widget in (Input, Select, OptionList, SelectionList, Checkbox, Button)
                   for key in widget._merge_bindings().key_to_bindings} - _MOVING_KEYS)


class BurstSafeScreen(Screen[ResultType]):
    """A screen with fields that is safe against bursts of keys (see the module's docstring).

    A subclass implements ``submit_typed``: what Enter in the last field does.  Whatever
    reads the fields to act on them goes through ``read_after_typed_keys``.

    A modal screen names ``ModalScreen`` before this class among its bases: Textual takes
    a screen's styles (its ``DEFAULT_CSS`` and the type names its CSS selectors match)
    from the first widget class among the bases only, and this class brings no styles.
    """

    BINDINGS = [
        # Priority bindings run while the app handles the key, before it forwards the next
        # key of the burst, and ``Screen.set_focus`` moves the focus at once.
        Binding("tab", "next_field", show=False, priority=True),
        Binding("shift+tab", "previous_field", show=False, priority=True),
        Binding("enter", "typed_enter", show=False, priority=True),
        *(Binding(key, f"typed_key({key!r})", show=False, priority=True) for key in _FIELD_KEYS),
    ]

    def submit_typed(self) -> None:
        """Enter in the last field: act on the form (through ``read_after_typed_keys``)."""
        raise NotImplementedError

    def action_next_field(self) -> None:
        self.focus_next()

    def action_previous_field(self) -> None:
        self.focus_previous()

    def action_typed_enter(self) -> None:
        focused = self.focused
        if isinstance(focused, Input):
            self.enter_in_field(focused)
        else:
            # A button, a list, a check box: its own Enter, in typing order.
            self.action_typed_key("enter")

    def enter_in_field(self, field: Input) -> None:
        """Enter in a field moves to the next field; Enter in the last one submits."""
        fields = [widget for widget in self.focus_chain if isinstance(widget, Input)]
        if field not in fields:
            self.focus_next()
        elif field is fields[-1]:
            self.submit_typed()
        else:
            self.set_focus(fields[fields.index(field) + 1])

    def action_typed_key(self, key: str) -> None:
        focused = self.focused
        if focused is None or not any(not binding.priority for binding in _bindings(focused, key)):
            # Not one of the focused widget's own keys: the app forwards it as usual (a
            # printable key is typed by the field it is forwarded to, in its queue).
            raise SkipAction()
        focused.call_later(self._run_bindings_from, focused, key)

    async def _run_bindings_from(self, widget: Widget, key: str) -> None:
        """What the app does with a key that comes back to it unhandled, but from the widget
        it was typed into rather than from whatever is focused by now."""
        for node in widget.ancestors_with_self:
            for binding in _bindings(node, key):
                if not binding.priority and await self.app.run_action(binding.action, node):
                    return
            if node.is_modal:
                return  # The app looks no further than the top modal screen either.

    def read_after_typed_keys(self, then: Callable[[TypedValues], object]) -> None:
        """Call ``then`` with the fields' values once every widget that can take keys has
        handled the keys already sent to it.

        A callback posted to a widget's queue runs after everything posted before it, so
        one is posted to each such widget now and each field's value is taken when its own
        callback runs: keys typed after this call do not count, even in a field whose
        queue is handled before another's.
        """
        widgets = [widget for widget in self.query("*") if widget.can_focus]
        values: dict[Input, str] = {}
        waiting = len(widgets)

        def landed(widget: Widget) -> None:
            nonlocal waiting
            if isinstance(widget, Input):
                values[widget] = widget.value
            waiting -= 1
            if waiting == 0:
                then(values)

        if not widgets:
            then(values)
        for widget in widgets:
            # A widget already closing takes no callbacks and no keys: nothing to wait for.
            if not widget.call_later(landed, widget):
                landed(widget)


def _bindings(node: DOMNode, key: str) -> tuple[Binding, ...]:
    """``node``'s own bindings for ``key``, as the app's keymap has them."""
    bindings: BindingsMap = node._bindings.copy()
    if node.app._keymap:
        bindings.apply_keymap(node.app._keymap)
    return tuple(bindings.key_to_bindings.get(key, ()))


class BurstInput(Input):
    """An ``Input`` that keeps only the first field of a paste.

    Input keeps a paste's first line; this stops at a tab too (and any other character
    that typing could not enter), so a pasted ``user<Tab>password`` leaves only the user in
    this field and the password nowhere.  Its keys are a ``BurstSafeScreen``'s concern.
    """

    def _on_paste(self, event: events.Paste) -> None:
        text = event.text
        end = next((at for at, character in enumerate(text) if not character.isprintable()), len(text))
        if end:
            if self.selection.is_empty:
                self.insert_text_at_cursor(text[:end])
            else:
                self.replace(text[:end], *self.selection)
        event.stop()
        event.prevent_default()

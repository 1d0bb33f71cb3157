"""A typed confirmation for destructive and bulk decisions: the operator types a phrase that
names the action and how many rows it touches (``REJECT 3``), and the action's button stays
disabled until the phrase matches.  A stray Enter, a key meant for another window, or a
habit of confirming without reading can then never reject, approve in bulk, liquidate or
cancel anything."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static


def phrase(verb: str, count: int) -> str:
    """The text to type: the action in capitals and the number of rows, e.g. ``REJECT 3``."""
    return f"{verb.upper()} {count}"


class TypedConfirmation(Vertical):
    """A label saying what to type and what Enter then does, and the field to type it in."""

    DEFAULT_CSS = """
    TypedConfirmation { height: auto; }
    TypedConfirmation .typed-prompt { padding: 0 1; }
    TypedConfirmation .typed-prompt.-matches { color: $success; }
    """

    @dataclass
    class Changed(Message):
        """The typed text changed; ``matches`` says whether it is now the phrase."""

        confirmation: TypedConfirmation
        matches: bool

    def __init__(self, expected: str, does: str, *, id: str = "typed-confirmation") -> None:  # noqa: A002
        super().__init__(id=id)
        self.expected = expected
        self.does = does
        """What Enter does once the phrase matches, e.g. "rejects the 3 marked allocations"."""

    def compose(self) -> ComposeResult:
        yield Static(self.prompt(), classes="typed-prompt", markup=False)
        yield Input(id="typed-confirmation-input", placeholder=self.expected, compact=True)

    def prompt(self) -> str:
        if self.matches:
            return f"Confirmed: Enter {self.does}. Escape cancels and changes nothing."
        return (f"Type {self.expected} to confirm. Until you do, Enter does nothing; then Enter {self.does}. "
                "Escape cancels and changes nothing.")

    @property
    def matches(self) -> bool:
        fields = self.query(Input)
        return bool(fields) and fields.first().value.strip() == self.expected

    def matches_text(self, typed: Mapping[Input, str]) -> bool:
        """Whether the phrase matches as the field stood in ``typed`` (a form's values once
        the keys typed before its submit had landed), else as it stands now."""
        fields = self.query(Input)
        if not fields:
            return False
        field = fields.first()
        return typed.get(field, field.value).strip() == self.expected

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        prompt = self.query_one(".typed-prompt", Static)
        prompt.update(self.prompt())
        prompt.set_class(self.matches, "-matches")
        self.post_message(self.Changed(self, self.matches))

"""Modal building blocks: a form that runs its own engine call, and a confirmation.

A form stays open while its command runs and shows a refusal next to its fields, so the
operator corrects the input instead of starting over.  Only a permission denial, an
ended session or an internal error leave the form to the app's one reporter.

Keys often reach a form in bursts (an SSH read, a password manager): a form is a
``BurstSafeScreen``, so every key lands in the field it was typed for, whichever widgets
the form is made of, and the command is built from the fields as they were once every key
typed before the submit had landed (see ``wbo_tui.widgets.burst_input``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Generic, TypeVar, get_args

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import Worker

from wbo_tui.engine import AccountLocked, NotAuthenticated, PermissionDenied, SessionInfo, ValidationFailed, WboError
from wbo_tui.engine.api import Engine
from wbo_tui.engine.positions.channel_accounts import Scenario
from wbo_tui.widgets.burst_input import BurstSafeScreen, TypedValues
from wbo_tui.widgets.engine_workers import EngineWorkers
from wbo_tui.widgets.dismissal import DismissWhenActive

R = TypeVar("R")


class FormScreen(DismissWhenActive, EngineWorkers, ModalScreen[R], BurstSafeScreen[R], Generic[R]):
    """Subclasses yield their fields from ``compose_fields`` and implement ``perform``,
    reading the fields with ``value``."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="form-cancel")]
    HELP = (
        "Fill in the fields. Enter moves to the next field and, in the last one, submits; "
        "space toggles an entry in a list; Escape cancels and changes nothing. The engine "
        "checks every field and its refusal is shown above the buttons."
    )
    FORM_TITLE = ""
    SUBMIT_LABEL = "Save"
    SUBMIT_VARIANT = "primary"
    # The fields as submitted, while ``perform`` runs (see ``value``).
    _as_submitted: TypedValues | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(self.FORM_TITLE, classes="modal-title", markup=False)
            with VerticalScroll(classes="form-fields"):
                yield from self.compose_fields()
            yield Static("", id="form-error", classes="form-error", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button(self.SUBMIT_LABEL, id="submit", variant=self.SUBMIT_VARIANT)  # type: ignore[arg-type]
                yield Button("Cancel", id="cancel")

    def compose_fields(self) -> Iterable[Widget]:
        raise NotImplementedError

    def help_text(self) -> tuple[str, str]:
        return (self.FORM_TITLE, self.HELP or "")

    async def perform(self, engine: Engine, session: SessionInfo) -> R:
        """Build the command from the fields and run it; return what to dismiss with."""
        raise NotImplementedError

    def on_mount(self) -> None:
        # Textual calls every class's on_mount along the MRO, this one last: a subclass
        # need not call it, and must not move the focus itself (this would override it).
        # ``set_focus`` acts at once, not later through the app's queue as ``focus()``
        # does: the keys typed as the form comes up go to its first field.  The form opens
        # scrolled to its top, where that field is; scrolling to it now, before the first
        # layout, would scroll by a stale size.
        first = next(iter(self.query("Input, Select")), None)
        if first is not None:
            self.set_focus(first, scroll_visible=False)

    def value(self, selector: str) -> str:
        """A field's value; while the command runs, the value it had when submitted, so a
        key typed after Enter is not part of the command."""
        field = self.query_one(selector, Input)
        submitted = self._as_submitted
        return submitted.get(field, field.value) if submitted is not None else field.value

    def show_error(self, text: str) -> None:
        self.query_one("#form-error", Static).update(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.submit()
        elif event.button.id == "cancel":
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def submit_typed(self) -> None:
        self.submit()

    def submit(self) -> None:
        button = self.query_one("#submit", Button)
        if button.disabled:
            return
        button.disabled = True
        self.show_error("")
        self.read_after_typed_keys(self._perform)

    @work(exclusive=True, group="form", exit_on_error=False)
    async def _perform(self, submitted: TypedValues) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        if engine is None or session is None:
            raise NotAuthenticated("You are logged out.")
        self._as_submitted = submitted
        try:
            result = await self.perform(engine, session)
        finally:
            self._as_submitted = None
        self.dismiss_when_active(result)

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        self.query_one("#submit", Button).disabled = False
        if isinstance(error, (PermissionDenied, NotAuthenticated, AccountLocked)) or not isinstance(error, WboError):
            self.show_error("")
            return False
        self.show_error(str(error))
        return True


class ConfirmScreen(ModalScreen[bool]):
    """States exactly what will happen; nothing happens unless the operator confirms."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm-cancel")]
    HELP = "Read what will happen. The confirm button does it; Cancel or Escape changes nothing."

    def __init__(self, title: str, consequences: list[str], confirm_label: str, *, danger: bool = True) -> None:
        super().__init__()
        self._title = title
        self._consequences = consequences
        self._confirm_label = confirm_label
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(self._title, classes="modal-title", markup=False)
            yield Static("What will happen:", classes="modal-subtitle")
            # Scrolls when long (a role's many permissions at 80x24): the buttons stay on screen.
            with VerticalScroll(id="confirm-scroll"):
                yield Static("\n".join(f"• {line}" for line in self._consequences), id="confirm-consequences",
                             markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button(self._confirm_label, id="confirm", variant="error" if self._danger else "primary")
                yield Button("Cancel", id="cancel")

    def help_text(self) -> tuple[str, str]:
        return (self._title, self.HELP or "")

    def on_mount(self) -> None:
        # The safe choice has focus, so a stray Enter never confirms.
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)


def labelled(label: str, widget: Widget) -> Iterable[Widget]:
    """A field label followed by its widget."""
    yield Label(label, classes="field-label")
    yield widget


def confirmation_matches(new: str, confirm: str) -> None:
    if new != confirm:
        raise ValidationFailed("Confirmation", "does not match the new password")


# --- pieces the areas' forms share -----------------------------------------------------

# A channel account's business scenarios, as the engine names them.
SCENARIOS: tuple[str, ...] = get_args(Scenario)


def amount_text(amount: Decimal | None, precision: int, *, blank: str = "—") -> str:
    """Display text of an amount at its currency's precision, digits grouped; Decimal only."""
    if amount is None:
        return blank
    return f"{amount:,.{precision}f}"


def select_value(form: FormScreen, selector: str, label: str) -> str:
    """The chosen value of a Select, or a refusal naming the field when nothing is chosen."""
    value = form.query_one(selector, Select).value
    if value is Select.NULL:
        raise ValidationFailed(label, "is required")
    return str(value)


SHORT_ROWS = 30


class PositionForm(FormScreen[R]):
    """On a short terminal (under ``SHORT_ROWS`` rows, e.g. 80x24) the fields drop their
    borders, so the whole form, its refusal and its buttons stay on screen together."""

    def on_mount(self) -> None:
        # (Textual calls FormScreen.on_mount too, after this one: see there.)
        if self.app.size.height < SHORT_ROWS:
            for field in (*self.query(Input), *self.query(Select)):
                field.compact = True

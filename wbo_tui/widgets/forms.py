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
from wbo_tui.widgets.typed_confirmation import TypedConfirmation

R = TypeVar("R")


class FormFields(VerticalScroll):
    """A form's fields, scrolling above its refusal and buttons when they do not fit."""

    def on_resize(self) -> None:
        # Laid out at a new height (``fit_body`` on a short terminal): the field being
        # typed in stays in view (a bulk form's first field can be below its list of rows).
        self._show_focused()

    def watch_virtual_size(self) -> None:
        # The same when the fields grow or shrink at the same height (a scrollbar that came
        # narrows the text, which then wraps to more lines): once they are laid out.
        self.call_after_refresh(self._show_focused)

    def _show_focused(self) -> None:
        focused = self.screen.focused if self.is_attached else None
        if focused is not None and self in focused.ancestors:
            focused.scroll_visible(animate=False, immediate=True)


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
    CANCEL_NOTICE = ""
    """Said when the operator cancels (a decision dialog says that nothing was decided)."""
    # The fields as submitted, while ``perform`` runs (see ``value``).
    _as_submitted: TypedValues | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(self.FORM_TITLE, classes="modal-title", markup=False)
            with FormFields(classes="form-fields"):
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
        # A form with a typed confirmation acts only once it matches.
        self.query_one("#submit", Button).disabled = not self.typed_ok()
        self._fit_later()

    def on_resize(self) -> None:
        self._fit_later()

    def _fit_later(self) -> None:
        """Fit the fields to the screen once the form is laid out (its refusal may have
        grown or shrunk, the terminal may have been resized)."""
        self.call_after_refresh(fit_body, self.query_one(".form-fields"))

    def typed_ok(self) -> bool:
        """Whether every typed confirmation of the form (if any) matches its phrase."""
        return all(typed.matches for typed in self.query(TypedConfirmation))

    def on_typed_confirmation_changed(self, event: TypedConfirmation.Changed) -> None:
        event.stop()
        running = any(w.group == "form" and not w.is_finished for w in self.workers)
        if not running:
            self.query_one("#submit", Button).disabled = not self.typed_ok()
        if event.matches:
            self.show_error("")

    def value(self, selector: str) -> str:
        """A field's value; while the command runs, the value it had when submitted, so a
        key typed after Enter is not part of the command."""
        field = self.query_one(selector, Input)
        submitted = self._as_submitted
        return submitted.get(field, field.value) if submitted is not None else field.value

    def show_error(self, text: str) -> None:
        self.query_one("#form-error", Static).update(text)
        self._fit_later()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.submit()
        elif event.button.id == "cancel":
            self.action_cancel()

    def action_cancel(self) -> None:
        if self.CANCEL_NOTICE:
            self.app.notify(self.CANCEL_NOTICE, title="Cancelled", markup=False)
        self.dismiss(None)

    def submit_typed(self) -> None:
        self.submit()

    _submitting = False

    def submit(self) -> None:
        # Judged once every key typed before this Enter has landed: in a burst (an SSH
        # read) the confirmation's last characters may still be on their way to its field.
        if self._submitting:
            return
        self._submitting = True
        self.read_after_typed_keys(self._submit_as_typed)

    def _submit_as_typed(self, submitted: TypedValues) -> None:
        self._submitting = False
        typed = [t for t in self.query(TypedConfirmation) if not t.matches_text(submitted)]
        if typed:
            # Enter in the confirmation field before it matches: nothing happens, and the form says why.
            self.show_error(f"Not done: type {typed[0].expected} to confirm first.")
            return
        button = self.query_one("#submit", Button)
        if button.disabled and not self.query(TypedConfirmation):
            return  # already running
        if any(w.group == "form" and not w.is_finished for w in self.workers):
            return
        button.disabled = True
        self.show_error("")
        self._perform(submitted)

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
        self.query_one("#submit", Button).disabled = not self.typed_ok()
        if isinstance(error, (PermissionDenied, NotAuthenticated, AccountLocked)) or not isinstance(error, WboError):
            self.show_error("")
            return False
        self.show_error(str(error))
        return True


class ConfirmScreen(ModalScreen[bool]):
    """States exactly what will happen; nothing happens unless the operator confirms, and
    the dialog always says what Enter does.

    ``danger`` False (an approval, a retry): the action's button has the focus, so Enter
    does what the title asks.  ``danger`` True: Cancel has the focus, so a stray Enter
    changes nothing.  ``typed`` (a phrase such as ``APPROVE 3``, for destructive and bulk
    decisions): the operator types it first; the button stays disabled until it matches."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm-cancel")]
    HELP = ("Read what will happen. The confirm button does it; Cancel or Escape changes nothing. The line above "
            "the buttons says what Enter does; some decisions ask you to type a confirmation first.")

    def __init__(self, title: str, consequences: list[str], confirm_label: str, *, danger: bool = True,
                 typed: str | None = None, does: str = "") -> None:
        super().__init__()
        self._title = title
        self._consequences = consequences
        self._confirm_label = confirm_label
        self._danger = danger
        self._typed = typed
        self._does = does or confirm_label.lower()

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(self._title, classes="modal-title", markup=False)
            yield Static("What will happen:", classes="modal-subtitle")
            # Scrolls when long (a role's many permissions at 80x24): the buttons stay on screen.
            with VerticalScroll(id="confirm-scroll"):
                yield Static("\n".join(f"• {line}" for line in self._consequences), id="confirm-consequences",
                             markup=False)
            if self._typed is not None:
                yield TypedConfirmation(self._typed, self._does)
            else:
                yield Static("", id="confirm-enter", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button(self._confirm_label, id="confirm", variant="error" if self._danger else "primary",
                             disabled=self._typed is not None)
                yield Button("Cancel", id="cancel")

    def help_text(self) -> tuple[str, str]:
        return (self._title, self.HELP or "")

    def on_mount(self) -> None:
        self._fit_later()
        if self._typed is not None:
            self.query_one("#typed-confirmation-input", Input).focus()
        elif self._danger:
            self.query_one("#cancel", Button).focus()  # A stray Enter never confirms.
        else:
            self.query_one("#confirm", Button).focus()  # Enter does what the title asks.

    def on_resize(self) -> None:
        self._fit_later()

    def _fit_later(self) -> None:
        # After the next layout: the line saying what Enter does may have changed its height.
        self.call_after_refresh(fit_body, self.query_one("#confirm-scroll"))

    def on_descendant_focus(self) -> None:
        if self._typed is not None:
            return
        enter = (f"Enter: Cancel, nothing changes. Shift+Tab then Enter: {self._confirm_label}."
                 if self.focused is not None and self.focused.id == "cancel"
                 else f"Enter: {self._confirm_label} ({self._does}). Escape cancels and changes nothing.")
        self.query_one("#confirm-enter", Static).update(enter)
        self._fit_later()

    def on_typed_confirmation_changed(self, event: TypedConfirmation.Changed) -> None:
        event.stop()
        self.query_one("#confirm", Button).disabled = not event.matches
        self._fit_later()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter in the confirmation field: confirms once the phrase matches, else nothing.
        event.stop()
        # The field's own value, not the button: the button follows the phrase one message
        # later, and in a burst this Enter can arrive first.
        if all(typed.matches for typed in self.query(TypedConfirmation)):
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self.dismiss(True)
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        self.app.notify(f"Cancelled, nothing changed: {self._title}", title="Cancelled", markup=False)
        self.dismiss(False)


def fit_body(body: Widget) -> None:
    """Give ``body``, the scrolling part of a modal's box, only the rows the screen leaves
    it once the box's border and its other parts (title, refusal, what Enter does, the
    buttons) have theirs, and never more than its stylesheet allows: on a short terminal
    (80x24) the body scrolls and the buttons below it stay on screen.  Call it once the
    box is laid out; it changes the layout only when the room changed."""
    box = body.parent
    if not isinstance(box, Widget) or not body.is_attached:
        return
    others = sum(child.outer_size.height for child in box.children if child is not body and child.display)
    room = max(1, body.screen.size.height - box.styles.gutter.height - box.styles.margin.height - others)
    most = body.styles.base.max_height  # the stylesheet's own maximum
    if most is not None and room >= most.resolve(box.content_size, body.screen.size):
        body.styles.max_height = None  # the stylesheet's maximum fits: it applies
    else:
        body.styles.max_height = room


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

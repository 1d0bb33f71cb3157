"""The fund allocation rule editor (create, copy, edit with a diff first) and the
schedule preview: a schedule's next runs and every day it skips, with the reason."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, DataTable, Input, Select, Static
from textual.worker import Worker

from wbo_tui.engine import SessionInfo, ValidationFailed, WboError, build
from wbo_tui.engine.allocations import (
    CreateAllocationRule,
    EditAllocationRule,
    PreviewRuleEdit,
    PreviewSchedule,
    RuleDTO,
    ScheduleDayDTO,
)
from wbo_tui.engine.allocations.rules import AMOUNT_LABELS, EVENT_LABELS, LABELS, SCHEDULE_LABELS
from wbo_tui.engine.allocations.schedule import HONG_KONG
from wbo_tui.engine.api import Engine
from wbo_tui.engine.positions import PositionDTO
from wbo_tui.widgets.engine_workers import EngineWorkers

from wbo_tui.widgets.forms import ConfirmScreen, FormScreen, labelled
from wbo_tui.widgets.forms import SCENARIOS

M = TypeVar("M", bound=BaseModel)
TRIGGERS = {"schedule": "Schedule", "event": "Event"}
STRATEGIES = {"automatic": "Automatic", "manual": "Manual"}
AUDITS = {"none": "None (runs at once)", "work_order": "Work order (approval first)"}


def options(labels: dict[str, str]) -> list[tuple[str, str]]:
    return [(label, value) for value, label in labels.items()]


# ``build`` names a field after its attribute ("Schedule time"); the form's label is shown instead.
FORM_LABELS = {name.replace("_", " ").capitalize(): label for name, label in LABELS.items()}


def build_rule(model: type[M], **fields: Any) -> M:
    """``build``, with a refusal naming the field as the form labels it."""
    try:
        return build(model, **fields)
    except ValidationFailed as error:
        if error.field not in FORM_LABELS:
            raise
        raise ValidationFailed(FORM_LABELS[error.field], error.rule) from None


def account_label(p: PositionDTO) -> str:
    return f"{p.account_no} {p.currency} ({p.scenario})"


class RuleScreen(FormScreen[RuleDTO]):
    """Create (``rule`` None), copy (``copy``: a new rule pre-filled from ``rule``) or edit
    a rule.  An edit lists its changes and the rule's open allocations, and saves only
    once the operator confirms."""

    HELP = (
        "A fund allocation rule moves money between two accounts of one settlement channel in "
        "one currency. Trigger: a schedule (every calendar day, every HKEX trading day, or weekly "
        "on the weekdays you list, e.g. MON,WED,FRI, at a Hong Kong time HH:MM) or an event. "
        "Amount: a fixed amount, top up the incoming account to the amount, sweep the outgoing "
        "account above the amount, or the triggering event's amount (leave Amount blank). "
        "Priority 1 is the highest. 'Preview schedule' shows the next runs of the schedule as "
        "typed, and the days it skips and why. Editing shows each change before it is saved."
    )

    def __init__(self, accounts: Sequence[PositionDTO], rule: RuleDTO | None = None, *, copy: bool = False) -> None:
        super().__init__()
        self._accounts = list(accounts)
        self._rule = rule
        self._copy = copy
        self._editing = rule is not None and not copy
        if rule is None:
            self.FORM_TITLE, self.SUBMIT_LABEL = "New allocation rule", "Create rule"
        elif copy:
            self.FORM_TITLE, self.SUBMIT_LABEL = f"New rule copied from rule {rule.id}", "Create rule"
        else:
            self.FORM_TITLE, self.SUBMIT_LABEL = f"Edit allocation rule {rule.id}", "Review and save"

    def compose_fields(self) -> Iterable[Widget]:
        r = self._rule
        get = (lambda name, default: default) if r is None else (  # noqa: E731
            lambda name, default: default if getattr(r, name) is None else getattr(r, name))
        name = "" if r is None else (f"{r.name} (copy)"[:80] if self._copy else r.name)
        accounts = [(account_label(p), p.channel_account_id) for p in self._accounts]
        yield from labelled(LABELS["name"], Input(name, id="rule-name"))
        with Horizontal(classes="rule-pair"):
            with Vertical():
                yield from labelled(LABELS["from_account_id"], Select(accounts, id="rule-from",
                                                                      value=get("from_account_id", Select.NULL)))
            with Vertical():
                yield from labelled(LABELS["to_account_id"], Select(accounts, id="rule-to",
                                                                    value=get("to_account_id", Select.NULL)))
        with Horizontal(classes="rule-pair"):
            with Vertical():
                yield from labelled(LABELS["currency"], Input(get("currency", ""), id="rule-currency",
                                                              placeholder="e.g. HKD"))
            with Vertical():
                yield from labelled(LABELS["scenario"], Select([(s, s) for s in SCENARIOS], id="rule-scenario",
                                                               value=get("scenario", Select.NULL)))
        trigger = get("trigger_kind", "schedule")
        yield from labelled(LABELS["trigger_kind"], Select(options(TRIGGERS), id="rule-trigger", allow_blank=False,
                                                           value=trigger))
        with Vertical(id="rule-schedule-fields", classes="rule-trigger-fields"):
            with Horizontal(classes="rule-pair"):
                with Vertical():
                    yield from labelled(LABELS["schedule_kind"], Select(
                        options(SCHEDULE_LABELS), id="rule-schedule-kind", value=get("schedule_kind", Select.NULL)))
                with Vertical():
                    yield from labelled(LABELS["schedule_time"], Input(
                        get("schedule_time", ""), id="rule-time", placeholder="HH:MM"))
            yield from labelled(f"{LABELS['schedule_days']} (weekly only)", Input(
                get("schedule_days", ""), id="rule-days", placeholder="e.g. MON,WED,FRI"))
            yield Button("Preview schedule", id="rule-preview-schedule")
        with Vertical(id="rule-event-fields", classes="rule-trigger-fields"):
            yield from labelled(LABELS["event_kind"], Select(options(EVENT_LABELS), id="rule-event",
                                                             value=get("event_kind", Select.NULL)))
        with Horizontal(classes="rule-pair"):
            with Vertical():
                yield from labelled(LABELS["amount_rule"], Select(options(AMOUNT_LABELS), id="rule-amount-rule",
                                                                  value=get("amount_rule", Select.NULL)))
            with Vertical():
                yield from labelled(LABELS["amount"], Input(str(get("amount", "")), id="rule-amount",
                                                            placeholder="blank for the event's amount"))
        with Horizontal(classes="rule-pair"):
            with Vertical():
                yield from labelled(LABELS["strategy"], Select(options(STRATEGIES), id="rule-strategy",
                                                               allow_blank=False, value=get("strategy", "automatic")))
            with Vertical():
                yield from labelled(LABELS["audit_strategy"], Select(options(AUDITS), id="rule-audit",
                                                                     allow_blank=False,
                                                                     value=get("audit_strategy", "none")))
        with Horizontal(classes="rule-pair"):
            with Vertical():
                yield from labelled(f"{LABELS['priority']} (1 is highest)", Input(str(get("priority", 100)),
                                                                                 id="rule-priority"))
            with Vertical():
                yield Checkbox(LABELS["enabled"], get("enabled", True), id="rule-enabled")

    def on_mount(self) -> None:
        # Textual also runs FormScreen.on_mount (handlers are called along the MRO).
        self._show_trigger_fields()

    @on(Select.Changed, "#rule-trigger")
    def _trigger_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._show_trigger_fields()

    def _show_trigger_fields(self) -> None:
        """Only the fields of the chosen trigger kind are shown (and sent)."""
        schedule = self._select("#rule-trigger") == "schedule"
        self.query_one("#rule-schedule-fields").display = schedule
        self.query_one("#rule-event-fields").display = not schedule

    @on(Button.Pressed, "#rule-preview-schedule")
    def _preview_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.preview_schedule()

    def preview_schedule(self) -> None:
        """The schedule as typed, before it is saved: a field error shows on the form."""
        self.show_error("")
        try:
            kind = self._select("#rule-schedule-kind")
            if kind is None:
                raise ValidationFailed(LABELS["schedule_kind"], "is required for a scheduled rule")
            query = build_rule(PreviewSchedule, schedule_kind=kind, schedule_days=self._days(),
                               schedule_time=self.value("#rule-time").strip() or None)
            if query.schedule_time is None:
                raise ValidationFailed(LABELS["schedule_time"], "is required for a scheduled rule (HH:MM)")
        except WboError as error:
            self.show_error(str(error))
            return
        title = f"Schedule preview: {SCHEDULE_LABELS[kind]}"
        if kind == "weekly":
            title += f" {','.join(query.schedule_days)}"
        self.app.push_screen(SchedulePreviewScreen(query, f"{title} at {query.schedule_time} HKT"))

    # --- reading the fields -------------------------------------------------------------

    def _select(self, selector: str) -> Any:
        value = self.query_one(selector, Select).value
        return None if value is Select.NULL else value

    def _days(self) -> tuple[str, ...]:
        return tuple(d for d in re.split(r"[,\s]+", self.value("#rule-days")) if d)

    def fields(self) -> dict[str, Any]:
        """The command's fields; the engine and ``build`` check them and name the field."""
        for selector, name in (("#rule-from", "from_account_id"), ("#rule-to", "to_account_id"),
                               ("#rule-scenario", "scenario"), ("#rule-amount-rule", "amount_rule")):
            if self._select(selector) is None:
                raise ValidationFailed(LABELS[name], "is required")
        trigger = self._select("#rule-trigger")
        schedule = trigger == "schedule"
        return {
            "name": self.value("#rule-name"), "from_account_id": self._select("#rule-from"),
            "to_account_id": self._select("#rule-to"), "currency": self.value("#rule-currency"),
            "scenario": self._select("#rule-scenario"), "trigger_kind": trigger,
            "schedule_kind": self._select("#rule-schedule-kind") if schedule else None,
            "schedule_days": self._days() if schedule else (),
            "schedule_time": self.value("#rule-time").strip() or None if schedule else None,
            "event_kind": None if schedule else self._select("#rule-event"),
            "amount_rule": self._select("#rule-amount-rule"),
            "amount": self.value("#rule-amount").strip() or None,
            "strategy": self._select("#rule-strategy"), "audit_strategy": self._select("#rule-audit"),
            "priority": self.value("#rule-priority").strip(),
            "enabled": self.query_one("#rule-enabled", Checkbox).value,
        }

    async def perform(self, engine: Engine, session: SessionInfo) -> RuleDTO:
        fields = self.fields()
        rule = self._rule
        if not self._editing:
            copied_from = rule.id if rule is not None else None
            return await engine.execute(session, build_rule(CreateAllocationRule, copied_from=copied_from, **fields))
        assert rule is not None
        command = build_rule(EditAllocationRule, rule_id=rule.id, expected_version=rule.version, **fields)
        preview = await engine.query(session, PreviewRuleEdit(edit=command))
        if not preview.changes:
            raise ValidationFailed("Rule", "is unchanged")
        opened = preview.open_allocations
        lines = [f"{c.field}: {c.before} → {c.after}" for c in preview.changes]
        lines.append(f"Open allocations of this rule ({len(opened)}): {', '.join(opened)}; they keep the "
                     "values they were created with." if opened else "Open allocations of this rule: none.")
        lines.append(f"Saved only if nobody changed the rule since you opened it (version {rule.version}).")
        if not await self.app.push_screen_wait(
            ConfirmScreen(f"Save changes to allocation rule {rule.id}?", lines, "Save", danger=False)
        ):
            raise WboError("Not saved: you cancelled the confirmation.")
        return await engine.execute(session, command)


class SchedulePreviewScreen(EngineWorkers, ModalScreen[None]):
    """The next runs of a schedule and every day in between that it skips, with why.  The
    first HKEX-trading-day preview loads the exchange calendar, so it runs in a worker."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="schedule-close"),
        Binding("m", "more", "10 more runs", id="schedule-more"),
    ]
    HELP = (
        "The next 10 runs of the schedule (Hong Kong date and time, and the UTC instant), and "
        "each day between them that it skips: a weekend or HKEX holiday for a trading-day "
        "schedule, a day not chosen for a weekly one. m shows 10 more runs (up to 60), to "
        "look past the next holidays. Escape closes it."
    )
    MAX_RUNS = 60

    def __init__(self, query: PreviewSchedule, title: str) -> None:
        super().__init__(classes="schedule-preview")
        self._query = query
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="schedule-box"):
            yield Static(self._title, classes="modal-title", markup=False)
            yield Static("Loading calendar…", id="schedule-status", markup=False)
            yield DataTable(id="schedule-table", cursor_type="row", zebra_stripes=True)
            with Horizontal(classes="modal-buttons"):
                yield Button("Close", id="close")

    def help_text(self) -> tuple[str, str]:
        return (self._title, self.HELP)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Date", "Day", "HKT", "UTC instant", "Runs?")
        table.focus()
        self._load()

    @work(exclusive=True, group="load", exit_on_error=False)
    async def _load(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        days: Sequence[ScheduleDayDTO] = await engine.query(session, self._query)
        table = self.query_one(DataTable)
        table.clear()
        for d in days:
            table.add_row(d.day, d.weekday, f"{d.fire_at.astimezone(HONG_KONG):%H:%M}",
                          f"{d.fire_at:%Y-%m-%d %H:%M} UTC", f"skipped: {d.skipped}" if d.skipped else "runs")
        skipped = sum(1 for d in days if d.skipped)
        self.query_one("#schedule-status", Static).update(
            f"Next {len(days) - skipped} runs; {skipped} day(s) skipped in between."
            + (" m shows 10 more." if self._query.runs < self.MAX_RUNS else ""))

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        if isinstance(error, ValidationFailed):
            self.query_one("#schedule-status", Static).update(str(error))
            return True
        return False

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_more(self) -> None:
        runs = min(self._query.runs + 10, self.MAX_RUNS)
        if runs != self._query.runs:
            self._query = self._query.model_copy(update={"runs": runs})
            self.refresh_bindings()
            self._load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self._query.runs < self.MAX_RUNS if action == "more" else True

    def action_close(self) -> None:
        self.dismiss(None)

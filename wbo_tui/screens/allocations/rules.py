"""Allocations › Rules: the fund allocation rules; create, copy, edit (diff first) and a
preview of a scheduled rule's next runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine import PermissionDenied
from wbo_tui.engine.allocations import CreateAllocationRule, EditAllocationRule, ListAllocationRules, RuleDTO
from wbo_tui.engine.allocations.rules import AMOUNT_LABELS, OPERATION, PreviewSchedule
from wbo_tui.engine.positions import ListPositions, PositionDTO

from wbo_tui.widgets.table_pane import TablePane
from wbo_tui.screens.allocations.rule_forms import RuleScreen, SchedulePreviewScreen


# Short forms for the table; the detail line and the editor use the engine's labels.
AMOUNT_SHORT = {"fixed": "fixed {}", "top_up": "top up to {}", "sweep": "sweep above {}",
                "event_amount": "event's amount"}


def amount_cell(rule: RuleDTO) -> str:
    """The amount rule with its amount, e.g. ``top up to 500,000.00``."""
    amount = "" if rule.amount is None else f"{rule.amount:,}"
    return AMOUNT_SHORT.get(rule.amount_rule, rule.amount_rule + " {}").format(amount).strip()


def amount_text(rule: RuleDTO) -> str:
    label = AMOUNT_LABELS.get(rule.amount_rule, rule.amount_rule)
    return label if rule.amount is None else f"{label} {rule.amount:,}"


class RulesPane(TablePane):
    COLUMNS = ("Id", "Name", "Trigger", "Outgoing → incoming", "Cur", "Amount", "Strategy", "Audit", "Prio",
               "On")
    # Narrow terminals: id, name, currency, amount and whether enabled stay; the detail line
    # below the table has the whole rule.
    DROP_ORDER = ("Audit", "Strategy", "Prio", "Outgoing → incoming", "Trigger")
    NARROW = {"Trigger": 24, "Name": 14}
    NAME_WIDTH = 24  # the detail line shows the whole name
    EMPTY = "No fund allocation rules. n creates one."
    TOPICS = frozenset({"allocation_rules"})
    HELP = (
        "Fund allocation rules. n creates a rule; c copies the selected rule into a new one; "
        "e edits it: before saving you see each change (old → new) and the rule's open "
        "allocations. p previews a scheduled rule's next runs and the days it skips, and why. "
        "An edit made meanwhile by someone else is refused; reload and edit again."
    )
    BINDINGS = [
        Binding("n", "new", "New", id="rule-new", tooltip="Create an allocation rule"),
        Binding("c", "copy", "Copy", id="rule-copy", tooltip="Create a rule starting from the selected one"),
        Binding("e", "edit", "Edit", id="rule-edit", tooltip="Edit the selected rule"),
        Binding("p", "preview", "Schedule", id="rule-preview", tooltip="Next runs of the selected scheduled rule"),
    ]
    ROW_ACTIONS = frozenset({"copy", "edit", "preview"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.add_class("rules-pane")

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[RuleDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        return await engine.query(session, ListAllocationRules())

    def row_key(self, item: RuleDTO) -> str:
        return str(item.id)

    def row_cells(self, r: RuleDTO) -> Sequence[object]:
        name = r.name if len(r.name) <= self.NAME_WIDTH else r.name[: self.NAME_WIDTH - 1] + "…"
        return (r.id, name, r.trigger_text, f"{r.from_account} → {r.to_account}", r.currency, amount_cell(r),
                r.strategy, "work order" if r.audit_strategy == "work_order" else "none", r.priority,
                "yes" if r.enabled else "no")

    def status_text(self, items: Sequence[Any]) -> str:
        if not items:
            return self.EMPTY
        enabled = sum(1 for r in items if r.enabled)
        return f"{len(items)} rules, {enabled} enabled. Lower priority number wins; ties go to the lower id."

    def show_detail(self, r: RuleDTO | None) -> None:
        text = "" if r is None else (
            f"Rule {r.id} “{r.name}” on {r.channel}: {r.from_account} → {r.to_account} {r.currency} ({r.scenario}); "
            f"{r.trigger_text}; {amount_text(r)}; priority {r.priority}; strategy {r.strategy}, audit "
            f"{'work order' if r.audit_strategy == 'work_order' else 'none'}; version {r.version}, last changed by {r.updated_by} "
            f"{r.updated_at:%Y-%m-%d %H:%M} UTC."
        )
        self.query_one(".pane-detail", Static).update(text)

    def applies(self, action: str, item: Any) -> bool:
        if action == "preview":
            return item is not None and item.trigger_kind == "schedule"
        return item is not None

    # --- actions ------------------------------------------------------------------------

    def action_new(self) -> None:
        self._open_editor(None, copy=False)

    def action_copy(self) -> None:
        if self.selected is not None:
            self._open_editor(self.selected, copy=True)

    def action_edit(self) -> None:
        if self.selected is not None:
            self._open_editor(self.selected, copy=False)

    def action_preview(self) -> None:
        rule = self.selected
        if rule is not None and rule.trigger_kind == "schedule":
            days = tuple(d for d in (rule.schedule_days or "").split(",") if d)
            query = PreviewSchedule(schedule_kind=rule.schedule_kind, schedule_days=days,  # type: ignore[arg-type]
                                    schedule_time=rule.schedule_time)
            self.app.push_screen(SchedulePreviewScreen(query, f"Schedule of rule {rule.id}: {rule.trigger_text}"))

    @work(group="editor", exclusive=True, exit_on_error=False)
    async def _open_editor(self, rule: RuleDTO | None, *, copy: bool) -> None:
        """Checks the operation permission first (the engine checks it again on save), so
        an operator without it learns which permission is missing before typing a rule."""
        session = await self.wbo.fresh_session()
        engine = self.wbo.engine
        assert engine is not None
        if not session.can(OPERATION):
            command = CreateAllocationRule if rule is None or copy else EditAllocationRule
            raise PermissionDenied(OPERATION, command.action)
        accounts: Sequence[PositionDTO] = (await engine.query(session, ListPositions(limit=1000))).rows
        self.app.push_screen(RuleScreen(list(accounts), rule, copy=copy), callback=self._saved)

    def _saved(self, rule: RuleDTO | None) -> None:
        if rule is not None:
            self.selected_key = str(rule.id)
            self.app.notify(f"Allocation rule {rule.id} ({rule.name}) saved, version {rule.version}.",
                            markup=False)
            self.load()

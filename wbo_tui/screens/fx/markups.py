"""FX › Markups (Service Parameter > Exchange > Markup Setting): the broker's fee on a
client's exchange, on the reference rate (per pair and rate source channel, applied when a
request is submitted) and on the executed rate (per pair and service strategy, by amount
tier, in an effective period, applied at execution).  Each row shows its calculation on
the pair's current reference rate; v shows it step by step.  n adds, e edits, x deletes
(typed confirmation)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine import WboError
from wbo_tui.engine.fx import (
    DeleteMarkup,
    ListCurrencySetup,
    ListExecutedMarkups,
    ListReferenceMarkups,
    ListReferenceRates,
    MarkupDTO,
)
from wbo_tui.engine.fx.currency_setup import CurrencySetupDTO
from wbo_tui.engine.fx.markup_steps import MarkupStepsDTO, PairQuote, effective_text, markup_quote, markup_steps
from wbo_tui.engine.fx.markup_steps import pair_quote
from wbo_tui.engine.fx.markups import ADD_DELETE, EXECUTED_UPDATE
from wbo_tui.engine.fx.rates import ReferenceRateDTO

from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import TablePane, cell
from wbo_tui.widgets.typed_confirmation import phrase
from wbo_tui.screens.fx.markup_forms import MarkupScreen, MarkupStepsScreen, describe, markup_text, where_text

KIND_SHORT = {"REFERENCE": "Reference", "EXECUTED": "Executed"}


class MarkupsPane(TablePane):
    COLUMNS = ("Kind", "Pair", "Channel", "Markup", "Effective", "Rate now → with markup")
    # At 80 columns the effective period goes to the detail line; the tiers and the
    # calculation are cut (v shows the calculation in full).
    DROP_ORDER = ("Effective",)
    NARROW = {"Markup": 14, "Channel": 9}
    EMPTY = "No markups: n adds one (without one the client gets the reference rate as it is)."
    TOPICS = frozenset({"fx_reference_markups", "fx_executed_markups", "fx_reference_rates", "fx_currency_configs"})
    HELP = (
        "Markups on the reference rate (Kind Reference: per pair and rate source channel, applied when a request "
        "is submitted) and on the executed rate (Kind Executed: per pair and service strategy, Pool or Bank with its "
        "channel, by tier of the source amount, in an effective period, applied at execution). Spread mode Ratio "
        "takes a percent off the rate (0.1 % = 10 bp), Value an amount; the result is cut toward the broker. The "
        "last column and the detail line show the calculation on the pair's current reference rate (source bid ÷ "
        "target offer, at the source currency's rate precision); v shows it step by step. n adds a markup, e edits "
        "the selected one, x deletes it (typed confirmation). Needs lb_hk_conversion.fee_query and "
        "lb_hk_conversion.forex_ib_rates (n, x, e on a reference markup: lb_hk_conversion.rate_reference_update; "
        "e on an executed one: lb_hk_conversion.fee_update; the calculation: fx.reference_rate_inquiry and "
        "fx.currency_setup_inquiry)."
    )
    BINDINGS = [
        Binding("v", "view_steps", "Calculation", id="fx-markup-steps", tooltip="The calculation step by step"),
        Binding("n", "new_markup", "Add", id="fx-markup-new", tooltip="Add a markup"),
        Binding("e", "edit_markup", "Edit", id="fx-markup-edit", tooltip="Edit the selected markup"),
        Binding("x", "delete_markup", "Delete", id="fx-markup-delete", tooltip="Delete the selected markup"),
    ]
    ROW_ACTIONS = frozenset({"view_steps", "new_markup", "edit_markup", "delete_markup"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.rates: tuple[ReferenceRateDTO, ...] = ()
        self.setups: tuple[CurrencySetupDTO, ...] = ()
        self.steps: dict[str, MarkupStepsDTO | str] = {}
        """Each row's calculation, or why it cannot be shown."""
        self.hidden: list[str] = []
        """The kinds of markup the operator may not see, said in the status line."""
        self.missing: list[str] = []
        """The permissions the calculation needs that the operator lacks."""

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[MarkupDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        # Only what the operator may read is asked for (a refusal is audited, and the list
        # reloads on every change): one kind without the other is shown with a note, and
        # the calculation without the rates is named as missing.
        lists = [q for q in (ListReferenceMarkups(), ListExecutedMarkups()) if session.can(q.permission)]
        markups: list[MarkupDTO] = []
        for query in lists or [ListReferenceMarkups()]:  # neither: the denial, shown in place
            markups += await engine.query(session, query)
        self.hidden = [f"{q.permission} is needed to see the {kind} ones" for q, kind in (
            (ListReferenceMarkups, "reference-rate"), (ListExecutedMarkups, "executed-rate"))
            if not session.can(q.permission)]
        missing = [q.permission for q in (ListReferenceRates, ListCurrencySetup) if not session.can(q.permission)]
        self.missing = missing
        if missing:
            self.rates, self.setups = (), ()
        else:
            self.rates = tuple(await engine.query(session, ListReferenceRates()))
            self.setups = tuple(await engine.query(session, ListCurrencySetup()))
        denied = f"the calculation needs the permission {' and '.join(missing)}" if missing else ""
        now = engine.clock.now()
        self.steps = {self.row_key(m): denied or self._steps(m, now) for m in markups}
        return markups

    def _steps(self, m: MarkupDTO, now: object) -> MarkupStepsDTO | str:
        try:
            return markup_steps(m, markup_quote(m, self.rates, self.setups, now=now))  # type: ignore[arg-type]
        except WboError as refused:
            return f"no calculation: {refused}"

    def quote(self, source: str, target: str, channel: str) -> PairQuote | str:
        """The current reference rate of a pair, for the form (as the markups' own)."""
        engine = self.wbo.engine
        assert engine is not None
        if not self.setups:
            return "not shown (needs fx.reference_rate_inquiry and fx.currency_setup_inquiry)"
        try:
            return pair_quote(self.rates, self.setups, source, target, now=engine.clock.now(), channel_name=channel)
        except WboError as refused:
            return str(refused)

    def row_key(self, item: MarkupDTO) -> str:
        return f"{item.kind[0]}{item.id}"

    def row_cells(self, m: MarkupDTO) -> Sequence[object]:
        steps = self.steps.get(self.row_key(m))
        shown = steps.summary if isinstance(steps, MarkupStepsDTO) else "—"
        return (cell(KIND_SHORT[m.kind]), cell(f"{m.from_currency}→{m.to_currency}"), cell(where_text(m)),
                cell(markup_text(m)), cell("at submission" if m.kind == "REFERENCE" else effective_text(m)),
                Text(shown, no_wrap=True, overflow="ellipsis", style="bold red" if "refused" in shown else ""))

    def show_detail(self, m: MarkupDTO | None) -> None:
        text = ""
        if m is not None:
            steps = self.steps.get(self.row_key(m))
            if isinstance(steps, MarkupStepsDTO):
                text = f"{describe(m)}: {steps.formula} (v: every step)."
            else:
                text = f"{describe(m)}; {steps}."
        self.query_one(".pane-detail", Static).update(text)

    def status_text(self, items: Sequence[MarkupDTO]) -> str:
        reference = sum(1 for m in items if m.kind == "REFERENCE")
        text = (f"{reference} reference-rate and {len(items) - reference} executed-rate markups."
                if items else self.EMPTY)
        return text + "".join(f" ({h})" for h in self.hidden)

    def why_not(self, action: str, item: MarkupDTO | None) -> Unavailable | str | None:
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        if action != "new_markup" and item is None:
            return "no row is selected"
        if action == "view_steps":
            assert item is not None
            steps = self.steps.get(self.row_key(item))
            if isinstance(steps, MarkupStepsDTO):
                return None
            if self.missing:
                return Unavailable(f"{steps} (R requests it)", permission=self.missing[0],
                                   wanted_for="view reference rates and currency setup")
            return steps or "no calculation"
        permission, wanted = ADD_DELETE, "add and delete markups and edit reference-rate markups"
        if action == "edit_markup" and item is not None and item.kind == "EXECUTED":
            permission, wanted = EXECUTED_UPDATE, "edit executed-rate markups"
        if not session.can(permission):
            return Unavailable(f"you need the permission {permission} to {wanted} (R requests it)",
                               permission=permission, wanted_for=wanted)
        return None

    def _saved(self, m: MarkupDTO | None) -> None:
        if m is not None:
            self.app.notify(f"Saved: {describe(m)}.", markup=False)
            self.load()

    def action_new_markup(self) -> None:
        self.app.push_screen(MarkupScreen(self.quote), callback=self._saved)

    def action_edit_markup(self) -> None:
        self.app.push_screen(MarkupScreen(self.quote, self.selected), callback=self._saved)

    def action_view_steps(self) -> None:
        m: MarkupDTO = self.selected
        steps = self.steps[self.row_key(m)]
        assert isinstance(steps, MarkupStepsDTO)
        self.app.push_screen(MarkupStepsScreen(f"The calculation: {describe(m)}", steps))

    def action_delete_markup(self) -> None:
        m: MarkupDTO = self.selected
        applies = "submitted" if m.kind == "REFERENCE" else "executed"
        consequences = [f"{describe(m)} is deleted.",
                        f"Exchanges {applies} from now on get the rate without it; exchanges already {applies} "
                        "keep their rate.", "Recorded in the audit log; adding it again is a new markup."]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_command(DeleteMarkup(kind=m.kind, markup_id=m.id, expected_version=m.version),
                                 f"Deleted: {describe(m)}.")

        self.app.push_screen(ConfirmScreen(f"Delete the markup {m.from_currency}→{m.to_currency}?", consequences,
                                           "Delete", typed=phrase("delete", 1), does="deletes it"), callback=confirmed)

"""The Allocations area: fund allocation rules, the company fund allocation records
(manual and automatic, with approval), and the explain view of automatic decisions."""

from __future__ import annotations

from wbo_tui.screens.allocations.explain import TriggersPane
from wbo_tui.screens.allocations.records import AllocationsPane
from wbo_tui.screens.allocations.rules import RulesPane
from wbo_tui.widgets.area import NEXT_TAB, Tab, TabbedArea


class AllocationsArea(TabbedArea):
    TITLE = "Allocations"
    HELP = (
        "Fund allocation. Rules needs atm.funds_alloc_config_inquiry (n new, c copy, e edit "
        "need atm.funds_alloc_config_operation); Allocations and Explain need "
        "atm.company_fund_allocation_inquiry (n manual allocation and t retry need "
        "atm.company_fund_allocation_operation; a approve and x reject need "
        "atm.company_fund_allocation_approval). Ctrl+T switches tabs.\n\n"
        "How a rule is chosen: for an event, or a schedule's fire time, the enabled automatic "
        "rules that serve the account it concerns (in its currency and business scenario) "
        "are eligible; the lowest priority number wins and ties go to the lowest rule id. "
        "Schedules run in Hong Kong time. A fire time missed while no console ran is caught "
        "up once if it is at most an hour late; older ones are recorded as missed and never "
        "run. A rule with work-order approval sends its allocation to approval first.\n\n"
        "Statuses: pending approval → processing → succeeded or failed (the channel's reason; "
        "t retries under a new idempotency key, so it never pays twice); rejected is final; "
        "unknown means the channel's answer was lost — the console asks the channel what "
        "happened and settles it, never resubmitting blindly."
    )
    TABS = (
        Tab("Rules", "tab-rules", RulesPane),
        Tab("Allocations", "tab-allocations", AllocationsPane),
        Tab("Explain", "tab-explain", TriggersPane),
    )
    BINDINGS = [NEXT_TAB]

    def __init__(self, *, id: str) -> None:  # noqa: A002
        super().__init__(id=id, classes="allocations-area")

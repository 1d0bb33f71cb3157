"""Allocations › Rules: the rule list, the editor (create, copy, edit with its diff), the
engine's field-named refusals, the schedule preview, and a viewer's permission denial."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from allocation_helpers import (  # noqa: F401  (allocations is a fixture)
    DEMO_RULES,
    HKD_FEE,
    HKD_POOL,
    HKD_PRINCIPAL,
    TRADING_DAY_SWEEP,
    WEEKLY_FEE_TOP_UP,
    allocations,
    open_allocations,
    rules,
)
from console_helpers import last_actions, no_blink, screen_text, settle, type_into, wait_for_screen, wait_until
from textual.pilot import Pilot
from textual.widgets import DataTable, Select

from wbo_tui.engine import Engine
from wbo_tui.engine.allocations import EditAllocationRule
from wbo_tui.screens.allocations.rules import RulesPane
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.screens.permission_request import PermissionRequestScreen
from wbo_tui.screens.allocations.rule_forms import RuleScreen, SchedulePreviewScreen

WIDE = (140, 40)
SMALL = (80, 24)


def rules_table(pilot: Pilot) -> DataTable:
    return pilot.app.screen.query_one(RulesPane).query_one(DataTable)


async def select_rule(pilot: Pilot, rule_id: int) -> None:
    """Move the list's cursor to ``rule_id`` with the arrow keys."""
    table = rules_table(pilot)
    table.focus()
    while table.cursor_row != table.get_row_index(str(rule_id)):
        await pilot.press("down")
    await settle(pilot)


async def open_editor(pilot: Pilot, key: str) -> RuleScreen:
    rules_table(pilot).focus()
    await pilot.press(key)
    await wait_for_screen(pilot, RuleScreen)
    await settle(pilot)
    no_blink(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RuleScreen)
    return screen


def choose(pilot: Pilot, **values: Any) -> None:
    """Set the editor's Selects: ``choose(pilot, rule_from=16)`` sets ``#rule-from``."""
    for name, value in values.items():
        pilot.app.screen.query_one(f"#{name.replace('_', '-')}", Select).value = value


async def fill_new_rule(pilot: Pilot, *, name: str, source: int, target: int, currency: str, amount: str) -> None:
    """A fixed-amount rule on a weekly schedule (MON,WED at 10:00 HKT)."""
    await type_into(pilot, "#rule-name", name)
    choose(pilot, rule_from=source, rule_to=target, rule_scenario="withdrawal_fee", rule_trigger="schedule",
           rule_schedule_kind="weekly", rule_amount_rule="fixed")
    await type_into(pilot, "#rule-currency", currency)
    await type_into(pilot, "#rule-time", "10:00")
    await type_into(pilot, "#rule-days", "mon, wed")
    await type_into(pilot, "#rule-amount", amount)
    await settle(pilot)


async def submit(pilot: Pilot) -> None:
    """Enter in the editor's last field (Priority) submits it."""
    await type_into(pilot, "#rule-priority", pilot.app.screen.query_one("#rule-priority").value)
    await pilot.press("enter")


async def wait_for_confirm(pilot: Pilot) -> ConfirmScreen:
    """Pause (without ``settle``: the editor's worker waits for this very confirmation)
    until the confirmation is shown."""
    for _ in range(200):
        if isinstance(pilot.app.screen, ConfirmScreen):
            await pilot.pause()
            return pilot.app.screen
        await pilot.pause(0.02)
    raise AssertionError("timed out waiting for the ConfirmScreen")


async def test_rules_listed_with_detail(make_app, allocations) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_allocations(pilot)
        table = rules_table(pilot)
        assert table.row_count == DEMO_RULES
        # At 140 columns the strategy and audit columns are left out (the detail line has them).
        assert [str(c.label) for c in table.ordered_columns] == [
            "Id", "Name", "Trigger", "Outgoing → incoming", "Cur", "Amount", "Prio", "On"]
        assert [str(c) for c in table.get_row(str(TRADING_DAY_SWEEP))] == [
            "4", "Sweep HKD deposits each…", "Every HKEX trading day at 17:30 HKT",
            "HK-DEP-001 → HK-POOL-001", "HKD", "sweep above 100,000.00", "20", "yes"]
        assert "7 rules, 6 enabled" in screen_text(pilot, ".rules-pane .pane-status")
        await select_rule(pilot, WEEKLY_FEE_TOP_UP)
        detail = screen_text(pilot, ".rules-pane .pane-detail")
        assert detail.startswith("Rule 5 “Top up HKD fees Mon/Thu” on settlement_hashkey_hk: HK-POOL-001 → HK-FEE-001 HKD (withdrawal_fee)")
        assert "Weekly MON,THU at 09:00 HKT" in detail
        assert "strategy automatic, audit none" in detail


async def test_create_rule_as_maker(make_app, allocations: Engine) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_allocations(pilot)
        await open_editor(pilot, "n")
        await fill_new_rule(pilot, name="Fee float Mon/Wed", source=HKD_POOL, target=HKD_FEE, currency="hkd",
                            amount="1,250.50")
        await submit(pilot)
        await wait_until(pilot, lambda: not isinstance(app.screen, RuleScreen), "the editor to close")
        await settle(pilot)
        assert rules_table(pilot).row_count == DEMO_RULES + 1
        assert any("Allocation rule 8 (Fee float Mon/Wed) saved" in str(n.message) for n in app._notifications)

    rule = (await rules(allocations))[8]
    assert (rule.name, rule.from_account_id, rule.to_account_id, rule.currency) == (
        "Fee float Mon/Wed", HKD_POOL, HKD_FEE, "HKD")
    assert (rule.schedule_kind, rule.schedule_days, rule.schedule_time, rule.event_kind) == (
        "weekly", "MON,WED", "10:00", None)
    assert (rule.amount_rule, rule.amount, rule.updated_by, rule.priority) == ("fixed", Decimal("1250.50"), "maker", 100)
    assert (await last_actions(allocations, 1)) == ["allocation_rule.create"]


@pytest.mark.parametrize(("source", "target", "currency", "amount", "message"), [
    (HKD_POOL, HKD_POOL, "HKD", "100", "Incoming account must be a different account from the outgoing account."),
    (HKD_POOL, HKD_FEE, "USD", "100", "Outgoing account HK-POOL-001 holds HKD, not USD."),
    (HKD_POOL, HKD_FEE, "HKD", "0", "Amount must be greater than zero."),
    (HKD_POOL, HKD_FEE, "HKD", "-5", "Amount must be greater than zero."),
])
async def test_refusals_name_the_field_and_save_nothing(make_app, allocations: Engine, source: int, target: int,
                                                        currency: str, amount: str, message: str) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_allocations(pilot)
        await open_editor(pilot, "n")
        await fill_new_rule(pilot, name="Refused", source=source, target=target, currency=currency, amount=amount)
        await submit(pilot)
        await settle(pilot)
        assert isinstance(app.screen, RuleScreen)  # the editor stays open for a correction
        assert screen_text(pilot, "#form-error") == message
    assert len(await rules(allocations)) == DEMO_RULES


async def test_copy_creates_a_new_rule_and_leaves_the_original(make_app, allocations: Engine) -> None:
    original = (await rules(allocations))[WEEKLY_FEE_TOP_UP]
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_allocations(pilot)
        await select_rule(pilot, WEEKLY_FEE_TOP_UP)
        editor = await open_editor(pilot, "c")
        assert editor.FORM_TITLE == "New rule copied from rule 5"
        assert app.screen.query_one("#rule-name").value == "Top up HKD fees Mon/Thu (copy)"
        assert app.screen.query_one("#rule-days").value == "MON,THU"
        await type_into(pilot, "#rule-time", "09:15")
        await submit(pilot)
        await wait_until(pilot, lambda: not isinstance(app.screen, RuleScreen), "the editor to close")

    after = await rules(allocations)
    assert after[WEEKLY_FEE_TOP_UP] == original
    copy = after[DEMO_RULES + 1]
    same = ("from_account_id", "to_account_id", "currency", "scenario", "trigger_kind", "schedule_kind",
            "schedule_days", "amount_rule", "amount", "strategy", "audit_strategy", "priority", "enabled")
    assert {f: getattr(copy, f) for f in same} == {f: getattr(original, f) for f in same}
    assert (copy.name, copy.schedule_time, copy.version) == ("Top up HKD fees Mon/Thu (copy)", "09:15", 1)
    assert (await last_actions(allocations, 1)) == ["allocation_rule.copy"]


async def edit_weekly_rule(pilot: Pilot) -> ConfirmScreen:
    """Open rule 5 in the editor, change its time and amount, and ask to save."""
    await select_rule(pilot, WEEKLY_FEE_TOP_UP)
    await open_editor(pilot, "e")
    await type_into(pilot, "#rule-time", "09:30")
    await type_into(pilot, "#rule-amount", "60000")
    await submit(pilot)
    return await wait_for_confirm(pilot)


EDIT_LINES = [
    "• Time (HKT): 09:00 → 09:30",
    "• Amount: 50000.00 → 60000.00",
    "• Open allocations of this rule: none.",
    "• Saved only if nobody changed the rule since you opened it (version 1).",
]


async def test_edit_shows_the_diff_and_escape_saves_nothing(make_app, allocations: Engine) -> None:
    before = (await rules(allocations))[WEEKLY_FEE_TOP_UP]
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_allocations(pilot)
        await edit_weekly_rule(pilot)
        assert screen_text(pilot, "#confirm-consequences").splitlines() == EDIT_LINES
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RuleScreen)
        assert screen_text(pilot, "#form-error") == "Not saved: you cancelled the confirmation."
    assert (await rules(allocations))[WEEKLY_FEE_TOP_UP] == before


async def test_edit_saves_on_confirm(make_app, allocations: Engine) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_allocations(pilot)
        await edit_weekly_rule(pilot)
        await pilot.press("enter")  # Save has the focus (not a destructive dialog)
        await wait_until(pilot, lambda: not isinstance(app.screen, (ConfirmScreen, RuleScreen)), "the editor to close")
        await settle(pilot)
        assert "Weekly MON,THU at 09:30 HKT" in str(rules_table(pilot).get_row(str(WEEKLY_FEE_TOP_UP))[2])
    rule = (await rules(allocations))[WEEKLY_FEE_TOP_UP]
    assert (rule.schedule_time, rule.amount, rule.version, rule.updated_by) == ("09:30", Decimal("60000"), 2, "maker")
    assert (await last_actions(allocations, 1)) == ["allocation_rule.edit"]


async def test_stale_edit_gets_the_conflict_message(make_app, allocations: Engine) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_allocations(pilot)
        await edit_weekly_rule(pilot)
        rule = (await rules(allocations))[WEEKLY_FEE_TOP_UP]
        fields = rule.model_dump(include=set(EditAllocationRule.model_fields) - {"rule_id", "expected_version"})
        fields["schedule_days"] = tuple(rule.schedule_days.split(","))
        await allocations.setup_execute(tool="test", command=EditAllocationRule(**{**fields, "priority": 7}, rule_id=rule.id,
                                                              expected_version=1))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, RuleScreen), "back in the editor")
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == (
            "Rule 5 was changed by test at 2026-11-20 09:30:00 UTC (now version 2); reload it and make your "
            "edit again.")
    rule = (await rules(allocations))[WEEKLY_FEE_TOP_UP]
    assert (rule.schedule_time, rule.priority, rule.version) == ("09:00", 7, 2)


def preview_rows(pilot: Pilot) -> list[list[str]]:
    table = pilot.app.screen.query_one("#schedule-table", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_schedule_preview_of_a_saved_rule_shows_holidays_and_weekends(make_app, allocations) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_allocations(pilot)
        await select_rule(pilot, TRADING_DAY_SWEEP)
        await pilot.press("p")
        await wait_for_screen(pilot, SchedulePreviewScreen)
        await wait_until(pilot, lambda: "runs" in screen_text(pilot, "#schedule-status"), "the preview")
        rows = preview_rows(pilot)
        assert rows[0] == ["2026-11-21", "SAT", "17:30", "2026-11-21 09:30 UTC", "skipped: weekend"]
        assert rows[2] == ["2026-11-23", "MON", "17:30", "2026-11-23 09:30 UTC", "runs"]
        assert sum(r[4] == "runs" for r in rows) == 10
        await pilot.press("m", "m")
        await wait_until(pilot, lambda: sum(r[4] == "runs" for r in preview_rows(pilot)) == 30, "30 runs")
        assert ["2026-12-25", "FRI", "17:30", "2026-12-25 09:30 UTC", "skipped: HKEX holiday: Christmas"] in \
            preview_rows(pilot)
        assert screen_text(pilot, "#schedule-status").startswith("Next 30 runs;")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen.query_one(RulesPane), RulesPane)


async def test_schedule_preview_from_the_editor_before_saving(make_app, allocations: Engine) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_allocations(pilot)
        await open_editor(pilot, "n")
        choose(pilot, rule_trigger="schedule", rule_schedule_kind="weekly")
        await type_into(pilot, "#rule-time", "8:05")
        await type_into(pilot, "#rule-days", "fri")
        app.screen.query_one("#rule-preview-schedule").focus()
        await pilot.press("enter")
        await wait_for_screen(pilot, SchedulePreviewScreen)
        await wait_until(pilot, lambda: "runs" in screen_text(pilot, "#schedule-status"), "the preview")
        rows = preview_rows(pilot)
        assert rows[0] == ["2026-11-21", "SAT", "08:05", "2026-11-21 00:05 UTC", "skipped: not a chosen weekday (SAT)"]
        assert ["2026-11-27", "FRI", "08:05", "2026-11-27 00:05 UTC", "runs"] in rows
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RuleScreen)
        # A weekly schedule without weekdays: the preview says the engine's refusal.
        await type_into(pilot, "#rule-days", "")
        app.screen.query_one("#rule-preview-schedule").focus()
        await pilot.press("enter")
        await wait_for_screen(pilot, SchedulePreviewScreen)
        assert screen_text(pilot, "#schedule-status") == "Weekdays choose at least one weekday for a weekly schedule."
        assert preview_rows(pilot) == []
        # A time that is not HH:MM: ``build`` names the field under the form.
        await pilot.press("escape")
        await type_into(pilot, "#rule-time", "25:00")
        app.screen.query_one("#rule-preview-schedule").focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, RuleScreen)
        assert screen_text(pilot, "#form-error") == (
            "Time (HKT) must be HH:MM, 00:00 to 23:59 (Hong Kong time).")
    assert len(await rules(allocations)) == DEMO_RULES


async def test_viewer_lists_but_new_names_the_missing_permission(make_app, allocations: Engine) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_allocations(pilot, "viewer")
        assert rules_table(pilot).row_count == DEMO_RULES
        rules_table(pilot).focus()
        await pilot.press("n")
        await wait_for_screen(pilot, PermissionRequestScreen)
        assert screen_text(pilot, "#request-denial") == (
            "You need the permission atm.funds_alloc_config_operation to create fund allocation rules. "
            "You can file a permission request.")
    assert len(await rules(allocations)) == DEMO_RULES


# --- snapshots ----------------------------------------------------------------------------


def snapshot_steps(*steps: Any, username: str = "maker") -> Any:
    async def run_before(pilot: Pilot) -> None:
        await open_allocations(pilot, username)
        for step in steps:
            await step(pilot)
        no_blink(pilot)

    return run_before


async def to_weekly_rule(pilot: Pilot) -> None:
    await select_rule(pilot, WEEKLY_FEE_TOP_UP)


async def edit(pilot: Pilot) -> None:
    await open_editor(pilot, "e")


async def diff(pilot: Pilot) -> None:
    await edit_weekly_rule(pilot)


async def preview(pilot: Pilot) -> None:
    await select_rule(pilot, TRADING_DAY_SWEEP)
    await pilot.press("p")
    await wait_for_screen(pilot, SchedulePreviewScreen)
    await wait_until(pilot, lambda: "runs" in screen_text(pilot, "#schedule-status"), "the preview")


def test_rules_list_snapshot(snap_compare, make_app, allocations) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=snapshot_steps(to_weekly_rule))


def test_rules_list_at_80x24_snapshot(snap_compare, make_app, allocations) -> None:
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=snapshot_steps(to_weekly_rule))


def test_rule_editor_snapshot(snap_compare, make_app, allocations) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=snapshot_steps(to_weekly_rule, edit))


def test_rule_edit_diff_snapshot(snap_compare, make_app, allocations) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=snapshot_steps(diff))


def test_schedule_preview_snapshot(snap_compare, make_app, allocations) -> None:
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=snapshot_steps(preview))

"""The Audit area: keyset pages of 100, filters, the detail pane, verifying the chain.

The seeded log holds 132 records once the administrator has logged in: 11 from the seed
(roles and operators), 120 logins and logouts over two days, and this login.
"""

from __future__ import annotations

from console_helpers import login, plain, screen_text, settle, table_column, type_into
from textual.widgets import DataTable

from wbo_tui.screens.audit.area import AuditArea


async def open_audit(pilot) -> AuditArea:  # noqa: ANN001
    await login(pilot, "admin")
    await pilot.press("6")
    await settle(pilot)
    return pilot.app.screen.query_one(AuditArea)


def seqs(audit: AuditArea) -> list[int]:
    return [int(s) for s in table_column(audit.query_one("#audit-table", DataTable), 0)]


async def apply_filters(pilot, **fields: str) -> None:  # noqa: ANN001
    for name, value in fields.items():
        await type_into(pilot, f"#filter-{name.replace('_', '-')}", value)
    await pilot.press("enter")
    await settle(pilot)


async def test_pages_of_one_hundred_newest_first(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        audit = await open_audit(pilot)
        assert seqs(audit) == list(range(132, 32, -1))
        assert app.screen.active_bindings["left_square_bracket"].enabled is False  # no newer page
        assert screen_text(pilot, "#audit-status").startswith("Page 1: #132–#33, newest first; older: ].")

        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert seqs(audit) == list(range(32, 0, -1))
        assert screen_text(pilot, "#audit-status").startswith("Page 2: #32–#1, newest first; no older records.")
        assert app.screen.active_bindings["right_square_bracket"].enabled is False

        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert seqs(audit) == list(range(132, 32, -1))
        assert screen_text(pilot, "#audit-status").startswith("Page 1:")


async def test_filters_by_operator_action_target_and_time(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        audit = await open_audit(pilot)
        table = audit.query_one("#audit-table", DataTable)

        await apply_filters(pilot, operator="maker")
        assert set(table_column(table, 2)) == {"maker"} and table.row_count == 30
        assert app.screen.focused is table  # Enter applies the filters and goes to the results

        await apply_filters(pilot, operator="", action="role.")
        assert table_column(table, 3) == ["role.create"] * 5

        await apply_filters(pilot, action="", target_type="operator", target_id="viewer")
        assert set(table_column(table, 4)) == {"operator:viewer"} and table.row_count == 31

        await apply_filters(pilot, target_type="", target_id="", since="2026-11-19 12:00", until="2026-11-19 12:35")
        assert table_column(table, 1) == ["2026-11-19 12:35:00", "2026-11-19 12:30:00", "2026-11-19 12:00:00"]
        assert screen_text(pilot, "#audit-status").endswith("Filters: since 2026-11-19 12:00, until 2026-11-19 12:35.")

        await apply_filters(pilot, since="2026-11-18", until="2026-11-18")
        assert {c[:10] for c in table_column(table, 1)} == {"2026-11-18"}


async def test_bad_filter_input_names_the_field_and_keeps_the_page(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        audit = await open_audit(pilot)
        await apply_filters(pilot, since="yesterday")
        assert screen_text(pilot, "#audit-status") == "Since must be YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC)."
        assert len(seqs(audit)) == 100
        await apply_filters(pilot, since="2026-11-19", until="2026-11-18")
        assert screen_text(pilot, "#audit-status") == "Until must not be before Since."


async def test_detail_pane_shows_the_full_before_and_after(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        audit = await open_audit(pilot)
        await apply_filters(pilot, action="role.create", target_id="viewer")
        detail = plain(audit.query_one("#audit-detail"))
        assert detail.startswith("#5  role.create\n2026-11-18 08:00:00 UTC by seed\nTarget: role viewer")
        assert '"RiskWarningReadOnly",' in detail and '"description": "Read-only access to every module"' in detail


async def test_verify_reports_the_chain(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await open_audit(pilot)
        await pilot.press("v")
        await settle(pilot)
        assert screen_text(pilot, "#audit-verify") == "✔ Audit chain intact: 132 records verified."


async def test_clear_filters_returns_to_the_whole_log(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        audit = await open_audit(pilot)
        await apply_filters(pilot, operator="seed")
        assert len(seqs(audit)) == 11
        await pilot.press("x")
        await settle(pilot)
        assert len(seqs(audit)) == 100
        assert audit.query_one("#filter-operator").value == ""

"""Every form takes a burst of keys (an SSH read, typing ahead, a password manager) the way
it takes the same keys typed slowly: each key lands in the field it was typed for, and the
form reads its fields only once every key typed before Enter has landed.

Textual forwards each key to whatever is focused when the app handles it, while its own
Tab and a field's editing keys act only after the key has bubbled back: in a burst the
keys after a Tab landed in the field before it (a new operator's password in clear text
in "Display name", from where it was saved).
"""

from __future__ import annotations

import pytest
from burst_helpers import BACKSPACE, ENTER, SHIFT_TAB, TAB, audit_rows_text, deliver, recorder
from console_helpers import PASSWORDS, last_actions, login, operator_row, settle, wait_for_screen
from sqlalchemy import update
from textual.widgets import Input

from wbo_tui.engine import ListApprovals
from wbo_tui.engine.schema import operators
from wbo_tui.screens.change_password import ChangePasswordScreen
from wbo_tui.screens.lock import LockScreen
from wbo_tui.screens.admin.operator_forms import CreateOperatorScreen
from wbo_tui.screens.shell import ShellScreen

NEW_PASSWORD = "Central-Pier-77"


async def type_keys(pilot, typed: str) -> None:  # noqa: ANN001
    """Hand the app ``typed`` in one read of the terminal, and let it finish with it."""
    deliver(pilot, typed)
    await settle(pilot)


def watch_values(screen, *selectors: str) -> dict[str, list[str]]:  # noqa: ANN001
    """Every value each field takes from now on."""
    shown: dict[str, list[str]] = {}
    for selector in selectors:
        shown[selector] = []
        screen.watch(screen.query_one(selector, Input), "value", recorder(shown[selector]), init=False)
    return shown


CREATE_OPERATOR = {
    "enter in the last field": f"jdoe{TAB}Jo Doe{TAB}{NEW_PASSWORD}{TAB}{NEW_PASSWORD}{ENTER}",
    # Through the roles list (space picks the highlighted role) to the Create button.
    "a role, tab to the button": f"jdoe{TAB}Jo Doe{TAB}{NEW_PASSWORD}{TAB}{NEW_PASSWORD}{TAB} {TAB}{ENTER}",
    # A typo mended before Tab: the backspace edits the display name, not the password.
    "backspace before tab": f"jdoe{TAB}Jo Doex{BACKSPACE}{TAB}{NEW_PASSWORD}{TAB}{NEW_PASSWORD}{ENTER}",
    # Back to the display name (focusing a field selects its text, so typing replaces it).
    "shift+tab back": f"jdoe{TAB}Jo D{TAB}{NEW_PASSWORD}{SHIFT_TAB}Jo Doe{TAB}{NEW_PASSWORD}{TAB}{NEW_PASSWORD}{ENTER}",
}


@pytest.mark.parametrize("typed", CREATE_OPERATOR.values(), ids=CREATE_OPERATOR.keys())
async def test_a_new_operator_typed_in_one_burst_lands_in_its_fields(make_app, engine, typed) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "admin")
        await pilot.press("5", "n")
        await wait_for_screen(pilot, CreateOperatorScreen)
        await settle(pilot)
        shown = watch_values(app.screen, "#new-username", "#new-display-name")
        await type_keys(pilot, typed)
        assert isinstance(app.screen, ShellScreen), [i.value for i in app.screen.query(Input)]
    assert not [value for values in shown.values() for value in values if NEW_PASSWORD[:4] in value]
    row = await operator_row(engine, "jdoe")
    assert row.display_name == "Jo Doe"
    session = await engine.login("jdoe", NEW_PASSWORD)
    assert session.display_name == "Jo Doe" and session.must_change_password
    assert NEW_PASSWORD not in await audit_rows_text(engine)
    # The space toggled the role the list highlights first; a role waits for approval.
    assert await _roles_waiting_for(engine, "jdoe") == ((["administrator"],) if " " + TAB in typed else ())


async def _roles_waiting_for(engine, username: str) -> tuple[list[str], ...]:  # noqa: ANN001
    admin2 = await engine.login("admin2", PASSWORDS["admin2"])
    items = await engine.query(admin2, ListApprovals(kind="operator_roles"))
    return tuple(item.payload["roles"] for item in items if item.payload["username"] == username)


@pytest.mark.parametrize("forced", [False, True], ids=["from the console", "forced at first login"])
async def test_a_password_change_typed_in_one_burst_changes_the_password(make_app, engine, forced) -> None:
    if forced:  # What an administrator's reset leaves behind.
        async with engine.db.begin() as conn:
            await conn.execute(update(operators).where(operators.c.username == "checker")
                               .values(must_change_password=True))
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "checker")
        if not forced:
            await wait_for_screen(pilot, ShellScreen)
            await pilot.press("f2")
        await wait_for_screen(pilot, ChangePasswordScreen)
        await settle(pilot)
        shown = watch_values(app.screen, "#old-password", "#new-password", "#confirm-password")
        await type_keys(pilot, f"{PASSWORDS['checker']}{TAB}{NEW_PASSWORD}{TAB}{NEW_PASSWORD}{ENTER}")
        await wait_for_screen(pilot, ShellScreen)
    assert shown["#old-password"][-1] == PASSWORDS["checker"]
    assert shown["#new-password"][-1] == shown["#confirm-password"][-1] == NEW_PASSWORD
    assert (await last_actions(engine, 1)) == ["operator.change_password"]
    assert not (await engine.login("checker", NEW_PASSWORD)).must_change_password


async def test_the_password_and_enter_in_one_burst_unlock_the_console(make_app, engine) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "checker")
        await wait_for_screen(pilot, ShellScreen)
        shell = app.screen
        await pilot.press("ctrl+l")
        await wait_for_screen(pilot, LockScreen)
        # A typo mended on the way: the backspace edits what was typed before it, at once.
        password = PASSWORDS["checker"]
        await type_keys(pilot, f"{password[:-3]}x{BACKSPACE}{password[-3:]}{ENTER}")
        await wait_for_screen(pilot, ShellScreen)
        assert app.screen is shell and not app.locked
    assert (await operator_row(engine, "checker")).failed_logins == 0
    assert (await last_actions(engine, 1)) == ["operator.unlock_console"]


async def test_a_paste_into_the_display_name_keeps_only_its_first_field(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await login(pilot, "admin")
        await pilot.press("5", "n")
        await wait_for_screen(pilot, CreateOperatorScreen)
        await settle(pilot)
        deliver(pilot, f"jdoe{TAB}")
        # A terminal wraps a paste in bracketed-paste markers; the text arrives as one event.
        deliver(pilot, f"\x1b[200~Jo Doe{TAB}{NEW_PASSWORD}{TAB}{NEW_PASSWORD}\x1b[201~")
        await settle(pilot)
        fields = {field.id: field.value for field in app.screen.query(Input)}
    assert fields == {"new-username": "jdoe", "new-display-name": "Jo Doe", "new-password": "",
                      "new-password-confirm": ""}


def test_the_listed_field_keys_are_the_ones_textual_binds() -> None:
    """A Textual upgrade that binds another key in a form widget must add it to the list,
    or that key would overtake the keys typed before it."""
    from wbo_tui.widgets import burst_input

    assert burst_input._FIELD_KEYS == burst_input.field_keys()  # noqa: SLF001

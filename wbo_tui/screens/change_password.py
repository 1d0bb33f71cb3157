"""Change your own password: the current one, the new one twice; the engine validates."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widget import Widget

from wbo_tui.engine import SessionInfo
from wbo_tui.engine.api import Engine
from wbo_tui.widgets.burst_input import BurstInput

from wbo_tui.widgets.forms import FormScreen, confirmation_matches, labelled


class ChangePasswordScreen(FormScreen[bool]):
    FORM_TITLE = "Change your password"
    SUBMIT_LABEL = "Change password"
    HELP = (
        "Enter your current password and the new one twice. The new password must be long "
        "enough, differ from the current one and not contain your username. Wrong current "
        "passwords count towards the account lockout."
    )

    FORCED_HELP = (
        "An administrator set your password, so only you may know the next one: enter the "
        "password you were given and a new one twice. Escape logs you out."
    )

    def __init__(self, *, forced: bool = False) -> None:
        super().__init__()
        self._forced = forced
        if forced:
            self.FORM_TITLE = "Choose your own password"

    def dismiss(self, result: bool | None = None) -> Any:
        """At a first login there is nothing beneath this screen to return to: the app
        goes on to the console, or back to the login screen."""
        if self._forced:
            self.wbo.forced_password_changed(bool(result))
            return None
        return super().dismiss(result)

    def compose_fields(self) -> Iterable[Widget]:
        yield from labelled("Current password", BurstInput(id="old-password", password=True))
        yield from labelled("New password", BurstInput(id="new-password", password=True))
        yield from labelled("Confirm new password", BurstInput(id="confirm-password", password=True))

    def help_text(self) -> tuple[str, str]:
        return (self.FORM_TITLE, (self.FORCED_HELP if self._forced else self.HELP) or "")

    async def perform(self, engine: Engine, session: SessionInfo) -> bool:
        new = self.value("#new-password")
        confirmation_matches(new, self.value("#confirm-password"))
        await engine.change_password(session, self.value("#old-password"), new)
        return True

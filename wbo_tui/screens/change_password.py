"""Change your own password: the current one, the new one twice; the engine validates."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Input

from wbo_tui.engine import SessionInfo
from wbo_tui.engine.api import Engine

from .forms import FormScreen, confirmation_matches, labelled


class ChangePasswordScreen(FormScreen[bool]):
    FORM_TITLE = "Change your password"
    SUBMIT_LABEL = "Change password"
    HELP = (
        "Enter your current password and the new one twice. The new password must be long "
        "enough, differ from the current one and not contain your username. Wrong current "
        "passwords count towards the account lockout."
    )

    def compose_fields(self) -> Iterable[Widget]:
        yield from labelled("Current password", Input(id="old-password", password=True))
        yield from labelled("New password", Input(id="new-password", password=True))
        yield from labelled("Confirm new password", Input(id="confirm-password", password=True))

    def help_text(self) -> tuple[str, str]:
        return ("Change password", self.HELP or "")

    async def perform(self, engine: Engine, session: SessionInfo) -> bool:
        new = self.value("#new-password")
        confirmation_matches(new, self.value("#confirm-password"))
        await engine.change_password(session, self.value("#old-password"), new)
        return True

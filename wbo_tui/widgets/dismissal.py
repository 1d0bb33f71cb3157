"""Dismissing a screen from a worker, safely.

``Screen.dismiss`` pops whatever screen is on top.  A worker finishing while another
screen has been pushed over its own (the idle lock, the command palette, a permission
request) would pop that one instead: worst case, the lock.  So a screen dismisses itself
only while it is the active one, and otherwise as soon as it becomes active again.
"""

from __future__ import annotations

from typing import Any

from textual import events


class DismissWhenActive:
    """Mixin for screens that dismiss themselves from a worker."""

    _pending_result: tuple[Any] | None = None

    def dismiss_when_active(self, result: Any) -> None:
        if self.is_active:  # type: ignore[attr-defined]
            self.dismiss(result)  # type: ignore[attr-defined]
        else:
            self._pending_result = (result,)

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        if self._pending_result is not None:
            (result,) = self._pending_result
            self._pending_result = None
            self.dismiss(result)  # type: ignore[attr-defined]

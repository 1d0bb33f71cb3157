"""Why a row action does not apply to the selected row, said before the operator tries it.

A pane greys a key that does not apply (``TablePane.check_action``) and names the reason
in its hint line; the engine's refusal stays the guarantee.  The reasons for deciding an
approval item are the engine's own rules, in the order that matters to the operator: an
item that is no longer pending cannot be decided by anyone, one's own item by nobody but
another operator (a permission would not change that), and only then is a missing
permission the obstacle, the one case where a permission request would help.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from wbo_tui.engine import SessionInfo
from wbo_tui.engine.approvals import KINDS


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why an action does not apply; ``permission`` when holding it is all that is missing."""

    reason: str
    permission: str | None = None
    wanted_for: str = ""
    """What the permission would allow, in words ("decide fund allocation items")."""


def approval_permission(kind: str) -> str:
    """The permission the engine requires to decide items of ``kind``."""
    return KINDS[kind].approval_permission


def decision_unavailable(session: SessionInfo | None, kind: str, *, maker_id: int | None, what: str,
                         pending: bool = True, state: str = "") -> Unavailable | None:
    """Why the operator of ``session`` cannot approve or reject an item of ``kind``
    submitted by ``maker_id`` (``what`` names it: "allocation"), or None when they can.
    ``pending`` False: the item was decided already (``state`` says what it is now)."""
    if not pending:
        return Unavailable(f"this {what} is {state or 'decided'}; only a pending one can be decided")
    if session is None:
        return Unavailable("you are logged out")
    if maker_id is not None and maker_id == session.operator_id:
        return Unavailable(f"you submitted this {what}; another operator must decide it")
    permission = approval_permission(kind)
    if not session.can(permission):
        label = KINDS[kind].label.lower()
        return Unavailable(f"you need the permission {permission} to decide {label} items (R requests it)",
                           permission=permission, wanted_for=f"decide {label} items")
    return None


class RowHint(Static):
    """One line under a table: which keys do not apply to the selected row, and why."""

    DEFAULT_CSS = """
    RowHint { height: 1; padding: 0 1; color: $text-warning; display: none; }
    RowHint.-shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__("", classes="pane-hint", markup=False)

    def show(self, text: str | None) -> None:
        """``text``; empty or None hides the line (at 80x24 every row of the table counts)."""
        self.set_class(bool(text), "-shown")
        self.update(Text(text or "", no_wrap=True, overflow="ellipsis"))
        self.tooltip = text or None

"""What Admin's approval queues (Requests, Changes) share: items another administrator
approves (a) or rejects with a reason (x), read from the engine's approvals, with a line
under the table about the selected item."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from wbo_tui.engine import ApprovalDTO, ListApprovals

from wbo_tui.widgets.table_pane import TablePane
from wbo_tui.widgets.row_actions import Unavailable, decision_unavailable


def decision_bindings(prefix: str) -> list[Binding]:
    """a approves, x rejects; the bindings' ids are ``<prefix>-approve`` and ``<prefix>-reject``."""
    return [
        Binding("a", "approve", "Approve", id=f"{prefix}-approve"),
        Binding("x", "reject", "Reject", id=f"{prefix}-reject"),
    ]


class ApprovalQueuePane(TablePane):
    """Subclasses set ``WHAT`` (how a refusal names an item), ``BINDINGS``
    (``decision_bindings``) and implement ``fetch`` (with ``pending``), ``row_cells``,
    ``show_detail``, ``action_approve`` and ``action_reject`` (its callback ``_rejected``)."""

    TOPICS = frozenset({"approvals"})
    ROW_ACTIONS = frozenset({"approve", "reject"})
    WHAT = "item"

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def pending(self, kind: str) -> Sequence[ApprovalDTO]:
        """The pending items of one approval kind, newest first."""
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        return await engine.query(session, ListApprovals(kind=kind))

    def row_key(self, item: ApprovalDTO) -> str:
        return str(item.id)

    def why_not(self, action: str, item: ApprovalDTO | None) -> Unavailable | str | None:
        if item is None:
            return "no row is selected"
        return decision_unavailable(self.wbo.session, item.kind, maker_id=item.maker_id, what=self.WHAT,
                                    pending=item.status == "PENDING", state=item.status.lower())

    def _rejected(self, item: ApprovalDTO | None) -> None:
        if item is not None:
            self.app.notify(f"{item.ref} rejected.", markup=False)
            self.load()

"""Allocations › Allocations: deciding allocations, one or marked in bulk, and which row
actions apply to the selected allocation (the pane greys the others and says why).

Every decision of a bulk action is its own engine call (its own transaction), so one
refusal never undoes the rows decided before it.  Bulk decisions and a rejection ask the
operator to type a confirmation naming the count; a single approval focuses its button, so
Enter approves.  The engine's refusal stays the guarantee behind every greyed key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from wbo_tui.engine import (
    ApprovalDTO,
    ApproveItem,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RejectItem,
    SessionInfo,
    WboError,
)
from wbo_tui.engine.allocations import AllocationDTO, RetryAllocation
from wbo_tui.engine.api import Engine
from wbo_tui.engine.approvals import GetApproval
from wbo_tui.screens.allocations.forms import (BulkRejectScreen, BulkResultScreen, RowResult, allocation_line,
                                               decision_outcome)
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.moments import when
from wbo_tui.widgets.reject import RejectScreen
from wbo_tui.widgets.row_actions import Unavailable, decision_unavailable
from wbo_tui.widgets.typed_confirmation import phrase

if TYPE_CHECKING:
    from wbo_tui.widgets.table_pane import TablePane

    Base = TablePane
else:
    Base = object

KIND = "fund_allocation"
BULK = ("bulk_approve", "bulk_reject")


def status_words(a: AllocationDTO) -> str:
    return a.status.replace("_", " ")


class AllocationDecisions(Base):
    """Mixed into the allocation records pane, before its table pane base.  The pane
    provides ``marked`` (order no → allocation) and ``_act`` (one action worker)."""

    marked: dict[str, AllocationDTO]
    _act: Callable[[Callable[[Engine, SessionInfo], Any]], None]

    # --- which actions apply ------------------------------------------------------------

    def decision_reason(self, a: AllocationDTO) -> Unavailable | None:
        """Why the operator cannot approve or reject ``a``, or None when they can."""
        pending = a.status == "pending_approval" and a.approval_id is not None
        return decision_unavailable(self.wbo.session, KIND, maker_id=a.maker_id, what="allocation", pending=pending,
                                    state=status_words(a))

    def why_not(self, action: str, a: AllocationDTO | None) -> Unavailable | str | None:
        if a is None:
            return "no row is selected"
        if action in ("approve", "reject"):
            return self.decision_reason(a)
        if action == "retry":
            if a.status != "failed":
                return f"only a failed allocation is retried; this one is {status_words(a)}"
            session = self.wbo.session
            permission = RetryAllocation.permission
            if session is not None and permission is not None and not session.can(permission):
                return Unavailable(f"you need the permission {permission} to retry allocations (R requests it)",
                                   permission=permission, wanted_for="retry fund allocations")
        if action == "explain" and a.origin != "automatic":
            return "a manual allocation has no rule decision to explain"
        return None

    def unavailable(self, action: str, parameters: tuple[object, ...] = ()) -> Unavailable | None:
        if action not in BULK:
            return super().unavailable(action, parameters)
        if self.busy:
            return Unavailable("the previous action is still running")
        if not self.marked:
            return Unavailable("no rows are marked; space marks the selected row")
        reasons = [self.decision_reason(a) for a in self.marked.values()]
        if all(reason is not None for reason in reasons):
            # Not one marked row could be decided: say why for the first (often all the same).
            return reasons[0]
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action in BULK:
            return None if self.unavailable(action, parameters) is not None else True
        return allowed

    # --- approve one: show exactly what was submitted, then decide and say what happened --

    def action_approve(self) -> None:
        a: AllocationDTO = self.selected
        self._act(lambda engine, session: self._confirm_approval(engine, session, a))

    async def _confirm_approval(self, engine: Engine, session: SessionInfo, a: AllocationDTO) -> None:
        assert a.approval_id is not None  # only a pending allocation is approved (``decision_reason``)
        try:
            # The one item, by its id: however many others wait for approval.
            item = await engine.query(session, GetApproval(kind=KIND, approval_id=a.approval_id))
        except PermissionDenied as denied:
            # Reading it needs the same permission as deciding: name what the operator tried.
            raise PermissionDenied(denied.permission, "approve fund allocations") from denied
        except NotFound:
            item = None
        if item is None or item.status != "PENDING":
            self.app.notify(f"{a.order_no} is no longer pending approval; the list is reloaded.",
                            severity="warning", markup=False)
            return
        # A manual allocation's summary holds its remarks already: say them once.
        remarks = "" if a.remarks and a.remarks in item.summary else f"; remarks: {a.remarks or '—'}"
        consequences = [
            f"Submitted by {item.maker} at {when(item.submitted_at)} UTC as {item.ref}: {item.summary}",
            f"Payload: approve allocation order {item.payload.get('order_no', a.order_no)}.",
            f"Amount {a.amount_text} {a.currency}, from {a.from_account} to {a.to_account} via {a.channel}{remarks}.",
            f"Approving is refused, and nothing changes, when {a.from_account} cannot cover the amount on top of "
            "what is already committed out of it.",
            f"Otherwise {item.ref} is marked approved by you as the decision commits; the decision is final and "
            "recorded in the audit log.",
            f"Then the transfer is sent to {a.channel} (the allocation is processing until the channel answers); "
            "the list shows the outcome when it arrives: succeeded, or failed with the channel's reason (t retries "
            "a failed one).",
        ]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(lambda engine, session: self._approve(engine, session, a))

        self.app.push_screen(ConfirmScreen(f"Approve fund allocation {a.order_no}?", consequences, "Approve",
                                           danger=False, does="approves it, then sends the transfer to the settlement "
                                           "channel; the list shows the outcome when it arrives"),
                             callback=confirmed)

    async def _approve(self, engine: Engine, session: SessionInfo, a: AllocationDTO) -> None:
        item: ApprovalDTO = await engine.execute(session, ApproveItem(approval_id=a.approval_id))
        result = await decision_outcome(engine, session, a, item)
        self.app.notify(f"Allocation {a.order_no} {result.outcome}", markup=False,
                        severity="information" if result.ok else "error")

    def action_reject(self) -> None:
        a: AllocationDTO = self.selected
        assert a.approval_id is not None
        self.app.push_screen(RejectScreen(a.approval_id, allocation_line(a), (
            f"{a.order_no} becomes rejected with your reason and nothing is paid.",
            "A rejected allocation can't be revived: a new one must be submitted.",
            "The decision is final and recorded in the audit log.",
        ), title="Reject fund allocation"), callback=self._rejected)

    def _rejected(self, item: ApprovalDTO | None) -> None:
        if item is not None:
            self.app.notify(f"{item.ref} rejected: {item.reason}", markup=False)
            self.load()

    # --- bulk: each marked row its own decision, and a result per row --------------------

    def _marked_rows(self) -> list[AllocationDTO]:
        return list(self.marked.values())

    def action_bulk_approve(self) -> None:
        rows = self._marked_rows()
        consequences = [allocation_line(a) for a in rows] + [
            "Each is approved on its own; once its decision commits, its transfer is sent to the settlement channel "
            "and the list shows the outcome when it arrives. A row already decided, one you submitted, or one its "
            "outgoing account cannot cover is refused and left as it is. The result lists every row."]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._act(lambda engine, session: self._decide_each(
                    engine, session, rows, "Bulk approve", self._approve_row))

        self.app.push_screen(ConfirmScreen(
            f"Approve {len(rows)} marked allocation(s)?", consequences, "Approve all", danger=False,
            typed=phrase("approve", len(rows)),
            does=f"approves the {len(rows)} marked allocation(s), each on its own, and sends each approved one's "
                 "transfer to the settlement channel",
        ), callback=confirmed)

    async def _approve_row(self, engine: Engine, session: SessionInfo, a: AllocationDTO) -> RowResult:
        if a.approval_id is None:
            return RowResult(a.order_no, f"refused: it is {status_words(a)}, with no approval", False)
        item: ApprovalDTO = await engine.execute(session, ApproveItem(approval_id=a.approval_id))
        return await decision_outcome(engine, session, a, item)

    def action_bulk_reject(self) -> None:
        rows = self._marked_rows()
        first = next((a.approval_id for a in rows if a.approval_id is not None), 0)

        def reasoned(reason: str | None) -> None:
            if reason:
                async def reject(engine: Engine, session: SessionInfo, a: AllocationDTO) -> RowResult:
                    if a.approval_id is None:
                        return RowResult(a.order_no, f"refused: it is {status_words(a)}", False)
                    await engine.execute(session, RejectItem(approval_id=a.approval_id, reason=reason))
                    return RowResult(a.order_no, f"rejected: {reason}", True)

                self._act(lambda engine, session: self._decide_each(engine, session, rows, "Bulk reject", reject))

        self.app.push_screen(BulkRejectScreen(rows, first), callback=reasoned)

    async def _decide_each(self, engine: Engine, session: SessionInfo, rows: Sequence[AllocationDTO], title: str,
                           decide: Callable[[Engine, SessionInfo, AllocationDTO], Any]) -> None:
        results = []
        for a in rows:
            try:
                results.append(await decide(engine, session, a))
            except (PermissionDenied, NotAuthenticated):
                raise  # The same for every row: the app offers a request or the login.
            except WboError as error:
                results.append(RowResult(a.order_no, f"refused: {error}", False))
        self.marked.clear()
        self.app.push_screen(BulkResultScreen(f"{title}: result per row", results))

"""Manual allocations (maker-checker), work-order approval of automatic ones, retries.

A manual allocation is written ``pending_approval`` with an approval item; a checker's
approval moves it to ``processing`` in the approval's transaction and the transfer is
submitted right after that commit (``uow.after_commit``).  In a console (``Engine.open(…,
own_loop=True)``) the approval returns once its decision commits and the transfer runs
on the engine's loop afterwards, its outcome reaching the lists as any other change;
elsewhere (tools, tests) the call returns after the transfer's first step.  Either way
the transfer is driven through ``execution.drive``'s claim, so it runs once; if the
process ends first, the claim's lease lapses and the next allocation pass asks the
channel about the attempt's key before submitting anything.
A rejection fails it for good (``rejected``): a new application must be submitted.

Approving an allocation (a manual one, or an automatic rule's work order) and retrying a
failed one commit its amount out of the outgoing account: both are refused when that
account's last polled balance, net of what is already committed out of it and not yet
settled, does not cover it above the blocking threshold (``positions.reservations``), in
the same transaction that moves it to ``processing``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import select

from .. import approvals
from ..approvals import ApprovalKind
from ..commands import Command, Query, handles
from ..dto import DTO, ApprovalDTO
from ..errors import Conflict, ValidationFailed
from ..money import DecimalAmount
from ..positions.reservations import committed_out, require_outgoing_funds
from ..positions.tables import positions
from ..uow import UnitOfWork
from ..whole_numbers import Id
from .execution import drive_isolated, insert_allocation, new_order_no, set_status
from .records import AllocationDTO, get_allocation
from .rules import validate_transfer
from .tables import allocations

OPERATION = "atm.company_fund_allocation_operation"
APPROVAL = "atm.company_fund_allocation_approval"
INQUIRY = "atm.company_fund_allocation_inquiry"


class CreateManualAllocation(Command):
    permission = OPERATION
    action = "create manual fund allocations"
    from_account_id: Id
    to_account_id: Id
    currency: str
    amount: DecimalAmount
    remarks: str = Field(max_length=300)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("remarks")
    @classmethod
    def _remarks(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("is required: state the reason for the allocation")
        return value.strip()


class AllocationToApprove(Command):
    """The approval item's payload: which allocation a checker approves."""

    permission = APPROVAL
    action = "approve fund allocations"
    order_no: str


class RetryAllocation(Command):
    """Try a failed allocation again: a new attempt under a new idempotency key (the failed
    key moved no money, so the retry cannot pay twice)."""

    permission = OPERATION
    action = "retry failed fund allocations"
    order_no: str


class BalancePreview(Query):
    """Both accounts' available balances before and after a planned allocation."""

    permission = INQUIRY
    action = "view company fund allocations"
    from_account_id: Id
    to_account_id: Id
    amount: DecimalAmount | None = None


class SideDTO(DTO):
    account_id: int
    available: Decimal | None
    after: Decimal | None
    committed: Decimal = Decimal(0)
    """Committed out of the account and not yet settled: what an approval counts on top
    of the amount (``positions.reservations``)."""


class BalancePreviewDTO(DTO):
    outgoing: SideDTO
    incoming: SideDTO


def after_commit_drive(uow: UnitOfWork, allocation_id: int) -> None:
    async def job(engine: Any, holder: str) -> None:
        # Isolated like a scheduled pass: a channel that fails right after the approval
        # leaves its reason and back-off on the allocation, not a bare lease.
        await drive_isolated(engine, allocation_id, holder)

    uow.after_commit.append(job)


@handles(CreateManualAllocation)
async def create_manual(uow: UnitOfWork, cmd: CreateManualAllocation) -> AllocationDTO:
    source, target, currency = await validate_transfer(uow, cmd.from_account_id, cmd.to_account_id, cmd.currency)
    cmd = cmd.model_copy(update={"amount": currency.check_precision(cmd.amount, field="Amount")})  # canonical
    if cmd.amount <= 0:
        raise ValidationFailed("Amount", "must be greater than zero")
    order_no = new_order_no(uow)
    item = await submit_for_approval(uow, order_no, (
        f"Fund allocation {order_no}: {currency.format(cmd.amount)} {cmd.currency} from {source.account_no} to "
        f"{target.account_no} ({source.channel}). Remarks: {cmd.remarks}"
    ))
    allocation_id, _ = await insert_allocation(
        uow, origin="manual", rule_id=None, trigger="manual", trigger_key=None, from_id=source.id, to_id=target.id,
        currency=cmd.currency, amount=cmd.amount, remarks=cmd.remarks, status="pending_approval",
        maker=uow.actor.username, order_no=order_no, approval_id=item.id,
    )
    # The row as just written, with the names the records view joins in.
    return AllocationDTO(
        id=allocation_id, order_no=order_no, origin="manual", created_at=uow.now, updated_at=uow.now,
        amount=cmd.amount, currency=cmd.currency, precision=currency.amount_precision, from_account_id=source.id,
        from_account=source.account_no, to_account_id=target.id, to_account=target.account_no,
        channel=source.channel, trigger="manual", rule_id=None, rule_name=None, status="pending_approval",
        failure_reason=None, attempt=1, maker=uow.actor.username, checker=None, remarks=cmd.remarks,
        approval_id=item.id, maker_id=uow.actor.operator_id,
    )


async def submit_for_approval(uow: UnitOfWork, order_no: str, summary: str) -> ApprovalDTO:
    """The approval item for allocation ``order_no`` (written next, naming the item)."""
    return await approvals.submit(uow, "fund_allocation", AllocationToApprove(order_no=order_no), summary)


async def _authorize(uow: UnitOfWork, cmd: AllocationToApprove) -> None:
    """Refuse the approval when the outgoing account cannot cover the allocation on top of
    what is already committed out of it (``_execute`` then makes it one more commitment)."""
    row = (await uow.conn.execute(select(allocations.c.from_account_id, allocations.c.currency, allocations.c.amount)
                                  .where(allocations.c.order_no == cmd.order_no))).one()
    await require_outgoing_funds(uow, row.from_account_id, row.currency, row.amount)


async def _execute(uow: UnitOfWork, cmd: AllocationToApprove, item: ApprovalDTO) -> dict[str, Any]:
    row = (await uow.conn.execute(select(allocations.c.id).where(allocations.c.order_no == cmd.order_no))).one()
    if not await set_status(uow, row.id, expect=("pending_approval",), status="processing",
                            checker=uow.actor.username):
        raise Conflict(f"Allocation {cmd.order_no} is no longer pending approval.")
    after_commit_drive(uow, row.id)
    return {"allocation": cmd.order_no, "status": "processing"}


async def _reject(uow: UnitOfWork, cmd: AllocationToApprove, item: ApprovalDTO) -> None:
    decided = await approvals.get(uow, item.id)
    row = (await uow.conn.execute(select(allocations.c.id).where(allocations.c.order_no == cmd.order_no))).one()
    await set_status(uow, row.id, expect=("pending_approval",), status="rejected",
                     reason=f"Rejected by {uow.actor.username}: {decided.reason}"[:300], checker=uow.actor.username)


approvals.register_kind(ApprovalKind(
    name="fund_allocation", label="Fund allocation", payload=AllocationToApprove, approval_permission=APPROVAL,
    execute=_execute, authorize=_authorize, on_reject=_reject,
))


@handles(RetryAllocation)
async def retry_allocation(uow: UnitOfWork, cmd: RetryAllocation) -> AllocationDTO:
    current = await get_allocation(uow, allocations.c.order_no == cmd.order_no)
    if current.status != "failed":
        raise Conflict(f"Only a failed allocation can be retried; {current.order_no} is {current.status.replace('_', ' ')}.")
    # A failed attempt moved no money and stopped counting; the retry commits it again.
    await require_outgoing_funds(uow, current.from_account_id, current.currency, current.amount)
    attempt = current.attempt + 1
    if not await set_status(uow, current.id, expect=("failed",), status="processing", attempt=attempt,
                            attempt_key=f"{current.order_no}.{attempt}", claimed_by=None, claim_until=None):
        raise Conflict(f"{current.order_no} was retried by someone else just now.")
    after_commit_drive(uow, current.id)
    return await get_allocation(uow, allocations.c.id == current.id)


@handles(BalancePreview)
async def balance_preview(uow: UnitOfWork, q: BalancePreview) -> BalancePreviewDTO:
    rows = {r.channel_account_id: r.available for r in await uow.conn.execute(
        select(positions.c.channel_account_id, positions.c.available)
        .where(positions.c.channel_account_id.in_((q.from_account_id, q.to_account_id))))}
    source, target = rows.get(q.from_account_id), rows.get(q.to_account_id)
    moved = q.amount
    committed = await committed_out(uow, (q.from_account_id, q.to_account_id))
    return BalancePreviewDTO(
        outgoing=SideDTO(account_id=q.from_account_id, available=source,
                         after=source - moved if source is not None and moved is not None else None,
                         committed=committed[q.from_account_id]),
        incoming=SideDTO(account_id=q.to_account_id, available=target,
                         after=target + moved if target is not None and moved is not None else None,
                         committed=committed[q.to_account_id]),
    )

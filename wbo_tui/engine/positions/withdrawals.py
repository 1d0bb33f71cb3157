"""Withdrawal applications: submitted, approved or rejected (maker-checker), then
successful or failed (per part).

Approval is intercepted when a channel account would be short: the principal account
and the fee account are each checked against their blocking threshold *after* this
withdrawal's own amount and everything already committed out of that account and not yet
settled (``reservations``), i.e. ``available - committed - amount < blocking threshold``
refuses (with no blocking threshold configured, the threshold is zero: an account can't
pay out more than it holds).  The manual compares only the available balance with the
threshold; counting this withdrawal and the ones approved before it stops approvals that
would together push the account below it, when no poll came in between.  The refusal
messages are the manual's, word for word.

A withdrawal is paid by the channel outside this console; an operator records the outcome
(``MarkWithdrawalSuccessful``, ``MarkWithdrawalFailed``), which is what ends its
commitment against the accounts (see ``reservations`` for when a success stops counting).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import and_, insert, select, update

from .. import approvals
from ..approvals import ApprovalKind
from ..commands import Command, Query, RequiredText, handles
from ..currencies import load_currency
from ..dto import DTO, ApprovalDTO
from ..errors import Conflict, NotFound, ValidationFailed, WboError
from ..money import DecimalAmount
from ..schema import approvals as approvals_table
from ..uow import UnitOfWork
from ..whole_numbers import PageSize
from . import events
from .reservations import load_funds
from .tables import channel_accounts, withdrawals

OPERATION = "assets.withdrawal_application_operation"
INQUIRY = "assets.withdrawal_application_inquiry"
APPROVAL = "assets.withdrawal_application_approval"

FEE_SHORT = "The channel account's fee balance for this currency is insufficient. Please perform a fund allocation first."
PRINCIPAL_SHORT = (
    "The channel account's principal balance for this currency is insufficient. Please perform a fund allocation first."
)
BOTH_SHORT = (
    "The channel account's principal and fee balances for this currency are insufficient. "
    "Please perform a fund allocation first."
)


class InsufficientChannelBalance(WboError):
    """Approval intercepted: the principal and/or fee account is below its blocking threshold."""

    def __init__(self, message: str, parts: tuple[str, ...]) -> None:
        super().__init__(message)
        self.parts = parts


class WithdrawalDTO(DTO):
    id: int
    ref: str
    client_id: str
    channel: str
    currency: str
    principal: Decimal
    fee: Decimal
    principal_account: str
    fee_account: str
    status: str
    approval_id: int
    approval_ref: str
    maker_id: int | None  # who submitted it: the console greys their own approve and reject
    submitted_at: Any
    failed_part: str | None
    failure_reason: str | None


class SubmitWithdrawal(Command):
    permission = OPERATION
    action = "submit withdrawal applications"
    client_id: str = Field(min_length=1, max_length=40)
    channel: str
    currency: str
    principal: DecimalAmount
    fee: DecimalAmount

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class WithdrawalToApprove(Command):
    """The approval item's payload: which withdrawal a checker approves."""

    permission = APPROVAL
    action = "approve withdrawal applications"
    withdrawal_ref: str


class MarkWithdrawalFailed(Command):
    permission = OPERATION
    action = "mark withdrawals failed"
    withdrawal_ref: str
    part: Literal["principal", "fee"]
    reason: Annotated[str, RequiredText(": say what the channel reported")] = Field(max_length=300)


class MarkWithdrawalSuccessful(Command):
    """The channel paid the withdrawal (the parts not marked failed)."""

    permission = OPERATION
    action = "mark withdrawals successful"
    withdrawal_ref: str


class ListWithdrawals(Query):
    permission = INQUIRY
    action = "view withdrawal applications"
    status: str | None = None
    limit: PageSize = 200


async def _account_for(uow: UnitOfWork, channel: str, currency: str, scenario: str, label: str) -> Any:
    row = (await uow.conn.execute(select(channel_accounts).where(
        channel_accounts.c.channel == channel, channel_accounts.c.currency == currency,
        channel_accounts.c.scenario == scenario,
    ))).first()
    if row is None:
        raise ValidationFailed(
            "Currency", f"{currency} has no {label} account on {channel}; configure one under Settlement channel accounts"
        )
    return row


def _select() -> Any:
    principal = channel_accounts.alias("principal_acct")
    fee = channel_accounts.alias("fee_acct")
    return (
        select(withdrawals, principal.c.account_no.label("principal_account"),
               fee.c.account_no.label("fee_account"), approvals_table.c.ref.label("approval_ref"),
               approvals_table.c.maker_id.label("maker_id"))
        .join(principal, principal.c.id == withdrawals.c.principal_account_id)
        .join(fee, fee.c.id == withdrawals.c.fee_account_id)
        .join(approvals_table, approvals_table.c.id == withdrawals.c.approval_id)
    )


def _dto(r: Any) -> WithdrawalDTO:
    return WithdrawalDTO(
        id=r.id, ref=r.ref, client_id=r.client_id, channel=r.channel, currency=r.currency, principal=r.principal,
        fee=r.fee, principal_account=r.principal_account, fee_account=r.fee_account, status=r.status,
        approval_id=r.approval_id, approval_ref=r.approval_ref, maker_id=r.maker_id, submitted_at=r.submitted_at,
        failed_part=r.failed_part, failure_reason=r.failure_reason,
    )


async def _get(uow: UnitOfWork, ref: str) -> WithdrawalDTO:
    row = (await uow.conn.execute(_select().where(withdrawals.c.ref == ref))).first()
    if row is None:
        raise NotFound(f"Withdrawal application {ref} does not exist.")
    return _dto(row)


@handles(SubmitWithdrawal)
async def submit_withdrawal(uow: UnitOfWork, cmd: SubmitWithdrawal) -> WithdrawalDTO:
    currency = await load_currency(uow, cmd.currency)
    cmd = cmd.model_copy(update={  # the canonical form is what is stored
        "principal": currency.check_precision(cmd.principal, field="Principal amount"),
        "fee": currency.check_precision(cmd.fee, field="Fee"),
    })
    if cmd.principal <= 0:
        raise ValidationFailed("Principal amount", "must be greater than zero")
    if cmd.fee < 0:
        raise ValidationFailed("Fee", "must not be negative")
    principal_acct = await _account_for(uow, cmd.channel, cmd.currency, "withdrawal_principal", "withdrawal principal")
    fee_acct = await _account_for(uow, cmd.channel, cmd.currency, "withdrawal_fee", "withdrawal fee")
    ref = uow.ids.new_ref("WD")
    item = await approvals.submit(
        uow, "withdrawal", WithdrawalToApprove(withdrawal_ref=ref),
        f"Withdrawal {ref}: client {cmd.client_id} {cmd.principal} {cmd.currency} + fee {cmd.fee} via {cmd.channel}",
    )
    await uow.conn.execute(insert(withdrawals).values(
        ref=ref, client_id=cmd.client_id, channel=cmd.channel, currency=cmd.currency, principal=cmd.principal,
        fee=cmd.fee, principal_account_id=principal_acct.id, fee_account_id=fee_acct.id, status="PENDING",
        approval_id=item.id, submitted_by=uow.actor.operator_id, submitted_at=uow.now, updated_at=uow.now,
    ))
    common = {"withdrawal_ref": ref, "client_id": cmd.client_id, "currency": cmd.currency}
    await events.emit(uow, events.WITHDRAWAL_SUBMITTED_PRINCIPAL, "withdrawal", ref,
                      {**common, "channel_account_id": principal_acct.id, "amount": cmd.principal})
    if cmd.fee > 0:
        await events.emit(uow, events.WITHDRAWAL_SUBMITTED_FEE, "withdrawal", ref,
                          {**common, "channel_account_id": fee_acct.id, "amount": cmd.fee})
    uow.record("withdrawal.submit", "withdrawal", ref, None, {
        **common, "principal": cmd.principal, "fee": cmd.fee, "channel": cmd.channel, "approval": item.ref,
    })
    return await _get(uow, ref)


async def _authorize(uow: UnitOfWork, cmd: WithdrawalToApprove) -> None:
    """Intercept the approval when the principal or fee account would end up short,
    counting what is already committed out of it."""
    w = (await uow.conn.execute(
        select(withdrawals.c.principal, withdrawals.c.fee, withdrawals.c.principal_account_id,
               withdrawals.c.fee_account_id)
        .where(withdrawals.c.ref == cmd.withdrawal_ref)
    )).first()
    if w is None:
        raise NotFound(f"Withdrawal application {cmd.withdrawal_ref} does not exist.")
    # Counted against what is already committed out of each account, in this transaction:
    # the approval's own status change (in ``_execute``) is the reservation.
    funds = await load_funds(uow, (w.principal_account_id, w.fee_account_id))
    principal_short = not funds[w.principal_account_id].covers(w.principal)
    fee_short = w.fee > 0 and not funds[w.fee_account_id].covers(w.fee)
    if principal_short and fee_short:
        raise InsufficientChannelBalance(BOTH_SHORT, ("principal", "fee"))
    if principal_short:
        raise InsufficientChannelBalance(PRINCIPAL_SHORT, ("principal",))
    if fee_short:
        raise InsufficientChannelBalance(FEE_SHORT, ("fee",))


async def _execute(uow: UnitOfWork, cmd: WithdrawalToApprove, item: ApprovalDTO) -> dict[str, Any]:
    changed = await uow.conn.execute(update(withdrawals).where(
        and_(withdrawals.c.ref == cmd.withdrawal_ref, withdrawals.c.status == "PENDING")
    ).values(status="APPROVED", updated_at=uow.now))
    if changed.rowcount != 1:
        raise Conflict(f"Withdrawal {cmd.withdrawal_ref} is no longer pending.")
    uow.record("withdrawal.approve", "withdrawal", cmd.withdrawal_ref, {"status": "PENDING"}, {"status": "APPROVED"})
    return {"withdrawal": cmd.withdrawal_ref, "status": "APPROVED"}


async def _reject(uow: UnitOfWork, cmd: WithdrawalToApprove, item: ApprovalDTO) -> None:
    await uow.conn.execute(update(withdrawals).where(
        and_(withdrawals.c.ref == cmd.withdrawal_ref, withdrawals.c.status == "PENDING")
    ).values(status="REJECTED", updated_at=uow.now))
    uow.record("withdrawal.reject", "withdrawal", cmd.withdrawal_ref, {"status": "PENDING"}, {"status": "REJECTED"})


approvals.register_kind(ApprovalKind(
    name="withdrawal", label="Withdrawal application", payload=WithdrawalToApprove, approval_permission=APPROVAL,
    execute=_execute, authorize=_authorize, on_reject=_reject,
))


@handles(MarkWithdrawalFailed)
async def mark_withdrawal_failed(uow: UnitOfWork, cmd: MarkWithdrawalFailed) -> WithdrawalDTO:
    w = await _get(uow, cmd.withdrawal_ref)
    if w.status not in ("APPROVED", "FAILED"):
        raise Conflict(f"Only an approved withdrawal can fail; {w.ref} is {w.status.lower()}.")
    if w.failed_part in (cmd.part, "both"):
        raise Conflict(f"The {cmd.part} of {w.ref} is already marked failed.")
    if cmd.part == "fee" and w.fee == 0:
        raise ValidationFailed("Part", f"{w.ref} has no fee")
    part = cmd.part if w.failed_part is None else "both"
    await uow.conn.execute(update(withdrawals).where(withdrawals.c.id == w.id).values(
        status="FAILED", failed_part=part, failure_reason=cmd.reason.strip(), updated_at=uow.now,
    ))
    row = (await uow.conn.execute(select(withdrawals).where(withdrawals.c.id == w.id))).one()
    account_id = row.principal_account_id if cmd.part == "principal" else row.fee_account_id
    kind = events.WITHDRAWAL_FAILED_PRINCIPAL if cmd.part == "principal" else events.WITHDRAWAL_FAILED_FEE
    await events.emit(uow, kind, "withdrawal", w.ref, {
        "withdrawal_ref": w.ref, "client_id": w.client_id, "currency": w.currency, "channel_account_id": account_id,
        "amount": w.principal if cmd.part == "principal" else w.fee, "reason": cmd.reason.strip(),
    })
    uow.record("withdrawal.fail", "withdrawal", w.ref, {"status": w.status, "failed_part": w.failed_part},
               {"status": "FAILED", "failed_part": part, "reason": cmd.reason.strip()})
    return await _get(uow, w.ref)


@handles(MarkWithdrawalSuccessful)
async def mark_withdrawal_successful(uow: UnitOfWork, cmd: MarkWithdrawalSuccessful) -> WithdrawalDTO:
    """From then on the withdrawal's parts count as settled: still committed until a poll
    shows a balance taken after this moment (``updated_at``, see ``reservations``)."""
    w = await _get(uow, cmd.withdrawal_ref)
    if w.status not in ("APPROVED", "FAILED") or w.failed_part == "both":
        raise Conflict(f"Only an approved withdrawal can succeed; {w.ref} is "
                       f"{'failed in both parts' if w.failed_part == 'both' else w.status.lower()}.")
    changed = await uow.conn.execute(update(withdrawals).where(
        withdrawals.c.id == w.id, withdrawals.c.status == w.status,
    ).values(status="SUCCESSFUL", updated_at=uow.now))
    if changed.rowcount != 1:
        raise Conflict(f"Withdrawal {w.ref} changed meanwhile; reload it.")
    uow.record("withdrawal.succeed", "withdrawal", w.ref, {"status": w.status, "failed_part": w.failed_part},
               {"status": "SUCCESSFUL", "failed_part": w.failed_part})
    return await _get(uow, w.ref)


@handles(ListWithdrawals)
async def list_withdrawals(uow: UnitOfWork, q: ListWithdrawals) -> tuple[WithdrawalDTO, ...]:
    stmt = _select()
    if q.status:
        stmt = stmt.where(withdrawals.c.status == q.status)
    return tuple(_dto(r) for r in await uow.conn.execute(stmt.order_by(withdrawals.c.id.desc()).limit(q.limit)))

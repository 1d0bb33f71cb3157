"""Carrying an allocation out at the settlement channel, exactly once.

An allocation row is written (status ``processing``) in the transaction that decided it;
the transfer is submitted *after* that commit, outside any transaction, with the
allocation's ``attempt_key`` as the idempotency key.  Whoever submits first claims the
row for a lease (``claimed_by``/``claim_until``, one guarded UPDATE), so two processes
never submit one attempt at once.  If a process dies holding a claim, the lease runs out
and another process takes over — by *asking the channel* what became of the key first
(``transfer_status``), and submitting only if the channel never received it.

Outcomes: SUCCEEDED → ``succeeded``; FAILED → ``failed`` with the channel's reason (an
operator may retry: a new attempt with a new key, since a failed key moved no money);
PENDING → stays ``processing`` and is asked again later; an answer lost in transit →
``unknown``, resolved by asking the channel, never by submitting blindly.

A step that gets no usable answer (the channel unreachable, a lost or garbled answer, or
any unexpected error, such as a simulated bank whose store cannot be opened) writes why
into the allocation's failure reason, shown in Allocations → Records, and pushes its
``claim_until`` out by a doubling back-off (``step_failures`` counts them).  The claim's
holder stays recorded, so the next step asks the channel about the key before any
resubmission.  ``drive_due`` runs each allocation through ``passes.PassRun``: one that
fails never stops the others.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from ..passes import Backoff, ItemFailure, PassRun
from ..positions.tables import channel_accounts, settlement_channels
from ..prepared import Prepared
from ..upstream.gateway import IdempotencyConflict, TransferRequest, TransferState, UpstreamError, UpstreamUnavailable
from ..uow import Actor, UnitOfWork, write_unit
from .tables import allocations

LEASE = timedelta(seconds=30)  # a claim outlives any one gateway call (their time limits are shorter)
RECHECK = timedelta(seconds=5)  # how soon a PENDING or unanswered transfer is asked about again
# Consecutive steps without a usable answer wait RECHECK, then twice as long each time, up
# to this many RECHECKs (15 minutes at 5 s): a channel that stays broken is not hammered.
BACKOFF_CAP_RECHECKS = 180
SYSTEM = Actor.system("allocation-engine")


async def insert_allocation(
    uow: UnitOfWork, *, origin: str, rule_id: int | None, trigger: str, trigger_key: str | None, from_id: int,
    to_id: int, currency: str, amount: Decimal, remarks: str, status: str, maker: str, order_no: str | None = None,
    approval_id: int | None = None,
) -> tuple[int, str]:
    """Write a new allocation (and its audit record); returns (id, business order number).
    ``order_no``: one made beforehand (for an approval item naming it); by default a new one."""
    order_no = order_no or new_order_no(uow)
    allocation_id = (await _INSERT.one(uow.conn, dict(
        order_no=order_no, origin=origin, rule_id=rule_id, trigger=trigger[:120], trigger_key=trigger_key,
        from_account_id=from_id, to_account_id=to_id, currency=currency, amount=amount, remarks=remarks,
        status=status, failure_reason=None, attempt=1, attempt_key=f"{order_no}.1", maker=maker,
        created_at=uow.now, updated_at=uow.now, approval_id=approval_id,
    ), sqlite=uow.sqlite)).id
    uow.record("allocation.create", "allocation", order_no, None, {
        "origin": origin, "rule": rule_id, "trigger": trigger, "from_account": from_id, "to_account": to_id,
        "currency": currency, "amount": amount, "status": status, "remarks": remarks,
    })
    return allocation_id, order_no


_INSERT = Prepared(insert(allocations).returning(allocations.c.id), keys=(
    "order_no", "origin", "rule_id", "trigger", "trigger_key", "from_account_id", "to_account_id", "currency",
    "amount", "remarks", "status", "failure_reason", "attempt", "attempt_key", "maker", "created_at", "updated_at",
    "approval_id"))


def new_order_no(uow: UnitOfWork) -> str:
    """A new unique business order number (FA…)."""
    return uow.ids.new_ref("FA")


async def set_status(uow: UnitOfWork, allocation_id: int, *, expect: tuple[str, ...], status: str,
                     reason: str | None = None, **values: Any) -> bool:
    """One guarded transition (audited); False when the row was no longer in ``expect``."""
    row = (await uow.conn.execute(select(allocations.c.order_no, allocations.c.status).where(
        allocations.c.id == allocation_id))).one()
    done = await uow.conn.execute(update(allocations).where(
        allocations.c.id == allocation_id, allocations.c.status.in_(expect),
    ).values(status=status, failure_reason=reason, updated_at=uow.now, **values))
    if done.rowcount != 1:
        return False
    uow.record("allocation." + status, "allocation", row.order_no, {"status": row.status},
               {"status": status, "reason": reason, **{k: v for k, v in values.items() if k in ("attempt", "checker")}})
    return True


# --- driving one allocation -------------------------------------------------------------


async def _claim(engine: Any, allocation_id: int, holder: str) -> tuple[Any, bool] | None:
    """Claim the allocation for this process; returns (row, whether it may have been sent
    before) or None when it is not ours to drive now."""
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        row = (await uow.conn.execute(_drive_select().where(allocations.c.id == allocation_id))).first()
        if row is None or row.status not in ("processing", "unknown"):
            return None
        if row.claim_until is not None and row.claim_until > uow.now:
            return None
        maybe_sent = row.claimed_by is not None or row.status == "unknown" or row.transfer_ref is not None
        done = await uow.conn.execute(update(allocations).where(
            allocations.c.id == allocation_id, allocations.c.status == row.status,
            or_(allocations.c.claim_until.is_(None), allocations.c.claim_until <= uow.now),
        ).values(claimed_by=holder, claim_until=uow.now + LEASE))
        return (row, maybe_sent) if done.rowcount == 1 else None


_src = channel_accounts.alias("src")
_dst = channel_accounts.alias("dst")


def _drive_select() -> Any:
    return (
        select(allocations, _src.c.account_no.label("from_no"), _dst.c.account_no.label("to_no"),
               _src.c.channel.label("channel"), settlement_channels.c.gateway.label("gateway"))
        .join(_src, _src.c.id == allocations.c.from_account_id)
        .join(_dst, _dst.c.id == allocations.c.to_account_id)
        .join(settlement_channels, settlement_channels.c.code == _src.c.channel)
    )


def backoff() -> Backoff:
    """The wait after consecutive steps without a usable answer (read when needed: the
    tests compress RECHECK)."""
    return Backoff.doubling(RECHECK, RECHECK * BACKOFF_CAP_RECHECKS)


def _retry_note(reason: str, failures: int, retry_at: datetime) -> str:
    """The failure reason with when the next step comes, cut to the column (300)."""
    note = f" Next attempt after {retry_at:%Y-%m-%d %H:%M:%S} UTC"
    note += f" ({failures} failed in a row)." if failures > 1 else "."
    return reason[:300 - len(note)] + note


def _mine(row: Any, holder: str) -> Any:
    return and_(allocations.c.id == row.id, allocations.c.claimed_by == holder, allocations.c.attempt == row.attempt)


async def _settle(engine: Any, row: Any, holder: str, state: TransferState | None, reason: str | None,
                  transfer_ref: str | None) -> str:
    """Record what the channel said (only while we hold the claim for this attempt).
    ``state`` None: no usable answer (``reason`` says why); tried again after a back-off."""
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        mine = _mine(row, holder)
        owned = (await uow.conn.execute(select(allocations.c.status, allocations.c.step_failures).where(mine))).first()
        if owned is None:
            return "lost-claim"
        ref = {"transfer_ref": transfer_ref} if transfer_ref else {}
        if state is TransferState.SUCCEEDED:
            await set_status(uow, row.id, expect=(owned.status,), status="succeeded", claimed_by=None,
                             claim_until=None, step_failures=0, **ref)
            return "succeeded"
        if state is TransferState.FAILED:
            await set_status(uow, row.id, expect=(owned.status,), status="failed",
                             reason=(reason or "The channel refused the transfer.")[:300], claimed_by=None,
                             claim_until=None, step_failures=0, **ref)
            return "failed"
        if state is TransferState.UNKNOWN:
            # The answer was lost: a failed step, so repeated losses back off.
            failures = owned.step_failures + 1
            retry_at = backoff().next_attempt(uow.now, failures)
            reason = reason or "The channel's answer was lost; its status will be queried."
            await set_status(uow, row.id, expect=(owned.status,), status="unknown",
                             reason=_retry_note(reason, failures, retry_at), claim_until=retry_at,
                             step_failures=failures, **ref)
            return "unknown"
        # PENDING, or no usable answer: keep the claim's holder (the attempt may be at the
        # channel) and look again later: after RECHECK for an answer, after the back-off
        # for a failure.
        if state is TransferState.PENDING:
            failures, retry_at = 0, uow.now + RECHECK
        else:
            failures = owned.step_failures + 1
            retry_at = backoff().next_attempt(uow.now, failures)
            reason = _retry_note(reason or "The channel gave no usable answer.", failures, retry_at)
        await uow.conn.execute(update(allocations).where(mine).values(
            claim_until=retry_at, failure_reason=reason[:300] if reason else None, step_failures=failures,
            updated_at=uow.now, **ref,
        ))
        return "pending" if state is TransferState.PENDING else "retrying"


async def _record_failure(engine: Any, allocation_id: int, holder: str, failure: ItemFailure) -> None:
    """A step that raised: its reason and the back-off, on the allocation if this process
    holds its claim (a failure before claiming leaves nothing of ours to mark)."""
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        mine = and_(allocations.c.id == allocation_id, allocations.c.claimed_by == holder,
                    allocations.c.status.in_(("processing", "unknown")))
        owned = (await uow.conn.execute(select(allocations.c.step_failures).where(mine))).first()
        if owned is None:
            return
        failures = owned.step_failures + 1
        retry_at = backoff().next_attempt(uow.now, failures)
        await uow.conn.execute(update(allocations).where(mine).values(
            claim_until=retry_at, failure_reason=_retry_note(failure.error, failures, retry_at),
            step_failures=failures, updated_at=uow.now,
        ))


async def drive(engine: Any, allocation_id: int, holder: str) -> str:
    """Take one allocation one step at the channel.  Returns what happened."""
    claimed = await _claim(engine, allocation_id, holder)
    if claimed is None:
        return "not-claimed"
    row, maybe_sent = claimed
    gateway = engine.gateway_factory(row.channel, json.loads(row.gateway))
    reason: str | None = None
    ref: str | None = None
    try:
        if maybe_sent:
            status = await gateway.transfer_status(row.attempt_key)
            if status.state is not TransferState.NOT_FOUND:
                return await _settle(engine, row, holder, status.state, status.reason, status.transfer_ref)
        request = TransferRequest(row.attempt_key, row.from_no, row.to_no, row.currency, row.amount)
        status = await gateway.submit_transfer(request)
        state, reason, ref = status.state, status.reason, status.transfer_ref
    except IdempotencyConflict as exc:
        state, reason = TransferState.UNKNOWN, exc.message
    except UpstreamUnavailable as exc:
        state, reason = None, f"The channel did not answer ({exc.message}); trying again."
    except UpstreamError as exc:
        state, reason = None, f"The channel failed ({exc.message}); trying again."
    return await _settle(engine, row, holder, state, reason, ref)


async def due_allocations(engine: Any, limit: int = 200) -> list[int]:
    """Allocations waiting for a step: unclaimed, or with a lapsed lease."""
    now = engine.clock.now()
    async with engine.db.connect() as conn:
        rows = await conn.execute(select(allocations.c.id).where(
            allocations.c.status.in_(("processing", "unknown")),
            or_(allocations.c.claim_until.is_(None), allocations.c.claim_until <= now),
        ).order_by(allocations.c.id).limit(limit))
        return [r.id for r in rows]


async def drive_due(engine: Any, holder: str, run: PassRun | None = None) -> dict[str, int]:
    """Take every due allocation one step; returns how many ended how.  An allocation whose
    step raises is marked with the error and backed off (``error``); the rest go on."""
    counts: dict[str, int] = {}
    run = run or PassRun("allocation transfers")
    for allocation_id in await due_allocations(engine):
        outcome = await drive_isolated(engine, allocation_id, holder, run)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


async def drive_isolated(engine: Any, allocation_id: int, holder: str, run: PassRun | None = None) -> str:
    """``drive``, except that an exception becomes ``error``: written on the allocation (its
    failure reason, and the back-off before the next step), never raised."""
    outcome = await (run or PassRun("allocation transfer")).item(
        f"allocation {allocation_id}", functools.partial(drive, engine, allocation_id, holder),
        record=functools.partial(_record_failure, engine, allocation_id, holder),
    )
    return "error" if isinstance(outcome, ItemFailure) else outcome

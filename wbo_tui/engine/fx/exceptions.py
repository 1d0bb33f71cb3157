"""Exception exchange records: channel orders that failed, came back unknown, or stalled.

An operator applies one of the vendor's three handlings (``abnormal_apply``), with a
remark: SUCCESS_APPLY (the bank's funds did move: settle at the channel rate actually
applied), FAILURE_APPLY (they did not and will not: the exchange fails and the client's
hold is released), RETRY_APPLY (they did not, but the client should get the exchange: a
new channel order, optionally on another channel).  A second person then reviews the
applications, one or several at once (``abnormal_batch_review``): approved, the handling
is carried out; rejected, the record stays an exception.  Each decision is one guarded
update from PENDING_REVIEW in the transaction that moves the money, so it happens once;
the applicant never reviews their own application.

Failing or re-exchanging an order takes the bank's word that it did not convert: only an
order the bank answered FAILED may be marked failed or re-exchanged.  An order whose
answer was lost (UNKNOWN) or that the bank is still working on (PROCESSING, stalled) may
have been converted; the channel pass keeps asking the bank about it (a status query,
never a blind resend), and until the bank answers the only handling is to mark it
successful on the bank's own word (its rate), which a checker then reviews.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import and_, or_, select, update

from ..commands import Command, Query, RequiredText, handles
from ..dto import DTO
from ..errors import Conflict, MakerCheckerViolation, NotFound, ValidationFailed
from ..money import DecimalAmount
from ..uow import UnitOfWork
from . import ledger, rate_math
from .bank import ChannelOrderState
from .channel_tables import fx_channel_orders
from .currency_setup import get_setup
from .exchanges import HOLD_PURPOSE, get_exchange
from .review import APPROVAL
from .strategies import CHANNELS
from .tables import fx_exchanges

OPERATION = "fx.exchange_exception_operation"
INQUIRY = "fx.customer_exchange_inquiry"
STALLED_AFTER = timedelta(minutes=30)
"""A channel order still processing after this long is an exception too."""
MAX_BATCH = 200


class ExceptionRecordDTO(DTO):
    order_no: str
    forex_id: str
    channel_name: str
    from_currency: str
    from_amount: Decimal
    to_currency: str
    channel_status: str
    origin_text: str
    created_at: datetime
    apply_type: str | None
    apply_channel_rate: Decimal | None
    apply_channel_name: str | None
    apply_remark: str | None
    applied_by: int | None
    apply_status: str | None
    review_remark: str | None


class ListExceptionRecords(Query):
    permission = INQUIRY
    action = "view exception exchange records"


class ApplyExceptionHandling(Command):
    permission = OPERATION
    action = "handle exception exchange records"
    order_no: str = Field(min_length=1, max_length=40)
    apply_type: Literal["SUCCESS_APPLY", "FAILURE_APPLY", "RETRY_APPLY"]
    apply_channel_rate: DecimalAmount | None = None
    apply_channel_name: str | None = Field(default=None, max_length=32)
    apply_remark: Annotated[str, RequiredText(" for every handling")] = Field(max_length=200)


class ReviewExceptionHandling(Command):
    permission = APPROVAL
    action = "review exception handling"
    order_nos: tuple[str, ...] = Field(min_length=1, max_length=MAX_BATCH)
    review_type: Literal["REVIEW_APPROVED", "REVIEW_REJECTED"]
    review_remark: str = Field(default="", max_length=200)


class ExceptionReviewResult(DTO):
    approved: tuple[str, ...]
    rejected: tuple[str, ...]


def _exception_filter(now: datetime):  # noqa: ANN202 - a SQLAlchemy clause
    c = fx_channel_orders.c
    return or_(and_(c.abnormal, c.channel_status == "FAILED", c.apply_status.is_distinct_from("APPROVED")),
               c.channel_status == "UNKNOWN",
               and_(c.channel_status == "PROCESSING", c.created_at < now - STALLED_AFTER))


def _dto(row: object) -> ExceptionRecordDTO:
    fields = ExceptionRecordDTO.model_fields
    return ExceptionRecordDTO(**{name: getattr(row, name) for name in fields})


@handles(ListExceptionRecords)
async def list_exception_records(uow: UnitOfWork, q: ListExceptionRecords) -> tuple[ExceptionRecordDTO, ...]:
    rows = await uow.conn.execute(select(fx_channel_orders).where(_exception_filter(uow.now))
                                  .order_by(fx_channel_orders.c.id.desc()).limit(MAX_BATCH))
    return tuple(_dto(r) for r in rows)


@handles(ApplyExceptionHandling)
async def apply_exception_handling(uow: UnitOfWork, cmd: ApplyExceptionHandling) -> ExceptionRecordDTO:
    c = fx_channel_orders.c
    row = (await uow.conn.execute(select(fx_channel_orders).where(
        c.order_no == cmd.order_no, _exception_filter(uow.now)))).first()
    if row is None:
        raise NotFound(f"{cmd.order_no} is not an exception exchange record (it may have been settled meanwhile).")
    if row.apply_status == "PENDING_REVIEW":
        raise Conflict(f"{cmd.order_no} already has a handling awaiting review ({row.apply_type}).")
    _require_bank_answer(cmd.order_no, row.channel_status, cmd.apply_type)
    rate = channel = None
    if cmd.apply_type == "SUCCESS_APPLY":
        places = (await get_setup(uow, row.from_currency)).exchange_rate_precision
        rate = cmd.apply_channel_rate
        if rate is None or rate <= 0:
            raise ValidationFailed("Apply channel rate", "is required to mark it successful: the rate the bank applied")
        if rate_math.places_of(rate.normalize()) > places:
            raise ValidationFailed("Apply channel rate", f"allows at most {places} decimal places (the rate precision)")
    if cmd.apply_type == "RETRY_APPLY":
        channel = (cmd.apply_channel_name or row.channel_name).strip().upper()
        if channel not in CHANNELS:
            raise ValidationFailed("Apply channel name", f"must be one of {', '.join(CHANNELS)}")
    await uow.conn.execute(update(fx_channel_orders).where(c.order_no == cmd.order_no).values(
        apply_type=cmd.apply_type, apply_channel_rate=rate, apply_channel_name=channel,
        apply_remark=cmd.apply_remark.strip(), applied_by=uow.actor.operator_id, apply_status="PENDING_REVIEW",
        reviewed_by=None, review_remark=None, updated_at=uow.now))
    uow.record("fx.exception.apply", "channel_order", cmd.order_no, None, {
        "apply_type": cmd.apply_type, "rate": rate, "channel": channel, "remark": cmd.apply_remark.strip()})
    return _dto((await uow.conn.execute(select(fx_channel_orders).where(c.order_no == cmd.order_no))).one())


@handles(ReviewExceptionHandling)
async def review_exception_handling(uow: UnitOfWork, cmd: ReviewExceptionHandling) -> ExceptionReviewResult:
    """All the chosen applications decided in one transaction: a batch approved together
    stands or falls together (a record settled meanwhile refuses the batch, naming it)."""
    approve = cmd.review_type == "REVIEW_APPROVED"
    if not approve and not cmd.review_remark.strip():
        raise ValidationFailed("Review remark", "is required when rejecting")
    c = fx_channel_orders.c
    me = uow.actor.operator_id
    done: list[str] = []
    for order_no in dict.fromkeys(cmd.order_nos):
        row = (await uow.conn.execute(select(fx_channel_orders).where(c.order_no == order_no))).first()
        if row is None or row.apply_status != "PENDING_REVIEW":
            raise Conflict(f"{order_no} has no handling awaiting review; nothing was decided.")
        if row.applied_by == me:
            raise MakerCheckerViolation(f"You applied the handling of {order_no}; another checker must review it. "
                                        "Nothing was decided.")
        decided = await uow.conn.execute(update(fx_channel_orders).where(and_(
            c.order_no == order_no, c.apply_status == "PENDING_REVIEW", c.applied_by != me)).values(
            apply_status="APPROVED" if approve else "REJECTED", reviewed_by=me,
            review_remark=cmd.review_remark.strip(), updated_at=uow.now))
        if decided.rowcount != 1:
            raise Conflict(f"{order_no} was decided by someone else meanwhile; nothing was decided.")
        if approve:
            await _carry_out(uow, row)
        uow.record("fx.exception.approve" if approve else "fx.exception.reject", "channel_order", order_no,
                   {"apply_status": "PENDING_REVIEW"}, {"apply_type": row.apply_type,
                                                        "remark": cmd.review_remark.strip()})
        done.append(order_no)
    return ExceptionReviewResult(approved=tuple(done) if approve else (), rejected=() if approve else tuple(done))


def _require_bank_answer(order_no: str, channel_status: str, apply_type: str) -> None:
    """Refuse to fail or re-send an order the bank may have converted (see the module doc)."""
    if apply_type != "SUCCESS_APPLY" and channel_status != "FAILED":
        what = "mark it failed" if apply_type == "FAILURE_APPLY" else "re-exchange it"
        state = ("its answer was lost (unknown)" if channel_status == "UNKNOWN"
                 else "the bank is still processing it")
        raise Conflict(f"{order_no}: {state}, so the bank may have converted it; the channel pass keeps asking "
                       f"the bank. You can {what} once the bank answers failed; if the bank confirms it "
                       "converted, mark it successful with the bank's rate.")


async def _carry_out(uow: UnitOfWork, row: object) -> None:
    from .channel_execution import open_channel_order, settle_success

    c = fx_channel_orders.c
    order_no, forex_id = row.order_no, row.forex_id  # type: ignore[attr-defined]
    exchange_id = (await uow.conn.execute(select(fx_exchanges.c.id).where(fx_exchanges.c.forex_id == forex_id)))
    exchange = await get_exchange(uow, exchange_id.scalar_one())
    _require_bank_answer(order_no, row.channel_status, row.apply_type)  # type: ignore[attr-defined]
    final = "SUCCEEDED" if row.apply_type == "SUCCESS_APPLY" else "FAILED"  # type: ignore[attr-defined]
    closed = await uow.conn.execute(update(fx_channel_orders).where(and_(
        c.order_no == order_no, c.channel_status.in_(("FAILED", "UNKNOWN", "PROCESSING")))).values(
        channel_status=final, abnormal=False, updated_at=uow.now))
    if closed.rowcount != 1:
        raise Conflict(f"{order_no} was settled meanwhile; nothing was decided.")
    if row.apply_type == "SUCCESS_APPLY":  # type: ignore[attr-defined]
        rate: Decimal = row.apply_channel_rate  # type: ignore[attr-defined]
        target = await get_setup(uow, exchange.to_currency)
        amount = (exchange.from_amount * rate).quantize(Decimal(1).scaleb(-target.amount_precision),
                                                        rounding=ROUND_HALF_UP)
        await uow.conn.execute(update(fx_channel_orders).where(c.order_no == order_no).values(
            channel_rate=rate, to_amount=amount, success_time=uow.now))
        state = ChannelOrderState(order_no, "SUCCEEDED", rate, amount, None, None, "MANUAL",
                                  "marked successful after review")
        await settle_success(uow, exchange, order_no, state)
    elif row.apply_type == "FAILURE_APPLY":  # type: ignore[attr-defined]
        await ledger.void_hold(uow, HOLD_PURPOSE, forex_id)
        await uow.conn.execute(update(fx_exchanges).where(fx_exchanges.c.id == exchange.id).values(
            forex_status="FAILED", updated_at=uow.now, version=fx_exchanges.c.version + 1))
    else:
        channel = row.apply_channel_name  # type: ignore[attr-defined]
        await uow.conn.execute(update(fx_exchanges).where(fx_exchanges.c.id == exchange.id).values(
            forex_status="PROCESSING", channel_name=channel, updated_at=uow.now, version=fx_exchanges.c.version + 1))
        await open_channel_order(uow, await get_exchange(uow, exchange.id))

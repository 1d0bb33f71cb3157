"""Liquidation: the plan and its what-if, single, bulk and batch liquidation, cancellation.

A plan is computed here, in the engine, from the client's book as it stands (the
configured order of positions, the limit at the best bid or ask moved by the configured
number of price steps, board lots, suspended and delisted stocks skipped, enough to cure
the call plus the buffer when the holdings allow).  A trader's edited quantities are
re-checked line by line (``plan.what_if``); the limit prices are always the engine's,
from the quote at the moment of sending.

One client, one liquidation at a time: liquidating is refused while the client has
orders in progress, in the same transaction that locks the client's row.  Two traders
liquidating the same client at once from two consoles: one plan is sent, the other is
told whose orders are in progress.  Batch liquidation works only while the desk's
liquidation toggle is on, and skips (naming why) the calls it cannot liquidate.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, insert, select, update

from ..commands import Command, Query, handles
from ..dto import DTO
from ..errors import Conflict, ValidationFailed
from ..fx import ledger
from ..schema import operators
from ..uow import UnitOfWork
from ..whole_numbers import INT32_MAX, Id, WholeNumber
from .books import Book, load_books
from .call_queries import MarginCallDTO, load_call
from .formulas import Valuation
from .plan import Plan, PlanLine, limit_price, plan, what_if
from .orders import send_after_commit
from .settings import READ, MarginSettingsDTO, load_settings
from .tables import OPEN_ORDER_STATES, instruments, liquidation_orders, margin_calls

FULL = "RiskWarningFull"
MAX_BATCH = 500
AUTO_SENDER = "auto-liquidation"


class FiguresDTO(DTO):
    margin_to_collect: Decimal
    net_asset_ratio: Decimal
    lna: Decimal
    equity: Decimal
    requirement: Decimal
    cured: bool


class PlanLineDTO(DTO):
    code: str
    name: str
    side: str
    quantity: int
    lots: int
    lot_size: int
    held: int
    limit_price: Decimal
    currency: str
    bid: Decimal | None
    ask: Decimal | None
    stale: bool


class LiquidationPlanDTO(DTO):
    call_id: int
    account_no: str
    name: str
    lines: tuple[PlanLineDTO, ...]
    before: FiguresDTO
    after: FiguresDTO
    cures: bool
    with_buffer: bool
    skipped: tuple[tuple[str, str], ...]
    in_progress: int
    """Orders of this client still open: while there are any, nothing more is sent."""


class LineInput(BaseModel):
    """One line as the trader left it: a security and a quantity (shares)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
    code: Annotated[str, Field(min_length=1, max_length=16)]
    quantity: Annotated[int, WholeNumber(1, INT32_MAX)]


class PlanLiquidation(Query):
    """The plan for a call (``codes``: only those securities), or the what-if of the
    trader's edited ``lines``."""

    permission = READ
    action = "view a liquidation plan"
    call_id: Id
    codes: Annotated[tuple[str, ...], Field(max_length=200)] = ()
    lines: Annotated[tuple[LineInput, ...], Field(max_length=200)] | None = None


class Liquidate(Command):
    """Send these lines for one call: a single position, or the bulk liquidation of Details."""

    permission = FULL
    action = "liquidate positions"
    call_id: Id
    lines: Annotated[tuple[LineInput, ...], Field(min_length=1, max_length=200)]
    force_type: Literal["SINGLE", "BULK"] = "BULK"


class BatchLiquidate(Command):
    """Liquidate the selected calls, each by its own plan."""

    permission = FULL
    action = "batch liquidate"
    call_ids: Annotated[tuple[Id, ...], Field(min_length=1, max_length=MAX_BATCH)]


class BatchOutcomeDTO(DTO):
    call_id: int
    account_no: str
    orders: int
    cures: bool
    skipped: str
    """Why nothing was sent for this call ("" when orders were)."""


class BatchResultDTO(DTO):
    batch_ref: str
    outcomes: tuple[BatchOutcomeDTO, ...]


class CancelLiquidationOrder(Command):
    permission = FULL
    action = "cancel a liquidation order"
    order_id: Id


def figures(v: Valuation) -> FiguresDTO:
    return FiguresDTO(margin_to_collect=v.margin_to_collect, net_asset_ratio=v.net_asset_ratio, lna=v.lna,
                      equity=v.equity, requirement=v.requirement, cured=v.cured)


async def call_and_book(uow: UnitOfWork, call_id: int, settings: MarginSettingsDTO):  # noqa: ANN202
    call = await load_call(uow, call_id)
    if call.status == "ENDED":
        raise Conflict(f"{call.account_no}'s margin call has ended: there is nothing to liquidate.")
    books = await load_books(uow, [call.client_id], stale_after_s=settings.stale_price_s,
                             suspended_days=settings.suspended_days)
    book = books[call.client_id]
    if book.problems:
        raise ValidationFailed("Valuation", "; ".join(book.problems))
    return call, book


def plan_for(book: Book, settings: MarginSettingsDTO, codes: tuple[str, ...] = (),
              lines: tuple[LineInput, ...] | None = None) -> Plan:
    rule = settings.warning_rule
    if lines is not None:
        held = {p.code: p for p in book.positions}
        checked: list[PlanLine] = []
        for line in lines:
            code = line.code.upper()
            position = held.get(code)
            if position is None:
                raise ValidationFailed(code, "the client holds no position in it")
            side = "SELL" if position.quantity > 0 else "BUY"
            price = limit_price(position, settings.offset_steps)
            if price is None:
                raise ValidationFailed(code, f"has no best {'bid' if side == 'SELL' else 'ask'} to price the order at")
            lot = position.lot_size
            checked.append(PlanLine(code=code, side=side, quantity=line.quantity, limit_price=price,
                                    lots=line.quantity // lot if line.quantity % lot == 0 else 0))
        try:
            return what_if(book.cash, book.positions, book.terms, rule, checked, plan_rule=settings.plan_rule)
        except ValueError as error:
            raise ValidationFailed("Quantity", str(error)) from None
    positions = book.positions
    if codes:
        wanted = {c.upper() for c in codes}
        positions = [p if p.code in wanted else replace(p, tradable=False) for p in positions]
        result = plan(book.cash, positions, book.terms, rule, settings.plan_rule)
        return replace(result, skipped=tuple(s for s in result.skipped if s[0] in wanted))
    return plan(book.cash, positions, book.terms, rule, settings.plan_rule)


async def _names(uow: UnitOfWork, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return {r.code: r.name for r in await uow.conn.execute(select(instruments.c.code, instruments.c.name).where(
        instruments.c.code.in_(codes)))}


async def open_orders_of(uow: UnitOfWork, client_id: int) -> list:  # noqa: ANN401
    o = liquidation_orders.c
    return list(await uow.conn.execute(select(o.cl_ord_id, o.created_at, operators.c.username).outerjoin(
        operators, operators.c.id == o.operator_id).where(o.client_id == client_id,
                                                          o.state.in_(OPEN_ORDER_STATES))))


def _plan_dto(call: MarginCallDTO, book: Book, result: Plan, names: dict[str, str],
              in_progress: int) -> LiquidationPlanDTO:
    held = {p.code: p for p in book.positions}
    stale = set(book.stale)
    return LiquidationPlanDTO(
        call_id=call.id, account_no=call.account_no, name=call.name,
        lines=tuple(PlanLineDTO(code=line.code, name=names.get(line.code, ""), side=line.side, quantity=line.quantity,
                                lots=line.lots, lot_size=held[line.code].lot_size, held=abs(held[line.code].quantity),
                                limit_price=line.limit_price, currency=held[line.code].currency,
                                bid=held[line.code].bid, ask=held[line.code].ask, stale=line.code in stale)
                    for line in result.lines),
        before=figures(result.before), after=figures(result.after), cures=result.cures,
        with_buffer=result.with_buffer, skipped=result.skipped, in_progress=in_progress)


@handles(PlanLiquidation)
async def plan_liquidation(uow: UnitOfWork, q: PlanLiquidation) -> LiquidationPlanDTO:
    settings = await load_settings(uow)
    call, book = await call_and_book(uow, q.call_id, settings)
    result = plan_for(book, settings, q.codes, q.lines)
    names = await _names(uow, {line.code for line in result.lines})
    return _plan_dto(call, book, result, names, len(await open_orders_of(uow, call.client_id)))


async def _refuse_in_progress(uow: UnitOfWork, client_id: int, account_no: str) -> None:
    open_orders = await open_orders_of(uow, client_id)
    if open_orders:
        first = open_orders[0]
        raise Conflict(f"{account_no} already has {len(open_orders)} liquidation order(s) in progress, sent by "
                       f"{first.username or AUTO_SENDER} ({first.cl_ord_id}): wait for them or cancel them before "
                       "liquidating again.")


async def send_orders(uow: UnitOfWork, call: MarginCallDTO, book: Book, result: Plan, force_type: str,
                batch_ref: str) -> list[int]:
    ids: list[int] = []
    for line in result.lines:
        cl_ord_id = uow.ids.new_ref("LQ")
        inserted = await uow.conn.execute(insert(liquidation_orders).values(
            cl_ord_id=cl_ord_id, call_id=call.id, client_id=call.client_id, code=line.code, side=line.side,
            quantity=line.quantity, limit_price=line.limit_price, filled_quantity=0, filled_amount=Decimal(0),
            state="PENDING", venue_order_id=None, reason="", force_type=force_type, batch_ref=batch_ref,
            operator_id=uow.actor.operator_id, cancelled_by=None, claimed_by=None, claimed_at=None, sent_at=None,
            created_at=uow.now, updated_at=uow.now, version=1))
        ids.append(inserted.inserted_primary_key[0])
        uow.record("margin.liquidate", "liquidation_order", cl_ord_id, None, {
            "call": call.id, "client": book.account_no, "code": line.code, "side": line.side,
            "quantity": line.quantity, "limit_price": line.limit_price, "force_type": force_type})
    await uow.conn.execute(update(margin_calls).where(margin_calls.c.id == call.id).values(
        last_liquidation_at=uow.now, version=margin_calls.c.version + 1))
    return ids


@handles(Liquidate)
async def liquidate(uow: UnitOfWork, cmd: Liquidate) -> LiquidationPlanDTO:
    settings = await load_settings(uow)
    call = await load_call(uow, cmd.call_id)
    await ledger.lock_client(uow, call.client_id)
    await _refuse_in_progress(uow, call.client_id, call.account_no)
    call, book = await call_and_book(uow, cmd.call_id, settings)
    result = plan_for(book, settings, lines=cmd.lines)
    order_ids = await send_orders(uow, call, book, result, cmd.force_type, uow.ids.new_ref("LB"))
    send_after_commit(uow, order_ids)
    names = await _names(uow, {line.code for line in result.lines})
    return _plan_dto(call, book, result, names, len(order_ids))


@handles(BatchLiquidate)
async def batch_liquidate(uow: UnitOfWork, cmd: BatchLiquidate) -> BatchResultDTO:
    settings = await load_settings(uow)
    if not settings.liquidation_enabled:
        raise ValidationFailed("Batch liquidation", "is switched off in the margin call configuration "
                                                    "(the liquidation toggle)")
    batch_ref = uow.ids.new_ref("LB")
    outcomes: list[BatchOutcomeDTO] = []
    sent: list[int] = []
    for call_id in sorted(set(cmd.call_ids)):
        call = await load_call(uow, call_id)
        skipped = ""
        if call.status != "OPEN":
            skipped = "ended" if call.status == "ENDED" else "an Exception: handled by hand"
        else:
            await ledger.lock_client(uow, call.client_id)
            busy = await open_orders_of(uow, call.client_id)
            if busy:
                skipped = f"{len(busy)} order(s) already in progress ({busy[0].username or AUTO_SENDER})"
        if skipped:
            outcomes.append(BatchOutcomeDTO(call_id=call_id, account_no=call.account_no, orders=0, cures=False,
                                            skipped=skipped))
            continue
        call, book = await call_and_book(uow, call_id, settings)
        result = plan_for(book, settings)
        if not result.lines:
            why = "; ".join(f"{code}: {reason}" for code, reason in result.skipped) or "nothing to sell"
            outcomes.append(BatchOutcomeDTO(call_id=call_id, account_no=call.account_no, orders=0, cures=False,
                                            skipped=f"no plan ({why})"))
            continue
        ids = await send_orders(uow, call, book, result, "BATCH", batch_ref)
        sent.extend(ids)
        outcomes.append(BatchOutcomeDTO(call_id=call_id, account_no=call.account_no, orders=len(ids),
                                        cures=result.cures, skipped=""))
    send_after_commit(uow, sent)
    return BatchResultDTO(batch_ref=batch_ref, outcomes=tuple(outcomes))


class OrderCancelDTO(DTO):
    cl_ord_id: str
    state: str


@handles(CancelLiquidationOrder)
async def cancel_liquidation_order(uow: UnitOfWork, cmd: CancelLiquidationOrder) -> OrderCancelDTO:
    o = liquidation_orders.c
    row = (await uow.conn.execute(select(liquidation_orders).where(o.id == cmd.order_id))).first()
    if row is None:
        from ..errors import NotFound

        raise NotFound(f"There is no liquidation order {cmd.order_id}.")
    if row.state not in OPEN_ORDER_STATES:
        raise Conflict(f"{row.cl_ord_id} is {row.state.lower().replace('_', ' ')}: there is nothing left to cancel.")
    if row.state == "CANCEL_REQUESTED":
        raise Conflict(f"{row.cl_ord_id}: a cancel was already requested; the venue's answer is awaited.")
    # Never sent: cancelled here at once (the guarded update loses to a sender's claim).
    done = await uow.conn.execute(update(liquidation_orders).where(and_(o.id == row.id, o.state == "PENDING")).values(
        state="CANCELLED", reason="cancelled before sending", cancelled_by=uow.actor.operator_id, updated_at=uow.now,
        version=o.version + 1))
    state = "CANCELLED"
    if done.rowcount != 1:
        state = "CANCEL_REQUESTED"
        await uow.conn.execute(update(liquidation_orders).where(and_(
            o.id == row.id, o.state.in_([s for s in OPEN_ORDER_STATES if s != "CANCEL_REQUESTED"]))).values(
            state=state, cancelled_by=uow.actor.operator_id, updated_at=uow.now, version=o.version + 1))
        send_after_commit(uow, [row.id])
    uow.record("margin.order.cancel", "liquidation_order", row.cl_ord_id, {"state": row.state}, {"state": state})
    return OrderCancelDTO(cl_ord_id=row.cl_ord_id, state=state)


"""Details of a risk warning: the asset overview, cash per currency, positions with their
prices and each price's age, the liquidation in progress, the follow-up records and the
snapshots.  Everything is read in one read unit, so the page is one consistent moment."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import func, or_, select

from ..commands import Query, handles
from ..dto import DTO
from ..errors import ValidationFailed
from ..fx.tables import clients
from ..hk_calendar import HONG_KONG
from ..schema import operators
from ..uow import UnitOfWork
from ..whole_numbers import Id, PageSize, WholeNumber
from .books import load_books
from .call_actions import FollowUpDTO, ListFollowUps, list_follow_ups
from .call_queries import MarginCallDTO, load_call
from .formulas import cash_hkd, market_value_hkd, value
from .plan import unrealised
from .settings import READ, load_settings
from .tables import OPEN_ORDER_STATES, instruments, liquidation_orders, margin_call_snapshots, market_prices


class CashLineDTO(DTO):
    currency: str
    amount: Decimal
    hkd_mid: Decimal
    hkd: Decimal


class PositionDTO(DTO):
    code: str
    name: str
    currency: str
    quantity: int
    lot_size: int
    avg_cost: Decimal
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    quoted_at: datetime | None
    stale: bool
    status: str
    tradable: bool
    market_value_hkd: Decimal
    unrealised_hkd: Decimal
    mcm_factor: Decimal


class LiquidationOrderDTO(DTO):
    id: int
    cl_ord_id: str
    call_id: int
    account_no: str
    code: str
    side: str
    quantity: int
    limit_price: Decimal
    filled_quantity: int
    avg_fill_price: Decimal | None
    state: str
    reason: str
    force_type: str
    operator: str
    created_at: datetime
    updated_at: datetime
    version: int


class SnapshotDTO(DTO):
    id: int
    reason: str
    created_at: datetime
    figures: dict[str, Any]


class CallDetailsDTO(DTO):
    call: MarginCallDTO
    cash: tuple[CashLineDTO, ...]
    positions: tuple[PositionDTO, ...]
    in_progress: tuple[LiquidationOrderDTO, ...]
    follow_ups: tuple[FollowUpDTO, ...]
    snapshots: tuple[SnapshotDTO, ...]
    long_mv: Decimal
    short_mv: Decimal
    illiquid_mv: Decimal
    stale: tuple[str, ...]


class GetCallDetails(Query):
    permission = READ
    action = "view a risk warning's details"
    call_id: Id


class ListLiquidationOrders(Query):
    """Every liquidation order, newest first, filtered."""

    permission = READ
    action = "view liquidation orders"
    client: Annotated[str, Field(max_length=100)] = ""
    code: Annotated[str, Field(max_length=16)] = ""
    state: Annotated[str, Field(max_length=18)] = ""
    call_id: Annotated[int, WholeNumber(0)] = 0
    day: Annotated[str, Field(max_length=10)] = ""
    """A Hong Kong date, YYYY-MM-DD."""
    open_only: bool = False
    offset: Annotated[int, WholeNumber(0, 10_000_000)] = 0
    page_size: PageSize = 200


def order_dto(row: Any) -> LiquidationOrderDTO:  # noqa: ANN401
    filled = int(row.filled_quantity)
    avg = (row.filled_amount / filled).quantize(Decimal("0.0001")) if filled else None
    return LiquidationOrderDTO(
        id=row.id, cl_ord_id=row.cl_ord_id, call_id=row.call_id, account_no=row.account_no, code=row.code,
        side=row.side, quantity=int(row.quantity), limit_price=row.limit_price, filled_quantity=filled,
        avg_fill_price=avg, state=row.state, reason=row.reason, force_type=row.force_type,
        operator=row.username or "auto-liquidation",
        created_at=row.created_at, updated_at=row.updated_at, version=row.version)


def orders_selected() -> Any:  # noqa: ANN401
    o = liquidation_orders.c
    return select(liquidation_orders, clients.c.account_no, operators.c.username).join(
        clients, clients.c.id == o.client_id).outerjoin(operators, operators.c.id == o.operator_id)


@handles(GetCallDetails)
async def get_call_details(uow: UnitOfWork, q: GetCallDetails) -> CallDetailsDTO:
    call = await load_call(uow, q.call_id)
    settings = await load_settings(uow)
    book = (await load_books(uow, [call.client_id], stale_after_s=settings.stale_price_s,
                             suspended_days=settings.suspended_days))[call.client_id]
    names = {r.code: (r.name, r.status) for r in await uow.conn.execute(
        select(instruments.c.code, instruments.c.name, instruments.c.status))}
    quoted = await _quote_times(uow, [p.code for p in book.positions])
    stale = set(book.stale)
    positions = tuple(PositionDTO(
        code=p.code, name=names.get(p.code, ("", ""))[0], currency=p.currency, quantity=p.quantity,
        lot_size=p.lot_size, avg_cost=p.avg_cost, last=p.last, bid=p.bid, ask=p.ask, quoted_at=quoted.get(p.code),
        stale=p.code in stale, status=names.get(p.code, ("", "NORMAL"))[1], tradable=p.tradable,
        market_value_hkd=market_value_hkd(p.quantity, p.last, p.hkd_mid), unrealised_hkd=unrealised(p),
        mcm_factor=p.mcm_factor) for p in book.positions)
    cash = tuple(CashLineDTO(currency=c.currency, amount=c.amount, hkd_mid=c.hkd_mid, hkd=cash_hkd(c))
                 for c in sorted(book.cash, key=lambda c: c.currency))
    o = liquidation_orders.c
    in_progress = tuple(order_dto(r) for r in await uow.conn.execute(orders_selected().where(
        o.call_id == call.id, o.state.in_(OPEN_ORDER_STATES)).order_by(o.id)))
    snapshots = tuple(SnapshotDTO(id=r.id, reason=r.reason, created_at=r.created_at, figures=json.loads(r.figures))
                      for r in await uow.conn.execute(select(margin_call_snapshots).where(
                          margin_call_snapshots.c.call_id == call.id).order_by(margin_call_snapshots.c.id)))
    v = value(book.cash, book.positions, book.terms, settings.warning_rule)
    follow_ups = await list_follow_ups(uow, ListFollowUps(call_id=call.id))
    return CallDetailsDTO(call=call, cash=cash, positions=positions, in_progress=in_progress, follow_ups=follow_ups,
                          snapshots=snapshots, long_mv=v.long_mv, short_mv=v.short_mv, illiquid_mv=v.illiquid_mv,
                          stale=tuple(sorted(stale)))


async def _quote_times(uow: UnitOfWork, codes: list[str]) -> dict[str, datetime]:
    if not codes:
        return {}
    return {r.code: r.quoted_at for r in await uow.conn.execute(
        select(market_prices.c.code, market_prices.c.quoted_at).where(market_prices.c.code.in_(codes)))}


@handles(ListLiquidationOrders)
async def list_liquidation_orders(uow: UnitOfWork, q: ListLiquidationOrders) -> tuple[LiquidationOrderDTO, ...]:
    o = liquidation_orders.c
    where: list[Any] = []
    if q.client:
        pattern = f"%{q.client.lower()}%"
        where.append(or_(func.lower(clients.c.account_no).like(pattern), func.lower(clients.c.name).like(pattern)))
    if q.code:
        where.append(o.code == q.code.upper())
    if q.state:
        where.append(o.state == q.state.upper())
    if q.open_only:
        where.append(o.state.in_(OPEN_ORDER_STATES))
    if q.call_id:
        where.append(o.call_id == q.call_id)
    if q.day:
        try:
            day = date.fromisoformat(q.day)
        except ValueError:
            raise ValidationFailed("Date", "must be a date such as 2026-11-30") from None
        start = datetime.combine(day, time(0), tzinfo=HONG_KONG)
        where.extend([o.created_at >= start, o.created_at < start + timedelta(days=1)])
    rows = await uow.conn.execute(orders_selected().where(*where).order_by(o.id.desc()).offset(q.offset)
                                  .limit(q.page_size))
    return tuple(order_dto(r) for r in rows)

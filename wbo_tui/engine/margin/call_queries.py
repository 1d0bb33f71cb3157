"""The Risk Warning list (the vendor's ``risk_alert_logs``) and History: filtered, sorted and
paged in the database, with the header's totals.

Total Margin to Be Collected sums every open call (Exception included: the money is
still owed); Long-Term Unsettled sums those triggered more than 90 days ago.  A page is
an ORDER BY on an indexed or small column plus LIMIT/OFFSET: ten thousand open calls are
a few milliseconds of sorting, and the console only ever shows one page.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import REAL, cast, func, or_, select

from ..commands import Query, handles
from ..dto import DTO
from ..fx.tables import clients
from ..uow import UnitOfWork
from ..whole_numbers import PageSize, WholeNumber
from .settings import READ
from .tables import client_positions, liquidation_orders, margin_calls, market_prices

LONG_TERM_DAYS = 90
SortKey = Literal["triggered_at", "deadline", "margin_to_collect", "net_asset_ratio", "lna", "equity", "account_no",
                  "elapsed", "ended_at"]
SORT_COLUMNS: dict[str, Any] = {
    "triggered_at": margin_calls.c.triggered_at, "deadline": margin_calls.c.deadline,
    "margin_to_collect": margin_calls.c.margin_to_collect, "net_asset_ratio": margin_calls.c.net_asset_ratio,
    "lna": margin_calls.c.lna, "equity": margin_calls.c.equity, "account_no": clients.c.account_no,
    # Longest elapsed first is oldest trigger first.
    "elapsed": margin_calls.c.triggered_at,
    "ended_at": margin_calls.c.ended_at,
}
AMOUNT_KEYS = frozenset({"margin_to_collect", "net_asset_ratio", "lna", "equity"})


def sort_column(key: str, dialect: str) -> Any:  # noqa: ANN401
    """The column to ORDER BY for ``key``.  On SQLite amounts are exact decimal text, which
    sorts as text ("6,905.40" after "428,400.00"): they are ordered by their value as a
    REAL there, a float used for ordering only (never for money), exact for every amount
    the engine allows (at most 15 significant digits order correctly as doubles)."""
    column = SORT_COLUMNS[key]
    if key in AMOUNT_KEYS and dialect == "sqlite":
        return cast(column, REAL)
    return column


class MarginCallDTO(DTO):
    id: int
    client_id: int
    account_no: str
    name: str
    account_type: str
    alert_type: str
    status: str
    triggered_at: datetime
    force_at: datetime | None
    deadline: datetime
    auto_liquidate_at: datetime | None
    ended_at: datetime | None
    end_reason: str
    elapsed_hours: int
    """Hours since the trigger, rounded up; under one hour counts as one (the vendor's rule)."""
    net_asset_ratio: Decimal
    lna: Decimal
    equity: Decimal
    cash_hkd: Decimal
    market_value: Decimal
    requirement: Decimal
    margin_to_collect: Decimal
    remarks: str
    trigger_margin_to_collect: Decimal | None
    """The figures when the call opened (History shows them beside the figures at the end)."""
    trigger_net_asset_ratio: Decimal | None
    trigger_lna: Decimal | None
    last_liquidation_at: datetime | None
    last_message_at: datetime | None
    valued_at: datetime
    prices_as_of: datetime | None
    open_orders: int
    version: int


class MarginCallPage(DTO):
    rows: tuple[MarginCallDTO, ...]
    total: int
    """How many calls match the filters (all pages)."""
    open_total: int
    """How many calls are open (Open and Exception), whatever the filters."""
    total_margin_to_collect: Decimal
    long_term_margin_to_collect: Decimal
    """Of the open calls (not only this page's), those triggered more than 90 days ago."""
    as_of: datetime


class ListMarginCalls(Query):
    """Open calls (``history``: ended ones), filtered, sorted, one page."""

    permission = READ
    action = "view risk warnings"
    history: bool = False
    client: Annotated[str, Field(max_length=100)] = ""
    """Part of an account number or name."""
    alert_type: Literal["", "MARGIN_CALL", "FORCE_CALL", "OVER_FINANCING"] = ""
    status: Literal["", "OPEN", "EXCEPTION"] = ""
    holding: Annotated[str, Field(max_length=16)] = ""
    """Only clients holding this security (a code such as 700.HK)."""
    sort: SortKey = "margin_to_collect"
    descending: bool = True
    offset: Annotated[int, WholeNumber(0, 10_000_000)] = 0
    page_size: PageSize = 100


class GetMarginCall(Query):
    permission = READ
    action = "view a risk warning"
    call_id: Annotated[int, WholeNumber(1)]


def elapsed_hours(triggered_at: datetime, now: datetime) -> int:
    seconds = max(0, int((now - triggered_at).total_seconds()))
    return max(1, -(-seconds // 3600))


def _trigger(row: Any, name: str) -> Decimal | None:  # noqa: ANN401
    try:
        return Decimal(json.loads(row.trigger_figures)[name])
    except (ValueError, KeyError, TypeError, ArithmeticError):
        return None


def call_dto(row: Any, now: datetime, open_orders: int = 0,  # noqa: ANN401
             prices_as_of: datetime | None = None) -> MarginCallDTO:
    return MarginCallDTO(
        trigger_margin_to_collect=_trigger(row, "margin_to_collect"),
        trigger_net_asset_ratio=_trigger(row, "net_asset_ratio"), trigger_lna=_trigger(row, "lna"),
        id=row.id, client_id=row.client_id, account_no=row.account_no, name=row.name, account_type=row.account_type,
        alert_type=row.alert_type, status=row.status, triggered_at=row.triggered_at, force_at=row.force_at,
        deadline=row.deadline, auto_liquidate_at=row.auto_liquidate_at, ended_at=row.ended_at,
        end_reason=row.end_reason,
        elapsed_hours=elapsed_hours(row.triggered_at, row.ended_at or now), net_asset_ratio=row.net_asset_ratio,
        lna=row.lna, equity=row.equity, cash_hkd=row.cash_hkd, market_value=row.market_value,
        requirement=row.requirement, margin_to_collect=row.margin_to_collect, remarks=row.remarks,
        last_liquidation_at=row.last_liquidation_at, last_message_at=row.last_message_at, valued_at=row.valued_at,
        prices_as_of=prices_as_of or row.prices_as_of, open_orders=open_orders, version=row.version)


def _selected() -> Any:  # noqa: ANN401
    return select(margin_calls, clients.c.account_no, clients.c.name, clients.c.account_type).join(
        clients, clients.c.id == margin_calls.c.client_id)


def _where(q: ListMarginCalls) -> list[Any]:
    c = margin_calls.c
    where: list[Any] = [c.status == "ENDED"] if q.history else [c.status != "ENDED"]
    if q.status and not q.history:
        where.append(c.status == q.status)
    if q.alert_type:
        where.append(c.alert_type == q.alert_type)
    if q.client:
        pattern = f"%{q.client.lower()}%"
        where.append(or_(func.lower(clients.c.account_no).like(pattern), func.lower(clients.c.name).like(pattern)))
    if q.holding:
        holders = select(client_positions.c.client_id).where(
            client_positions.c.code == q.holding.upper(), client_positions.c.quantity != 0)
        where.append(c.client_id.in_(holders))
    return where


async def _open_orders(uow: UnitOfWork, call_ids: list[int]) -> dict[int, int]:
    if not call_ids:
        return {}
    from .tables import OPEN_ORDER_STATES

    o = liquidation_orders.c
    rows = await uow.conn.execute(select(o.call_id, func.count()).where(
        o.call_id.in_(call_ids), o.state.in_(OPEN_ORDER_STATES)).group_by(o.call_id))
    return {row[0]: row[1] for row in rows}


async def quotes_as_of(uow: UnitOfWork, client_ids: list[int]) -> dict[int, datetime]:
    """Per client, the oldest quote its positions are valued at now: the row's price age."""
    if not client_ids:
        return {}
    p = client_positions.c
    rows = await uow.conn.execute(select(p.client_id, func.min(market_prices.c.quoted_at)).join(
        market_prices, market_prices.c.code == p.code).where(p.client_id.in_(client_ids), p.quantity != 0)
        .group_by(p.client_id))
    return {row[0]: row[1] for row in rows if row[1] is not None}


@handles(ListMarginCalls)
async def list_margin_calls(uow: UnitOfWork, q: ListMarginCalls) -> MarginCallPage:
    where = _where(q)
    column = sort_column(q.sort, uow.conn.dialect.name)
    descending = q.descending if q.sort != "elapsed" else not q.descending
    order = [column.desc() if descending else column.asc(), margin_calls.c.id.desc()]
    rows = list(await uow.conn.execute(_selected().where(*where).order_by(*order).offset(q.offset)
                                       .limit(q.page_size)))
    total = (await uow.conn.execute(select(func.count()).select_from(
        margin_calls.join(clients, clients.c.id == margin_calls.c.client_id)).where(*where))).scalar_one()
    c = margin_calls.c
    long_ago = uow.now - timedelta(days=LONG_TERM_DAYS)
    sums = (await uow.conn.execute(select(c.margin_to_collect, c.triggered_at).where(c.status != "ENDED"))).all()
    open_total = len(sums)
    # Summed here, not by the database: the amounts are exact decimal text on SQLite.
    all_open = sum((r.margin_to_collect for r in sums), Decimal(0))
    long_term = sum((r.margin_to_collect for r in sums if r.triggered_at < long_ago), Decimal(0))
    orders = await _open_orders(uow, [r.id for r in rows])
    as_of = await quotes_as_of(uow, [r.client_id for r in rows])
    return MarginCallPage(rows=tuple(call_dto(r, uow.now, orders.get(r.id, 0), as_of.get(r.client_id))
                                     for r in rows), total=total, open_total=open_total,
                          total_margin_to_collect=all_open, long_term_margin_to_collect=long_term, as_of=uow.now)


async def load_call(uow: UnitOfWork, call_id: int) -> MarginCallDTO:
    from ..errors import NotFound

    row = (await uow.conn.execute(_selected().where(margin_calls.c.id == call_id))).first()
    if row is None:
        raise NotFound(f"There is no margin call {call_id}.")
    orders = await _open_orders(uow, [call_id])
    as_of = await quotes_as_of(uow, [row.client_id])
    return call_dto(row, uow.now, orders.get(call_id, 0), as_of.get(row.client_id))


@handles(GetMarginCall)
async def get_margin_call(uow: UnitOfWork, q: GetMarginCall) -> MarginCallDTO:
    return await load_call(uow, q.call_id)


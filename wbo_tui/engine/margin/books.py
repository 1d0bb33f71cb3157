"""A client's book as the margin engine values it: cash in every currency with its HKD mid
rate, positions with their instrument and latest quote, and the client's terms.

Books are read in bulk, a handful of set-based statements for any number of clients, so
that a full re-valuation costs a few scans and a price change reads only the books of the
clients holding that security.  Cash is the ledger's balance (money held for a pending
exchange is still the client's); each currency is converted at the reference mid rate of
the Hong Kong Exchange's spot rates (HKD itself at 1).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select

from ..fx.tables import client_cash_movements, clients, fx_reference_rates
from ..uow import UnitOfWork
from .formulas import CashLine, PositionLine, Terms
from .tables import client_positions, instruments, margin_terms, market_prices

HKD = "HKD"
MID_CHANNEL, MID_TYPE = "HKEX", "SPOT"
ZERO = Decimal(0)
CHUNK = 900  # ids per IN (...) list: under SQLite's parameter limit


@dataclass(slots=True)
class Book:
    client_id: int
    account_no: str
    name: str
    account_type: str
    cash: list[CashLine] = field(default_factory=list)
    positions: list[PositionLine] = field(default_factory=list)
    terms: Terms = field(default_factory=Terms)
    exempt: bool = False
    trading_limit_live: bool = False
    """The client has a trading limit that has not expired (a call expires it)."""
    prices_as_of: datetime | None = None
    """The oldest quote the book's positions are valued at (None: no positions)."""
    stale: tuple[str, ...] = ()
    """Securities valued at a quote older than the desk's limit, or at no quote at all."""
    problems: list[str] = field(default_factory=list)
    """Why the book cannot be valued (a currency without a mid rate): the call is left as it was."""


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


async def hkd_mids(uow: UnitOfWork) -> dict[str, Decimal]:
    """HKD per unit of each currency: the latest HKEX spot mid, HKD itself 1."""
    r = fx_reference_rates.c
    latest = (select(r.other_currency, func.max(r.record_date).label("day"))
              .where(r.channel_name == MID_CHANNEL, r.rate_type == MID_TYPE, r.base_currency == HKD)
              .group_by(r.other_currency).subquery())
    rows = await uow.conn.execute(select(r.other_currency, r.average_rate).join(latest, and_(
        r.other_currency == latest.c.other_currency, r.record_date == latest.c.day))
        .where(r.channel_name == MID_CHANNEL, r.rate_type == MID_TYPE, r.base_currency == HKD))
    mids = {row.other_currency: row.average_rate for row in rows}
    mids[HKD] = Decimal(1)
    return mids


async def holders_of(uow: UnitOfWork, codes: Collection[str]) -> list[int]:
    """The clients holding any of ``codes``: whom a price change concerns."""
    found: set[int] = set()
    for part in _chunks(sorted(codes)):  # type: ignore[arg-type]
        rows = await uow.conn.execute(select(client_positions.c.client_id).distinct()
                                      .where(client_positions.c.code.in_(part)))
        found.update(row.client_id for row in rows)
    return sorted(found)


async def all_book_ids(uow: UnitOfWork) -> list[int]:
    """Every client with a position, a debit, or an open call: everyone the margin engine values."""
    from .tables import margin_calls

    found = {row[0] for row in await uow.conn.execute(select(client_positions.c.client_id).distinct())}
    found.update(row[0] for row in await uow.conn.execute(
        select(margin_calls.c.client_id).where(margin_calls.c.status != "ENDED")))
    m = client_cash_movements.c
    latest = select(func.max(m.id).label("id")).group_by(m.client_id, m.currency).subquery()
    # Compared here: amounts are exact decimal text on SQLite, where "<" in SQL would compare text.
    found.update(row.client_id for row in await uow.conn.execute(
        select(m.client_id, m.balance_after).join(latest, m.id == latest.c.id)) if row.balance_after < 0)
    return sorted(found)


async def load_books(uow: UnitOfWork, client_ids: Collection[int], *, stale_after_s: int,
                     suspended_days: int, mids: dict[str, Decimal] | None = None) -> dict[int, Book]:
    """The books of ``client_ids`` (those that exist), read in bulk."""
    ids = sorted(set(client_ids))
    if mids is None:
        mids = await hkd_mids(uow)
    books: dict[int, Book] = {}
    now = uow.now
    for part in _chunks(ids):
        for row in await uow.conn.execute(select(clients.c.id, clients.c.account_no, clients.c.name,
                                                 clients.c.account_type).where(clients.c.id.in_(part))):
            books[row.id] = Book(row.id, row.account_no, row.name, row.account_type)
        await _cash(uow, part, books, mids)
        await _positions(uow, part, books, mids, now, stale_after_s, suspended_days)
        await _terms(uow, part, books)
    return books


async def _cash(uow: UnitOfWork, part: list[int], books: dict[int, Book], mids: dict[str, Decimal]) -> None:
    m = client_cash_movements.c
    latest = (select(func.max(m.id).label("id")).where(m.client_id.in_(part))
              .group_by(m.client_id, m.currency).subquery())
    rows = await uow.conn.execute(select(m.client_id, m.currency, m.balance_after).join(latest, m.id == latest.c.id))
    for row in rows:
        book = books.get(row.client_id)
        if book is None or row.balance_after == 0:
            continue
        mid = mids.get(row.currency)
        if mid is None:
            book.problems.append(f"no HKEX spot mid rate for {row.currency}")
            continue
        book.cash.append(CashLine(row.currency, row.balance_after, mid))


def _illiquid(status: str, since: datetime | None, now: datetime, suspended_days: int) -> bool:
    if status == "DELISTED":
        return True
    if status != "SUSPENDED":
        return False
    return since is None or now - since >= timedelta(days=suspended_days)


async def _positions(uow: UnitOfWork, part: list[int], books: dict[int, Book], mids: dict[str, Decimal],
                     now: datetime, stale_after_s: int, suspended_days: int) -> None:
    p, i, q = client_positions.c, instruments.c, market_prices.c
    rows = await uow.conn.execute(
        select(p.client_id, p.code, p.quantity, p.avg_cost, i.currency, i.lot_size, i.status, i.status_since,
               i.mcm_factor, i.fm_factor, i.anchor_price, q.bid, q.ask, q.last, q.quoted_at)
        .join(instruments, i.code == p.code).outerjoin(market_prices, q.code == p.code)
        .where(p.client_id.in_(part), p.quantity != 0).order_by(p.client_id, p.code))
    stale: dict[int, list[str]] = {}
    for row in rows:
        book = books.get(row.client_id)
        if book is None:
            continue
        mid = mids.get(row.currency)
        if mid is None:
            book.problems.append(f"no HKEX spot mid rate for {row.currency} ({row.code})")
            continue
        # No quote yet: valued at the instrument's reference price, and flagged stale.
        last = row.last if row.last is not None else row.anchor_price
        if row.quoted_at is None or (now - row.quoted_at).total_seconds() > stale_after_s:
            stale.setdefault(row.client_id, []).append(row.code)
        if row.quoted_at is not None and (book.prices_as_of is None or row.quoted_at < book.prices_as_of):
            book.prices_as_of = row.quoted_at
        tradable = row.status == "NORMAL"
        book.positions.append(PositionLine(
            code=row.code, quantity=int(row.quantity), last=last, hkd_mid=mid,
            illiquid=_illiquid(row.status, row.status_since, now, suspended_days), tradable=tradable,
            mcm_factor=row.mcm_factor, fm_factor=row.fm_factor, lot_size=row.lot_size, avg_cost=row.avg_cost,
            bid=row.bid, ask=row.ask, currency=row.currency))
    for client_id, codes in stale.items():
        books[client_id].stale = tuple(codes)


async def _terms(uow: UnitOfWork, part: list[int], books: dict[int, Book]) -> None:
    for row in await uow.conn.execute(select(margin_terms).where(margin_terms.c.client_id.in_(part))):
        book = books.get(row.client_id)
        if book is None:
            continue
        live = row.trading_limit_expired_at is None
        book.terms = Terms(accrued_interest=row.accrued_interest, outstanding_deposit=row.outstanding_deposit,
                           trading_limit=row.trading_limit if live else ZERO, financing_limit=row.financing_limit,
                           additional_margin=row.additional_margin)
        book.exempt = row.exempt
        book.trading_limit_live = live and row.trading_limit > 0


def describe(book: Book) -> dict[str, Any]:
    """What a snapshot keeps of the book besides its figures."""
    return {"positions": {p.code: [p.quantity, str(p.last)] for p in book.positions},
            "cash": {c.currency: str(c.amount) for c in book.cash}, "stale": list(book.stale)}

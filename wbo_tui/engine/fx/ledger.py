"""A client's cash as a ledger: movements and holds, never a balance edited in place.

Each movement carries the client's balance in its currency after it, so the balance is
the latest movement's ``balance_after``.  A hold (a submitted exchange, a withdrawal not
yet paid) is HELD until it is posted (the money leaves, as a movement, in the same
transaction) or voided (released).  Withdrawable = balance − what is held.

Every function here runs inside the caller's unit of work: the check and the write it
guards are one transaction.  On PostgreSQL the client's row is locked first, so two
units moving one client's cash queue; SQLite serialises writers anyway.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import and_, insert, select, update

from ..errors import Conflict, NotFound, ValidationFailed
from ..uow import UnitOfWork
from .tables import client_cash_holds, client_cash_movements, clients

ZERO = Decimal(0)
_m, _h = client_cash_movements.c, client_cash_holds.c


async def lock_client(uow: UnitOfWork, client_id: int) -> str:
    """Lock the client's row for this transaction; its account number."""
    row = (await uow.conn.execute(select(clients.c.account_no).where(clients.c.id == client_id)
                                  .with_for_update())).first()
    if row is None:
        raise NotFound(f"Client {client_id} does not exist.")
    return row.account_no


async def balance(uow: UnitOfWork, client_id: int, currency: str) -> Decimal:
    row = (await uow.conn.execute(select(_m.balance_after).where(_m.client_id == client_id, _m.currency == currency)
                                  .order_by(_m.id.desc()).limit(1))).first()
    return row.balance_after if row else ZERO


async def held(uow: UnitOfWork, client_id: int, currency: str) -> Decimal:
    rows = await uow.conn.execute(select(_h.amount).where(_h.client_id == client_id, _h.currency == currency,
                                                          _h.status == "HELD"))
    return sum((r.amount for r in rows), ZERO)


async def withdrawable(uow: UnitOfWork, client_id: int, currency: str) -> Decimal:
    return await balance(uow, client_id, currency) - await held(uow, client_id, currency)


async def post(uow: UnitOfWork, client_id: int, currency: str, amount: Decimal, *, kind: str, ref: str,
               remarks: str = "", allow_negative: bool = False) -> Decimal:
    """Add a movement (``amount`` signed); the new balance.  A debit that would take the
    balance below what is held (or below zero) is refused unless ``allow_negative``."""
    assert amount.is_finite() and not amount.is_zero(), "a movement moves money"
    await lock_client(uow, client_id)
    before = await balance(uow, client_id, currency)
    after = before + amount
    if amount < 0 and not allow_negative and after < await held(uow, client_id, currency):
        raise ValidationFailed("Amount", f"exceeds the client's withdrawable {currency} "
                                         f"({before - await held(uow, client_id, currency)})")
    await uow.conn.execute(insert(client_cash_movements).values(
        client_id=client_id, currency=currency, amount=amount, balance_after=after, kind=kind, ref=ref,
        remarks=remarks, operator_id=uow.actor.operator_id, created_at=uow.now))
    return after


async def hold(uow: UnitOfWork, client_id: int, currency: str, amount: Decimal, *, purpose: str, ref: str) -> None:
    """Hold ``amount`` for ``purpose`` ``ref``, refused beyond the withdrawable balance."""
    assert amount > 0, "a hold holds money"
    await lock_client(uow, client_id)
    available = await withdrawable(uow, client_id, currency)
    if amount > available:
        raise ValidationFailed("Amount", f"exceeds the client's withdrawable {currency} balance of {available}")
    await uow.conn.execute(insert(client_cash_holds).values(
        client_id=client_id, currency=currency, amount=amount, purpose=purpose, ref=ref, status="HELD",
        created_at=uow.now))


async def _settle(uow: UnitOfWork, purpose: str, ref: str, status: str) -> tuple[int, str, Decimal]:
    row = (await uow.conn.execute(select(_h.client_id, _h.currency, _h.amount, _h.status)
                                  .where(_h.purpose == purpose, _h.ref == ref))).first()
    if row is None:
        raise NotFound(f"No hold for {purpose} {ref}.")
    await lock_client(uow, row.client_id)
    changed = await uow.conn.execute(update(client_cash_holds).where(and_(
        _h.purpose == purpose, _h.ref == ref, _h.status == "HELD")).values(status=status, settled_at=uow.now))
    if changed.rowcount != 1:
        # A hold is released or posted once: the second attempt changes nothing.
        raise Conflict(f"The hold for {purpose} {ref} is already {row.status.lower()}.")
    return row.client_id, row.currency, row.amount


async def void_hold(uow: UnitOfWork, purpose: str, ref: str) -> Decimal:
    """Release the hold (the exchange was cancelled, rejected or failed); its amount."""
    return (await _settle(uow, purpose, ref, "VOIDED"))[2]


async def post_hold(uow: UnitOfWork, purpose: str, ref: str, *, kind: str, remarks: str = "") -> Decimal:
    """The held money leaves the client's cash: the hold is posted and the debit written,
    one transaction; the amount."""
    client_id, currency, amount = await _settle(uow, purpose, ref, "POSTED")
    await post(uow, client_id, currency, -amount, kind=kind, ref=ref, remarks=remarks, allow_negative=True)
    return amount

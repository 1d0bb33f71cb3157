"""A client's cash as a ledger: movements and holds, never a balance edited in place.

Each movement carries the client's balance in its currency after it, so the balance is
the latest movement's ``balance_after``.  A hold (a submitted exchange, a withdrawal not
yet paid) is HELD until it is posted (the money leaves, as a movement, in the same
transaction) or voided (released).  Withdrawable = balance − what is held.

Every function here runs inside the caller's unit of work: the check and the write it
guards are one transaction.  ``open_cash`` locks the client's row first (on PostgreSQL
two units moving one client's cash queue there; SQLite serialises writers anyway) and
returns the client's ``LockedCash`` for the unit: a unit that moves one client's cash
several times (an exchange holds, posts the hold and credits the target) locks the row
once and reads each balance once.  The module-level functions open their own.

The statements run on the SQLite driver directly in a write unit (``Prepared``): every
exchange runs them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update

from ..errors import Conflict, NotFound, ValidationFailed
from ..prepared import Prepared
from ..uow import UnitOfWork
from .tables import client_cash_holds, client_cash_movements, clients

ZERO = Decimal(0)
_m, _h, _c = client_cash_movements.c, client_cash_holds.c, clients.c

_LOCK = Prepared(select(_c.account_no, _c.name, _c.account_type).where(_c.id == bindparam("client_id"))
                 .with_for_update())
_BALANCE = Prepared(select(_m.balance_after).where(_m.client_id == bindparam("client_id"),
                                                   _m.currency == bindparam("currency"))
                    .order_by(_m.id.desc()).limit(1))
_HELD = Prepared(select(_h.amount).where(_h.client_id == bindparam("client_id"), _h.currency == bindparam("currency"),
                                         _h.status == "HELD"))
_HOLD_OF = Prepared(select(_h.client_id, _h.status).where(_h.purpose == bindparam("purpose"),
                                                          _h.ref == bindparam("ref")))
# The hold's state transition, once: HELD → POSTED or VOIDED, guarded by the status read
# in the same statement; RETURNING says which hold moved (none: it had moved already).
_SETTLE = Prepared(update(client_cash_holds).where(and_(
    _h.purpose == bindparam("hold_purpose"), _h.ref == bindparam("hold_ref"), _h.status == "HELD"))
    .values(status=bindparam("new_status"), settled_at=bindparam("now"))
    .returning(_h.client_id, _h.currency, _h.amount))
_HOLD_COLUMNS = ("client_id", "currency", "amount", "purpose", "ref", "status", "created_at")
_INSERT_HOLD = Prepared(insert(client_cash_holds), keys=_HOLD_COLUMNS)
_MOVEMENT_COLUMNS = ("client_id", "currency", "amount", "balance_after", "kind", "ref", "remarks", "operator_id",
                     "created_at")
_INSERT_MOVEMENT = Prepared(insert(client_cash_movements), keys=_MOVEMENT_COLUMNS)


class LockedCash:
    """One client's cash within one unit of work, its row locked (``open_cash``).

    Each currency's balance and held amount is read once and then kept up to date by this
    object's own writes: nothing else can change them before the unit ends (the row lock
    on PostgreSQL, the single writer on SQLite).  So within a unit, move a client's cash
    through one ``LockedCash`` only, not also through the module-level functions."""

    __slots__ = ("uow", "client_id", "account_no", "name", "account_type", "_balances", "_held")

    def __init__(self, uow: UnitOfWork, client_id: int, row: Any) -> None:  # noqa: ANN401
        self.uow, self.client_id = uow, client_id
        self.account_no: str = row.account_no
        self.name: str = row.name
        self.account_type: str = row.account_type
        self._balances: dict[str, Decimal] = {}
        self._held: dict[str, Decimal] = {}

    async def balance(self, currency: str) -> Decimal:
        if currency not in self._balances:
            rows = await _BALANCE.rows(self.uow.conn, {"client_id": self.client_id, "currency": currency},
                                       sqlite=self.uow.sqlite)
            self._balances[currency] = rows[0].balance_after if rows else ZERO
        return self._balances[currency]

    async def held(self, currency: str) -> Decimal:
        if currency not in self._held:
            rows = await _HELD.rows(self.uow.conn, {"client_id": self.client_id, "currency": currency},
                                    sqlite=self.uow.sqlite)
            self._held[currency] = sum((r.amount for r in rows), ZERO)
        return self._held[currency]

    async def withdrawable(self, currency: str) -> Decimal:
        return await self.balance(currency) - await self.held(currency)

    async def post(self, currency: str, amount: Decimal, *, kind: str, ref: str, remarks: str = "",
                   allow_negative: bool = False) -> Decimal:
        """Add a movement (``amount`` signed); the new balance.  A debit that would take the
        balance below what is held (or below zero) is refused unless ``allow_negative``."""
        assert amount.is_finite() and not amount.is_zero(), "a movement moves money"
        uow = self.uow
        before = await self.balance(currency)
        after = before + amount
        if amount < 0 and not allow_negative and after < await self.held(currency):
            raise ValidationFailed("Amount", f"exceeds the client's withdrawable {currency} "
                                             f"({before - await self.held(currency)})")
        await _INSERT_MOVEMENT.rows(uow.conn, {
            "client_id": self.client_id, "currency": currency, "amount": amount, "balance_after": after, "kind": kind,
            "ref": ref, "remarks": remarks, "operator_id": uow.actor.operator_id, "created_at": uow.now},
            sqlite=uow.sqlite)
        self._balances[currency] = after
        return after

    async def hold(self, currency: str, amount: Decimal, *, purpose: str, ref: str) -> None:
        """Hold ``amount`` for ``purpose`` ``ref``, refused beyond the withdrawable balance."""
        assert amount > 0, "a hold holds money"
        available = await self.withdrawable(currency)
        if amount > available:
            raise ValidationFailed("Amount", f"exceeds the client's withdrawable {currency} balance of {available}")
        uow = self.uow
        await _INSERT_HOLD.rows(uow.conn, {
            "client_id": self.client_id, "currency": currency, "amount": amount, "purpose": purpose, "ref": ref,
            "status": "HELD", "created_at": uow.now}, sqlite=uow.sqlite)
        self._held[currency] += amount  # read just above, by ``withdrawable``

    async def settle(self, purpose: str, ref: str, status: str) -> tuple[str, Decimal]:
        """Move this client's hold from HELD to ``status``, once; its currency and amount."""
        uow = self.uow
        moved = await _SETTLE.rows(uow.conn, {"hold_purpose": purpose, "hold_ref": ref, "new_status": status,
                                              "now": uow.now}, sqlite=uow.sqlite)
        if not moved:
            # A hold is released or posted once: the second attempt changes nothing.
            rows = await _HOLD_OF.rows(uow.conn, {"purpose": purpose, "ref": ref}, sqlite=uow.sqlite)
            if not rows:
                raise NotFound(f"No hold for {purpose} {ref}.")
            raise Conflict(f"The hold for {purpose} {ref} is already {rows[0].status.lower()}.")
        hold = moved[0]
        assert hold.client_id == self.client_id, f"the hold for {purpose} {ref} is another client's"
        if hold.currency in self._held:
            self._held[hold.currency] -= hold.amount
        return hold.currency, hold.amount

    async def void_hold(self, purpose: str, ref: str) -> Decimal:
        return (await self.settle(purpose, ref, "VOIDED"))[1]

    async def post_hold(self, purpose: str, ref: str, *, kind: str, remarks: str = "") -> Decimal:
        currency, amount = await self.settle(purpose, ref, "POSTED")
        await self.post(currency, -amount, kind=kind, ref=ref, remarks=remarks, allow_negative=True)
        return amount


async def open_cash(uow: UnitOfWork, client_id: int) -> LockedCash:
    """Lock the client's row for this transaction; the client's cash for this unit."""
    rows = await _LOCK.rows(uow.conn, {"client_id": client_id}, sqlite=uow.sqlite)
    if not rows:
        raise NotFound(f"Client {client_id} does not exist.")
    return LockedCash(uow, client_id, rows[0])


async def lock_client(uow: UnitOfWork, client_id: int) -> str:
    """Lock the client's row for this transaction; its account number."""
    return (await open_cash(uow, client_id)).account_no


async def balance(uow: UnitOfWork, client_id: int, currency: str) -> Decimal:
    rows = await _BALANCE.rows(uow.conn, {"client_id": client_id, "currency": currency}, sqlite=uow.sqlite)
    return rows[0].balance_after if rows else ZERO


async def held(uow: UnitOfWork, client_id: int, currency: str) -> Decimal:
    rows = await _HELD.rows(uow.conn, {"client_id": client_id, "currency": currency}, sqlite=uow.sqlite)
    return sum((r.amount for r in rows), ZERO)


async def withdrawable(uow: UnitOfWork, client_id: int, currency: str) -> Decimal:
    return await balance(uow, client_id, currency) - await held(uow, client_id, currency)


async def post(uow: UnitOfWork, client_id: int, currency: str, amount: Decimal, *, kind: str, ref: str,
               remarks: str = "", allow_negative: bool = False) -> Decimal:
    """``LockedCash.post`` for one movement."""
    cash = await open_cash(uow, client_id)
    return await cash.post(currency, amount, kind=kind, ref=ref, remarks=remarks, allow_negative=allow_negative)


async def hold(uow: UnitOfWork, client_id: int, currency: str, amount: Decimal, *, purpose: str, ref: str) -> None:
    """``LockedCash.hold`` for one hold."""
    await (await open_cash(uow, client_id)).hold(currency, amount, purpose=purpose, ref=ref)


async def _cash_of_hold(uow: UnitOfWork, purpose: str, ref: str) -> LockedCash:
    rows = await _HOLD_OF.rows(uow.conn, {"purpose": purpose, "ref": ref}, sqlite=uow.sqlite)
    if not rows:
        raise NotFound(f"No hold for {purpose} {ref}.")
    return await open_cash(uow, rows[0].client_id)


async def void_hold(uow: UnitOfWork, purpose: str, ref: str) -> Decimal:
    """Release the hold (the exchange was cancelled, rejected or failed); its amount."""
    return await (await _cash_of_hold(uow, purpose, ref)).void_hold(purpose, ref)


async def post_hold(uow: UnitOfWork, purpose: str, ref: str, *, kind: str, remarks: str = "") -> Decimal:
    """The held money leaves the client's cash: the hold is posted and the debit written,
    one transaction; the amount."""
    return await (await _cash_of_hold(uow, purpose, ref)).post_hold(purpose, ref, kind=kind, remarks=remarks)

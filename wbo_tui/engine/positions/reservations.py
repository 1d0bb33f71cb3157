"""What is already committed out of a channel account and not yet settled.

This is the one place that computes it.  Every decision that commits money out of a
channel account (approving a withdrawal's principal and fee, approving or retrying an
allocation, deciding an automatic one) is judged against the account's last polled
available balance *net of* that figure::

    available − committed − amount < blocking threshold (zero when none)  →  refused

The check and the commitment are one transaction: the approval's own status change
(``PENDING`` → ``APPROVED``, ``pending_approval`` → ``processing``) is the reservation, so
there is no separate hold row that could drift out of step with what it holds.  Write
transactions are serialised (``BEGIN IMMEDIATE`` on SQLite, the audit head row lock on
PostgreSQL), and on PostgreSQL the positions rows are locked here as well, so two consoles
approving against one account one after the other see each other's commitment.

What counts, per account:

* allocations out of it that are ``processing`` or ``unknown``: approved, perhaps already at
  the channel, outcome not known;
* withdrawals whose principal (fee) is drawn on it, ``APPROVED``, or ``FAILED`` in the other
  part only: that part is still being paid;
* allocations that ``succeeded`` and withdrawal parts marked ``SUCCESSFUL``, until a poll
  shows a balance taken after they settled.  The money has left the channel, but the
  balance polled before still holds it: dropping the commitment at settlement would let the
  next approval spend that money again.  It stops counting once the position's balance is
  from a later instant than the settlement — then the balance itself shows the money gone,
  and counting it as well would count it twice.  "Later" is strict and uses the earlier of
  the channel's as-of time and the time we recorded the poll, so a balance stamped in the
  same instant as the settlement keeps it counted, and a channel clock running ahead of
  ours cannot make a poll look later than settlements recorded after it.  (What remains
  assumed is that the two clocks agree to within the few seconds a poll is in flight.)

A failed part or allocation stops counting at once: its money never left (or came back),
so the polled balance holds it, if anything understating what is there.

Where the figures overlap the engine errs on refusing, never on over-committing: an
allocation the channel has accepted but not settled (its amount already out of the
channel's available, in transit) and a withdrawal paid but not yet marked successful are
counted both in a balance polled after they left and here, until they settle and a later
poll.  Allocations out of an account that was never polled are not checked here (nothing
is known to reserve against; the channel itself refuses an overdraft); a withdrawal needs
a polled balance (``withdrawals``).

It is one statement for any number of accounts (an index range per account and status,
see migration ``0009_reservations``, grouped per account in the database).  What it reads
grows with an account's open commitments and with what settled since its last poll, so in
batch mode each batch reads what earlier batches of a burst committed out of the same
accounts again (about a microsecond per commitment on SQLite); a running hold per account,
kept by every status change, would make that constant, at the price of hooks in every
transition (execution, polling).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import String, bindparam, case, func, select, union_all

from ..errors import WboError
from ..types import Amount
from ..uow import UnitOfWork
from .tables import channel_accounts, positions, withdrawals

ZERO = Decimal(0)
IN_FLIGHT_ALLOCATION = ("processing", "unknown")


class InsufficientOutgoingBalance(WboError):
    """An allocation refused: its outgoing account cannot cover it above its blocking threshold."""

    def __init__(self, message: str, account_id: int) -> None:
        super().__init__(message)
        self.account_id = account_id


@dataclass(slots=True)
class Funds:
    """One account's last polled balance, its blocking threshold, and what is committed
    out of it and not yet settled (grown by ``take`` as a batch commits more)."""

    account_id: int
    available: Decimal | None
    threshold_blocking: Decimal | None
    committed: Decimal = ZERO

    @property
    def floor(self) -> Decimal:
        return self.threshold_blocking if self.threshold_blocking is not None else ZERO

    def covers(self, amount: Decimal) -> bool:
        """Whether ``amount`` more can leave without going below the blocking threshold.
        Never polled: no balance is known, so nothing is covered."""
        return self.available is not None and self.available - self.committed - amount >= self.floor

    def shortfall(self, amount: Decimal) -> str:
        """Why ``amount`` is not covered, in figures (for refusals and explanations)."""
        if self.available is None:
            return "its balance has never been polled"
        return (f"{self.available} available, {self.committed} already committed and not yet settled, {amount} "
                f"more would leave {self.available - self.committed - amount}, below the blocking threshold "
                f"{self.floor}")

    def take(self, amount: Decimal) -> None:
        self.committed += amount


def _allocations() -> Any:
    # Imported here: the allocations package imports positions (one direction only).
    from ..allocations.tables import allocations

    return allocations


def _not_yet_polled(settled_at: Any) -> Any:
    """A settlement the position's balance may not show yet: not strictly before the
    earlier of the channel's as-of time and our own poll time (never polled: NULL, false,
    and then no balance is known to judge by anyway)."""
    p = positions.c
    return settled_at >= case((p.as_of < p.polled_at, p.as_of), else_=p.polled_at)


@cache
def _outflows() -> Any:
    """One statement: (account id, amount) of every open commitment out of the accounts
    ``ids`` (built once).

    Each branch is an equality on (account, status[, failed part]) plus, for settled ones,
    a range on the settlement time: an index range each, whatever the history holds."""
    account_ids = bindparam("ids", expanding=True)
    a, w, p = _allocations().c, withdrawals.c, positions.c
    branches = [
        select(a.from_account_id.label("account_id"), a.amount.label("amount"))
        .where(a.from_account_id.in_(account_ids), a.status == status)
        for status in IN_FLIGHT_ALLOCATION
    ]
    branches.append(
        select(a.from_account_id, a.amount).join(positions, p.channel_account_id == a.from_account_id)
        .where(a.from_account_id.in_(account_ids), a.status == "succeeded", _not_yet_polled(a.updated_at)))
    for account, amount, other in ((w.principal_account_id, w.principal, "fee"),
                                   (w.fee_account_id, w.fee, "principal")):
        mine = account.in_(account_ids)
        branches.append(select(account, amount).where(mine, w.status == "APPROVED"))
        # Failed in the other part only: this part is still being paid.
        branches.append(select(account, amount).where(mine, w.status == "FAILED", w.failed_part == other))
        for failed in (None, other):
            branches.append(
                select(account, amount).join(positions, p.channel_account_id == account)
                .where(mine, w.status == "SUCCESSFUL",
                       w.failed_part.is_(None) if failed is None else w.failed_part == failed,
                       _not_yet_polled(w.updated_at)))
    return union_all(*branches)


@cache
def _totals(dialect: str) -> Any:
    """One row per account with open commitments: the exact total on PostgreSQL
    (``NUMERIC``), the amounts' exact texts joined by spaces on SQLite, whose ``SUM``
    would add them as floating point (they are added as ``Decimal`` here).  Grouping in
    the database keeps a batch with thousands of open commitments to one row per account."""
    flows = _outflows().subquery()
    if dialect == "postgresql":
        total = func.sum(flows.c.amount, type_=Amount)
    else:
        total = func.group_concat(flows.c.amount, " ", type_=String)
    return select(flows.c.account_id, total).group_by(flows.c.account_id)


async def committed_out(uow: UnitOfWork, account_ids: Iterable[int]) -> dict[int, Decimal]:
    """What is committed out of each account and not yet settled (zero when nothing)."""
    ids = sorted(set(account_ids))
    totals = dict.fromkeys(ids, ZERO)
    dialect = uow.conn.dialect.name
    # Every branch repeats the list: slices keep a statement's parameters well inside
    # SQLite's and asyncpg's limits (32,766) however many accounts a batch serves.
    for start in range(0, len(ids), _SLICE):
        for account_id, total in await uow.conn.execute(_totals(dialect), {"ids": ids[start:start + _SLICE]}):
            totals[account_id] = total if dialect == "postgresql" else sum(map(Decimal, total.split(" ")), ZERO)
    return totals


_SLICE = 1000


async def load_funds(uow: UnitOfWork, account_ids: Iterable[int]) -> dict[int, Funds]:
    """Each account's balance, threshold and commitments, its position row locked for
    this transaction on PostgreSQL (SQLite's write transaction holds the whole file)."""
    ids = sorted(set(account_ids))
    rows = await uow.conn.execute(
        select(positions.c.channel_account_id, positions.c.available, positions.c.threshold_blocking)
        .where(positions.c.channel_account_id.in_(ids)).order_by(positions.c.channel_account_id)
        .with_for_update())
    funds = {r.channel_account_id: Funds(r.channel_account_id, r.available, r.threshold_blocking) for r in rows}
    for account_id, committed in (await committed_out(uow, funds)).items():
        funds[account_id].committed = committed
    return funds


async def require_outgoing_funds(uow: UnitOfWork, account_id: int, currency: str, amount: Decimal) -> None:
    """Refuse an allocation of ``amount`` out of ``account_id`` that its balance does not
    cover above the blocking threshold, counting what is committed already.  An account
    never polled is left to the channel (see the module's notes)."""
    funds = (await load_funds(uow, [account_id])).get(account_id)
    if funds is None or funds.available is None or funds.covers(amount):
        return
    account_no = (await uow.conn.execute(
        select(channel_accounts.c.account_no).where(channel_accounts.c.id == account_id))).scalar_one()
    raise InsufficientOutgoingBalance(
        f"The outgoing channel account {account_no}'s available {currency} balance is insufficient for this "
        f"allocation: {funds.shortfall(amount)}. Wait for the committed transfers to settle and the next poll, "
        "or fund the account first.", account_id)


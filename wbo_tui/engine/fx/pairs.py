"""Currency pairs (Service Parameter > Exchange > Currency Pairs): one source currency per
card, several target currencies, one of them the default target.

Adding a card names one source and its targets (the vendor's ``support_currency_add``);
each target is its own row, set default, removed or added on its own.  A pair in use is
not removed: ``pair_users`` names what uses it (strategies, markups and pending exchanges
register themselves there as they arrive)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import and_, bindparam, delete, insert, select, update

from ..commands import Command, Query, handles
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..prepared import Prepared
from ..schema import currencies
from ..uow import UnitOfWork
from ..whole_numbers import Id
from .tables import fx_currency_pairs, fx_executed_markups, fx_reference_markups

INQUIRY = "fx.currency_pair_inquiry"
OPERATION = "lb_hk_conversion.support_currency_update"

# What may use a pair: (source, target) -> descriptions of the users ("strategy 3", ...).
PairUsers = Callable[[UnitOfWork, str, str], Awaitable[list[str]]]
pair_users: list[PairUsers] = []


class PairTargetDTO(DTO):
    id: int
    to_currency: str
    default_currency: bool


class CurrencyPairCardDTO(DTO):
    from_currency: str
    targets: tuple[PairTargetDTO, ...]

    @property
    def default_target(self) -> str | None:
        return next((t.to_currency for t in self.targets if t.default_currency), None)


def _code(value: str) -> str:
    return value.strip().upper()


class ListCurrencyPairs(Query):
    permission = INQUIRY
    action = "view currency pairs"


class AddCurrencyPairs(Command):
    permission = OPERATION
    action = "add currency pairs"
    from_currency: str = Field(min_length=1, max_length=12)
    to_currencies: tuple[str, ...] = Field(min_length=1, max_length=50)

    @field_validator("from_currency")
    @classmethod
    def _from(cls, value: str) -> str:
        return _code(value)

    @field_validator("to_currencies")
    @classmethod
    def _targets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(dict.fromkeys(_code(v) for v in value if v.strip()))
        if not codes:
            raise ValueError("needs at least one target currency")
        return codes


class SetDefaultPair(Command):
    permission = OPERATION
    action = "set default currency pairs"
    pair_id: Id


class DeleteCurrencyPair(Command):
    permission = OPERATION
    action = "delete currency pairs"
    pair_id: Id


def _cards(rows: Any) -> tuple[CurrencyPairCardDTO, ...]:
    cards: dict[str, list[PairTargetDTO]] = {}
    for r in rows:
        cards.setdefault(r.from_currency, []).append(
            PairTargetDTO(id=r.id, to_currency=r.to_currency, default_currency=r.default_currency))
    return tuple(CurrencyPairCardDTO(from_currency=k, targets=tuple(v)) for k, v in cards.items())


@handles(ListCurrencyPairs)
async def list_currency_pairs(uow: UnitOfWork, q: ListCurrencyPairs) -> tuple[CurrencyPairCardDTO, ...]:
    rows = await uow.conn.execute(select(fx_currency_pairs).order_by(
        fx_currency_pairs.c.from_currency, fx_currency_pairs.c.to_currency))
    return _cards(rows)


async def card_of(uow: UnitOfWork, from_currency: str) -> CurrencyPairCardDTO | None:
    rows = await uow.conn.execute(select(fx_currency_pairs).where(fx_currency_pairs.c.from_currency == from_currency)
                                  .order_by(fx_currency_pairs.c.to_currency))
    cards = _cards(rows)
    return cards[0] if cards else None


@handles(AddCurrencyPairs)
async def add_currency_pairs(uow: UnitOfWork, cmd: AddCurrencyPairs) -> CurrencyPairCardDTO:
    known = {r.code for r in await uow.conn.execute(select(currencies.c.code))}
    for field, code in (("Source currency", cmd.from_currency), *(("Target currency", t) for t in cmd.to_currencies)):
        if code not in known:
            raise ValidationFailed(field, f"{code!r} is not a configured currency")
    if cmd.from_currency in cmd.to_currencies:
        raise ValidationFailed("Target currency", f"can't be the source currency {cmd.from_currency}")
    card = await card_of(uow, cmd.from_currency)
    existing = {t.to_currency for t in card.targets} if card else set()
    already = [t for t in cmd.to_currencies if t in existing]
    if already:
        raise ValidationFailed("Target currency", f"{cmd.from_currency} → {', '.join(already)} already exists")
    first_default = card is None or card.default_target is None
    await uow.conn.execute(insert(fx_currency_pairs), [
        {"from_currency": cmd.from_currency, "to_currency": t, "default_currency": first_default and i == 0,
         "created_at": uow.now} for i, t in enumerate(cmd.to_currencies)])
    uow.record("fx.currency_pair.add", "currency_pair", cmd.from_currency, None,
               {"from_currency": cmd.from_currency, "to_currencies": list(cmd.to_currencies)})
    result = await card_of(uow, cmd.from_currency)
    assert result is not None
    return result


async def _pair(uow: UnitOfWork, pair_id: int) -> Any:  # noqa: ANN401
    row = (await uow.conn.execute(select(fx_currency_pairs).where(fx_currency_pairs.c.id == pair_id))).first()
    if row is None:
        raise NotFound(f"Currency pair {pair_id} does not exist (someone may have deleted it).")
    return row


@handles(SetDefaultPair)
async def set_default_pair(uow: UnitOfWork, cmd: SetDefaultPair) -> CurrencyPairCardDTO:
    row = await _pair(uow, cmd.pair_id)
    before = await card_of(uow, row.from_currency)
    await uow.conn.execute(update(fx_currency_pairs).where(and_(
        fx_currency_pairs.c.from_currency == row.from_currency, fx_currency_pairs.c.default_currency))
        .values(default_currency=False))
    await uow.conn.execute(update(fx_currency_pairs).where(fx_currency_pairs.c.id == row.id)
                           .values(default_currency=True))
    uow.record("fx.currency_pair.set_default", "currency_pair", row.id,
               {"default": before.default_target if before else None}, {"default": row.to_currency})
    result = await card_of(uow, row.from_currency)
    assert result is not None
    return result


@handles(DeleteCurrencyPair)
async def delete_currency_pair(uow: UnitOfWork, cmd: DeleteCurrencyPair) -> CurrencyPairCardDTO | None:
    row = await _pair(uow, cmd.pair_id)
    users = [u for check in pair_users for u in await check(uow, row.from_currency, row.to_currency)]
    if users:
        raise Conflict(f"{row.from_currency} → {row.to_currency} is in use and can't be deleted: {'; '.join(users)}.")
    await uow.conn.execute(delete(fx_currency_pairs).where(fx_currency_pairs.c.id == row.id))
    if row.default_currency:
        # The card keeps a default target while it has targets: the first that remains.
        first = (await uow.conn.execute(select(fx_currency_pairs.c.id).where(
            fx_currency_pairs.c.from_currency == row.from_currency).order_by(fx_currency_pairs.c.to_currency))).first()
        if first is not None:
            await uow.conn.execute(update(fx_currency_pairs).where(fx_currency_pairs.c.id == first.id)
                                   .values(default_currency=True))
    uow.record("fx.currency_pair.delete", "currency_pair", row.id,
               {"from_currency": row.from_currency, "to_currency": row.to_currency}, None)
    return await card_of(uow, row.from_currency)


# Every exchange's routing checks it: on the SQLite driver directly in a write unit.
_PAIR = Prepared(select(fx_currency_pairs.c.id).where(fx_currency_pairs.c.from_currency == bindparam("source"),
                                                      fx_currency_pairs.c.to_currency == bindparam("target")))


async def require_pair(uow: UnitOfWork, from_currency: str, to_currency: str) -> None:
    """Refuse an exchange whose pair is not configured (the vendor's second check)."""
    found = await _PAIR.rows(uow.conn, {"source": from_currency, "target": to_currency}, sqlite=uow.sqlite)
    if not found:
        raise ValidationFailed("Target currency", f"{to_currency} is not a target of {from_currency} "
                                                  f"(Currency Pairs has no {from_currency} → {to_currency})")


async def _markups_using(uow: UnitOfWork, from_currency: str, to_currency: str) -> list[str]:
    """Markups on the pair, on the reference rate (per rate-source channel) and on the
    executed rate (per strategy kind and channel): deleting the pair would strand them."""
    users = []
    reference = fx_reference_markups.c
    for r in await uow.conn.execute(select(reference.id, reference.channel_name).where(
            reference.from_currency == from_currency, reference.to_currency == to_currency).order_by(reference.id)):
        users.append(f"reference-rate markup {r.id} ({r.channel_name})")
    executed = fx_executed_markups.c
    for r in await uow.conn.execute(select(executed.id, executed.service_strategy, executed.channel_name).where(
            executed.from_currency == from_currency, executed.to_currency == to_currency).order_by(executed.id)):
        served = "Exchange Pool" if r.service_strategy == "BATCH" else f"Bank Exchange {r.channel_name}"
        users.append(f"executed-rate markup {r.id} ({served})")
    return users


# Markups are checked here, beside the pairs they hang on (strategies and pending exchanges
# register from their own modules).
pair_users.append(_markups_using)

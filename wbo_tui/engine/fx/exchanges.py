"""Client exchanges (Cash Management > Currency Conversion > Client Exchange), submitted by
the back office on a client's behalf.

Submitting one, in one transaction: the amounts (typed on either side, the other side
worked out at the rate with that currency's exchange amount precision and rounding), the
rate (the pair's reference rate, or a custom rate of at most 8 decimal places), the
strategy that serves it (``routing``: the vendor's checks in the vendor's order), the
hold on the client's source currency (refused beyond the withdrawable balance), and the
request itself.  One that needs no review is executed at once (``execution``); one that
does waits for a checker (``review``), and subscribers of ``fx.exchange_review`` hear of it.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import bindparam, insert, select

from ..commands import Command, Query, handles
from ..dto import DTO
from ..errors import NotFound, ValidationFailed
from ..money import DecimalAmount
from ..notify.publish import publish
from ..prepared import Prepared
from ..uow import UnitOfWork
from ..whole_numbers import Id
from . import ledger, pairs, rate_math
from .clients import ClientDTO
from .currency_setup import CurrencySetupDTO, pair_settings
from .markups import apply, reference_markup
from .rates import pair_rate
from .routing import route
from .tables import clients, fx_exchanges

INQUIRY = "fx.customer_exchange_inquiry"
OPERATION = "fx.customer_exchange_operation"
REVIEW_TOPIC = "fx.exchange_review"
HOLD_PURPOSE = "exchange"
PAGE = 200


class ExchangeDTO(DTO):
    id: int
    forex_id: str
    client: ClientDTO
    from_currency: str
    from_amount: Decimal
    to_currency: str
    to_amount: Decimal
    fixed_side: str
    rate: Decimal
    reference_rate: Decimal | None
    rate_source: str
    rate_steps: str
    strategy_id: int
    service_strategy: str
    change_type: int
    channel_name: str | None
    standard_amount: Decimal
    forex_status: str
    audit_status: str
    review_reasons: tuple[str, ...]
    maker_id: int
    checker_id: int | None
    audit_remark: str
    order_remark: str
    version: int
    created_at: datetime
    updated_at: datetime
    success_time: datetime | None


class SubmitClientExchange(Command):
    permission = OPERATION
    action = "submit client exchanges"
    client_id: Id
    from_currency: str = Field(min_length=1, max_length=12)
    to_currency: str = Field(min_length=1, max_length=12)
    amount: DecimalAmount
    fixed_side: Literal["FROM", "TO"] = "FROM"
    """Which side ``amount`` is: what the client pays (FROM) or receives (TO)."""
    custom_rate: DecimalAmount | None = None
    order_remark: str = Field(default="", max_length=200)


class ListClientExchanges(Query):
    """Newest first; ``before_id`` pages to older ones."""

    permission = INQUIRY
    action = "view client exchanges"
    forex_status: str | None = Field(default=None, max_length=12)
    client_id: Id | None = None
    awaiting_review: bool = False
    before_id: Id | None = None


class GetClientExchange(Query):
    permission = INQUIRY
    action = "view client exchanges"
    exchange_id: Id


_EXCHANGES = select(fx_exchanges, clients.c.account_no, clients.c.name, clients.c.account_type).select_from(
    fx_exchanges.join(clients, clients.c.id == fx_exchanges.c.client_id))


def to_dto(row: Any) -> ExchangeDTO:  # noqa: ANN401
    fields = {c.name: getattr(row, c.name) for c in fx_exchanges.c
              if c.name not in ("client_id", "review_reasons", "origin")}
    return ExchangeDTO(**fields, review_reasons=tuple(json.loads(row.review_reasons)), client=ClientDTO(
        id=row.client_id, account_no=row.account_no, name=row.name, account_type=row.account_type))


# What every submission runs, on the SQLite driver directly in a write unit (``Prepared``).
_ONE_EXCHANGE = Prepared(_EXCHANGES.where(fx_exchanges.c.id == bindparam("exchange_id")))
_INSERT_COLUMNS = ("forex_id", "client_id", "from_currency", "from_amount", "to_currency", "to_amount", "fixed_side",
                   "rate", "reference_rate", "rate_source", "rate_steps", "strategy_id", "service_strategy",
                   "change_type", "channel_name", "standard_amount", "forex_status", "audit_status", "review_reasons",
                   "maker_id", "audit_remark", "order_remark", "origin", "version", "created_at", "updated_at")
_INSERT = Prepared(insert(fx_exchanges).returning(fx_exchanges.c.id), keys=_INSERT_COLUMNS)


async def get_exchange(uow: UnitOfWork, exchange_id: int) -> ExchangeDTO:
    rows = await _ONE_EXCHANGE.rows(uow.conn, {"exchange_id": exchange_id}, sqlite=uow.sqlite)
    row = rows[0] if rows else None
    if row is None:
        raise NotFound(f"Client exchange {exchange_id} does not exist.")
    return to_dto(row)


@handles(GetClientExchange)
async def get_client_exchange(uow: UnitOfWork, q: GetClientExchange) -> ExchangeDTO:
    return await get_exchange(uow, q.exchange_id)


@handles(ListClientExchanges)
async def list_client_exchanges(uow: UnitOfWork, q: ListClientExchanges) -> tuple[ExchangeDTO, ...]:
    stmt = _EXCHANGES.order_by(fx_exchanges.c.id.desc()).limit(PAGE)
    if q.forex_status:
        stmt = stmt.where(fx_exchanges.c.forex_status == q.forex_status.upper())
    if q.client_id:
        stmt = stmt.where(fx_exchanges.c.client_id == q.client_id)
    if q.awaiting_review:
        stmt = stmt.where(fx_exchanges.c.audit_status == "PENDING")
    if q.before_id:
        stmt = stmt.where(fx_exchanges.c.id < q.before_id)
    return tuple(to_dto(r) for r in await uow.conn.execute(stmt))


def _amounts(cmd: SubmitClientExchange, source_setup: CurrencySetupDTO, target_setup: CurrencySetupDTO,
             rate: Decimal) -> tuple[Decimal, Decimal]:
    """Both amounts: the typed one checked, the other worked out with its currency's
    exchange amount precision and rounding."""
    source, target = source_setup.currency, target_setup.currency
    typed_setup = source_setup if cmd.fixed_side == "FROM" else target_setup
    field = "Amount"
    if cmd.amount <= 0:
        raise ValidationFailed(field, "must be greater than 0")
    if rate_math.places_of(cmd.amount) > typed_setup.amount_precision and cmd.amount != rate_math.rounded(
            cmd.amount, typed_setup.amount_precision, "truncate"):
        raise ValidationFailed(field, f"allows at most {typed_setup.amount_precision} decimal places for "
                                      f"{typed_setup.currency} (Currency Setup)")
    if cmd.fixed_side == "FROM":
        from_amount = cmd.amount
        to_amount = rate_math.rounded(from_amount * rate, target_setup.amount_precision, target_setup.amount_round_mode)
    else:
        to_amount = cmd.amount
        from_amount = rate_math.rounded(to_amount / rate, source_setup.amount_precision,
                                        source_setup.amount_round_mode)
    if from_amount < source_setup.min_exchange_amount:
        raise ValidationFailed(field, f"is below {source}'s minimum exchange amount of "
                                      f"{source_setup.min_exchange_amount}")
    if to_amount <= 0:
        raise ValidationFailed(field, f"is too small: the client would receive 0 {target}")
    return from_amount, to_amount


async def _rate(uow: UnitOfWork, cmd: SubmitClientExchange, setups: tuple[CurrencySetupDTO, CurrencySetupDTO],
                ) -> tuple[Decimal, Decimal | None, str, str]:
    """The client's rate, the reference rate it came from, its source and its steps."""
    source, target = setups[0].currency, setups[1].currency
    if cmd.custom_rate is None:
        quote = await pair_rate(uow, source, target, setups=setups)
        origin = f"{quote.channel_name}/{quote.rate_type}"
        markup = await reference_markup(uow, quote.channel_name, source, target)
        if markup is None or markup.bp is None or markup.bp.is_zero():
            return quote.rate, quote.rate, origin, f"Reference rate {quote.steps}; no markup"
        applied = apply(quote.rate, markup.spread_mode, markup.bp, quote.places)
        return applied.rate_after, quote.rate, origin, f"Reference rate {quote.steps}; markup {applied.steps}"
    if cmd.custom_rate <= 0:
        raise ValidationFailed("Custom rate", "must be greater than 0")
    if rate_math.places_of(cmd.custom_rate.normalize()) > rate_math.CUSTOM_RATE_PLACES:
        raise ValidationFailed("Custom rate", f"allows at most {rate_math.CUSTOM_RATE_PLACES} decimal places; for "
                                              "more, reject the request and use the adjustment function instead")
    return cmd.custom_rate, None, "CUSTOM", f"Custom rate {cmd.custom_rate}"


@handles(SubmitClientExchange)
async def submit_client_exchange(uow: UnitOfWork, cmd: SubmitClientExchange) -> ExchangeDTO:
    from .execution import execute_now

    source, target = cmd.from_currency.upper(), cmd.to_currency.upper()
    if source == target:
        raise ValidationFailed("Target currency", "must differ from the source currency")
    # The client's row, locked once for the whole unit: the hold, and the settlement that
    # follows at once on the pool, move its cash through this one ``LockedCash``.
    cash = await ledger.open_cash(uow, cmd.client_id)
    # Both currencies' settings, read once for the rate, the amounts and the routing (the
    # exchange switch of each is the first of the vendor's checks).
    setups = await pair_settings(uow, source, target)
    rate, reference, rate_source, rate_steps = await _rate(uow, cmd, setups)
    from_amount, to_amount = _amounts(cmd, *setups, rate)
    chosen = await route(uow, source, target, from_amount, to_amount, uow.now, setups=setups)
    forex_id = uow.ids.new_ref("FX")
    await cash.hold(source, from_amount, purpose=HOLD_PURPOSE, ref=forex_id)
    strategy = chosen.strategy
    exchange_id = (await _INSERT.one(uow.conn, dict(
        forex_id=forex_id, client_id=cmd.client_id, from_currency=source, from_amount=from_amount,
        to_currency=target, to_amount=to_amount, fixed_side=cmd.fixed_side, rate=rate, reference_rate=reference,
        rate_source=rate_source, rate_steps=rate_steps, strategy_id=strategy.id,
        service_strategy=strategy.service_strategy, change_type=strategy.change_type,
        channel_name=strategy.channel_name,
        standard_amount=chosen.standard_amount, forex_status="SUBMITTED",
        audit_status="PENDING" if chosen.needs_review else "NONE", review_reasons=json.dumps(chosen.review_reasons),
        maker_id=uow.actor.operator_id, audit_remark="", order_remark=cmd.order_remark.strip(), origin="BACK_OFFICE",
        version=1, created_at=uow.now, updated_at=uow.now), sqlite=uow.sqlite)).id
    submitted = await get_exchange(uow, exchange_id)
    uow.record("fx.exchange.submit", "client_exchange", forex_id, None, {
        "client": submitted.client.account_no, "from": f"{from_amount} {source}", "to": f"{to_amount} {target}",
        "rate": rate, "rate_source": rate_source, "strategy": strategy.id, "review": list(chosen.review_reasons)})
    if chosen.needs_review:
        await publish(uow, REVIEW_TOPIC, f"Client exchange {forex_id} awaits review",
                      f"{submitted.client.account_no} {from_amount} {source} → {to_amount} {target} at {rate}: "
                      f"{'; '.join(chosen.review_reasons)}.", source_type="client_exchange", source_id=forex_id)
        return submitted
    return await execute_now(uow, submitted, cash=cash)


async def _pending_exchanges(uow: UnitOfWork, from_currency: str, to_currency: str) -> list[str]:
    rows = await uow.conn.execute(select(fx_exchanges.c.forex_id).where(
        fx_exchanges.c.from_currency == from_currency, fx_exchanges.c.to_currency == to_currency,
        fx_exchanges.c.forex_status.in_(("SUBMITTED", "PROCESSING", "UNKNOWN"))).order_by(fx_exchanges.c.id).limit(5))
    refs = [r.forex_id for r in rows]
    return [f"pending client exchange {', '.join(refs)}"] if refs else []


pairs.pair_users.append(_pending_exchanges)

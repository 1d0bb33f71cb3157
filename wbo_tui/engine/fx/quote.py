"""What a client exchange would be if submitted now, without submitting it: the console's
exchange form previews it as the operator types.

The quote runs the very functions ``SubmitClientExchange`` runs (``exchanges._rate`` and
``exchanges._amounts``, then ``routing.route``; keep them in step when those change), in
a read-only unit, so the preview and the submission cannot disagree but for what changes
in between (a new rate, a quota used up).  Nothing is held or written.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from ..commands import Query, handles
from ..dto import DTO
from ..errors import ValidationFailed
from ..money import DecimalAmount
from ..uow import UnitOfWork
from . import pairs
from .currency_setup import pair_settings
from .exchanges import OPERATION, SubmitClientExchange, _amounts, _rate
from .pairs import CurrencyPairCardDTO, ListCurrencyPairs
from .rates import pair_rate
from .routing import route


class QuoteSideDTO(DTO):
    currency: str
    amount: Decimal | None
    """None: no amount typed yet."""
    precision: int
    round_mode: str


class ExchangeQuoteDTO(DTO):
    from_side: QuoteSideDTO
    to_side: QuoteSideDTO
    rate: Decimal
    """The client's rate: the reference rate less its markup, or the custom rate."""
    reference_rate: Decimal | None
    """Before the markup (None: a custom rate)."""
    rate_source: str
    rate_steps: str
    rate_as_of: datetime | None
    """When the older of the pair's two reference rates was set (None: custom, or both standard)."""
    age_s: int | None
    served_by: str
    """The strategy that would serve it now, and whether it would wait for review; or, for an
    amount no strategy takes now, the refusal submitting would give (empty: no amount yet)."""
    refused: bool
    """Whether submitting now would be refused by the strategy checks (``served_by`` says why)."""


class QuoteClientExchange(Query):
    """The rate, both amounts (each with its currency's exchange precision and rounding) and
    the strategy a submission of these fields would get now.  Refused, like the submission,
    naming the field, for an amount or custom rate the submission would refuse."""

    permission = OPERATION
    action = "quote client exchanges"
    from_currency: str = Field(min_length=1, max_length=12)
    to_currency: str = Field(min_length=1, max_length=12)
    amount: DecimalAmount | None = None
    fixed_side: Literal["FROM", "TO"] = "FROM"
    custom_rate: DecimalAmount | None = None


class ExchangePairs(Query):
    """The currency pairs a client exchange may use (source, targets, default target), for
    whoever submits client exchanges."""

    permission = OPERATION
    action = "submit client exchanges"


@handles(ExchangePairs)
async def exchange_pairs(uow: UnitOfWork, q: ExchangePairs) -> tuple[CurrencyPairCardDTO, ...]:
    return await pairs.list_currency_pairs(uow, ListCurrencyPairs())


def _describe_route(strategy_id: int, service: str, channel: str | None, reasons: tuple[str, ...]) -> str:
    kind = "Exchange Pool" if service == "BATCH" else f"Bank Exchange via {channel}"
    then = (f"waits for review ({'; '.join(reasons)})" if reasons else
            "settles when submitted" if service == "BATCH" else "goes to the bank when submitted")
    return f"{kind} (strategy {strategy_id}): {then}"


@handles(QuoteClientExchange)
async def quote_client_exchange(uow: UnitOfWork, q: QuoteClientExchange) -> ExchangeQuoteDTO:
    source, target = q.from_currency.upper(), q.to_currency.upper()
    if source == target:
        raise ValidationFailed("Target currency", "must differ from the source currency")
    # The submission's own fields, so that its own functions judge them (no client is read).
    as_submitted = SubmitClientExchange.model_construct(
        client_id=0, from_currency=source, to_currency=target, amount=q.amount or Decimal(1),
        fixed_side=q.fixed_side, custom_rate=q.custom_rate, order_remark="")
    # The vendor's order: the exchange switch of both currencies, then the pair.
    setups = source_setup, target_setup = await pair_settings(uow, source, target)
    await pairs.require_pair(uow, source, target)
    rate, reference, rate_source, steps = await _rate(uow, as_submitted, setups)
    as_of = None if q.custom_rate is not None else (await pair_rate(uow, source, target, setups=setups)).as_of
    from_amount = to_amount = None
    served_by, refused = "", False
    if q.amount is not None:
        from_amount, to_amount = _amounts(as_submitted, source_setup, target_setup, rate)
        try:
            chosen = await route(uow, source, target, from_amount, to_amount, uow.now, setups=setups)
        except ValidationFailed as error:
            served_by, refused = str(error), True
        else:
            s = chosen.strategy
            served_by = _describe_route(s.id, s.service_strategy, s.channel_name, chosen.review_reasons)
    return ExchangeQuoteDTO(
        from_side=QuoteSideDTO(currency=source, amount=from_amount, precision=source_setup.amount_precision,
                               round_mode=source_setup.amount_round_mode),
        to_side=QuoteSideDTO(currency=target, amount=to_amount, precision=target_setup.amount_precision,
                             round_mode=target_setup.amount_round_mode),
        rate=rate, reference_rate=reference, rate_source=rate_source, rate_steps=steps, rate_as_of=as_of,
        age_s=None if as_of is None else int((uow.now - as_of).total_seconds()), served_by=served_by,
        refused=refused)

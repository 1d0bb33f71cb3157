"""A markup's calculation, step by step, on the current reference rate of its pair: what
the Markups tab shows so an operator can check a markup before a client meets it.

Pure functions over what the console has already read (the current reference rates, the
currency setup, the markup): every figure comes from the engine's own arithmetic, the
reference rate from ``rate_math.reference_rate`` (as ``rates.pair_rate`` quotes it) and
the markup from ``markups.apply`` (as a submitted or executed exchange applies it), so
the steps shown are the steps a client's exchange takes.

The legs are chosen as ``rates.pair_rate`` chooses them: the source currency's bid and the
target currency's offer against the standard currency (1 for the standard currency
itself), the rate precision and rounding of the source currency.  An executed-rate markup
applies to the bank's rate at execution, not known before; its steps are illustrated on
the quoting rate (Hong Kong Exchange spot), one line per amount tier.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from ..dto import DTO
from ..errors import ValidationFailed
from . import rate_math
from .currency_setup import CurrencySetupDTO
from .markups import MarkupDTO, apply
from .rates import MAX_AGE_S, ReferenceRateDTO
from .tables import RATE_CHANNELS, RATE_TYPES

QUOTING_CHANNEL, QUOTING_TYPE = "HKEX", "SPOT"
"""The reference rate a client's exchange is quoted at (``rates.pair_rate``'s default)."""
SHOWN_EXTRA_PLACES = 4
"""An unrounded quotient is shown to this many places past the rate precision, then "…"."""
ROUNDING_WORDS = {"round": "half up", "truncate": "toward zero"}
_EXACT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN)


class PairQuote(DTO):
    """The reference rate of a pair on one channel, and the figures it came from."""

    from_currency: str
    to_currency: str
    channel_name: str
    rate_type: str
    source_buy: Decimal
    target_sell: Decimal
    quotient: Decimal
    """``source_buy ÷ target_sell`` before rounding (60 significant digits)."""
    rate: Decimal
    places: int
    round_mode: str
    stale: tuple[str, ...]
    """The currencies whose rate is older than the quoting limit (the quote is refused then)."""
    standard: str
    """The standard currency: its leg is 1."""

    @property
    def channel_label(self) -> str:
        return f"{RATE_CHANNELS.get(self.channel_name, self.channel_name)} {RATE_TYPES.get(self.rate_type, '')}"

    def step(self) -> str:
        shown = rate_math.rounded(self.quotient, self.places + SHOWN_EXTRA_PLACES, "truncate")
        quotient = f"{shown}…" if shown != self.quotient else str(self.quotient)
        buy, sell = (f"{rate} ({code}, the standard currency)" if code == self.standard else str(rate)
                     for code, rate in ((self.from_currency, self.source_buy), (self.to_currency, self.target_sell)))
        return (f"Reference rate {self.from_currency}→{self.to_currency} ({self.channel_label}): source bid "
                f"{buy} ÷ target offer {sell} = {quotient} → {self.rate} (rate precision "
                f"{self.places}, {rate_math.ROUND_MODE_LABELS[self.round_mode]}: "
                f"{ROUNDING_WORDS[self.round_mode]})")


class MarkupStepsDTO(DTO):
    markup_id: int
    kind: str
    quote: PairQuote
    steps: tuple[str, ...]
    """Each line of the calculation, the reference rate first."""
    results: tuple[Decimal | None, ...]
    """The client's rate after the markup: one for a reference-rate markup, one per tier for
    an executed-rate one (None where the markup would exceed the rate)."""
    summary: str
    """In short: the reference rate → the client's rate after the markup (per tier: "a / b")."""
    formula: str
    """In one line: the reference rate's division and the rate(s) after the markup."""


def pair_quote(rates: Sequence[ReferenceRateDTO], setups: Sequence[CurrencySetupDTO], from_currency: str,
               to_currency: str, *, now: datetime, channel_name: str = QUOTING_CHANNEL,
               rate_type: str = QUOTING_TYPE) -> PairQuote:
    """The pair's reference rate from ``rates`` (the current rates, ``ListReferenceRates``)
    and ``setups`` (``ListCurrencySetup``); refused, naming what is missing, as quoting is."""
    standard = next((s.currency for s in setups if s.standard_money), None)
    if standard is None:
        raise ValidationFailed("Standard currency", "is not set (Currency Setup: mark one currency standard)")
    source = next((s for s in setups if s.currency == from_currency and s.configured), None)
    if source is None:
        raise ValidationFailed("Currency", f"{from_currency} has no exchange settings (Currency Setup)")
    legs: list[Decimal] = []
    stale: list[str] = []
    for code, side in ((from_currency, "bid_rate"), (to_currency, "offer_rate")):
        if code == standard:
            legs.append(Decimal(1))
            continue
        rate = next((r for r in rates if (r.channel_name, r.rate_type, r.other_currency) ==
                     (channel_name, rate_type, code)), None)
        if rate is None:
            raise ValidationFailed("Reference rate", f"{RATE_CHANNELS.get(channel_name, channel_name)} has no "
                                                     f"{RATE_TYPES.get(rate_type, rate_type)} for {code}")
        if (now - rate.updated_at).total_seconds() > MAX_AGE_S:
            stale.append(code)
        legs.append(getattr(rate, side))
    buy, sell = legs
    return PairQuote(
        from_currency=from_currency, to_currency=to_currency, channel_name=channel_name, rate_type=rate_type,
        source_buy=buy, target_sell=sell, quotient=_EXACT.divide(buy, sell),
        rate=rate_math.reference_rate(buy, sell, source.exchange_rate_precision, source.amount_round_mode),
        places=source.exchange_rate_precision, round_mode=source.amount_round_mode, stale=tuple(stale),
        standard=standard)


def markup_quote(markup: MarkupDTO, rates: Sequence[ReferenceRateDTO], setups: Sequence[CurrencySetupDTO], *,
                 now: datetime) -> PairQuote:
    """The reference rate a markup applies to: its own rate source channel for a
    reference-rate markup, the quoting rate for an executed-rate one."""
    channel = markup.channel_name if markup.kind == "REFERENCE" and markup.channel_name else QUOTING_CHANNEL
    return pair_quote(rates, setups, markup.from_currency, markup.to_currency, now=now, channel_name=channel)


def _markup_step(rate: Decimal, spread_mode: str, bp: Decimal, places: int) -> tuple[str, Decimal | None]:
    """One application of ``markups.apply``, in words: the markup, the exact figure and the
    figure cut to the rate precision (the broker's favour)."""
    if spread_mode == "RATE":
        what = f"markup ratio {bp} % ({(bp * 100).normalize():f} bp): {rate} × (1 − {(bp / 100).normalize():f})"
    else:
        what = f"markup value {bp}: {rate} − {bp}"
    try:
        applied = apply(rate, spread_mode, bp, places)
    except ValidationFailed as refused:
        return f"{what}: refused, {refused.rule}", None
    cut = "" if applied.rate_exact == applied.rate_after else f" → {applied.rate_after}"
    exact = _exact_text(applied.rate_exact, places)
    return f"{what} = {exact}{cut} (cut to {places} places, toward the broker)", applied.rate_after


def _exact_text(value: Decimal, places: int) -> str:
    """An exact figure without the trailing zeros a product carries, but never with fewer
    than the rate's ``places`` (adding zeros changes no digit)."""
    digits = value.normalize()
    if rate_math.places_of(digits) < places:
        digits = digits.quantize(Decimal(1).scaleb(-places))
    return f"{digits:f}"


def _tier_range(tier: dict[str, str | None], currency: str) -> str:
    start, end = Decimal(str(tier["start_value"])), tier["end_value"]
    return f"{start:,}–{Decimal(str(end)):,} {currency}" if end is not None else f"{start:,} {currency} and above"


def markup_steps(markup: MarkupDTO, quote: PairQuote) -> MarkupStepsDTO:
    """The calculation of ``markup`` on ``quote`` (``markup_quote``), line by line."""
    steps = [f"1. {quote.step()}"]
    if quote.stale:
        steps.append(f"   ({', '.join(quote.stale)} rate older than {MAX_AGE_S // 3600} h: quoting refuses it "
                     "until it is imported or refreshed)")
    results: list[Decimal | None] = []
    if markup.kind == "REFERENCE":
        assert markup.bp is not None
        text, after = _markup_step(quote.rate, markup.spread_mode, markup.bp, quote.places)
        steps.append(f"2. Applied when a request is submitted: {text}")
        results.append(after)
        formula = f"{quote.source_buy} ÷ {quote.target_sell} = {quote.rate}, less the markup: {_result(after)}"
    else:
        steps.append("2. Applied at execution to the bank's executed rate, by the source amount's tier; shown here "
                     f"on the reference rate {quote.rate}:")
        for tier in markup.tiers:
            text, after = _markup_step(quote.rate, markup.spread_mode, Decimal(str(tier["markup"])), quote.places)
            steps.append(f"   {_tier_range(tier, markup.from_currency)}: {text}")
            results.append(after)
        steps.append(f"3. In force: {effective_text(markup)}")
        formula = (f"{quote.source_buy} ÷ {quote.target_sell} = {quote.rate}, less each tier's markup: "
                   + ", ".join(_result(r) for r in results))
    summary = f"{quote.rate} → " + " / ".join(_result(r) for r in results)
    return MarkupStepsDTO(markup_id=markup.id, kind=markup.kind, quote=quote, steps=tuple(steps),
                          results=tuple(results), summary=summary, formula=formula)


def _result(rate: Decimal | None) -> str:
    return "refused" if rate is None else str(rate)


def effective_text(markup: MarkupDTO) -> str:
    """An executed-rate markup's effective period, as the vendor says it."""
    if markup.default_effective or markup.start_time is None or markup.end_time is None:
        return "Long-term effectiveness"
    return f"{markup.start_time:%Y-%m-%d %H:%M} – {markup.end_time:%Y-%m-%d %H:%M} UTC"


def target_amount(quote: PairQuote, setups: Sequence[CurrencySetupDTO], from_amount: Decimal) -> Decimal:
    """``from_amount`` at the quote's rate (before any markup), to the target currency's
    amount precision with its rounding, as a submitted exchange computes it."""
    target = next((s for s in setups if s.currency == quote.to_currency and s.configured), None)
    if target is None:
        raise ValidationFailed("Currency", f"{quote.to_currency} has no exchange settings (Currency Setup)")
    return rate_math.rounded(from_amount * quote.rate, target.amount_precision, target.amount_round_mode)

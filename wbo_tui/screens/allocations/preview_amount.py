"""When the manual allocation form may show balances *after* the allocation: only for an
amount the allocation itself could carry.  A negative or zero amount, one with more
places than the currency has, text that is not a number, or two accounts (or a typed
currency) that do not agree on one currency show the balances before, with the reason
the after is not shown, naming the field and its rule as the engine would."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import NamedTuple

from wbo_tui.engine.money import amount_from_text
from wbo_tui.engine.positions.channel_accounts import ChannelAccountDTO


class PreviewAmount(NamedTuple):
    amount: Decimal | None
    """The amount to compute the balances after with, or None: show only the balances before."""
    reason: str | None
    """Why the balances after are not shown (None: nothing typed yet, or shown)."""


def preview_amount(typed_amount: str, typed_currency: str, source: ChannelAccountDTO, target: ChannelAccountDTO,
                   precision: dict[str, int]) -> PreviewAmount:
    """The amount the before/after preview may use, judged from what the form holds."""
    if source.currency != target.currency:
        return PreviewAmount(None, f"Receiving account: {target.account_no} holds {target.currency}, "
                                   f"not {source.currency}; an allocation moves one currency")
    currency = typed_currency.strip().upper()
    if currency and currency != source.currency:
        return PreviewAmount(None, f"Currency: both accounts hold {source.currency}, not {currency}")
    if not typed_amount.strip():
        return PreviewAmount(None, None)
    try:
        amount = amount_from_text(typed_amount)
    except ValueError as error:
        return PreviewAmount(None, f"Amount: {error}")
    if amount <= 0:
        return PreviewAmount(None, "Amount: must be greater than zero")
    places = precision.get(source.currency)
    # By value, as the engine checks it: JPY 100.00 is 100, HKD 1.005 is one place too many.
    if places is not None and amount != amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN):
        unit = "decimal place" if places == 1 else "decimal places"
        return PreviewAmount(None, f"Amount: allows at most {places} {unit} for {source.currency}")
    return PreviewAmount(amount, None)

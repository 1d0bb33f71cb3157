"""The checks every allocation shares, rule or manual: two different accounts of one
settlement channel that both hold the transfer's currency."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select

from ..currencies import load_currency
from ..errors import ValidationFailed
from ..money import Currency
from ..positions.tables import channel_accounts
from ..prepared import Prepared
from ..schema import currencies
from ..uow import UnitOfWork


# Both accounts, each with its currency's configuration (a transfer's currency is the one
# both accounts hold, so that is the currency the transfer needs).
_TWO_ACCOUNTS = Prepared(
    select(channel_accounts, currencies.c.name.label("currency_name"), currencies.c.kind.label("currency_kind"),
           currencies.c.amount_precision, currencies.c.rounding, currencies.c.max_amount)
    .join(currencies, currencies.c.code == channel_accounts.c.currency)
    .where(channel_accounts.c.id.in_([bindparam("from_id"), bindparam("to_id")]))
)


async def validate_transfer(uow: UnitOfWork, from_id: int, to_id: int,
                            currency_code: str) -> tuple[Any, Any, Currency]:
    """The checks every allocation shares, rule or manual: two different accounts of one
    channel that both hold the currency.  Returns both accounts and the currency."""
    if from_id == to_id:
        raise ValidationFailed("Incoming account", "must be a different account from the outgoing account")
    found = {r.id: r for r in await _TWO_ACCOUNTS.rows(uow.conn, {"from_id": from_id, "to_id": to_id},
                                                           sqlite=uow.sqlite)}
    source, target = found.get(from_id), found.get(to_id)
    for row, account_id, field in ((source, from_id, "Outgoing account"), (target, to_id, "Incoming account")):
        if row is None:
            raise ValidationFailed(field, f"channel account {account_id} does not exist")
    for row, field in ((source, "Outgoing account"), (target, "Incoming account")):
        if row.currency != currency_code:
            await load_currency(uow, currency_code)  # an unknown currency is the first thing to say
            raise ValidationFailed(field, f"{row.account_no} holds {row.currency}, not {currency_code}")
    if source.channel != target.channel:
        raise ValidationFailed(
            "Incoming account", f"is on {target.channel}; a transfer stays within one settlement channel ({source.channel})"
        )
    currency = Currency(source.currency, source.currency_name, source.currency_kind, source.amount_precision,
                        source.rounding, source.max_amount)
    return source, target, currency

"""Loading clients' margin books from the trading system: positions as they were bought
(or sold short), and margin loans drawn, as one CSV, validated row by row, all or nothing.

A position row books the trade that made it: the shares, and the cash it cost (a long
debits quantity × average cost in the instrument's currency; a short credits it), so a
client's cash and positions stay consistent as the margin engine sees them.  A LOAN row
is financing the client drew (cash debited).  Each refusal names the row and the field.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from typing import Annotated

from pydantic import Field
from sqlalchemy import insert, select, update

from ..commands import Command, handles
from ..currencies import load_currencies
from ..dto import DTO
from ..errors import ValidationFailed
from ..fx import ledger
from ..fx.tables import clients
from ..money import amount_from_text
from ..uow import UnitOfWork
from .settings import CONFIG
from .tables import client_positions, instruments

HEADER = ("account_no", "kind", "code", "quantity", "price")
MAX_ROWS = 100_000
MAX_SHARES = 10**12


class ImportMarginBook(Command):
    """``csv_text``: account_no, kind (POSITION or LOAN), code (a security, or for a LOAN
    the currency), quantity (shares, negative for a short; for a LOAN the amount), price
    (average cost; empty for a LOAN)."""

    permission = CONFIG
    action = "import margin books"
    csv_text: Annotated[str, Field(min_length=1, max_length=20_000_000)]


class BookImportResult(DTO):
    positions: int
    loans: int
    clients: int


def _decimal(text: str, row: int, field: str) -> Decimal:
    try:
        return amount_from_text(text)
    except (ValidationFailed, InvalidOperation, ValueError):
        raise ValidationFailed(f"Row {row} {field}", f"must be a number, not {text!r}") from None


@handles(ImportMarginBook)
async def import_margin_book(uow: UnitOfWork, cmd: ImportMarginBook) -> BookImportResult:
    reader = csv.reader(io.StringIO(cmd.csv_text))
    header = tuple(h.strip().lower() for h in next(reader, ()))
    if header != HEADER:
        raise ValidationFailed("Header", f"must be {','.join(HEADER)}")
    accounts = {r.account_no: r.id for r in await uow.conn.execute(select(clients.c.account_no, clients.c.id))}
    listed = {r.code: r for r in await uow.conn.execute(select(instruments.c.code, instruments.c.currency,
                                                               instruments.c.lot_size))}
    planned: list[tuple[int, str, str, int, Decimal, int]] = []
    loans: list[tuple[int, str, Decimal, int]] = []
    for number, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(HEADER):
            raise ValidationFailed(f"Row {number}", f"has {len(fields)} fields, not {len(HEADER)}")
        if number - 1 > MAX_ROWS:
            raise ValidationFailed("File", f"has more than {MAX_ROWS:,} rows")
        account_no, kind, code, quantity_text, price_text = (f.strip() for f in fields)
        client_id = accounts.get(account_no)
        if client_id is None:
            raise ValidationFailed(f"Row {number} account_no", f"{account_no!r} is not a client")
        kind = kind.upper()
        if kind == "LOAN":
            amount = _decimal(quantity_text, number, "quantity")
            if amount <= 0:
                raise ValidationFailed(f"Row {number} quantity", "a loan must be greater than 0")
            loans.append((client_id, code.upper(), amount, number))
            continue
        if kind != "POSITION":
            raise ValidationFailed(f"Row {number} kind", "must be POSITION or LOAN")
        instrument = listed.get(code.upper())
        if instrument is None:
            raise ValidationFailed(f"Row {number} code", f"{code!r} is not an instrument")
        try:
            quantity = int(quantity_text)
        except ValueError:
            raise ValidationFailed(f"Row {number} quantity", "must be a whole number of shares") from None
        if quantity == 0 or abs(quantity) > MAX_SHARES:
            raise ValidationFailed(f"Row {number} quantity", f"must be non-zero and at most {MAX_SHARES:,} shares")
        price = _decimal(price_text, number, "price")
        if price <= 0:
            raise ValidationFailed(f"Row {number} price", "must be greater than 0")
        planned.append((client_id, instrument.code, instrument.currency, quantity, price, number))
    await _apply(uow, planned, loans)
    touched = {p[0] for p in planned} | {loan[0] for loan in loans}
    uow.record("margin.book.import", "margin_book", "import", None,
               {"positions": len(planned), "loans": len(loans), "clients": len(touched)})
    return BookImportResult(positions=len(planned), loans=len(loans), clients=len(touched))


async def _apply(uow: UnitOfWork, planned: list, loans: list) -> None:  # noqa: ANN001
    p = client_positions.c
    currencies = await load_currencies(uow)
    for client_id, code, currency, quantity, price, number in planned:
        held = (await uow.conn.execute(select(client_positions).where(p.client_id == client_id,
                                                                      p.code == code))).first()
        if held is None:
            await uow.conn.execute(insert(client_positions).values(
                client_id=client_id, code=code, quantity=quantity, avg_cost=price, version=1, updated_at=uow.now))
        else:
            if (held.quantity > 0) != (quantity > 0):
                raise ValidationFailed(f"Row {number} quantity", f"would reverse the client's {code} position")
            total = held.quantity + quantity
            cost = ((held.avg_cost * held.quantity + price * quantity) / total).quantize(Decimal("0.0001"))
            await uow.conn.execute(update(client_positions).where(p.id == held.id).values(
                quantity=total, avg_cost=cost, version=p.version + 1, updated_at=uow.now))
        # The trade's consideration, settled in cents (the currency's precision and rounding).
        consideration = currencies[currency].quantize(price * quantity)
        await ledger.post(uow, client_id, currency, -consideration, kind="TRADE", ref=f"BOOK-{code}",
                          remarks=f"{'bought' if quantity > 0 else 'sold short'} {abs(quantity)} {code} @ {price}",
                          allow_negative=True)
    for client_id, currency, amount, number in loans:
        if currency not in currencies:
            raise ValidationFailed(f"Row {number} code", f"{currency!r} is not a currency (a LOAN names its currency)")
        if currencies[currency].quantize(amount) != amount:
            raise ValidationFailed(f"Row {number} quantity", f"allows at most {currencies[currency].amount_precision} "
                                                             f"decimal places in {currency}")
        await ledger.post(uow, client_id, currency, -amount, kind="LOAN", ref="BOOK-LOAN",
                          remarks="margin financing drawn", allow_negative=True)

"""Client accounts and their cash per currency (what client exchanges, and later margin
calls, stand on), with a CSV import for a real desk: validated per row, all or nothing."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Annotated

from pydantic import Field
from sqlalchemy import func, insert, or_, select

from ..commands import Command, Query, handles
from ..currencies import load_currencies
from ..dto import DTO
from ..errors import ValidationFailed
from ..money import amount_from_text
from ..uow import UnitOfWork
from ..whole_numbers import Id, WholeNumber
from . import ledger
from .tables import ACCOUNT_TYPES, client_cash_holds, client_cash_movements, clients

INQUIRY = "fx.client_inquiry"
OPERATION = "fx.client_operation"
IMPORT_COLUMNS = ("account_no", "name", "account_type", "currency", "opening_balance")
MAX_IMPORT_ROWS = 100_000
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,19}$")


class ClientDTO(DTO):
    id: int
    account_no: str
    name: str
    account_type: str


class ClientCashDTO(DTO):
    currency: str
    balance: Decimal
    held: Decimal
    withdrawable: Decimal


class ClientDetailDTO(DTO):
    client: ClientDTO
    cash: tuple[ClientCashDTO, ...]


class ListClients(Query):
    permission = INQUIRY
    action = "view clients"
    search: str = Field(default="", max_length=100)
    """Part of the account number or name (case-insensitive)."""
    limit: Annotated[int, WholeNumber(1, 1000)] = 200


class ClientCash(Query):
    permission = INQUIRY
    action = "view clients"
    client_id: Id


class ImportClients(Command):
    """Clients and their opening cash from CSV (``IMPORT_COLUMNS``, header row first):
    one row per client and currency.  Every row is checked before anything is written."""

    permission = OPERATION
    action = "import clients"
    csv_text: str = Field(min_length=1, max_length=20_000_000)


class ImportResult(DTO):
    clients: int
    balances: int


def _dto(row: object) -> ClientDTO:
    return ClientDTO(id=row.id, account_no=row.account_no, name=row.name,  # type: ignore[attr-defined]
                     account_type=row.account_type)  # type: ignore[attr-defined]


@handles(ListClients)
async def list_clients(uow: UnitOfWork, q: ListClients) -> tuple[ClientDTO, ...]:
    stmt = select(clients).order_by(clients.c.account_no).limit(q.limit)
    if q.search.strip():
        like = f"%{q.search.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(clients.c.account_no).like(like), func.lower(clients.c.name).like(like)))
    return tuple(_dto(r) for r in await uow.conn.execute(stmt))


@handles(ClientCash)
async def client_cash(uow: UnitOfWork, q: ClientCash) -> ClientDetailDTO:
    row = (await uow.conn.execute(select(clients).where(clients.c.id == q.client_id))).first()
    if row is None:
        raise ValidationFailed("Client", f"{q.client_id} does not exist")
    codes = {r[0] for r in await uow.conn.execute(
        select(client_cash_movements.c.currency).where(client_cash_movements.c.client_id == q.client_id).distinct())}
    codes |= {r[0] for r in await uow.conn.execute(
        select(client_cash_holds.c.currency).where(client_cash_holds.c.client_id == q.client_id).distinct())}
    cash = []
    for code in sorted(codes):
        balance = await ledger.balance(uow, q.client_id, code)
        held = await ledger.held(uow, q.client_id, code)
        cash.append(ClientCashDTO(currency=code, balance=balance, held=held, withdrawable=balance - held))
    return ClientDetailDTO(client=_dto(row), cash=tuple(cash))


@handles(ImportClients)
async def import_clients(uow: UnitOfWork, cmd: ImportClients) -> ImportResult:
    rows = read_import_rows(cmd.csv_text)
    known = await load_currencies(uow)
    existing = {r.account_no for r in await uow.conn.execute(select(clients.c.account_no))}
    people: dict[str, tuple[str, str]] = {}
    balances: dict[tuple[str, str], Decimal] = {}
    for number, fields in rows:
        account_no, name, account_type, code, text = (fields[c].strip() for c in IMPORT_COLUMNS)

        def refuse(column: str, rule: str, number: int = number) -> ValidationFailed:
            return ValidationFailed(f"Row {number}, {column}", f"{rule}; nothing was imported")

        if not _ACCOUNT_RE.match(account_no):
            raise refuse("account_no", "must be 3–20 letters, digits or '-'")
        if account_no in existing:
            raise refuse("account_no", f"{account_no} is already a client")
        if not name or len(name) > 100:
            raise refuse("name", "is required (at most 100 characters)")
        if account_type not in ACCOUNT_TYPES:
            raise refuse("account_type", "must be cash or margin")
        if people.setdefault(account_no, (name, account_type)) != (name, account_type):
            raise refuse("name", f"differs from an earlier row of {account_no}")
        currency = known.get(code.upper())
        if currency is None:
            raise refuse("currency", f"{code!r} is not a configured currency")
        try:
            amount = currency.check_precision(amount_from_text(text), field="opening_balance")
        except (ValueError, ValidationFailed) as error:
            raise refuse("opening_balance", getattr(error, "rule", "must be a number such as 1000.00")) from None
        if amount < 0:
            raise refuse("opening_balance", "must be 0 or more")
        if (account_no, currency.code) in balances:
            raise refuse("currency", f"{currency.code} appears twice for {account_no}")
        balances[(account_no, currency.code)] = amount
    ids = {}
    for account_no, (name, account_type) in people.items():
        ids[account_no] = (await uow.conn.execute(insert(clients).values(
            account_no=account_no, name=name, account_type=account_type, created_at=uow.now)
            .returning(clients.c.id))).scalar_one()
    written = 0
    for (account_no, code), amount in balances.items():
        if amount:
            await ledger.post(uow, ids[account_no], code, amount, kind="opening", ref=f"IMPORT-{account_no}",
                              remarks="Opening balance (import)")
            written += 1
    uow.record("fx.client.import", "client", "import", None, {"clients": len(people), "balances": written})
    return ImportResult(clients=len(people), balances=written)


def read_import_rows(text: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in next(reader, [])]
    if tuple(header) != IMPORT_COLUMNS:
        raise ValidationFailed("Header row", f"must be {','.join(IMPORT_COLUMNS)}; nothing was imported")
    rows = []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(IMPORT_COLUMNS):
            raise ValidationFailed(f"Row {number}", f"has {len(values)} fields, not {len(IMPORT_COLUMNS)}; "
                                                    "nothing was imported")
        rows.append((number, dict(zip(IMPORT_COLUMNS, values, strict=True))))
        if len(rows) > MAX_IMPORT_ROWS:
            raise ValidationFailed("File", f"has more than {MAX_IMPORT_ROWS:,} rows; nothing was imported")
    if not rows:
        raise ValidationFailed("File", "has no rows under the header; nothing was imported")
    return rows

"""Company Fund Allocation records: every allocation, manual and automatic, with filters,
keyset paging and CSV export; and the explain view of decided triggers."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import select

from ..commands import Query, handles
from ..dto import DTO
from ..errors import NotFound
from ..paging import PageRequest, keyset_page, one_anchor
from ..positions.tables import channel_accounts
from ..schema import approvals, currencies
from ..types import UtcMoment
from ..uow import UnitOfWork
from ..whole_numbers import Id, PageSize, WholeNumber
from .tables import allocation_rules, allocation_triggers, allocations

INQUIRY = "atm.company_fund_allocation_inquiry"
Status = Literal["pending_approval", "processing", "succeeded", "failed", "rejected", "unknown"]


class AllocationDTO(DTO):
    id: int
    order_no: str
    origin: str
    created_at: datetime
    updated_at: datetime
    amount: Decimal
    currency: str
    precision: int
    from_account_id: int
    from_account: str
    to_account_id: int
    to_account: str
    channel: str
    trigger: str
    rule_id: int | None
    rule_name: str | None
    status: str
    failure_reason: str | None
    attempt: int
    maker: str
    checker: str | None
    remarks: str
    approval_id: int | None
    maker_id: int | None = None
    """The operator who submitted it for approval (None: the system, or no approval)."""

    @property
    def amount_text(self) -> str:
        return f"{self.amount:,.{self.precision}f}"


class ListAllocations(Query):
    permission = INQUIRY
    action = "view company fund allocations"
    status: Status | None = None
    origin: Literal["automatic", "manual"] | None = None
    currency: str | None = None
    account_id: Id | None = None
    rule_id: Id | None = None
    order_no: str | None = None
    created_from: UtcMoment | None = None
    created_to: UtcMoment | None = None
    before_id: Id | None = None
    """The page of records older than this id (keyset paging: see ``engine.paging``)."""
    after_id: Id | None = None
    """The page of records newer than this id."""
    oldest: bool = False
    """The oldest page (the last one)."""
    page_size: PageSize = 50

    _one_anchor = field_validator("after_id", "oldest")(one_anchor)

    @property
    def page_request(self) -> PageRequest:
        return PageRequest(self.before_id, self.after_id, self.oldest, self.page_size)


class AllocationPage(DTO):
    """One page, newest first, with the cursors of the pages on either side."""

    rows: tuple[AllocationDTO, ...]
    next_before_id: int | None
    """``before_id`` of the next older page; None on the oldest page."""
    newer_after_id: int | None = None
    """``after_id`` of the next newer page; None on the newest page."""


class ExportAllocations(Query):
    """Every allocation matching the filters, as CSV text (newest first)."""

    permission = INQUIRY
    action = "export company fund allocations"
    filters: ListAllocations = Field(default_factory=ListAllocations)
    limit: Annotated[int, WholeNumber(1, 1_000_000)] = 100_000


class GetAllocation(Query):
    permission = INQUIRY
    action = "view company fund allocations"
    order_no: str


class TriggerDTO(DTO):
    trigger_key: str
    trigger: str
    decided_at: datetime
    fire_at: datetime | None
    event_id: int | None
    outcome: str
    allocation_order_no: str | None
    explanation: dict[str, Any]


class ExplainTriggers(Query):
    """Decided triggers, newest first: for each, the rules considered, the one chosen,
    and why each other one was not.  Filter by an allocation's order number, an event
    id, or a rule."""

    permission = INQUIRY
    action = "view company fund allocations"
    order_no: str | None = None
    event_id: Id | None = None
    rule_id: Id | None = None
    limit: Annotated[int, WholeNumber(1, 500)] = 50


_src = channel_accounts.alias("src")
_dst = channel_accounts.alias("dst")


def _select() -> Any:
    return (
        select(allocations, _src.c.account_no.label("from_account"), _dst.c.account_no.label("to_account"),
               _src.c.channel.label("channel"), allocation_rules.c.name.label("rule_name"),
               currencies.c.amount_precision.label("precision"), approvals.c.maker_id.label("maker_id"))
        .join(_src, _src.c.id == allocations.c.from_account_id)
        .join(_dst, _dst.c.id == allocations.c.to_account_id)
        .join(currencies, currencies.c.code == allocations.c.currency)
        .outerjoin(allocation_rules, allocation_rules.c.id == allocations.c.rule_id)
        .outerjoin(approvals, approvals.c.id == allocations.c.approval_id)
    )


def allocation_dto(r: Any) -> AllocationDTO:
    return AllocationDTO(
        id=r.id, order_no=r.order_no, origin=r.origin, created_at=r.created_at, updated_at=r.updated_at,
        amount=r.amount, currency=r.currency, precision=r.precision, from_account_id=r.from_account_id,
        from_account=r.from_account, to_account_id=r.to_account_id, to_account=r.to_account, channel=r.channel,
        trigger=r.trigger, rule_id=r.rule_id, rule_name=r.rule_name, status=r.status,
        failure_reason=r.failure_reason, attempt=r.attempt, maker=r.maker, checker=r.checker, remarks=r.remarks,
        approval_id=r.approval_id, maker_id=r.maker_id,
    )


async def get_allocation(uow: UnitOfWork, *where: Any) -> AllocationDTO:
    row = (await uow.conn.execute(_select().where(*where))).first()
    if row is None:
        raise NotFound("That allocation does not exist.")
    return allocation_dto(row)


def _filtered(q: ListAllocations) -> Any:
    stmt = _select()
    c = allocations.c
    if q.status:
        stmt = stmt.where(c.status == q.status)
    if q.origin:
        stmt = stmt.where(c.origin == q.origin)
    if q.currency:
        stmt = stmt.where(c.currency == q.currency.upper())
    if q.account_id is not None:
        stmt = stmt.where((c.from_account_id == q.account_id) | (c.to_account_id == q.account_id))
    if q.rule_id is not None:
        stmt = stmt.where(c.rule_id == q.rule_id)
    if q.order_no:
        stmt = stmt.where(c.order_no == q.order_no.strip().upper())
    if q.created_from is not None:
        stmt = stmt.where(c.created_at >= q.created_from)
    if q.created_to is not None:
        stmt = stmt.where(c.created_at < q.created_to)
    return stmt


@handles(ListAllocations)
async def list_allocations(uow: UnitOfWork, q: ListAllocations) -> AllocationPage:
    page = await keyset_page(uow.conn, _filtered(q), allocations.c.id, q.page_request)
    return AllocationPage(rows=tuple(allocation_dto(r) for r in page.rows), next_before_id=page.older_before_id,
                          newer_after_id=page.newer_after_id)


@handles(GetAllocation)
async def get_allocation_query(uow: UnitOfWork, q: GetAllocation) -> AllocationDTO:
    return await get_allocation(uow, allocations.c.order_no == q.order_no)


CSV_COLUMNS = (
    "created_at_utc", "order_no", "origin", "status", "currency", "amount", "from_account", "to_account", "channel",
    "trigger", "rule_id", "rule_name", "failure_reason", "maker", "checker", "remarks", "updated_at_utc",
)


@handles(ExportAllocations)
async def export_allocations(uow: UnitOfWork, q: ExportAllocations) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    result = await uow.conn.stream(_filtered(q.filters).order_by(allocations.c.id.desc()).limit(q.limit))
    async for r in result:
        a = allocation_dto(r)
        writer.writerow((
            f"{a.created_at:%Y-%m-%d %H:%M:%S}", a.order_no, a.origin, a.status, a.currency,
            f"{a.amount:.{a.precision}f}", a.from_account, a.to_account, a.channel, a.trigger,
            a.rule_id if a.rule_id is not None else "", a.rule_name or "", a.failure_reason or "", a.maker,
            a.checker or "", a.remarks, f"{a.updated_at:%Y-%m-%d %H:%M:%S}",
        ))
    return out.getvalue()


@handles(ExplainTriggers)
async def explain_triggers(uow: UnitOfWork, q: ExplainTriggers) -> tuple[TriggerDTO, ...]:
    t = allocation_triggers
    stmt = select(t, allocations.c.order_no).outerjoin(allocations, allocations.c.id == t.c.allocation_id)
    if q.order_no:
        stmt = stmt.where(allocations.c.order_no == q.order_no.strip().upper())
    if q.event_id is not None:
        stmt = stmt.where(t.c.event_id == q.event_id)
    rows = await uow.conn.execute(stmt.order_by(t.c.id.desc()).limit(q.limit if q.rule_id is None else 5000))
    out = []
    for r in rows:
        explanation = json.loads(r.explanation)
        if q.rule_id is not None and all(c["rule"] != q.rule_id for c in explanation.get("considered", ())):
            continue
        out.append(TriggerDTO(trigger_key=r.trigger_key, trigger=r.trigger, decided_at=r.decided_at,
                              fire_at=r.fire_at, event_id=r.event_id, outcome=r.outcome,
                              allocation_order_no=r.order_no, explanation=explanation))
        if len(out) >= q.limit:
            break
    return tuple(out)

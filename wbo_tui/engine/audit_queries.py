"""Reading the audit log: filtered, keyset-paged from the database, never loaded whole."""

from __future__ import annotations

from typing import Annotated

from sqlalchemy import select

from . import audit
from .commands import Query, handles
from .dto import AuditPage, AuditRecordDTO, AuditVerifyDTO
from .schema import audit_log
from .types import UtcMoment
from .uow import UnitOfWork
from .whole_numbers import PageSize, WholeNumber


class QueryAuditLog(Query):
    """One page of the audit log, newest first.

    Paging is by sequence number (keyset), so page 10,000 costs what page 1 costs.
    """

    permission = "admin.audit_log_inquiry"
    action = "view the audit log"
    operator: str | None = None
    action_prefix: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: UtcMoment | None = None
    until: UtcMoment | None = None
    older_than: Annotated[int, WholeNumber()] | None = None
    newer_than: Annotated[int, WholeNumber()] | None = None
    page_size: PageSize = 100


def _filtered(q: QueryAuditLog):  # noqa: ANN202
    stmt = select(audit_log)
    if q.operator:
        stmt = stmt.where(audit_log.c.operator == q.operator)
    if q.action_prefix:
        stmt = stmt.where(audit_log.c.action.startswith(q.action_prefix, autoescape=True))
    if q.target_type:
        stmt = stmt.where(audit_log.c.target_type == q.target_type)
    if q.target_id:
        stmt = stmt.where(audit_log.c.target_id == q.target_id)
    if q.since:
        stmt = stmt.where(audit_log.c.at >= q.since)
    if q.until:
        stmt = stmt.where(audit_log.c.at < q.until)
    return stmt


def _dto(row) -> AuditRecordDTO:  # noqa: ANN001
    return AuditRecordDTO(
        seq=row.seq, at=row.at, operator=row.operator, action=row.action, target_type=row.target_type,
        target_id=row.target_id, before=row.before, after=row.after,
    )


@handles(QueryAuditLog)
async def query_audit_log(uow: UnitOfWork, q: QueryAuditLog) -> AuditPage:
    base = _filtered(q)
    # Fetch one extra row to learn whether another page exists beyond this one.
    if q.newer_than is not None:
        rows = list((await uow.conn.execute(
            base.where(audit_log.c.seq > q.newer_than).order_by(audit_log.c.seq.asc()).limit(q.page_size + 1)
        )).all())
        has_newer = len(rows) > q.page_size
        rows = list(reversed(rows[: q.page_size]))
        anchor = rows[-1].seq if rows else q.newer_than + 1
        has_older = (await uow.conn.execute(
            base.with_only_columns(audit_log.c.seq).where(audit_log.c.seq < anchor).limit(1)
        )).first() is not None
    else:
        stmt = base
        if q.older_than is not None:
            stmt = stmt.where(audit_log.c.seq < q.older_than)
        rows = list((await uow.conn.execute(stmt.order_by(audit_log.c.seq.desc()).limit(q.page_size + 1))).all())
        has_older = len(rows) > q.page_size
        rows = rows[: q.page_size]
        has_newer = q.older_than is not None
    return AuditPage(records=tuple(_dto(r) for r in rows), has_older=has_older, has_newer=has_newer)


class VerifyAuditLog(Query):
    """Walk the chain under this console's key and check the append-only triggers.  The
    anchor file is checked by ``wbo-tui audit verify``, which runs as the service account
    that owns it."""

    permission = "admin.audit_log_inquiry"
    action = "verify the audit log"


@handles(VerifyAuditLog)
async def verify_audit_log(uow: UnitOfWork, q: VerifyAuditLog) -> AuditVerifyDTO:
    report = await audit.verify(uow.conn, key=uow.services.audit_key)
    return AuditVerifyDTO(
        ok=report.ok, records_checked=report.records_checked, first_broken_seq=report.first_broken_seq,
        sentence=report.sentence,
    )

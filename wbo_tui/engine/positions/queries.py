"""Positions: what the Positions screen lists, and the thresholds set on them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import func, select, update

from ..commands import Command, Query, handles
from ..currencies import load_currency
from ..dto import DTO
from ..errors import NotFound, ValidationFailed
from ..money import DecimalAmount
from ..schema import currencies
from ..types import UtcMoment
from ..uow import UnitOfWork
from ..whole_numbers import Id, Offset, PageSize
from .levels import apply_level, level_for
from .reservations import committed_out
from .tables import channel_accounts, poll_runs, positions

QUERY = "assets.position_anagement_inquiry_query"
OPERATION = "assets.position_anagement_inquiry_operation"


class PositionDTO(DTO):
    channel_account_id: int
    channel: str
    account_no: str
    currency: str
    currency_type: str
    scenario: str
    available: Decimal | None
    in_transit: Decimal | None
    total: Decimal | None
    as_of: datetime | None
    polled_at: datetime | None
    poll_status: str
    poll_error: str | None
    threshold_alert: Decimal | None
    threshold_blocking: Decimal | None
    level: str
    amount_precision: int
    attempted_at: datetime | None = None
    """When a poll last asked for this account's balance, answered or not (None: never):
    ``polled_at`` is the last answer, ``poll_status`` and ``poll_error`` this attempt's outcome."""
    committed: Decimal = Decimal(0)
    """Committed out of the account and not yet settled (approved withdrawals, allocations
    in flight, settlements no poll shows yet): what approvals count on top of their own
    amount (``reservations``)."""


class PositionPage(DTO):
    rows: tuple[PositionDTO, ...]
    total_rows: int
    offset: int
    last_poll_at: datetime | None
    """The last balance any account was answered with (the last success)."""
    last_attempt_at: datetime | None = None
    """When the last finished poll ran, whatever its outcome, and how many accounts it
    answered and failed: a failure after a success is never shown as the success."""
    last_attempt_ok: int = 0
    last_attempt_failed: int = 0


SortKey = Literal["account", "currency", "available", "in_transit", "total", "updated", "level"]


class ListPositions(Query):
    """Positions filtered in SQL, sorted exactly (Decimal) and paged.

    One row per channel account; a deployment holds thousands, not millions, so sorting
    amounts in Python after the SQL filter is exact and cheap.
    """

    permission = QUERY
    action = "query positions"
    currency: str | None = None
    currency_type: Literal["fiat", "crypto"] | None = None
    channel: str | None = None
    updated_since: UtcMoment | None = None
    updated_until: UtcMoment | None = None
    sort_by: SortKey = "account"
    descending: bool = False
    offset: Offset = 0
    limit: PageSize = 100


def _row_dto(r: Any) -> PositionDTO:
    return PositionDTO(
        channel_account_id=r.id, channel=r.channel, account_no=r.account_no, currency=r.currency,
        currency_type=r.currency_type, scenario=r.scenario, available=r.available, in_transit=r.in_transit,
        total=r.total, as_of=r.as_of, polled_at=r.polled_at, poll_status=r.poll_status, poll_error=r.poll_error,
        threshold_alert=r.threshold_alert, threshold_blocking=r.threshold_blocking, level=r.level,
        amount_precision=r.amount_precision,
        # A position's updated_at is written by the polls alone (and at creation, still NEVER).
        attempted_at=r.updated_at if r.poll_status != "NEVER" else None,
    )


def _joined() -> Any:
    """Positions with their accounts, and each currency's precision by join: currencies
    are data (one may be added at any time), so they are read with the rows, not cached."""
    return select(
        channel_accounts.c.id, channel_accounts.c.channel, channel_accounts.c.account_no, channel_accounts.c.currency,
        channel_accounts.c.currency_type, channel_accounts.c.scenario, positions.c.available, positions.c.in_transit,
        positions.c.total, positions.c.as_of, positions.c.polled_at, positions.c.poll_status, positions.c.poll_error,
        positions.c.threshold_alert, positions.c.threshold_blocking, positions.c.level, positions.c.updated_at,
        currencies.c.amount_precision,
    ).join(positions, positions.c.channel_account_id == channel_accounts.c.id).join(
        currencies, currencies.c.code == channel_accounts.c.currency
    )


_SORT = {
    "account": lambda p: (p.channel, p.account_no, p.currency),
    "currency": lambda p: (p.currency, p.channel, p.account_no),
    "available": lambda p: (p.available is None, p.available or Decimal(0)),
    "in_transit": lambda p: (p.in_transit is None, p.in_transit or Decimal(0)),
    "total": lambda p: (p.total is None, p.total or Decimal(0)),
    "updated": lambda p: (p.polled_at is None, p.polled_at.timestamp() if p.polled_at else 0),
    "level": lambda p: ({"BLOCKING": 0, "ALERT": 1, "NORMAL": 2}[p.level], p.channel, p.account_no),
}


@handles(ListPositions)
async def list_positions(uow: UnitOfWork, q: ListPositions) -> PositionPage:
    stmt = _joined()
    if q.currency:
        stmt = stmt.where(channel_accounts.c.currency == q.currency.upper())
    if q.currency_type:
        stmt = stmt.where(channel_accounts.c.currency_type == q.currency_type)
    if q.channel:
        stmt = stmt.where(channel_accounts.c.channel == q.channel)
    if q.updated_since:
        stmt = stmt.where(positions.c.polled_at >= q.updated_since)
    if q.updated_until:
        stmt = stmt.where(positions.c.polled_at < q.updated_until)
    rows = [_row_dto(r) for r in await uow.conn.execute(stmt)]
    rows.sort(key=_SORT[q.sort_by], reverse=q.descending)
    last = (await uow.conn.execute(select(func.max(positions.c.polled_at)))).scalar()
    attempt = (await uow.conn.execute(
        select(poll_runs.c.finished_at, poll_runs.c.accounts_ok, poll_runs.c.accounts_failed)
        .where(poll_runs.c.finished_at.is_not(None)).order_by(poll_runs.c.id.desc())
        .limit(1)
    )).first()
    page = rows[q.offset:q.offset + q.limit]
    committed = await committed_out(uow, (p.channel_account_id for p in page))  # the page's accounts only
    page = [p.model_copy(update={"committed": committed[p.channel_account_id]}) if committed[p.channel_account_id]
            else p for p in page]
    return PositionPage(rows=tuple(page), total_rows=len(rows), offset=q.offset, last_poll_at=last,
                        last_attempt_at=attempt.finished_at if attempt else None,
                        last_attempt_ok=attempt.accounts_ok or 0 if attempt else 0,
                        last_attempt_failed=attempt.accounts_failed or 0 if attempt else 0)


class SetThresholds(Command):
    """Alert and blocking thresholds of one channel account (None: not configured)."""

    permission = OPERATION
    action = "set position thresholds"
    channel_account_id: Id
    threshold_alert: DecimalAmount | None = None
    threshold_blocking: DecimalAmount | None = None


@handles(SetThresholds)
async def set_thresholds(uow: UnitOfWork, cmd: SetThresholds) -> PositionDTO:
    row = (await uow.conn.execute(_joined().where(channel_accounts.c.id == cmd.channel_account_id))).first()
    if row is None:
        raise NotFound(f"Channel account {cmd.channel_account_id} does not exist.")
    currency = await load_currency(uow, row.currency)
    for name, label in (("threshold_alert", "Alert threshold"), ("threshold_blocking", "Blocking threshold")):
        if (value := getattr(cmd, name)) is not None:
            if value < 0:
                raise ValidationFailed(label, "must not be negative")
            cmd = cmd.model_copy(update={name: currency.check_precision(value, field=label)})  # canonical text
    if (cmd.threshold_alert is not None and cmd.threshold_blocking is not None
            and cmd.threshold_blocking > cmd.threshold_alert):
        raise ValidationFailed("Blocking threshold", "must not be above the alert threshold: "
                               "blocking is the more severe level")
    if (cmd.threshold_alert, cmd.threshold_blocking) == (row.threshold_alert, row.threshold_blocking):
        raise ValidationFailed("Thresholds", "are unchanged")
    await uow.conn.execute(update(positions).where(positions.c.channel_account_id == row.id).values(
        # Not updated_at: that is the last poll attempt's time (``PositionDTO.attempted_at``);
        # the change's time is in its audit record.
        threshold_alert=cmd.threshold_alert, threshold_blocking=cmd.threshold_blocking,
    ))
    uow.record("position.thresholds", "channel_account", row.id,
               {"threshold_alert": row.threshold_alert, "threshold_blocking": row.threshold_blocking},
               {"threshold_alert": cmd.threshold_alert, "threshold_blocking": cmd.threshold_blocking})
    new = level_for(row.available, cmd.threshold_alert, cmd.threshold_blocking, row.level)
    await apply_level(uow, row, row.level, new, row.available, cmd.threshold_alert, cmd.threshold_blocking)
    fresh = (await uow.conn.execute(_joined().where(channel_accounts.c.id == row.id))).one()
    return _row_dto(fresh)

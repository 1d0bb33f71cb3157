"""Whether an allocation pass has anything to do, asked in one statement.

Every console runs a pass every couple of seconds, and nearly every pass finds nothing:
no new event, no failed trigger due for its retry, no allocation waiting for a step, no
scheduled fire time reached.  Asking each stage in turn cost about ten milliseconds of
processor time a pass (seven statements, each a hop to the driver's thread), which was
half of what an idle console used.  ``PassGate`` asks the database once: whether there
is work of the first three kinds, and a fingerprint of the scheduled rules (their number,
versions, switches and cursors).  The next fire time of the scheduled rules is computed
in memory when that fingerprint changes, and compared with the clock on every pass.

The gate only ever lets work through: a pass it opens does exactly what it did before
(each stage checks again under its own lock), and it is shut only when every stage
would have found nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, exists, func, select

from ..positions.tables import domain_events
from ..hk_calendar import hkex
from .rules import RuleDTO, load_rules
from .schedule import HONG_KONG, Schedule
from .tables import EVENT_KINDS, allocation_cursor, allocation_rules, allocation_triggers, allocations

_SCHEDULED = allocation_rules.c.trigger_kind == "schedule"
_LOOKAHEAD_DAYS = 400  # a schedule that fires on no day within this is not waited for


def _work_now() -> Any:
    t, a, e, r = allocation_triggers, allocations, domain_events, allocation_rules
    now = bindparam("now", type_=allocations.c.claim_until.type)
    cursor = select(allocation_cursor.c.last_event_id).where(allocation_cursor.c.id == 1).scalar_subquery()

    def of_rules(column: Any) -> Any:
        return select(column).where(_SCHEDULED).scalar_subquery()

    return select(
        exists().where(e.c.id > func.coalesce(cursor, 0), e.c.kind.in_(EVENT_KINDS)).label("events"),
        exists().where(t.c.retry_at <= now).label("retries"),
        exists().where(a.c.status.in_(("processing", "unknown")),
                       (a.c.claim_until.is_(None)) | (a.c.claim_until <= now)).label("transfers"),
        of_rules(func.count()).label("rules"),
        of_rules(func.sum(r.c.version)).label("versions"),
        of_rules(func.sum(case((r.c.enabled.is_(True), 1), else_=0))).label("enabled"),
        of_rules(func.max(r.c.schedule_cursor)).label("cursor"),
    )


_WORK_NOW = _work_now()  # built once: SQLAlchemy caches its compiled form


def next_fire(rule: RuleDTO, cursor: datetime) -> datetime | None:
    """The rule's first fire time after ``cursor`` (None: none within a year or so)."""
    schedule = Schedule.of_rule(rule)
    for _, fire, reason in schedule.days_from(cursor.astimezone(HONG_KONG).date()):
        if fire > cursor and reason is None:
            return fire
        if (fire - cursor).days > _LOOKAHEAD_DAYS:
            return None
    return None  # pragma: no cover - days_from never ends


class PassGate:
    """One per engine: see the module's docstring."""

    def __init__(self) -> None:
        self._rules_seen: tuple[Any, ...] | None = None
        self._next_fire: datetime | None = None
        self._now_needed = False  # a rule without a cursor, or whose schedule cannot be read

    async def has_work(self, engine: Any) -> bool:
        now = engine.clock.now()
        async with engine.db.connect() as conn:
            row = (await conn.execute(_WORK_NOW, {"now": now})).one()
            if row.events or row.retries or row.transfers:
                return True
            fingerprint = (row.rules, row.versions, row.enabled, row.cursor)
            if fingerprint != self._rules_seen:
                await self._read_schedules(conn)
                self._rules_seen = fingerprint
        return self._now_needed or (self._next_fire is not None and self._next_fire <= now)

    async def _read_schedules(self, conn: Any) -> None:
        rules = [r for r in await load_rules(_Reader(conn), _SCHEDULED) if r.enabled and r.strategy == "automatic"]
        cursors = {r.id: r.schedule_cursor for r in await conn.execute(
            select(allocation_rules.c.id, allocation_rules.c.schedule_cursor).where(_SCHEDULED))}
        if any(r.schedule_kind == "hk_trading_day" for r in rules):
            await hkex().load()  # off the event loop, once per process
        fires: list[datetime] = []
        self._now_needed = False
        for rule in rules:
            cursor = cursors.get(rule.id)
            try:
                fire = next_fire(rule, cursor) if cursor is not None else None
            except Exception:  # noqa: BLE001 - the pass's own item reports it
                fire = None
                cursor = None
            if cursor is None:
                self._now_needed = True
            elif fire is not None:
                fires.append(fire)
        self._next_fire = min(fires, default=None)


class _Reader:
    """What ``load_rules`` needs of a unit of work: its connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

"""When a scheduled rule fires: every calendar day, every HKEX trading day, or weekly on
chosen days, at a time of day in Hong Kong (UTC+8, no daylight saving).

Catch-up policy for fire times nobody ran (every console was closed, the machine slept):
the most recent missed fire time of a rule still runs if it is at most ``CATCH_UP`` old;
every other missed fire time is recorded as *missed* (visible in the explain view) and
never runs.  So a console started after a weekend runs a rule at most once, late, and only
if that is within the hour; a fixed-amount rule never pays out a backlog.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from ..hk_calendar import HONG_KONG, hkex

CATCH_UP = timedelta(hours=1)
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
MAX_MISSED_RECORDED = 50


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: str  # daily | hk_trading_day | weekly
    at: time  # Hong Kong time
    days: frozenset[int] = frozenset()  # weekly: 0 = Monday

    @classmethod
    def of(cls, kind: str, at: str, days: str | None) -> Schedule:
        hours, minutes = at.split(":")
        weekdays = frozenset(WEEKDAYS.index(d) for d in (days or "").split(",") if d)
        return cls(kind, time(int(hours), int(minutes)), weekdays)

    @classmethod
    def of_rule(cls, rule: Any) -> Schedule:
        """A scheduled rule's schedule (its ``schedule_kind``, ``schedule_time`` and
        ``schedule_days``; daily at midnight where unset)."""
        return cls.of(rule.schedule_kind or "daily", rule.schedule_time or "00:00", rule.schedule_days)

    def skip_reason(self, day: date) -> str | None:
        """Why the schedule does not fire on ``day`` (None: it fires)."""
        if self.kind == "weekly" and day.weekday() not in self.days:
            return f"not a chosen weekday ({WEEKDAYS[day.weekday()]})"
        if self.kind == "hk_trading_day":
            return hkex().skip_reason(day)
        return None

    def fire_at(self, day: date) -> datetime:
        return datetime.combine(day, self.at, HONG_KONG).astimezone(UTC)

    def days_from(self, day: date) -> Iterator[tuple[date, datetime, str | None]]:
        """Every day from ``day`` on: its fire instant and why it is skipped (or None)."""
        while True:
            yield day, self.fire_at(day), self.skip_reason(day)
            day += timedelta(days=1)

    def fire_times(self, after: datetime, until: datetime) -> list[datetime]:
        """Fire instants in (after, until], oldest first."""
        out = []
        for _, fire, reason in self.days_from(after.astimezone(HONG_KONG).date()):
            if fire > until:
                break
            if fire > after and reason is None:
                out.append(fire)
        return out

    def preview(self, start: datetime, runs: int) -> list[tuple[date, datetime, str | None]]:
        """The next ``runs`` fire times after ``start`` and every day skipped among them."""
        out: list[tuple[date, datetime, str | None]] = []
        fired = 0
        for day, fire, reason in self.days_from(start.astimezone(HONG_KONG).date()):
            if fire <= start:
                continue
            out.append((day, fire, reason))
            fired += reason is None
            if fired >= runs or len(out) > 400:
                break
        return out


def split_due(fire_times: list[datetime], now: datetime) -> tuple[datetime | None, list[datetime]]:
    """Apply the catch-up policy: (the one fire time to run, the fire times missed)."""
    if not fire_times:
        return None, []
    latest = fire_times[-1]
    if now - latest <= CATCH_UP:
        return latest, fire_times[:-1]
    return None, fire_times

"""When an exchange strategy is in service: its time periods, in Hong Kong time.

A period is the vendor's ``service_time`` item: ``time_zones`` is ``hk_trade_day`` (HKEX
trading days), ``calendar_day`` (every day) or ``week`` (chosen weekdays,
``week_interval`` such as ``"1-5"``, 1 = Monday), and ``time_rule`` a window such as
``"09:00:00-16:00:00"`` (the end is excluded; ``24:00:00`` ends at midnight).  A strategy
may have several periods; they must not overlap (the manual's rule), and the check names
the two that do.  Windows within one day only: a window past midnight is two periods.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from ..hk_calendar import HONG_KONG, hkex

TIME_ZONES = ("hk_trade_day", "calendar_day", "week")
TIME_ZONE_LABELS = {"hk_trade_day": "HK trading days", "calendar_day": "Every day", "week": "Weekly"}
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_S = 86_400
LOOK_AHEAD_DAYS = 21
"""How far ahead ``next_opening`` looks (Lunar New Year and a weekend stay inside)."""
_CLOCK = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])(?::([0-5][0-9]))?$")


class PeriodError(ValueError):
    """A period that cannot be: the message finishes "Service time <message>"."""


@dataclass(frozen=True, slots=True)
class ServicePeriod:
    time_zones: str
    start_s: int
    """Seconds after midnight, Hong Kong time."""
    end_s: int
    """Seconds after midnight, excluded; ``DAY_S`` is midnight at the end of the day."""
    weekdays: frozenset[int] = frozenset()
    """``week`` only: 0 = Monday."""

    def days_overlap(self, other: ServicePeriod) -> bool:
        """Whether some day can be in both periods' days (an HKEX trading day is a weekday)."""
        mine, theirs = self._days(), other._days()
        return bool(mine & theirs)

    def _days(self) -> frozenset[int]:
        if self.time_zones == "calendar_day":
            return frozenset(range(7))
        if self.time_zones == "hk_trade_day":
            return frozenset(range(5))
        return self.weekdays

    def overlaps(self, other: ServicePeriod) -> bool:
        return self.days_overlap(other) and self.start_s < other.end_s and other.start_s < self.end_s

    def serves_day(self, day: date) -> bool:
        if self.time_zones == "calendar_day":
            return True
        if self.time_zones == "week":
            return day.weekday() in self.weekdays
        return hkex().skip_reason(day) is None

    def label(self) -> str:
        window = f"{_clock(self.start_s)}–{_clock(self.end_s)}"
        if self.time_zones == "week":
            return f"{_weekday_text(self.weekdays)} {window}"
        return f"{TIME_ZONE_LABELS[self.time_zones]} {window}"

    def as_json(self) -> dict[str, str]:
        """The vendor's shape of one period."""
        item = {"time_zones": self.time_zones, "time_rule": f"{_clock(self.start_s, True)}-{_clock(self.end_s, True)}"}
        if self.time_zones == "week":
            item["week_interval"] = _interval_text(self.weekdays)
        return item


def _clock(seconds: int, full: bool = False) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}" if full or secs else f"{hours:02d}:{minutes:02d}"


def _weekday_text(days: frozenset[int]) -> str:
    ordered = sorted(days)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{WEEKDAY_NAMES[ordered[0]]}–{WEEKDAY_NAMES[ordered[-1]]}"
    return ",".join(WEEKDAY_NAMES[d] for d in ordered)


def _interval_text(days: frozenset[int]) -> str:
    ordered = sorted(d + 1 for d in days)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 1:
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(str(d) for d in ordered)


def _seconds(text: str) -> int:
    match = _CLOCK.match(text.strip())
    if not match:
        raise PeriodError(f"{text.strip()!r} is not a time of day such as 09:00 or 16:30:00")
    hours, minutes, secs = int(match[1]), int(match[2]), int(match[3] or 0)
    total = hours * 3600 + minutes * 60 + secs
    if total > DAY_S:
        raise PeriodError(f"{text.strip()!r} is past 24:00")
    return total


def _weekdays(text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in text.replace(" ", "").split(","):
        bounds = part.split("-")
        if not part or len(bounds) > 2 or not all(b.isdigit() and 1 <= int(b) <= 7 for b in bounds):
            raise PeriodError(f"week days {text!r} must be numbers 1–7 (1 = Monday), as 1-5 or 1,3,5")
        first, last = int(bounds[0]), int(bounds[-1])
        if first > last:
            raise PeriodError(f"week days {part!r} run backwards")
        days.update(range(first - 1, last))
    return frozenset(days)


@lru_cache(maxsize=512)
def period(time_zones: str, time_rule: str, week_interval: str = "") -> ServicePeriod:
    """One period from the vendor's fields, or ``PeriodError`` naming what is wrong.
    Memoised on the text (a pure function; every routing parses each strategy's periods;
    a refusal is not memoised, it is raised again)."""
    if time_zones not in TIME_ZONES:
        raise PeriodError(f"type {time_zones!r} must be one of {', '.join(TIME_ZONES)}")
    bounds = time_rule.split("-")
    if len(bounds) != 2:
        raise PeriodError(f"window {time_rule!r} must be start-end, such as 09:00-16:00")
    start, end = _seconds(bounds[0]), _seconds(bounds[1])
    if start >= DAY_S or end <= start:
        raise PeriodError(f"window {time_rule!r} must end after it starts, within one day")
    weekdays = _weekdays(week_interval) if time_zones == "week" else frozenset()
    if time_zones != "week" and week_interval.strip():
        raise PeriodError(f"week days apply to weekly periods only, not {TIME_ZONE_LABELS[time_zones]}")
    return ServicePeriod(time_zones, start, end, weekdays)


def from_json(items: Iterable[dict[str, Any]]) -> tuple[ServicePeriod, ...]:
    return tuple(period(i["time_zones"], i["time_rule"], i.get("week_interval", "")) for i in items)


def check_no_overlap(periods: Sequence[ServicePeriod]) -> None:
    if not periods:
        raise PeriodError("needs at least one period")
    for i, first in enumerate(periods):
        for second in periods[i + 1:]:
            if first.overlaps(second):
                raise PeriodError(f"periods overlap: {first.label()} and {second.label()}")


def in_service(periods: Sequence[ServicePeriod], moment: datetime) -> bool:
    local = moment.astimezone(HONG_KONG)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    return any(p.start_s <= seconds < p.end_s and p.serves_day(local.date()) for p in periods)


def next_opening(periods: Sequence[ServicePeriod], moment: datetime) -> datetime | None:
    """The first instant after ``moment`` at which a period opens (UTC); None when none
    opens within ``LOOK_AHEAD_DAYS``."""
    local = moment.astimezone(HONG_KONG)
    for offset in range(LOOK_AHEAD_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        starts = sorted(p.start_s for p in periods if p.serves_day(day))
        for start in starts:
            opening = datetime.combine(day, time(0), HONG_KONG) + timedelta(seconds=start)
            if opening > local:
                return opening.astimezone(UTC)
    return None


def closed_reason(periods: Sequence[ServicePeriod], moment: datetime) -> str:
    """Why a strategy is not in service at ``moment``, with its next window in HKT."""
    opening = next_opening(periods, moment)
    if opening is None:
        return f"outside service hours; no window opens in the next {LOOK_AHEAD_DAYS} days"
    local = opening.astimezone(HONG_KONG)
    return f"outside service hours; next window {local:%A %Y-%m-%d %H:%M} HKT"

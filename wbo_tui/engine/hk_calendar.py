"""Hong Kong trading days, from the maintained ``exchange_calendars`` library (XHKG), and
Hong Kong time: what allocation schedules, exchange service hours and margin-call
deadlines count in.

The library (and pandas under it) costs about half a second to import, so it is loaded
on first use, off the event loop (``load``), and its answers are kept per process: a
set of the weekdays that are not HKEX sessions, each with the holiday's name.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from datetime import date, timedelta
from zoneinfo import ZoneInfo

HONG_KONG = ZoneInfo("Asia/Hong_Kong")
"""UTC+8, no daylight saving."""

# Lunar holidays are date tables in the library, not named holidays: name them here.
_LUNAR_TABLES = (
    ("chinese_lunar_new_year_dates", "Lunar New Year", (0, 1, 2, 3)),
    ("qingming_festival_dates", "Ching Ming Festival", (0, 1, 2)),  # substitutes for a Sunday or Easter
    ("chinese_buddhas_birthday_dates", "Buddha's Birthday", (0, 1)),
    ("dragon_boat_festival_dates", "Tuen Ng Festival", (0, 1)),
    ("day_after_mid_autumn_festival_dates", "Day after Mid-Autumn Festival", (0, 1)),
    ("double_ninth_festival_dates", "Chung Yeung Festival", (0, 1)),
)


class CalendarUnavailable(Exception):
    """The calendar does not cover the date asked about."""


class HkexCalendar:
    """Which days are HKEX trading days, and why a weekday is not."""

    def __init__(self, first: date, last: date) -> None:
        self.first = first
        self.last = last
        self._closed: dict[date, str] = {}
        self._lock = threading.Lock()
        self._loaded = False

    def _load(self) -> None:
        with warnings.catch_warnings():
            # The library's own deprecation warnings (pandas 3) are not ours to act on.
            warnings.simplefilter("ignore")
            self._build()

    def _build(self) -> None:
        import exchange_calendars as xcals
        import exchange_calendars.exchange_calendar_xhkg as xhkg
        import pandas as pd

        cal = xcals.get_calendar("XHKG", start=self.first.isoformat(), end=self.last.isoformat())
        sessions = {ts.date() for ts in cal.sessions_in_range(self.first.isoformat(), self.last.isoformat())}
        names: dict[date, str] = {}
        for ts, name in cal.regular_holidays.holidays(
                pd.Timestamp(self.first), pd.Timestamp(self.last), return_name=True).items():
            names[ts.date()] = str(name)
        for table, label, offsets in _LUNAR_TABLES:
            for ts in getattr(xhkg, table):
                for offset in offsets:
                    names.setdefault(ts.date() + timedelta(days=offset), label)
        day = self.first
        closed: dict[date, str] = {}
        while day <= self.last:
            if day.weekday() < 5 and day not in sessions:
                closed[day] = f"HKEX holiday: {names.get(day, 'exchange closed')}"
            day += timedelta(days=1)
        self._closed = closed
        self._loaded = True

    def ensure_loaded(self) -> None:
        with self._lock:
            if not self._loaded:
                self._load()

    async def load(self) -> None:
        """Load in a worker thread so an event loop (the console) keeps running."""
        if not self._loaded:
            await asyncio.to_thread(self.ensure_loaded)

    def skip_reason(self, day: date) -> str | None:
        """None for a trading day; otherwise why the exchange is closed."""
        if day.weekday() >= 5:
            return "weekend"
        if not self.first <= day <= self.last:
            raise CalendarUnavailable(f"the HKEX calendar covers {self.first} to {self.last}, not {day}")
        self.ensure_loaded()
        return self._closed.get(day)


_CALENDAR: HkexCalendar | None = None


def hkex() -> HkexCalendar:
    """The process's calendar: ten years back and five ahead of when it was first asked."""
    global _CALENDAR
    if _CALENDAR is None:
        today = date.today()
        _CALENDAR = HkexCalendar(today.replace(year=today.year - 10, day=1), date(today.year + 5, 12, 31))
    return _CALENDAR

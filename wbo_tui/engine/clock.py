"""Injected time and identifiers, so tests and snapshots are deterministic."""

from __future__ import annotations

import itertools
import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


# Durations (timeouts, delays, intervals) in seconds.  Not money: money is Decimal.
Seconds = float


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **kwargs: Seconds) -> None:
        self._now += timedelta(**kwargs)

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


class IdGenerator(Protocol):
    def new_ref(self, prefix: str) -> str:
        """A new unique business reference such as ``PR-…``."""
        ...


class UuidIds:
    def new_ref(self, prefix: str) -> str:
        # 64 random bits, as uuid4().hex[:16] gave, from the ``random`` module (seeded from
        # os.urandom, reseeded in a forked child): references must be unique, not secret,
        # and a batch makes thousands of them.
        return f"{prefix}-{random.getrandbits(64):016X}"


class SequentialIds:
    """Deterministic references for tests and snapshots: PR-000001, PR-000002…"""

    def __init__(self, start: int = 1) -> None:
        self._counter = itertools.count(start)
        self._lock = threading.Lock()

    def new_ref(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}-{next(self._counter):06d}"

"""Moments as the console shows them and reads them: UTC, to the second or the minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wbo_tui.engine import ValidationFailed

MOMENT_FORMATS = (("%Y-%m-%d %H:%M", timedelta(minutes=1)), ("%Y-%m-%dT%H:%M", timedelta(minutes=1)),
                  ("%Y-%m-%d", timedelta(days=1)))


def when(moment: Any) -> str:
    """A stored moment as a table shows it (UTC, to the second); blank for none."""
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"


def parse_moment(field: str, text: str, *, upper: bool) -> datetime | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM``, UTC.  Both bounds are inclusive of what was
    typed: ``until 2026-11-19`` includes that whole day, so the exclusive bound returned
    for ``upper`` is the start of the next day (or minute)."""
    text = text.strip()
    if not text:
        return None
    for fmt, step in MOMENT_FORMATS:
        try:
            moment = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
        return moment + step if upper else moment
    raise ValidationFailed(field, "must be YYYY-MM-DD or YYYY-MM-DD HH:MM (UTC)")

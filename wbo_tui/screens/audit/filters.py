"""Turning the audit filter fields into query values, with sentences for bad input."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from wbo_tui.engine import ValidationFailed
from wbo_tui.widgets.moments import parse_moment

@dataclass(frozen=True, slots=True)
class AuditFilters:
    operator: str | None = None
    action_prefix: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    """Exclusive upper bound, already moved past the minute or day the operator typed."""
    since_text: str = ""
    until_text: str = ""

    def describe(self) -> str:
        """The filters in force, as the operator typed them."""
        parts = [f"{label} {value}" for label, value in (
            ("operator", self.operator), ("action prefix", self.action_prefix and f'"{self.action_prefix}"'),
            ("target type", self.target_type), ("target id", self.target_id),
            ("since", self.since_text), ("until", self.until_text),
        ) if value]
        return "Filters: " + ", ".join(parts) if parts else "No filters"


def parse_filters(operator: str, action_prefix: str, target_type: str, target_id: str,
                  since: str, until: str) -> AuditFilters:
    start = parse_moment("Since", since, upper=False)
    end = parse_moment("Until", until, upper=True)
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("Until", "must not be before Since")
    return AuditFilters(
        operator=operator.strip() or None, action_prefix=action_prefix.strip() or None,
        target_type=target_type.strip() or None, target_id=target_id.strip() or None,
        since=start, until=end, since_text=since.strip(), until_text=until.strip(),
    )

"""The allocation records' filter fields as the engine's query, with sentences for bad input."""

from __future__ import annotations

from wbo_tui.engine import ValidationFailed
from wbo_tui.engine.allocations import ListAllocations

PAGE_SIZE = 50
STATUSES = ("pending_approval", "processing", "succeeded", "failed", "rejected", "unknown")
ORIGINS = ("automatic", "manual")


def parse_allocation_filters(status: str, origin: str, currency: str, order_no: str) -> ListAllocations:
    """The filter fields as the engine's query; a bad value is refused naming its field."""
    chosen_status = status.strip().lower().replace(" ", "_") or None
    if chosen_status is not None and chosen_status not in STATUSES:
        raise ValidationFailed("Status", "must be one of " + ", ".join(s.replace("_", " ") for s in STATUSES))
    chosen_origin = origin.strip().lower() or None
    if chosen_origin is not None and chosen_origin not in ORIGINS:
        raise ValidationFailed("Origin", "must be automatic or manual")
    return ListAllocations(status=chosen_status, origin=chosen_origin, currency=currency.strip().upper() or None,
                           order_no=order_no.strip().upper() or None, page_size=PAGE_SIZE)


def describe_filters(q: ListAllocations) -> str:
    parts = [f"{label} {value}" for label, value in (
        ("status", q.status and q.status.replace("_", " ")), ("origin", q.origin), ("currency", q.currency),
        ("order no", q.order_no),
    ) if value]
    return "Filters: " + ", ".join(parts) if parts else "No filters"

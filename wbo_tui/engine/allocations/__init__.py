"""Fund allocation (position-management.txt): rules, automatic allocations on schedules
and events, manual allocations with maker-checker approval, and the allocation records."""

from __future__ import annotations

from . import manual, records, rules  # noqa: F401  (registers handlers)
from .manual import BalancePreview, BalancePreviewDTO, CreateManualAllocation, RetryAllocation
from .records import (
    AllocationDTO,
    AllocationPage,
    ExplainTriggers,
    ExportAllocations,
    GetAllocation,
    ListAllocations,
    TriggerDTO,
)
from .rules import (
    CreateAllocationRule,
    EditAllocationRule,
    GetAllocationRule,
    ListAllocationRules,
    PreviewRuleEdit,
    PreviewSchedule,
    RuleChange,
    RuleDTO,
    RuleEditPreviewDTO,
    ScheduleDayDTO,
)
from .triggers import PassReport

__all__ = [name for name in dir() if not name.startswith("_")]

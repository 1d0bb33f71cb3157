"""Scheduled passes: one failing item never stops a pass.

Every console process runs passes over work items on a timer: allocations to drive at
their channels, channels to poll, alert deliveries to send (and the exchanges and margin
calls of later releases).  An item can fail in ways nobody planned for: a channel whose
store cannot be opened, a garbled answer, a bug.  Before this module such an exception
ended the pass in every console, every pass, and everything queued behind the item waited.

The rule, for every pass:

- each item runs through ``PassRun.item`` (or ``PassRun.item_in_unit`` when the item is a
  slice of a larger transaction), which catches ``Exception`` (never ``BaseException``:
  cancellation and interpreter exit must propagate), logs it with its stack and turns it
  into an ``ItemFailure`` carrying a one-line sentence for the operator;
- the pass records that sentence where the operator looks for the item (the allocation
  record's failure reason, the position's poll error, the delivery's last error, an
  "error" row in the allocation explain view), with the item's next attempt time from a
  ``Backoff``;
- the pass skips items whose next attempt time has not come, and goes on with the rest.

A healthy item costs nothing extra: the catch is a ``try`` block, and the failure is
written only when there is one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import WboError

if TYPE_CHECKING:
    from .uow import UnitOfWork

log = logging.getLogger(__name__)

T = TypeVar("T")
ERROR_MAX = 300  # the error columns of allocations and positions hold 300 characters


def one_line(exc: BaseException, limit: int = ERROR_MAX) -> str:
    """What went wrong, as one line an operator can read: a business error's own
    sentence, or the kind and text of an unexpected one (its stack is in the log)."""
    if isinstance(exc, WboError):
        text = exc.message
    else:
        detail = str(exc)
        kind = type(exc).__name__
        text = f"Internal error ({kind}: {detail})" if detail else f"Internal error ({kind})"
        text += "; details are in the console log."
    text = " ".join(text.split())  # a multi-line message (SQL, tracebacks) stays one line
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait after the 1st, 2nd, … consecutive failure of an item: the listed
    delays in turn, then ``cap_s`` (no delay ever exceeds ``cap_s``)."""

    backoff_s: tuple[float, ...] = (30, 120, 600, 1800)
    cap_s: float = 3600  # seconds, not money

    def __post_init__(self) -> None:
        if not self.backoff_s or min(self.backoff_s) < 0 or self.cap_s < 0:
            raise ValueError("back-off delays must be given and not negative")

    @classmethod
    def doubling(cls, first: timedelta, cap: timedelta) -> Backoff:
        """``first``, then twice as long after each further failure, up to ``cap``."""
        first_s, cap_s = first.total_seconds(), cap.total_seconds()
        steps = [first_s]
        while steps[-1] * 2 < cap_s:
            steps.append(steps[-1] * 2)
        return cls(tuple(steps), max(cap_s, first_s))

    def delay_after(self, failures: int) -> timedelta:
        """The wait after ``failures`` consecutive failures (1 for the first)."""
        assert failures >= 1, failures
        index = failures - 1
        seconds = self.backoff_s[index] if index < len(self.backoff_s) else self.cap_s
        return timedelta(seconds=min(seconds, self.cap_s))

    def next_attempt(self, now: datetime, failures: int) -> datetime:
        return now + self.delay_after(failures)


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """One item that failed in a pass: which, and the operator's one-line sentence."""

    item: str
    error: str
    exception: Exception


@dataclass(slots=True)
class PassRun:
    """One run of a pass: isolates each item and keeps the failures for the report."""

    name: str
    failures: list[ItemFailure] = field(default_factory=list)

    async def item(
        self,
        item: str,
        work: Callable[[], Awaitable[T]],
        *,
        record: Callable[[ItemFailure], Awaitable[Any]] | None = None,
        limit: int = ERROR_MAX,
    ) -> T | ItemFailure:
        """Run ``work`` for ``item``; its result, or the ``ItemFailure`` it became.

        ``record`` writes the failure where the operator sees it (its own transaction: the
        item's own one, if any, is gone).  It may fail too, typically when the database is
        what failed; that is logged and the pass still goes on."""
        try:
            return await work()
        except Exception as exc:  # noqa: BLE001 - the point: one item never stops the pass
            failure = self._failed(item, exc, limit)
        if record is not None:
            try:
                await record(failure)
            except Exception:  # noqa: BLE001 - the failure is logged above; the pass goes on
                log.exception("%s: could not record the failure of %s", self.name, item)
        return failure

    async def item_in_unit(
        self, uow: UnitOfWork, item: str, work: Callable[[], Awaitable[T]], *, limit: int = ERROR_MAX
    ) -> T | ItemFailure:
        """``item`` for work that is one slice of the caller's transaction ``uow``: it runs
        inside a savepoint, so a failure undoes exactly its own writes, audit records and
        after-commit work, and the rest of the transaction commits."""
        audited, queued = len(uow._audit), len(uow.after_commit)
        try:
            async with uow.conn.begin_nested():
                return await work()
        except Exception as exc:  # noqa: BLE001 - as in ``item``
            del uow._audit[audited:]
            del uow.after_commit[queued:]
            return self._failed(item, exc, limit)

    def _failed(self, item: str, exc: Exception, limit: int) -> ItemFailure:
        failure = ItemFailure(item, one_line(exc, limit), exc)
        if isinstance(exc, WboError):
            # An operating error with its own sentence (a channel down): no stack needed.
            log.warning("%s: %s failed: %s", self.name, item, failure.error)
        else:
            log.error("%s: %s failed", self.name, item, exc_info=exc)
        self.failures.append(failure)
        return failure

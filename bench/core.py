"""What every benchmark returns, and how results are printed.

A benchmark compares the console against a baseline measured in the same run, on the
same machine, so the figure that matters is a ratio, not an absolute time that depends
on the hardware.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


class BenchmarkUnavailable(Exception):
    """The benchmark cannot run yet (for instance the code it measures does not exist)."""


@dataclass(frozen=True, slots=True)
class Series:
    """Repeated measurements of one figure, in seconds."""

    label: str
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


@dataclass(frozen=True, slots=True)
class Goal:
    """The goal on the ratio subject/baseline of medians: ``ratio <= max_ratio``."""

    max_ratio: float
    statement: str

    def met(self, ratio: float) -> bool:
        return ratio <= self.max_ratio


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    description: str
    subject: Series
    baseline: Series
    goal: Goal
    details: tuple[Series, ...] = ()
    """Further figures (phases, process exit) shown for diagnosis; not part of the ratio."""
    notes: tuple[str, ...] = field(default=())

    @property
    def ratio(self) -> float:
        return self.subject.median / self.baseline.median

    @property
    def met(self) -> bool:
        return self.goal.met(self.ratio)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def format_result(result: Result) -> str:
    rows: Sequence[Series] = (result.baseline, result.subject, *result.details)
    width = max(len(s.label) for s in rows)
    lines = [
        f"== {result.name}: {result.description}",
        f"   {'figure':<{width}}  {'median':>10}  {'min':>10}  {'max':>10}  {'n':>3}",
    ]
    for s in rows:
        lines.append(
            f"   {s.label:<{width}}  {_ms(s.median):>10}  {_ms(s.min):>10}  {_ms(s.max):>10}  {len(s.samples):>3}"
        )
    verdict = "MET" if result.met else "NOT MET"
    lines.append(
        f"   RATIO {result.subject.label} / {result.baseline.label} (medians) = {result.ratio:.2f}"
        f"   goal <= {result.goal.max_ratio:.2f}: {verdict}"
    )
    lines += [f"   note: {note}" for note in result.notes]
    return "\n".join(lines)


def format_summary(results: dict[str, Result | str]) -> str:
    width = max([len("benchmark"), *(len(n) for n in results)])
    lines = [f"{'benchmark':<{width}}  {'ratio':>6}  {'goal':>7}  status"]
    for name, outcome in results.items():
        if isinstance(outcome, Result):
            status = "met" if outcome.met else "NOT MET"
            lines.append(f"{name:<{width}}  {outcome.ratio:>6.2f}  {'<= ' + format(outcome.goal.max_ratio, '.2f'):>7}  {status}")
        else:
            lines.append(f"{name:<{width}}  {'-':>6}  {'-':>7}  {outcome}")
    return "\n".join(lines)

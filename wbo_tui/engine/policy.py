"""Security policy values the engine enforces (set from the console's settings)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SecurityPolicy:
    lockout_threshold: int = 5
    """Consecutive failed password checks that lock an operator account."""
    lockout_duration_s: int = 900
    """How long a locked account stays locked unless an administrator unlocks it."""
    password_min_length: int = 10
    """Shortest password accepted when one is set or changed."""
    session_max_age_s: int = 12 * 3600
    """A session's absolute lifetime: after it, the operator logs in again (a shift)."""

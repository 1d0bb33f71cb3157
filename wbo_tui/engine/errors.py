"""Typed business errors.  Each carries the sentence the operator reads.

Anything else raised inside the engine is a programming error; the console reports
it as an internal error without showing a traceback to the operator.
"""

from __future__ import annotations


class WboError(Exception):
    """A business failure; ``str(error)`` is the operator-facing sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(WboError):
    """Operator input broke a rule; names the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field} {rule}.")
        self.field = field
        self.rule = rule


class PermissionDenied(WboError):
    def __init__(self, permission: str, action: str | None = None) -> None:
        what = f" to {action}" if action else ""
        super().__init__(f"You need the permission {permission}{what}. You can file a permission request.")
        self.permission = permission


class NotAuthenticated(WboError):
    pass


class AuthenticationFailed(WboError):
    pass


class AccountLocked(WboError):
    pass


class NotFound(WboError):
    pass


class Conflict(WboError):
    """The request clashes with the current state (duplicate, stale, already decided)."""


class AlreadyDecided(Conflict):
    pass


class MakerCheckerViolation(WboError):
    pass


class SchemaOutOfDate(WboError):
    pass

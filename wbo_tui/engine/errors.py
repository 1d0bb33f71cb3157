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


class InvalidInput(ValidationFailed, ValueError):
    """A command or query could not be built from what it was given.

    Raised instead of pydantic's ``ValidationError`` wherever a command or query is
    constructed (directly, with ``commands.build`` or from a stored payload), so every bad
    input at the engine's boundary is the engine's own field-named error.  It is a
    ``ValueError`` too, as pydantic's error is: code written against that keeps catching it,
    and a command built inside another model's validator becomes that field's error.
    """

    def __init__(self, field: str, rule: str, *, model: str, field_name: str, path: tuple[str | int, ...]) -> None:
        super().__init__(field, rule)
        self.model = model
        self.field_name = field_name
        """The model's own field at fault (its Python name), or "" for a whole-model rule."""
        self.path = path
        """Where inside that field, as pydantic locates it: ("edit", "amount"), ("message_ids", 3)."""


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


class SessionLocked(WboError):
    """The session is suspended by the idle lock: only the operator's password resumes it."""


class PasswordChangeRequired(WboError):
    """The operator's password was set by an administrator: it must be changed first."""

"""Command and query base classes and the handler registry.

A command is a pydantic model naming the permission it needs; its handler receives a
unit of work (one transaction) and the command.  The engine checks the permission inside
that transaction before the handler runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, StringConstraints
from pydantic_core import core_schema

from .uow import UnitOfWork


class Command(BaseModel):
    """A request to change state.  ``permission`` None means any active operator."""

    # defer_build: a model's validator is built on first use, not at import, which keeps
    # console start-up fast (dozens of commands, few used in any one session).
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, defer_build=True)
    permission: ClassVar[str | None]
    action: ClassVar[str]


class Query(BaseModel):
    """A request to read state."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, defer_build=True)
    permission: ClassVar[str | None]
    action: ClassVar[str]


# Commands strip surrounding whitespace from text fields, except passwords: what the
# operator typed is what must later log in.
Secret = Annotated[str, StringConstraints(strip_whitespace=False)]


@dataclass(frozen=True, slots=True)
class RequiredText:
    """Marks a text field that must hold more than blanks (a reason, a note):
    ``reason: Annotated[str, RequiredText(" when rejecting")]``.  ``hint`` finishes the
    operator's sentence, "<Field> is required<hint>", so each form keeps its own wording.
    """

    hint: str = ""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def _check(self, value: str) -> str:
        if not value.strip():
            raise ValueError(f"is required{self.hint}")
        return value

Handler = Callable[[UnitOfWork, Any], Awaitable[Any]]
COMMAND_HANDLERS: dict[type[Command], Handler] = {}
QUERY_HANDLERS: dict[type[Query], Handler] = {}

C = TypeVar("C", bound=Callable[..., Awaitable[Any]])


def handles(message_type: type[Command] | type[Query]) -> Callable[[C], C]:
    def register(fn: C) -> C:
        table: dict[Any, Handler] = COMMAND_HANDLERS if issubclass(message_type, Command) else QUERY_HANDLERS
        if message_type in table:
            raise RuntimeError(f"{message_type.__name__} has two handlers")
        table[message_type] = fn
        return fn

    return register


M = TypeVar("M", bound=BaseModel)


def build(model: type[M], **fields: Any) -> M:
    """Build a command from operator input, turning pydantic's errors into one
    operator-facing sentence that names the field and the rule."""
    from pydantic import ValidationError

    from .errors import ValidationFailed

    try:
        return model(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or model.__name__
        label = name.replace("_", " ").capitalize()
        rule = first["msg"]
        if rule.startswith("Value error, "):
            rule = rule[len("Value error, "):]
        raise ValidationFailed(label, rule[:1].lower() + rule[1:].rstrip(".")) from None

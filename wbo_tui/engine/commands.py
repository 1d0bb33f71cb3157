"""Command and query base classes and the handler registry.

A command is a pydantic model naming the permission it needs; its handler receives a
unit of work (one transaction) and the command.  The engine checks the permission inside
that transaction before the handler runs.

Building a command or query from bad input raises the engine's ``InvalidInput`` (a
``ValidationFailed`` naming the field and the rule), never pydantic's ``ValidationError``:
however it is built, directly, through ``build`` or from a stored approval payload.
Numeric fields use the bounded types of ``whole_numbers`` (ids, counts) and ``money``
(amounts), which take ASCII digits only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, StringConstraints, ValidationError
from pydantic_core import core_schema

from .errors import InvalidInput
from .uow import UnitOfWork


class _Message(BaseModel):
    """What commands and queries share: frozen, no unknown fields, and the engine's own
    error for bad input from every way of building one."""

    # defer_build: a model's validator is built on first use, not at import, which keeps
    # console start-up fast (dozens of commands, few used in any one session).
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True, defer_build=True)

    def __init__(self, /, **data: Any) -> None:  # noqa: ANN401
        try:
            super().__init__(**data)
        except ValidationError as error:
            raise invalid_input(type(self), error) from None

    # Tells pydantic this __init__ only wraps its own (as RootModel's does): otherwise
    # validating a model (model_validate, or one nested in another) would call it, and
    # the error it raises would come back wrapped as a whole-model "value error".
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:  # noqa: ANN401
        try:
            return super().model_validate(obj, **options)
        except ValidationError as error:
            raise invalid_input(cls, error) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:  # noqa: ANN401
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as error:
            raise invalid_input(cls, error) from None

    @classmethod
    def model_validate_strings(cls, obj: Any, **options: Any) -> Self:  # noqa: ANN401
        try:
            return super().model_validate_strings(obj, **options)
        except ValidationError as error:
            raise invalid_input(cls, error) from None


class Command(_Message):
    """A request to change state.  ``permission`` None means any active operator."""

    permission: ClassVar[str | None]
    action: ClassVar[str]


class Query(_Message):
    """A request to read state."""

    permission: ClassVar[str | None]
    action: ClassVar[str]


def _rule(error: Any, model: type[BaseModel]) -> str:  # noqa: ANN401
    """The rule an error breaks, as the end of the operator's sentence "<Field> <rule>."."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"is not a field of {model.__name__}"
    bounds = {"greater_than_equal": "at least", "greater_than": "greater than",
              "less_than_equal": "at most", "less_than": "less than"}
    if kind in bounds:
        limit = next(iter(ctx.values()), None)
        return f"must be {bounds[kind]} {limit}"
    if kind == "string_too_short":
        return "is required" if ctx.get("min_length") == 1 else f"needs at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"allows at most {ctx.get('max_length')} characters"
    rule: str = error["msg"]
    if rule.startswith("Value error, "):
        rule = rule[len("Value error, "):]
    elif rule.startswith("Assertion failed, "):
        rule = rule[len("Assertion failed, "):]
    return rule[:1].lower() + rule[1:].rstrip(".")


def invalid_input(model: type[BaseModel], error: ValidationError) -> InvalidInput:
    """pydantic's error as the engine's: the first problem, naming its field (as the form
    labels it: ``from_account_id`` is "From account id") and the rule."""
    first = error.errors()[0]
    path = tuple(first["loc"])
    names = [p for p in path if isinstance(p, str) and p.isidentifier()]
    field_name = path[0] if path and isinstance(path[0], str) and path[0] in model.model_fields else ""
    # The innermost field names the problem best: "Amount" for ("edit", "amount").
    label = names[-1].replace("_", " ").capitalize() if names else model.__name__
    return InvalidInput(label, _rule(first, model), model=model.__name__, field_name=field_name, path=path)


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
    """Build a command from operator input.  Commands and queries raise the engine's
    ``InvalidInput`` themselves; any other pydantic model's errors are translated here."""
    try:
        return model(**fields)
    except ValidationError as error:
        raise invalid_input(model, error) from None

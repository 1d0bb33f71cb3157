"""Strict JSON bodies for the integrations' HTTP contracts.

A contract's body is read so that nothing ambiguous gets through: a key given twice,
``NaN`` or ``Infinity``, and any JSON number at all where the contract wants decimal
strings.  Numbers are kept as ``JsonNumber`` so that the field check that meets one
refuses it by name ("quotes[0].bid must be a decimal string"): no float is ever made.
"""

from __future__ import annotations

import json
from typing import Any


class JsonNumber:
    """A JSON number as it appeared in the body, kept only to be refused by name."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def strict_loads(data: bytes | str, error: type[Exception]) -> Any:  # noqa: ANN401
    """Parse a body; the contract's ``error(message)`` (``error(message, field)`` for a
    duplicated key) is raised for a body that is not valid JSON, a duplicated key or a
    ``NaN``/``Infinity`` constant."""

    def refuse_constant(text: str) -> Any:  # noqa: ANN401
        raise error(f"JSON constant {text} is not allowed")

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise error(f"duplicate key {key!r}", key)
            result[key] = value
        return result

    try:
        return json.loads(data, parse_float=JsonNumber, parse_int=JsonNumber, parse_constant=refuse_constant,
                          object_pairs_hook=unique_keys)
    except error:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise error(f"body is not valid JSON: {exc}") from exc

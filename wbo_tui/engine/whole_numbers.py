"""Whole-number fields of commands and queries: ids, versions, priorities, page sizes.

pydantic's own ``int`` takes far more than an operator should be able to type: ``True``,
``1.0``, ``"1_000"``, ``"+5"``, ``"12.0"``, bytes, and integers of any size (an id of 10^30
reached the database driver and escaped as ``OverflowError``).  A field annotated with
``WholeNumber`` takes an ``int`` or text made of the ASCII digits 0-9 only (no sign, no
separators, no other script's digits), within bounds that fit PostgreSQL's ``INTEGER``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

INT32_MAX = 2**31 - 1
"""The largest id the database holds (PostgreSQL ``INTEGER``, the type of every id column)."""

_ASCII_DIGITS = re.compile(r"[0-9]+")
# More digits than this cannot be in range whatever the leading zeros; refused before int().
_MAX_TEXT = 20


@dataclass(frozen=True, slots=True)
class WholeNumber:
    """Marks an ``int`` field: ``limit: Annotated[int, WholeNumber(1, 1000)] = 100``.

    It replaces pydantic's integer validation entirely (a plain validator), so nothing but
    what ``_check`` accepts gets through.
    """

    low: int = 0
    high: int = INT32_MAX

    def __post_init__(self) -> None:
        assert 0 <= self.low <= self.high <= INT32_MAX, "whole-number bounds must fit the database's INTEGER"

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:  # noqa: ANN401
        return core_schema.no_info_plain_validator_function(
            self._check, json_schema_input_schema=core_schema.int_schema(ge=self.low, le=self.high),
        )

    @property
    def rule(self) -> str:
        return f"must be a whole number from {self.low:,} to {self.high:,}"

    def _check(self, value: object) -> int:
        if isinstance(value, str):
            text = value.strip()  # surrounding blanks only, as every text field of a command
            if not text:
                raise ValueError("is required")
            if not _ASCII_DIGITS.fullmatch(text):
                raise ValueError(f"{self.rule}, written with the digits 0-9 only")
            if len(text) > _MAX_TEXT:
                raise ValueError(self.rule)
            value = int(text)
        elif type(value) is not int:  # bool is an int subclass; floats and Decimals are refused
            raise ValueError(f"{self.rule}, given as a whole number or text, not {type(value).__name__}")
        if not self.low <= value <= self.high:
            raise ValueError(self.rule)
        return value


Id = Annotated[int, WholeNumber(1, INT32_MAX)]
"""A row id (an account, a rule, an approval item …): 1 to 2^31 - 1."""

Version = Annotated[int, WholeNumber(1, INT32_MAX)]
"""The version of a row an operator edited (optimistic concurrency); versions start at 1."""

PageSize = Annotated[int, WholeNumber(1, 1000)]
"""Rows in one page of a list (the most any list screen asks for at once)."""

Offset = Annotated[int, WholeNumber(0, INT32_MAX)]
"""Rows to skip before a page."""

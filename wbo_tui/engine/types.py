"""Column types that keep money exact and time in UTC on both SQLite and PostgreSQL, and
``UtcMoment``, the command field for a moment that will be compared with such a column."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator
from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine


class Amount(TypeDecorator[Decimal]):
    """An exact decimal.

    PostgreSQL stores it as unconstrained ``NUMERIC``, which keeps every digit and the
    scale.  SQLite has no decimal type (its NUMERIC affinity turns values into doubles),
    so there it is the canonical decimal text.  Floats are refused at the boundary.
    """

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Decimal]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String(64))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> object:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"Amount columns take Decimal, got {type(value).__name__}: {value!r}")
        if not value.is_finite():
            raise ValueError(f"Amount columns take finite decimals, got {value}")
        if value.is_zero():
            value = value.copy_abs()  # -0.00 and 0.00 are one amount; store one form.
        if dialect.name == "postgresql":
            return value
        # Plain notation (no exponent) so the text is readable in the sqlite3 shell.
        return format(value, "f")

    def process_result_value(self, value: object, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = Decimal(value)
        if not isinstance(value, Decimal):
            raise TypeError(f"unexpected stored amount {value!r}")
        if value.as_tuple().exponent > 0:  # type: ignore[operator]
            # asyncpg decodes 10000 as Decimal('1E+4'): same value, but not the form stored.
            value = value.quantize(Decimal(1))
        return value


class UtcDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC on both backends, returned as aware UTC."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def _utc_moment(value: datetime) -> datetime:
    """A moment given to a command or query: aware, in UTC, within the years a column holds.
    A naive one used to reach ``UtcDateTime`` and fail there as a programming error."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must name its time zone (the console's times are UTC)")
    try:
        moment = value.astimezone(UTC)
    except OverflowError:  # year 1 at UTC+14, year 9999 at UTC-12
        raise ValueError("must be between the years 1900 and 9999") from None
    if not 1900 <= moment.year <= 9999:
        raise ValueError("must be between the years 1900 and 9999")
    return moment


UtcMoment = Annotated[datetime, AfterValidator(_utc_moment)]

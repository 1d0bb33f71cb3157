"""Markups (Service Parameter > Exchange > Markup Setting): the broker's fee on a client's
exchange, as a value or a ratio, on the reference rate (applied when a request is
submitted) or on the executed rate (applied at execution, by amount tier, in an
effective period).

A markup always works in the broker's favour: the client's rate is the target currency
per unit of source currency, so the markup lowers it (VALUE: rate − bp; RATE: rate ×
(1 − bp %)), and the result is cut to the rate precision toward zero, never rounded up.
``bp`` is 0–100 with at most 4 decimal places, as the vendor's API has it.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import and_, bindparam, delete, insert, select, update

from ..commands import Command, Query, handles
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..money import DecimalAmount
from ..prepared import Prepared
from ..types import UtcMoment
from ..uow import UnitOfWork
from ..whole_numbers import Id, Version
from . import rate_math
from .tables import RATE_CHANNELS, fx_executed_markups, fx_reference_markups

REFERENCE_QUERY = "lb_hk_conversion.fee_query"
EXECUTED_QUERY = "lb_hk_conversion.forex_ib_rates"
ADD_DELETE = "lb_hk_conversion.rate_reference_update"
EXECUTED_UPDATE = "lb_hk_conversion.fee_update"
BP_MAX = Decimal(100)


class MarkupDTO(DTO):
    id: int
    kind: str  # REFERENCE | EXECUTED
    channel_name: str | None
    service_strategy: str | None
    from_currency: str
    to_currency: str
    spread_mode: str
    bp: Decimal | None
    """Reference markups: the markup."""
    tiers: tuple[dict[str, str | None], ...]
    """Executed markups: ``{start_value, end_value (None: no upper limit), markup}``."""
    default_effective: bool
    start_time: datetime | None
    end_time: datetime | None
    version: int


class AppliedMarkup(DTO):
    rate_before: Decimal
    rate_exact: Decimal
    """The rate less the markup before it is cut to the rate precision."""
    rate_after: Decimal
    steps: str
    """The calculation, as the console shows it ("7.8147 × (1 − 0.1 %) = 7.8068")."""


class TierInput(DTO):
    start_value: DecimalAmount
    end_value: DecimalAmount | None = None
    markup: DecimalAmount


def _check_bp(value: Decimal, field: str = "Markup") -> Decimal:
    if not Decimal(0) <= value <= BP_MAX or rate_math.places_of(value.normalize()) > 4:
        raise ValidationFailed(field, "must be from 0 to 100 with at most 4 decimal places")
    return value


class _PairFields(Command):
    permission = ADD_DELETE
    action = ""
    from_currency: str = Field(min_length=1, max_length=12)
    to_currency: str = Field(min_length=1, max_length=12)
    spread_mode: Literal["VALUE", "RATE"]

    @field_validator("from_currency", "to_currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class AddReferenceMarkup(_PairFields):
    action = "add reference-rate markups"
    channel_name: Literal["HKEX", "IB", "HANG_SENG", "ICBC"]
    bp: DecimalAmount


class UpdateReferenceMarkup(Command):
    permission = ADD_DELETE
    action = "edit reference-rate markups"
    markup_id: Id
    spread_mode: Literal["VALUE", "RATE"]
    bp: DecimalAmount
    expected_version: Version


class AddExecutedMarkup(_PairFields):
    action = "add executed-rate markups"
    service_strategy: Literal["BATCH", "SINGLE"]
    channel_name: str | None = Field(default=None, max_length=32)
    tiers: tuple[TierInput, ...] = Field(min_length=1, max_length=20)
    start_time: UtcMoment | None = None
    end_time: UtcMoment | None = None
    """Both None: always in force (the vendor's ``default_effective``)."""


class UpdateExecutedMarkup(Command):
    permission = EXECUTED_UPDATE
    action = "edit executed-rate markups"
    markup_id: Id
    spread_mode: Literal["VALUE", "RATE"]
    tiers: tuple[TierInput, ...] = Field(min_length=1, max_length=20)
    start_time: UtcMoment | None = None
    end_time: UtcMoment | None = None
    expected_version: Version


class DeleteMarkup(Command):
    permission = ADD_DELETE
    action = "delete markups"
    kind: Literal["REFERENCE", "EXECUTED"]
    markup_id: Id
    expected_version: Version


class ListReferenceMarkups(Query):
    permission = REFERENCE_QUERY
    action = "view reference-rate markups"


class ListExecutedMarkups(Query):
    permission = EXECUTED_QUERY
    action = "view executed-rate markups"


def apply(rate: Decimal, spread_mode: str, bp: Decimal, places: int) -> AppliedMarkup:
    """``rate`` less the markup, cut to ``places`` toward zero (the broker's favour)."""
    if spread_mode == "VALUE":
        exact, shown = rate - bp, f"{rate} − {bp}"
    else:
        exact, shown = rate * (1 - bp / 100), f"{rate} × (1 − {bp} %)"
    after = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)
    if after <= 0:
        raise ValidationFailed("Markup", f"would leave a rate of {after} (the markup exceeds the rate)")
    return AppliedMarkup(rate_before=rate, rate_exact=exact, rate_after=after,
                         steps=f"{shown} = {after} (cut to {places} places)")


def _reference_dto(row: Any) -> MarkupDTO:  # noqa: ANN401
    return MarkupDTO(id=row.id, kind="REFERENCE", channel_name=row.channel_name, service_strategy=None,
                     from_currency=row.from_currency, to_currency=row.to_currency, spread_mode=row.spread_mode,
                     bp=row.bp, tiers=(), default_effective=True, start_time=None, end_time=None, version=row.version)


def _executed_dto(row: Any) -> MarkupDTO:  # noqa: ANN401
    return MarkupDTO(id=row.id, kind="EXECUTED", channel_name=row.channel_name, service_strategy=row.service_strategy,
                     from_currency=row.from_currency, to_currency=row.to_currency, spread_mode=row.spread_mode,
                     bp=None, tiers=tuple(json.loads(row.spread_value)), default_effective=row.default_effective,
                     start_time=row.start_time, end_time=row.end_time, version=row.version)


@handles(ListReferenceMarkups)
async def list_reference_markups(uow: UnitOfWork, q: ListReferenceMarkups) -> tuple[MarkupDTO, ...]:
    c = fx_reference_markups.c
    rows = await uow.conn.execute(select(fx_reference_markups).order_by(c.from_currency, c.to_currency,
                                                                        c.channel_name))
    return tuple(_reference_dto(r) for r in rows)


@handles(ListExecutedMarkups)
async def list_executed_markups(uow: UnitOfWork, q: ListExecutedMarkups) -> tuple[MarkupDTO, ...]:
    c = fx_executed_markups.c
    rows = await uow.conn.execute(select(fx_executed_markups).order_by(c.from_currency, c.to_currency, c.id))
    return tuple(_executed_dto(r) for r in rows)


async def _require_pair(uow: UnitOfWork, source: str, target: str) -> None:
    from .pairs import require_pair

    if source == target:
        raise ValidationFailed("Target currency", "must differ from the source currency")
    await require_pair(uow, source, target)


@handles(AddReferenceMarkup)
async def add_reference_markup(uow: UnitOfWork, cmd: AddReferenceMarkup) -> MarkupDTO:
    await _require_pair(uow, cmd.from_currency, cmd.to_currency)
    bp = _check_bp(cmd.bp)
    c = fx_reference_markups.c
    clash = (await uow.conn.execute(select(c.id).where(c.channel_name == cmd.channel_name, c.from_currency ==
                                                       cmd.from_currency, c.to_currency == cmd.to_currency))).first()
    if clash:
        raise ValidationFailed("Currency pair", f"{cmd.from_currency}/{cmd.to_currency} already has a "
                                                f"{RATE_CHANNELS[cmd.channel_name]} markup (edit it instead)")
    markup_id = (await uow.conn.execute(insert(fx_reference_markups).values(
        channel_name=cmd.channel_name, from_currency=cmd.from_currency, to_currency=cmd.to_currency,
        spread_mode=cmd.spread_mode, bp=bp, version=1, created_at=uow.now, updated_at=uow.now)
        .returning(c.id))).scalar_one()
    added = await _get(uow, "REFERENCE", markup_id)
    uow.record("fx.markup.add", "reference_markup", markup_id, None, _audit_view(added))
    return added


@handles(UpdateReferenceMarkup)
async def update_reference_markup(uow: UnitOfWork, cmd: UpdateReferenceMarkup) -> MarkupDTO:
    before = await _get(uow, "REFERENCE", cmd.markup_id)
    bp = _check_bp(cmd.bp)
    await _save(uow, fx_reference_markups, cmd.markup_id, cmd.expected_version,
                {"spread_mode": cmd.spread_mode, "bp": bp})
    after = await _get(uow, "REFERENCE", cmd.markup_id)
    uow.record("fx.markup.update", "reference_markup", cmd.markup_id, _audit_view(before), _audit_view(after))
    return after


def _tiers(tiers: tuple[TierInput, ...]) -> str:
    """The tiers as stored, refused when they overlap, leave a gap or run backwards."""
    ordered = sorted(tiers, key=lambda t: t.start_value)
    if ordered[0].start_value != 0:
        raise ValidationFailed("Tiers", "must start at 0 (every amount needs a tier)")
    for i, tier in enumerate(ordered):
        _check_bp(tier.markup, f"Tier {i + 1} markup")
        if tier.end_value is not None and tier.end_value <= tier.start_value:
            raise ValidationFailed(f"Tier {i + 1}", "must end above where it starts")
        following = ordered[i + 1] if i + 1 < len(ordered) else None
        if following is None and tier.end_value is not None:
            raise ValidationFailed("Tiers", "the last tier must have no upper limit (every amount needs a tier)")
        if following is not None and tier.end_value != following.start_value:
            raise ValidationFailed(f"Tier {i + 2}", f"must start where tier {i + 1} ends ({tier.end_value}): "
                                                    "tiers neither overlap nor leave a gap")
    return json.dumps([{"start_value": str(t.start_value), "end_value": None if t.end_value is None else
                        str(t.end_value), "markup": str(t.markup)} for t in ordered])


def _period(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    if (start is None) != (end is None):
        raise ValidationFailed("Effective period", "needs both a start and an end (or neither: always in force)")
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("Effective period", "must end after it starts")
    return {"default_effective": start is None, "start_time": start, "end_time": end}


@handles(AddExecutedMarkup)
async def add_executed_markup(uow: UnitOfWork, cmd: AddExecutedMarkup) -> MarkupDTO:
    from .strategies import CHANNELS

    await _require_pair(uow, cmd.from_currency, cmd.to_currency)
    channel = (cmd.channel_name or "").strip().upper() or None
    if cmd.service_strategy == "SINGLE" and channel not in CHANNELS:
        raise ValidationFailed("Channel", f"is required for Bank Exchange: one of {', '.join(CHANNELS)}")
    if cmd.service_strategy == "BATCH" and channel is not None:
        raise ValidationFailed("Channel", "is left out for Exchange Pool markups")
    markup_id = (await uow.conn.execute(insert(fx_executed_markups).values(
        service_strategy=cmd.service_strategy, channel_name=channel, from_currency=cmd.from_currency,
        to_currency=cmd.to_currency, spread_mode=cmd.spread_mode, spread_value=_tiers(cmd.tiers),
        **_period(cmd.start_time, cmd.end_time), version=1, created_at=uow.now, updated_at=uow.now)
        .returning(fx_executed_markups.c.id))).scalar_one()
    added = await _get(uow, "EXECUTED", markup_id)
    uow.record("fx.markup.add", "executed_markup", markup_id, None, _audit_view(added))
    return added


@handles(UpdateExecutedMarkup)
async def update_executed_markup(uow: UnitOfWork, cmd: UpdateExecutedMarkup) -> MarkupDTO:
    before = await _get(uow, "EXECUTED", cmd.markup_id)
    await _save(uow, fx_executed_markups, cmd.markup_id, cmd.expected_version, {
        "spread_mode": cmd.spread_mode, "spread_value": _tiers(cmd.tiers), **_period(cmd.start_time, cmd.end_time)})
    after = await _get(uow, "EXECUTED", cmd.markup_id)
    uow.record("fx.markup.update", "executed_markup", cmd.markup_id, _audit_view(before), _audit_view(after))
    return after


@handles(DeleteMarkup)
async def delete_markup(uow: UnitOfWork, cmd: DeleteMarkup) -> None:
    table = fx_reference_markups if cmd.kind == "REFERENCE" else fx_executed_markups
    before = await _get(uow, cmd.kind, cmd.markup_id)
    gone = await uow.conn.execute(delete(table).where(and_(table.c.id == cmd.markup_id,
                                                           table.c.version == cmd.expected_version)))
    if gone.rowcount != 1:
        raise Conflict(f"Markup {cmd.markup_id} was changed by someone else since you opened it. Reload it.")
    uow.record("fx.markup.delete", f"{cmd.kind.lower()}_markup", cmd.markup_id, _audit_view(before), None)


async def _get(uow: UnitOfWork, kind: str, markup_id: int) -> MarkupDTO:
    table = fx_reference_markups if kind == "REFERENCE" else fx_executed_markups
    row = (await uow.conn.execute(select(table).where(table.c.id == markup_id))).first()
    if row is None:
        raise NotFound(f"Markup {markup_id} does not exist (someone may have deleted it).")
    return _reference_dto(row) if kind == "REFERENCE" else _executed_dto(row)


async def _save(uow: UnitOfWork, table: Any, markup_id: int, expected: int,  # noqa: ANN401
                values: dict[str, Any]) -> None:
    changed = await uow.conn.execute(update(table).where(and_(table.c.id == markup_id, table.c.version == expected))
                                     .values(**values, version=table.c.version + 1, updated_at=uow.now))
    if changed.rowcount != 1:
        raise Conflict(f"Markup {markup_id} was changed by someone else since you opened it. "
                       "Reload it and edit again.")


def _audit_view(markup: MarkupDTO) -> dict[str, Any]:
    return markup.model_dump(exclude={"version", "id"}, mode="json")


# Every exchange at a reference rate reads it: on the SQLite driver directly in a write unit.
_REFERENCE_MARKUP = Prepared(select(fx_reference_markups).where(
    fx_reference_markups.c.channel_name == bindparam("channel"), fx_reference_markups.c.from_currency == bindparam(
        "source"), fx_reference_markups.c.to_currency == bindparam("target")))


async def reference_markup(uow: UnitOfWork, channel_name: str, source: str, target: str) -> MarkupDTO | None:
    rows = await _REFERENCE_MARKUP.rows(uow.conn, {"channel": channel_name, "source": source, "target": target},
                                        sqlite=uow.sqlite)
    return _reference_dto(rows[0]) if rows else None


def tier_markup(markup: MarkupDTO, amount: Decimal) -> Decimal:
    """The executed markup's value for an exchange of ``amount`` (its source amount)."""
    for tier in markup.tiers:
        start, end = Decimal(str(tier["start_value"])), tier["end_value"]
        if amount >= start and (end is None or amount < Decimal(str(end))):
            return Decimal(str(tier["markup"]))
    raise AssertionError("tiers cover every amount from 0 (checked when saved)")


async def executed_markup(uow: UnitOfWork, service_strategy: str, channel_name: str | None, source: str,
                          target: str, amount: Decimal) -> tuple[str, Decimal] | None:
    """The executed-rate markup in force now for an exchange of ``amount``: (mode, value),
    or None.  Of several in force, the newest counts."""
    c = fx_executed_markups.c
    stmt = select(fx_executed_markups).where(
        c.service_strategy == service_strategy, c.from_currency == source, c.to_currency == target,
        c.channel_name.is_(None) if channel_name is None else c.channel_name == channel_name).order_by(c.id.desc())
    for row in await uow.conn.execute(stmt):
        markup = _executed_dto(row)
        if markup.default_effective or (markup.start_time is not None and markup.end_time is not None
                                        and markup.start_time <= uow.now < markup.end_time):
            return markup.spread_mode, tier_markup(markup, amount)
    return None

"""Exchange strategies (Service Parameter > Exchange > Currency Exchange Strategy).

A strategy says how a client's request is served: from the exchange pool (``BATCH``) or
at a bank exchange channel (``SINGLE``, the only kind with a channel), for which exchange
type (``change_type``: 0 None, 1 Large Amount, 2 Small Amount within the pool, 3 Small
Amount beyond the pool), for which pairs, in which service time periods, and from which
amount a checker must review (the approval starting point, in the standard currency).

Pool strategies serve types 0 and 2, bank strategies 0, 1 and 3: a pool does not take
the large amounts a bank must, and "beyond the pool" is a bank's by definition.  Two
enabled strategies that would both serve one pair, type and moment are refused, naming
the other and the periods that meet, so the strategy for a request is never a guess.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import and_, insert, select, update

from ..commands import Command, Query, handles
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..money import DecimalAmount
from ..prepared import Prepared
from ..uow import UnitOfWork
from ..whole_numbers import Id, Version, WholeNumber
from . import pairs, service_time
from .service_time import PeriodError, ServicePeriod
from .tables import fx_currency_pairs, fx_exchange_strategies

INQUIRY = "lb_hk_conversion.exchangeserve_query"
OPERATION = "lb_hk_conversion.exchangeserve_update"
CHANGE_TYPES = {0: "None", 1: "Large Amount Exchange", 2: "Small Amount Exchange (within exchange pool)",
                3: "Small Amount Exchange (beyond exchange pool)"}
STRATEGY_LABELS = {"BATCH": "Exchange Pool", "SINGLE": "Bank Exchange"}
ALLOWED_TYPES = {"BATCH": (0, 2), "SINGLE": (0, 1, 3)}
CHANNELS = ("HSB", "ICBCASIA", "CIBC")
"""Bank exchange channels (the vendor's ``forex_channel`` values seen in its API)."""
ALL_PAIRS = "ALL/ALL"


class PeriodInput(DTO):
    time_zones: Literal["hk_trade_day", "calendar_day", "week"]
    time_rule: str = Field(max_length=40)
    week_interval: str = Field(default="", max_length=20)


class StrategyDTO(DTO):
    id: int
    service_strategy: str
    change_type: int
    channel_name: str | None
    support_currency: tuple[str, ...]
    periods: tuple[str, ...]
    """Each period as the operator reads it ("HK trading days 09:00–16:00")."""
    service_time: tuple[dict[str, str], ...]
    approval_start_amount: Decimal | None
    enable_flag: bool
    remarks: str
    version: int

    @property
    def strategy_label(self) -> str:
        return STRATEGY_LABELS[self.service_strategy]

    @property
    def change_type_label(self) -> str:
        return CHANGE_TYPES[self.change_type]

    def covers(self, from_currency: str, to_currency: str) -> bool:
        return ALL_PAIRS in self.support_currency or f"{from_currency}/{to_currency}" in self.support_currency


class ListExchangeStrategies(Query):
    permission = INQUIRY
    action = "view exchange strategies"


class _StrategyFields(Command):
    permission = OPERATION
    action = ""
    service_strategy: Literal["BATCH", "SINGLE"]
    change_type: Annotated[int, WholeNumber(0, 3)]
    channel_name: str | None = Field(default=None, max_length=32)
    support_currency: tuple[str, ...] = Field(min_length=1, max_length=200)
    service_time: tuple[PeriodInput, ...] = Field(min_length=1, max_length=20)
    approval_start_amount: DecimalAmount | None = None
    """In the standard currency; 0.01 has a checker review every exchange."""
    remarks: str = Field(default="", max_length=200)

    @field_validator("support_currency")
    @classmethod
    def _pairs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(dict.fromkeys(v.strip().upper().replace(" ", "") for v in value if v.strip()))
        for code in codes:
            parts = code.split("/")
            if len(parts) != 2 or not all(parts):
                raise ValueError(f"{code!r} must be a pair such as USD/HKD")
        return codes


class CreateExchangeStrategy(_StrategyFields):
    action = "create exchange strategies"


class UpdateExchangeStrategy(_StrategyFields):
    action = "edit exchange strategies"
    strategy_id: Id
    expected_version: Version


class SetStrategyEnabled(Command):
    """Enable or disable (the vendor's ``service_strategy_delete`` with ``enable_flag``)."""

    permission = OPERATION
    action = "enable and disable exchange strategies"
    strategy_id: Id
    enable_flag: bool
    expected_version: Version


def _dto(row: Any) -> StrategyDTO:  # noqa: ANN401
    start = row.approval_start_amount
    return _stored_dto(row.id, row.service_strategy, row.change_type, row.channel_name, row.support_currency,
                       row.service_time, None if start is None else str(start), row.enable_flag, row.remarks,
                       row.version)


@lru_cache(maxsize=256)
def _stored_dto(strategy_id: int, service_strategy: str, change_type: int, channel_name: str | None,
                support_currency: str, service_times: str, approval_start_amount: str | None, enable_flag: bool,
                remarks: str, version: int) -> StrategyDTO:
    """The DTO of a stored row, from its stored values: every routing reads the strategies
    (another console may have changed one), and the same values give the same frozen DTO,
    so their conversion (JSON, periods parsed and labelled) is done once.  The amount comes
    as text: ``Decimal("1E+2")`` equals ``Decimal("100")`` but does not print as it."""
    items = tuple(json.loads(service_times))
    return StrategyDTO(
        id=strategy_id, service_strategy=service_strategy, change_type=change_type, channel_name=channel_name,
        support_currency=tuple(json.loads(support_currency)),
        periods=tuple(p.label() for p in service_time.from_json(items)), service_time=items,
        approval_start_amount=None if approval_start_amount is None else Decimal(approval_start_amount),
        enable_flag=enable_flag, remarks=remarks, version=version)


def periods_of(strategy: StrategyDTO) -> tuple[ServicePeriod, ...]:
    return service_time.from_json(strategy.service_time)


@handles(ListExchangeStrategies)
async def list_exchange_strategies(uow: UnitOfWork, q: ListExchangeStrategies) -> tuple[StrategyDTO, ...]:
    return await all_strategies(uow)


# Every exchange's routing reads them all: on the SQLite driver directly in a write unit.
_ALL = Prepared(select(fx_exchange_strategies).order_by(fx_exchange_strategies.c.id))


async def all_strategies(uow: UnitOfWork) -> tuple[StrategyDTO, ...]:
    return tuple(_dto(r) for r in await _ALL.rows(uow.conn, {}, sqlite=uow.sqlite))


async def get_strategy(uow: UnitOfWork, strategy_id: int) -> StrategyDTO:
    row = (await uow.conn.execute(select(fx_exchange_strategies)
                                  .where(fx_exchange_strategies.c.id == strategy_id))).first()
    if row is None:
        raise NotFound(f"Exchange strategy {strategy_id} does not exist.")
    return _dto(row)


async def _validated(uow: UnitOfWork, cmd: _StrategyFields) -> dict[str, Any]:
    if cmd.change_type not in ALLOWED_TYPES[cmd.service_strategy]:
        allowed = ", ".join(CHANGE_TYPES[t] for t in ALLOWED_TYPES[cmd.service_strategy])
        raise ValidationFailed("Exchange type",
                               f"for {STRATEGY_LABELS[cmd.service_strategy]} must be one of: {allowed}")
    channel = (cmd.channel_name or "").strip().upper() or None
    if cmd.service_strategy == "SINGLE" and channel not in CHANNELS:
        raise ValidationFailed("Channel", f"is required for Bank Exchange: one of {', '.join(CHANNELS)}")
    if cmd.service_strategy == "BATCH" and channel is not None:
        raise ValidationFailed("Channel", "applies to Bank Exchange only (an Exchange Pool strategy has none)")
    start = cmd.approval_start_amount
    if start is not None and (start < Decimal("0.01") or start != start.quantize(Decimal("0.01"))):
        raise ValidationFailed("Approval starting point", "must be an amount of at least 0.01 with at most "
                                                          "2 decimal places (0.01: every exchange is reviewed)")
    try:
        periods = tuple(service_time.period(p.time_zones, p.time_rule, p.week_interval) for p in cmd.service_time)
        service_time.check_no_overlap(periods)
    except PeriodError as error:
        raise ValidationFailed("Service time", str(error)) from None
    configured = {f"{r.from_currency}/{r.to_currency}" for r in await uow.conn.execute(
        select(fx_currency_pairs.c.from_currency, fx_currency_pairs.c.to_currency))}
    if ALL_PAIRS in cmd.support_currency and len(cmd.support_currency) > 1:
        raise ValidationFailed("Currency pairs", f"{ALL_PAIRS} covers every pair: choose it alone")
    missing = [p for p in cmd.support_currency if p != ALL_PAIRS and p not in configured]
    if missing:
        raise ValidationFailed("Currency pairs", f"{', '.join(missing)} is not in Currency Pairs")
    return {"service_strategy": cmd.service_strategy, "change_type": cmd.change_type, "channel_name": channel,
            "support_currency": json.dumps(list(cmd.support_currency)),
            "service_time": json.dumps([p.as_json() for p in periods]),
            "approval_start_amount": cmd.approval_start_amount, "remarks": cmd.remarks.strip()}


async def _check_no_clash(uow: UnitOfWork, candidate: StrategyDTO) -> None:
    """Refuse when another enabled strategy would serve the same pair, type and moment."""
    mine = periods_of(candidate)
    for other in await all_strategies(uow):
        if other.id == candidate.id or not other.enable_flag or other.change_type != candidate.change_type:
            continue
        shared = _shared_pairs(candidate, other)
        if not shared:
            continue
        for first in mine:
            for second in periods_of(other):
                if first.overlaps(second):
                    raise Conflict(
                        f"Strategy {other.id} ({other.strategy_label}, {other.change_type_label}) already serves "
                        f"{shared} at {second.label()}, which overlaps {first.label()}. Change the periods or pairs, "
                        f"or disable strategy {other.id} first.")


def _shared_pairs(a: StrategyDTO, b: StrategyDTO) -> str:
    if ALL_PAIRS in a.support_currency:
        return "every pair" if ALL_PAIRS in b.support_currency else ", ".join(b.support_currency)
    if ALL_PAIRS in b.support_currency:
        return ", ".join(a.support_currency)
    return ", ".join(p for p in a.support_currency if p in b.support_currency)


@handles(CreateExchangeStrategy)
async def create_exchange_strategy(uow: UnitOfWork, cmd: CreateExchangeStrategy) -> StrategyDTO:
    values = await _validated(uow, cmd)
    strategy_id = (await uow.conn.execute(insert(fx_exchange_strategies).values(
        **values, enable_flag=True, version=1, created_at=uow.now, updated_at=uow.now)
        .returning(fx_exchange_strategies.c.id))).scalar_one()
    created = await get_strategy(uow, strategy_id)
    await _check_no_clash(uow, created)
    uow.record("fx.strategy.create", "exchange_strategy", strategy_id, None, created.model_dump(exclude={"version"}))
    return created


@handles(UpdateExchangeStrategy)
async def update_exchange_strategy(uow: UnitOfWork, cmd: UpdateExchangeStrategy) -> StrategyDTO:
    before = await get_strategy(uow, cmd.strategy_id)
    values = await _validated(uow, cmd)
    await _save(uow, cmd.strategy_id, cmd.expected_version, before, values)
    after = await get_strategy(uow, cmd.strategy_id)
    if after.enable_flag:
        await _check_no_clash(uow, after)
    _audit_change(uow, "fx.strategy.update", before, after)
    return after


@handles(SetStrategyEnabled)
async def set_strategy_enabled(uow: UnitOfWork, cmd: SetStrategyEnabled) -> StrategyDTO:
    before = await get_strategy(uow, cmd.strategy_id)
    await _save(uow, cmd.strategy_id, cmd.expected_version, before, {"enable_flag": cmd.enable_flag})
    after = await get_strategy(uow, cmd.strategy_id)
    if after.enable_flag:
        await _check_no_clash(uow, after)
    _audit_change(uow, "fx.strategy.enable" if cmd.enable_flag else "fx.strategy.disable", before, after)
    return after


async def _save(uow: UnitOfWork, strategy_id: int, expected: int, before: StrategyDTO, values: dict[str, Any]) -> None:
    changed = await uow.conn.execute(update(fx_exchange_strategies).where(and_(
        fx_exchange_strategies.c.id == strategy_id, fx_exchange_strategies.c.version == expected))
        .values(**values, version=fx_exchange_strategies.c.version + 1, updated_at=uow.now))
    if changed.rowcount != 1:
        raise Conflict(f"Exchange strategy {strategy_id} was changed by someone else since you opened it "
                       f"(version {before.version}, you edited {expected}). Reload it and edit again.")


def _audit_change(uow: UnitOfWork, action: str, before: StrategyDTO, after: StrategyDTO) -> None:
    old, new = before.model_dump(exclude={"version"}), after.model_dump(exclude={"version"})
    uow.record(action, "exchange_strategy", after.id, {k: v for k, v in old.items() if new[k] != v},
               {k: v for k, v in new.items() if old[k] != v})


async def _strategies_using(uow: UnitOfWork, from_currency: str, to_currency: str) -> list[str]:
    return [f"exchange strategy {s.id} ({s.strategy_label})" for s in await all_strategies(uow)
            if f"{from_currency}/{to_currency}" in s.support_currency]


pairs.pair_users.append(_strategies_using)

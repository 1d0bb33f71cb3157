"""Refreshing reference rates from their sources: daily at 13:00 Hong Kong time, hourly
where the channel publishes hourly (the vendor's FAQ), exactly once across consoles.

Each refresh has a slot (channel, type, and the day or the hour); the first process to
insert the slot's row refreshes, every other finds it taken.  A slot missed while no
console ran is not replayed: the next one fetches the current rates.  The fetched rates
go through the template import's own checks (``rate_import.import_rows``), so a bad
answer imports nothing; a failure is recorded on the slot and published on
``fx.rate_refresh_failed``.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, time
from typing import Any

from pydantic import field_validator
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from ..commands import Command, handles
from ..dto import DTO
from ..errors import ValidationFailed
from ..hk_calendar import HONG_KONG
from ..notify.publish import publish
from ..passes import PassRun
from ..uow import Actor, UnitOfWork, read_unit, write_unit
from .channel_tables import fx_rate_refresh_runs, fx_rate_sources
from .rate_import import import_rows
from .rate_source import RateSourceConfigError, RateSourceError, build_rate_source, check_rate_source_config
from .tables import RATE_CHANNELS, RATE_TYPES

log = logging.getLogger(__name__)
SYSTEM = Actor.system("fx-rate-refresh")
DAILY_AT = time(13, 0)
FAILED_TOPIC = "fx.rate_refresh_failed"
OPERATION = "fx.reference_rate_operation"


class RateSourceDTO(DTO):
    channel_name: str
    rate_type: str
    gateway: dict[str, Any]
    hourly: bool
    enabled: bool


class ConfigureRateSource(Command):
    permission = OPERATION
    action = "configure rate sources"
    channel_name: str
    rate_type: str
    gateway: dict[str, Any]
    hourly: bool = False
    enabled: bool = True

    @field_validator("channel_name")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value.upper() not in RATE_CHANNELS:
            raise ValueError(f"must be one of {', '.join(RATE_CHANNELS)}")
        return value.upper()

    @field_validator("rate_type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value.upper() not in RATE_TYPES:
            raise ValueError(f"must be one of {', '.join(RATE_TYPES)}")
        return value.upper()


@handles(ConfigureRateSource)
async def configure_rate_source(uow: UnitOfWork, cmd: ConfigureRateSource) -> RateSourceDTO:
    try:
        check_rate_source_config(cmd.gateway)  # refuses a bad configuration, naming it
    except RateSourceConfigError as error:
        raise ValidationFailed("Gateway", str(error)) from None
    c = fx_rate_sources.c
    key = (c.channel_name == cmd.channel_name) & (c.rate_type == cmd.rate_type)
    values = {"gateway": json.dumps(cmd.gateway, sort_keys=True), "hourly": cmd.hourly, "enabled": cmd.enabled}
    before = (await uow.conn.execute(select(fx_rate_sources).where(key))).first()
    if before is None:
        await uow.conn.execute(insert(fx_rate_sources).values(channel_name=cmd.channel_name,
                                                              rate_type=cmd.rate_type, **values))
    else:
        await uow.conn.execute(update(fx_rate_sources).where(key).values(**values))
    uow.record("fx.rate_source.configure", "rate_source", f"{cmd.channel_name}/{cmd.rate_type}", None,
               {"gateway": cmd.gateway, "hourly": cmd.hourly, "enabled": cmd.enabled})
    return RateSourceDTO(channel_name=cmd.channel_name, rate_type=cmd.rate_type, gateway=cmd.gateway,
                         hourly=cmd.hourly, enabled=cmd.enabled)


def due_slot(channel_name: str, rate_type: str, hourly: bool, now: datetime) -> str | None:
    """The slot due at ``now``: the current hour (hourly), or today's 13:00 once it has
    passed (daily); None before today's 13:00."""
    local = now.astimezone(HONG_KONG)
    if hourly:
        return f"{channel_name}/{rate_type}/{local:%Y%m%d%H}"
    if local.time() < DAILY_AT:
        return None
    return f"{channel_name}/{rate_type}/{local:%Y%m%d}"


async def refresh_due(engine: Any, holder: str) -> PassRun:  # noqa: ANN401
    """Refresh every enabled source whose slot is due and not taken; each isolated."""
    run = PassRun("fx-rate-refresh")
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        sources = list(await uow.conn.execute(select(fx_rate_sources).where(fx_rate_sources.c.enabled)))
        now = uow.now
    for source in sources:
        slot = due_slot(source.channel_name, source.rate_type, source.hourly, now)
        if slot is not None:
            await run.item(slot, lambda s=source, slot=slot: _refresh(engine, s, slot, holder))
    return run


async def _refresh(engine: Any, source: Any, slot: str, holder: str) -> str:  # noqa: ANN401
    try:
        async with write_unit(engine.db, SYSTEM, engine.services) as uow:
            await uow.conn.execute(insert(fx_rate_refresh_runs).values(slot=slot, holder=holder,
                                                                       started_at=uow.now))
    except IntegrityError:
        return "taken"  # another console has this slot
    gateway = build_rate_source(json.loads(source.gateway), clock=engine.clock)
    try:
        snapshot = await gateway.fetch(source.channel_name, source.rate_type)
        rows = [(i + 2, [source.channel_name, source.rate_type, r.base_currency, r.other_currency, r.record_date,
                         str(r.bid_rate), str(r.offer_rate), str(r.average_rate)])
                for i, r in enumerate(snapshot.rates)]
        async with write_unit(engine.db, SYSTEM, engine.services) as uow:
            result = await import_rows(uow, rows, "GATEWAY")
            outcome = f"imported {result.imported}, replaced {result.replaced}"
            await _finish(uow, slot, outcome)
        return outcome
    except (RateSourceError, ValidationFailed) as error:
        async with write_unit(engine.db, SYSTEM, engine.services) as uow:
            await _finish(uow, slot, f"failed: {error}")
            await publish(uow, FAILED_TOPIC, f"Reference rates {source.channel_name}/{source.rate_type} not refreshed",
                          f"The {slot} refresh failed: {error}. The rates in use are the earlier ones; they stop "
                          "being quoted once older than the limit.", source_type="rate_source", source_id=slot)
        return f"failed: {error}"
    finally:
        await gateway.close()


async def _finish(uow: UnitOfWork, slot: str, outcome: str) -> None:
    await uow.conn.execute(update(fx_rate_refresh_runs).where(fx_rate_refresh_runs.c.slot == slot).values(
        finished_at=uow.now, outcome=outcome[:300]))
    uow.record("fx.rate_refresh", "rate_source", slot, None, {"outcome": outcome[:200]})


"""Configuring the bank exchange channels a Bank Exchange strategy sends orders to: each
channel's gateway (the built-in simulator or the HTTP contract)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import field_validator
from sqlalchemy import insert, select, update

from ..commands import Command, handles
from ..dto import DTO
from ..errors import ValidationFailed
from ..uow import UnitOfWork
from .bank import BankChannelConfigError, check_bank_channel_config
from .channel_tables import fx_bank_channels
from .strategies import CHANNELS, OPERATION


class BankChannelDTO(DTO):
    channel_name: str
    gateway: dict[str, Any]
    enabled: bool


class ConfigureBankChannel(Command):
    """Set (or replace) a channel's gateway; ``enabled`` False stops new sends to it."""

    permission = OPERATION
    action = "configure bank exchange channels"
    channel_name: str
    gateway: dict[str, Any]
    enabled: bool = True

    @field_validator("channel_name")
    @classmethod
    def _channel(cls, value: str) -> str:
        if value.upper() not in CHANNELS:
            raise ValueError(f"must be one of {', '.join(CHANNELS)}")
        return value.upper()


@handles(ConfigureBankChannel)
async def configure_bank_channel(uow: UnitOfWork, cmd: ConfigureBankChannel) -> BankChannelDTO:
    try:
        check_bank_channel_config(cmd.gateway)  # refuses a bad configuration, naming it
    except BankChannelConfigError as error:
        raise ValidationFailed("Gateway", str(error)) from None
    c = fx_bank_channels.c
    before = (await uow.conn.execute(select(fx_bank_channels).where(c.channel_name == cmd.channel_name))).first()
    values = {"gateway": json.dumps(cmd.gateway, sort_keys=True), "enabled": cmd.enabled}
    if before is None:
        await uow.conn.execute(insert(fx_bank_channels).values(channel_name=cmd.channel_name, **values))
    else:
        await uow.conn.execute(update(fx_bank_channels).where(c.channel_name == cmd.channel_name).values(**values))
    uow.record("fx.bank_channel.configure", "bank_channel", cmd.channel_name,
               None if before is None else {"gateway": json.loads(before.gateway), "enabled": before.enabled},
               {"gateway": cmd.gateway, "enabled": cmd.enabled})
    return BankChannelDTO(channel_name=cmd.channel_name, gateway=cmd.gateway, enabled=cmd.enabled)

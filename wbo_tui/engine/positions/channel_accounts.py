"""Settlement channels and channel accounts ("Settlement Channel Account Configuration")."""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..commands import Command, Query, handles
from ..currencies import load_currency
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..uow import UnitOfWork
from ..whole_numbers import Id, Version
from .tables import SCENARIOS, channel_accounts, positions, settlement_channels, withdrawals

OPERATION = "atm.settle_chnl_bank_acct_operation"
INQUIRY = "atm.settle_chnl_bank_acct_inquiry"
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$")

Scenario = Literal["deposit", "withdrawal_principal", "withdrawal_fee", "trading", "fund_pool"]
assert set(Scenario.__args__) == set(SCENARIOS)  # type: ignore[attr-defined]


class ChannelDTO(DTO):
    code: str
    name: str
    gateway: dict[str, Any]
    enabled: bool


class ChannelAccountDTO(DTO):
    id: int
    channel: str
    currency_type: str
    currency: str
    account_no: str
    scenario: str
    remarks: str
    version: int


class ChannelAccountUsageDTO(DTO):
    account: ChannelAccountDTO
    pending_withdrawals: tuple[str, ...]
    """Refs of withdrawal applications awaiting approval that draw on this account."""


class RegisterSettlementChannel(Command):
    permission = OPERATION
    action = "register settlement channels"
    code: str
    name: str = Field(min_length=1, max_length=100)
    gateway: dict[str, Any]

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not _CODE_RE.match(value):
            raise ValueError("must be 3–64 lower-case letters, digits or '_', e.g. settlement_hashkey_hk")
        return value

    @field_validator("gateway")
    @classmethod
    def _gateway(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("kind") not in ("simulated", "http"):
            raise ValueError("kind must be 'simulated' or 'http'")
        return value


class _AccountFields(Command):
    permission = OPERATION
    action = ""
    channel: str
    currency_type: Literal["fiat", "crypto"]
    currency: str
    account_no: str
    scenario: Scenario
    remarks: str = Field(default="", max_length=200)

    @field_validator("account_no")
    @classmethod
    def _account_no(cls, value: str) -> str:
        if not _ACCOUNT_RE.match(value):
            raise ValueError("must be 1–64 letters, digits, spaces or . _ / -")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return value.upper()


class CreateChannelAccount(_AccountFields):
    action = "create settlement channel accounts"


class UpdateChannelAccount(_AccountFields):
    """Overwrite an account's configuration.  ``expected_version`` is the version the
    operator edited: a concurrent edit by someone else is refused, never overwritten."""

    action = "edit settlement channel accounts"
    account_id: Id
    expected_version: Version


class ListSettlementChannels(Query):
    permission = INQUIRY
    action = "view settlement channels"


class ListChannelAccounts(Query):
    permission = INQUIRY
    action = "view settlement channel accounts"
    channel: str | None = None
    currency: str | None = None
    scenario: str | None = None


class ChannelAccountUsage(Query):
    """What uses an account: shown before an edit is saved."""

    permission = INQUIRY
    action = "view settlement channel accounts"
    account_id: Id


def _dto(row: Any) -> ChannelAccountDTO:
    return ChannelAccountDTO(
        id=row.id, channel=row.channel, currency_type=row.currency_type, currency=row.currency,
        account_no=row.account_no, scenario=row.scenario, remarks=row.remarks, version=row.version,
    )


async def _validate(uow: UnitOfWork, cmd: _AccountFields, *, exclude_id: int | None) -> None:
    channel = (await uow.conn.execute(
        select(settlement_channels.c.enabled).where(settlement_channels.c.code == cmd.channel)
    )).first()
    if channel is None:
        raise ValidationFailed("Settlement channel", f"{cmd.channel!r} is not a configured settlement channel")
    if not channel.enabled:
        raise ValidationFailed("Settlement channel", f"{cmd.channel} is disabled")
    currency = await load_currency(uow, cmd.currency)
    if currency.kind != cmd.currency_type:
        raise ValidationFailed("Currency", f"{cmd.currency} is a {currency.kind} currency, not {cmd.currency_type}")
    clash = select(channel_accounts.c.id, channel_accounts.c.account_no, channel_accounts.c.scenario).where(
        channel_accounts.c.channel == cmd.channel, channel_accounts.c.currency == cmd.currency
    )
    for row in await uow.conn.execute(clash):
        if row.id == exclude_id:
            continue
        if row.account_no == cmd.account_no:
            raise ValidationFailed(
                "Main account number", f"{cmd.account_no} is already configured for {cmd.currency} on {cmd.channel}"
            )
        if row.scenario == cmd.scenario:
            raise ValidationFailed(
                "Business scenario",
                f"{cmd.scenario} already has account {row.account_no} for {cmd.currency} on {cmd.channel}",
            )


def _fields(cmd: _AccountFields) -> dict[str, Any]:
    return {
        "channel": cmd.channel, "currency_type": cmd.currency_type, "currency": cmd.currency,
        "account_no": cmd.account_no, "scenario": cmd.scenario, "remarks": cmd.remarks.strip(),
    }


@handles(RegisterSettlementChannel)
async def register_settlement_channel(uow: UnitOfWork, cmd: RegisterSettlementChannel) -> ChannelDTO:
    exists = (await uow.conn.execute(
        select(settlement_channels.c.code).where(settlement_channels.c.code == cmd.code)
    )).first()
    if exists:
        raise ValidationFailed("Channel code", f"{cmd.code} is already registered")
    await uow.conn.execute(insert(settlement_channels).values(
        code=cmd.code, name=cmd.name, gateway=json.dumps(cmd.gateway, sort_keys=True), enabled=True,
    ))
    uow.record("settlement_channel.register", "settlement_channel", cmd.code, None,
               {"name": cmd.name, "gateway": cmd.gateway})
    return ChannelDTO(code=cmd.code, name=cmd.name, gateway=cmd.gateway, enabled=True)


@handles(CreateChannelAccount)
async def create_channel_account(uow: UnitOfWork, cmd: CreateChannelAccount) -> ChannelAccountDTO:
    await _validate(uow, cmd, exclude_id=None)
    values = _fields(cmd)
    try:
        account_id = (await uow.conn.execute(
            insert(channel_accounts).values(**values, version=1, created_at=uow.now, updated_at=uow.now)
            .returning(channel_accounts.c.id)
        )).scalar_one()
    except IntegrityError:  # pragma: no cover - the checks above run under the write lock
        raise Conflict("Another operator just configured the same account; reload and try again.") from None
    await uow.conn.execute(insert(positions).values(
        channel_account_id=account_id, poll_status="NEVER", level="NORMAL", updated_at=uow.now,
    ))
    uow.record("channel_account.create", "channel_account", account_id, None, values)
    return await get_account(uow, account_id)


@handles(UpdateChannelAccount)
async def update_channel_account(uow: UnitOfWork, cmd: UpdateChannelAccount) -> ChannelAccountDTO:
    before = await get_account(uow, cmd.account_id)
    await _validate(uow, cmd, exclude_id=cmd.account_id)
    if before.currency != cmd.currency:
        pending = await _pending_withdrawals(uow, cmd.account_id)
        if pending:
            raise Conflict(
                f"Currency can't change while withdrawal applications draw on this account: {', '.join(pending)}."
            )
    values = _fields(cmd)
    changed = await uow.conn.execute(
        update(channel_accounts)
        .where(and_(channel_accounts.c.id == cmd.account_id, channel_accounts.c.version == cmd.expected_version))
        .values(**values, version=channel_accounts.c.version + 1, updated_at=uow.now)
    )
    if changed.rowcount != 1:
        raise Conflict(
            f"Channel account {cmd.account_id} was changed by someone else since you opened it "
            f"(version {before.version}, you edited {cmd.expected_version}). Reload it and edit again."
        )
    old = before.model_dump(exclude={"id", "version"})
    uow.record("channel_account.update", "channel_account", cmd.account_id,
               {k: v for k, v in old.items() if values.get(k) != v},
               {k: v for k, v in values.items() if old.get(k) != v})
    return await get_account(uow, cmd.account_id)


async def get_account(uow: UnitOfWork, account_id: int) -> ChannelAccountDTO:
    row = (await uow.conn.execute(select(channel_accounts).where(channel_accounts.c.id == account_id))).first()
    if row is None:
        raise NotFound(f"Channel account {account_id} does not exist.")
    return _dto(row)


async def _pending_withdrawals(uow: UnitOfWork, account_id: int) -> tuple[str, ...]:
    rows = await uow.conn.execute(
        select(withdrawals.c.ref).where(
            withdrawals.c.status == "PENDING",
            (withdrawals.c.principal_account_id == account_id) | (withdrawals.c.fee_account_id == account_id),
        ).order_by(withdrawals.c.id)
    )
    return tuple(r[0] for r in rows)


@handles(ChannelAccountUsage)
async def channel_account_usage(uow: UnitOfWork, q: ChannelAccountUsage) -> ChannelAccountUsageDTO:
    return ChannelAccountUsageDTO(
        account=await get_account(uow, q.account_id),
        pending_withdrawals=await _pending_withdrawals(uow, q.account_id),
    )


@handles(ListSettlementChannels)
async def list_settlement_channels(uow: UnitOfWork, q: ListSettlementChannels) -> tuple[ChannelDTO, ...]:
    rows = await uow.conn.execute(select(settlement_channels).order_by(settlement_channels.c.code))
    return tuple(ChannelDTO(code=r.code, name=r.name, gateway=json.loads(r.gateway), enabled=r.enabled) for r in rows)


@handles(ListChannelAccounts)
async def list_channel_accounts(uow: UnitOfWork, q: ListChannelAccounts) -> tuple[ChannelAccountDTO, ...]:
    stmt = select(channel_accounts)
    if q.channel:
        stmt = stmt.where(channel_accounts.c.channel == q.channel)
    if q.currency:
        stmt = stmt.where(channel_accounts.c.currency == q.currency.upper())
    if q.scenario:
        stmt = stmt.where(channel_accounts.c.scenario == q.scenario)
    rows = await uow.conn.execute(stmt.order_by(channel_accounts.c.channel, channel_accounts.c.account_no,
                                                channel_accounts.c.currency))
    return tuple(_dto(r) for r in rows)

"""What a trader does to a risk warning short of liquidating: Edit (status Exception and
back, remarks), follow-up records, Send Message, Set Auto-Liquidation.

- **Exception** moves a call to the Exception list and stops client messages; it is for
  clients with debt and no positions, whom liquidation cannot cure.  Back to Open undoes
  it.  The margin engine still values the call and ends it when the client is cured.
- **Follow-up records** are append-only: author and time, never edited or deleted.
- **Send Message** goes to each selected client through the notification subscriptions
  of ``margin.client_message`` (the desk subscribes the channel that reaches clients).
  Refused after the deadline (the vendor stops messages then) and for Exception calls;
  each message writes a snapshot.
- **Set Auto-Liquidation** sets when the desk will liquidate a call: a moment in the
  future, or the call's own deadline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import insert, select, update

from ..commands import Command, Query, RequiredText, handles
from ..dto import DTO
from ..errors import Conflict, NotFound, ValidationFailed
from ..hk_calendar import HONG_KONG
from ..notify.publish import Message, publish_many
from ..types import UtcMoment
from ..schema import operators
from ..uow import UnitOfWork
from ..whole_numbers import Id, Version
from .call_queries import MarginCallDTO, load_call
from .calls import snapshot
from .settings import READ
from .tables import margin_calls, margin_follow_ups

FULL = "RiskWarningFull"
MESSAGE_TOPIC = "margin.client_message"
MAX_SELECTED = 500


class EditMarginCall(Command):
    """The list's Edit: status (Open or Exception) and remarks."""

    permission = FULL
    action = "edit a risk warning"
    call_id: Id
    status: Literal["OPEN", "EXCEPTION"]
    remarks: Annotated[str, Field(max_length=500)] = ""
    expected_version: Version


class AddFollowUp(Command):
    permission = FULL
    action = "add a follow-up record"
    call_id: Id
    content: Annotated[str, RequiredText(" (what was done or agreed)"), Field(max_length=1000)]


class FollowUpDTO(DTO):
    id: int
    call_id: int
    author: str
    content: str
    created_at: datetime


class ListFollowUps(Query):
    permission = READ
    action = "view follow-up records"
    call_id: Id


class SendMarginMessage(Command):
    """Send the margin-call message to the clients of the selected calls."""

    permission = FULL
    action = "send margin call messages"
    call_ids: Annotated[tuple[Id, ...], Field(min_length=1, max_length=MAX_SELECTED)]


class SetAutoLiquidation(Command):
    """Set when the selected calls are liquidated: ``at``, a moment in the future that
    becomes each call's deadline too (extended or brought forward), or None for each call's
    own deadline."""

    permission = FULL
    action = "set auto-liquidation"
    call_ids: Annotated[tuple[Id, ...], Field(min_length=1, max_length=MAX_SELECTED)]
    at: UtcMoment | None = None


class MessageResult(DTO):
    sent: tuple[str, ...]
    """Account numbers messaged."""


async def _call_row(uow: UnitOfWork, call_id: int):  # noqa: ANN202
    row = (await uow.conn.execute(select(margin_calls).where(margin_calls.c.id == call_id))).first()
    if row is None:
        raise NotFound(f"There is no margin call {call_id}.")
    return row


@handles(EditMarginCall)
async def edit_margin_call(uow: UnitOfWork, cmd: EditMarginCall) -> MarginCallDTO:
    row = await _call_row(uow, cmd.call_id)
    if row.status == "ENDED":
        raise Conflict(f"Margin call {row.id} has ended (it is in History): it can no longer be edited.")
    if row.version != cmd.expected_version:
        raise Conflict(f"Margin call {row.id} changed since you opened it (its figures or status moved). "
                       "Look at it again and edit again.")
    await uow.conn.execute(update(margin_calls).where(margin_calls.c.id == row.id).values(
        status=cmd.status, remarks=cmd.remarks, version=margin_calls.c.version + 1))
    uow.record("margin.call.edit", "margin_call", row.id, {"status": row.status, "remarks": row.remarks},
               {"status": cmd.status, "remarks": cmd.remarks})
    return await load_call(uow, row.id)


@handles(AddFollowUp)
async def add_follow_up(uow: UnitOfWork, cmd: AddFollowUp) -> FollowUpDTO:
    row = await _call_row(uow, cmd.call_id)
    result = await uow.conn.execute(insert(margin_follow_ups).values(
        call_id=row.id, author_id=uow.actor.operator_id, content=cmd.content, created_at=uow.now))
    follow_up_id = result.inserted_primary_key[0]
    uow.record("margin.follow_up.add", "margin_call", row.id, None, {"content": cmd.content})
    return FollowUpDTO(id=follow_up_id, call_id=row.id, author=uow.actor.username or "", content=cmd.content,
                       created_at=uow.now)


@handles(ListFollowUps)
async def list_follow_ups(uow: UnitOfWork, q: ListFollowUps) -> tuple[FollowUpDTO, ...]:
    rows = list(await uow.conn.execute(select(margin_follow_ups).where(margin_follow_ups.c.call_id == q.call_id)
                                       .order_by(margin_follow_ups.c.id)))
    ids = {r.author_id for r in rows}
    names = {o.id: o.username for o in await uow.conn.execute(
        select(operators.c.id, operators.c.username).where(operators.c.id.in_(ids)))} if ids else {}
    return tuple(FollowUpDTO(id=r.id, call_id=r.call_id, author=names.get(r.author_id, f"#{r.author_id}"),
                             content=r.content, created_at=r.created_at) for r in rows)


async def _selected(uow: UnitOfWork, call_ids: tuple[int, ...]) -> list:  # noqa: ANN401
    from ..fx.tables import clients

    rows = list(await uow.conn.execute(select(margin_calls, clients.c.account_no, clients.c.name).join(
        clients, clients.c.id == margin_calls.c.client_id).where(margin_calls.c.id.in_(set(call_ids)))))
    missing = set(call_ids) - {r.id for r in rows}
    if missing:
        raise NotFound(f"There is no margin call {min(missing)}.")
    return sorted(rows, key=lambda r: r.id)


@handles(SendMarginMessage)
async def send_margin_message(uow: UnitOfWork, cmd: SendMarginMessage) -> MessageResult:
    rows = await _selected(uow, cmd.call_ids)
    for row in rows:  # all or nothing: every refusal before anything is sent
        if row.status == "ENDED":
            raise ValidationFailed("Selection", f"{row.account_no}'s call has ended: no message")
        if row.status == "EXCEPTION":
            raise ValidationFailed("Selection", f"{row.account_no}'s call is an Exception: messages are stopped")
        if uow.now >= row.deadline:
            raise ValidationFailed("Selection", f"{row.account_no}'s call is past its deadline "
                                                f"({row.deadline.astimezone(HONG_KONG):%Y-%m-%d %H:%M} HKT): "
                                                "messages stop then")
    messages = []
    for row in rows:
        deadline = row.deadline.astimezone(HONG_KONG)
        messages.append(Message(
            MESSAGE_TOPIC, f"Margin call on your account {row.account_no}",
            f"Dear {row.name}, your account {row.account_no} is in margin call. Margin to be collected: HKD "
            f"{row.margin_to_collect:,}; net asset ratio {row.net_asset_ratio * 100:.2f} %. Please deposit funds or "
            f"reduce positions by {deadline:%Y-%m-%d %H:%M} Hong Kong time; after that the positions may be "
            "liquidated without further notice.", "margin_call", row.id))
        await snapshot(uow, row.id, "MESSAGE", _message_figures(row))
        await uow.conn.execute(update(margin_calls).where(margin_calls.c.id == row.id).values(
            last_message_at=uow.now, version=margin_calls.c.version + 1))
    await publish_many(uow, messages)
    uow.record("margin.call.message", "margin_call", ",".join(str(r.id) for r in rows), None,
               {"clients": [r.account_no for r in rows]})
    return MessageResult(sent=tuple(r.account_no for r in rows))


def _message_figures(row) -> str:  # noqa: ANN001
    import json

    return json.dumps({"margin_to_collect": str(row.margin_to_collect), "net_asset_ratio": str(row.net_asset_ratio),
                       "lna": str(row.lna), "equity": str(row.equity), "deadline": row.deadline.isoformat()},
                      sort_keys=True)


@handles(SetAutoLiquidation)
async def set_auto_liquidation(uow: UnitOfWork, cmd: SetAutoLiquidation) -> tuple[MarginCallDTO, ...]:
    if cmd.at is not None and cmd.at <= uow.now:
        raise ValidationFailed("Auto-liquidation time", "must be in the future")
    rows = await _selected(uow, cmd.call_ids)
    for row in rows:
        if row.status == "ENDED":
            raise ValidationFailed("Selection", f"{row.account_no}'s call has ended")
    for row in rows:
        at = cmd.at or row.deadline
        await uow.conn.execute(update(margin_calls).where(margin_calls.c.id == row.id).values(
            auto_liquidate_at=at, deadline=at, version=margin_calls.c.version + 1))
        uow.record("margin.call.auto_liquidation", "margin_call", row.id,
                   {"at": row.auto_liquidate_at, "deadline": row.deadline}, {"at": at, "deadline": at})
    return tuple([await load_call(uow, row.id) for row in rows])

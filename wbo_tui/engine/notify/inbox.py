"""The in-console inbox: every operator reads and marks their own messages, and nobody
else's.  The header polls ``UnreadCount``: one indexed count."""

from __future__ import annotations

from pydantic import Field
from sqlalchemy import func, select, update

from ..commands import Command, Query, handles
from ..errors import NotAuthenticated, NotFound
from ..uow import UnitOfWork
from ..whole_numbers import Id, PageSize
from .dto import InboxMessageDTO
from .tables import inbox_messages, notifications


class ListInbox(Query):
    """The acting operator's messages, newest first; page back with ``before_id``."""

    permission = None
    action = "read your inbox"
    unread_only: bool = False
    before_id: Id | None = None
    limit: PageSize = 100


class MarkInboxRead(Command):
    """Mark some of your own messages read.  Naming a message that is not yours refuses
    the whole command (and does not say whose it is)."""

    permission = None
    action = "mark inbox messages read"
    message_ids: list[Id] = Field(min_length=1, max_length=1000)


class UnreadCount(Query):
    permission = None
    action = "count your unread messages"


@handles(ListInbox)
async def list_inbox(uow: UnitOfWork, q: ListInbox) -> tuple[InboxMessageDTO, ...]:
    await uow.require(None)
    if uow.actor.operator_id is None:
        return ()
    m, n = inbox_messages, notifications
    stmt = (
        select(m.c.id, m.c.notification_id, m.c.created_at, m.c.read_at, n.c.topic, n.c.subject, n.c.body,
               n.c.source_type, n.c.source_id)
        .join(n, n.c.id == m.c.notification_id)
        .where(m.c.operator_id == uow.actor.operator_id)
    )
    if q.unread_only:
        stmt = stmt.where(m.c.read_at.is_(None))
    if q.before_id is not None:
        stmt = stmt.where(m.c.id < q.before_id)
    rows = await uow.conn.execute(stmt.order_by(m.c.id.desc()).limit(q.limit))
    return tuple(InboxMessageDTO(**r._mapping) for r in rows)


@handles(MarkInboxRead)
async def mark_inbox_read(uow: UnitOfWork, cmd: MarkInboxRead) -> int:
    """Returns how many messages were unread and are now read."""
    await uow.require(None)
    me = uow.actor.operator_id
    if me is None:
        raise NotAuthenticated("Only an operator has an inbox.")
    m = inbox_messages
    wanted = sorted(set(cmd.message_ids))
    mine = {r[0] for r in await uow.conn.execute(select(m.c.id).where(m.c.id.in_(wanted), m.c.operator_id == me))}
    foreign = [i for i in wanted if i not in mine]
    if foreign:
        raise NotFound(f"Inbox message {foreign[0]} is not in your inbox.")
    newly = sorted(r[0] for r in await uow.conn.execute(
        select(m.c.id).where(m.c.id.in_(wanted), m.c.operator_id == me, m.c.read_at.is_(None))
    ))
    if not newly:
        return 0
    await uow.conn.execute(update(m).where(m.c.id.in_(newly), m.c.operator_id == me).values(read_at=uow.now))
    uow.record("inbox.mark_read", "operator", uow.actor.username, None, {"messages": newly})
    return len(newly)


@handles(UnreadCount)
async def unread_count(uow: UnitOfWork, q: UnreadCount) -> int:
    await uow.require(None)
    if uow.actor.operator_id is None:
        return 0
    m = inbox_messages
    stmt = select(func.count()).select_from(m).where(m.c.operator_id == uow.actor.operator_id, m.c.read_at.is_(None))
    return (await uow.conn.execute(stmt)).scalar_one()

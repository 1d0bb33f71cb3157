"""Publishing: who receives a notification, in the caller's transaction; the inbox."""

from __future__ import annotations

import pytest
from engine_support import FRESH_PASSWORD, audit_records, login, new_operator, scalar, snapshot
from notify_support import SERVICE, publish_now, subscribe

from wbo_tui.engine import (
    CreateOperator,
    Engine,
    ListDeliveries,
    ListInbox,
    ListNotifications,
    MarkInboxRead,
    NotFound,
    SetOperatorEnabled,
    UnreadCount,
)
from wbo_tui.engine.notify import publish
from wbo_tui.engine.uow import write_unit


async def test_publish_resolves_operators_roles_and_addresses(engine: Engine) -> None:
    admin = await login(engine, "admin")
    # Two more checkers, one of them disabled: a role reaches its enabled members only.
    for name in ("checker2", "checker3"):
        await engine.setup_execute(tool="test", command=CreateOperator(
            username=name, display_name=name.title(), password=FRESH_PASSWORD, roles=["checker"],
        ))
    await engine.execute(admin, SetOperatorEnabled(username="checker3", enabled=False))
    await subscribe(engine, admin, channel="inbox", role="checker")
    await subscribe(engine, admin, channel="inbox", operator="checker")  # also via the role: one message
    await subscribe(engine, admin, channel="inbox", operator="maker")
    await subscribe(engine, admin, channel="email", operator="trader", address="desk@example.com")
    await subscribe(engine, admin, channel="email", role="checker", address="desk@example.com")  # same mailbox
    await subscribe(engine, admin, channel="email", operator="viewer", address="vera@example.com")
    await subscribe(engine, admin, channel="webhook", address="https://hooks.example.com/a")
    await subscribe(engine, admin, topic="position.blocking", channel="inbox", operator="admin")  # another topic
    await engine.execute(admin, SetOperatorEnabled(username="viewer", enabled=False))  # after subscribing

    notification_id = await publish_now(engine)

    for name, unread in [("checker", 1), ("checker2", 1), ("maker", 1), ("admin", 0), ("trader", 0)]:
        session = await login(engine, name)
        assert await engine.query(session, UnreadCount()) == unread, name
    assert await scalar(engine, "SELECT count(*) FROM inbox_messages") == 3  # not checker3, not viewer
    deliveries = await engine.query(admin, ListDeliveries())
    assert sorted((d.channel, d.address, d.operator, d.status) for d in deliveries) == [
        ("email", "desk@example.com", "trader", "PENDING"),
        ("webhook", "https://hooks.example.com/a", None, "PENDING"),
    ]
    assert all(d.notification_id == notification_id and d.attempts == 0 for d in deliveries)
    assert len({d.ref for d in deliveries}) == 2
    (record,) = await audit_records(engine, "notification.publish")
    assert (record.operator, record.target_id) == ("positions", str(notification_id))
    assert '"inbox_operators":3' in record.after


async def test_publish_is_part_of_the_callers_transaction(engine: Engine) -> None:
    admin = await login(engine, "admin")
    await subscribe(engine, admin, channel="inbox", role="checker")
    await subscribe(engine, admin, channel="webhook", address="https://hooks.example.com/a")
    before = await snapshot(engine)

    class PositionChangeFailed(Exception):
        pass

    with pytest.raises(PositionChangeFailed):
        async with write_unit(engine.db, SERVICE, engine.services) as uow:
            await publish(uow, "position.blocking", "Blocking", "Below blocking", source_type="channel_account",
                          source_id=7)
            assert await scalar_in(uow, "SELECT count(*) FROM notifications") == 1
            raise PositionChangeFailed  # the position update that raised the alert fails

    assert await snapshot(engine) == before, "the alert outlived the change that raised it"

    await publish_now(engine)  # and when the change commits, everything commits with it
    assert await scalar(engine, "SELECT count(*) FROM notifications") == 1
    assert await scalar(engine, "SELECT count(*) FROM inbox_messages") == 1
    assert await scalar(engine, "SELECT count(*) FROM deliveries") == 1


async def scalar_in(uow, sql: str) -> int:  # noqa: ANN001
    from sqlalchemy import text

    return (await uow.conn.execute(text(sql))).scalar_one()


async def test_a_topic_nobody_subscribes_to_is_still_recorded_and_visible(engine: Engine) -> None:
    admin = await login(engine, "admin")
    await subscribe(engine, admin, channel="inbox", operator="maker")  # position.alert only
    notification_id = await publish_now(engine, topic="position.recovered", subject="Position recovered: HSBC 001",
                                        body="Available 5000.00 HKD is back at or above its thresholds.")
    (listed,) = await engine.query(admin, ListNotifications())
    assert (listed.id, listed.topic, listed.subject) == (notification_id, "position.recovered",
                                                         "Position recovered: HSBC 001")
    assert (listed.inbox_count, listed.pending, listed.sent, listed.failed) == (0, 0, 0, 0)
    assert (listed.source_type, listed.source_id) == ("channel_account", "7")
    assert await engine.query(admin, ListDeliveries()) == ()


async def test_publish_refuses_a_topic_outside_the_catalogue(engine: Engine) -> None:
    with pytest.raises(ValueError, match="unknown topic"):
        await publish_now(engine, topic="position.typo")
    assert await scalar(engine, "SELECT count(*) FROM notifications") == 0


async def test_subject_is_one_header_line(engine: Engine) -> None:
    await publish_now(engine, subject="Alert\r\nBcc: someone@example.com " + "x" * 300)
    subject = await scalar(engine, "SELECT subject FROM notifications")
    assert "\n" not in subject and "\r" not in subject
    assert subject.startswith("Alert Bcc:") and len(subject) == 200


# --- the inbox ------------------------------------------------------------------------------


async def test_inbox_unread_count_and_mark_read_are_per_operator(engine: Engine) -> None:
    admin = await login(engine, "admin")
    other = await new_operator(engine, admin, "other")
    await subscribe(engine, admin, channel="inbox", operator="maker")
    await subscribe(engine, admin, channel="inbox", operator="other")
    first = await publish_now(engine, subject="First")
    second = await publish_now(engine, subject="Second")
    maker = await login(engine, "maker")

    assert await engine.query(maker, UnreadCount()) == 2
    inbox = await engine.query(maker, ListInbox())
    assert [(m.notification_id, m.subject, m.read_at) for m in inbox] == [(second, "Second", None),
                                                                           (first, "First", None)]
    others = await engine.query(other, ListInbox())
    assert {m.id for m in others}.isdisjoint({m.id for m in inbox})

    assert await engine.execute(maker, MarkInboxRead(message_ids=[inbox[1].id])) == 1
    assert await engine.query(maker, UnreadCount()) == 1
    assert [m.subject for m in await engine.query(maker, ListInbox(unread_only=True))] == ["Second"]
    assert await engine.execute(maker, MarkInboxRead(message_ids=[inbox[1].id])) == 0  # already read
    assert (await engine.query(maker, ListInbox()))[1].read_at == engine.clock.now()

    # Someone else's message: refused as a whole, nothing marked, nothing revealed.
    before = await snapshot(engine)
    with pytest.raises(NotFound, match=f"Inbox message {others[0].id} is not in your inbox"):
        await engine.execute(maker, MarkInboxRead(message_ids=[inbox[0].id, others[0].id]))
    assert await snapshot(engine) == before
    assert await engine.query(other, UnreadCount()) == 2

    records = await audit_records(engine, "inbox.mark_read")
    assert [(r.operator, r.target_id) for r in records] == [("maker", "maker")]
    # An operator without any subscription simply has an empty inbox.
    assert await engine.query(admin, UnreadCount()) == 0
    assert await engine.query(admin, ListInbox()) == ()

"""Message subscriptions: creating, validating, pausing and removing them."""

from __future__ import annotations

import pytest
from engine_support import audit_records, execute_raw, login, scalar, snapshot
from notify_support import publish_now, subscribe
from sqlalchemy.exc import IntegrityError

from wbo_tui.engine import (
    Conflict,
    CreateSubscription,
    DeleteSubscription,
    Engine,
    ListDeliveries,
    ListSubscriptions,
    NotFound,
    SetOperatorEnabled,
    SetSubscriptionEnabled,
    ValidationFailed,
    build,
)


async def test_create_and_list_each_kind_of_recipient(engine: Engine) -> None:
    admin = await login(engine, "admin")
    created = [
        await engine.execute(admin, CreateSubscription(topic="position.alert", channel="inbox", operator="maker")),
        await engine.execute(admin, CreateSubscription(topic="position.alert", channel="inbox", role="checker")),
        await engine.execute(admin, CreateSubscription(
            topic="position.blocking", channel="email", operator="trader", address="tom.trader@example.com",
        )),
        await engine.execute(admin, CreateSubscription(
            topic="position.blocking", channel="webhook", address="https://hooks.example.com/wbo",
        )),
    ]
    listed = await engine.query(admin, ListSubscriptions())
    assert {s.id for s in listed} == {s.id for s in created}
    by_channel = {(s.topic, s.channel, s.operator, s.role, s.address) for s in listed}
    assert by_channel == {
        ("position.alert", "inbox", "maker", None, None),
        ("position.alert", "inbox", None, "checker", None),
        ("position.blocking", "email", "trader", None, "tom.trader@example.com"),
        ("position.blocking", "webhook", None, None, "https://hooks.example.com/wbo"),
    }
    assert all(s.enabled and s.created_by == "admin" for s in listed)
    assert [s.topic for s in await engine.query(admin, ListSubscriptions(topic="position.blocking"))] == [
        "position.blocking", "position.blocking",
    ]
    records = await audit_records(engine, "subscription.create")
    assert [r.target_id for r in records] == [str(s.id) for s in created]
    assert '"role":"checker"' in records[1].after


@pytest.mark.parametrize(
    ("fields", "label", "words"),
    [
        ({"topic": "position.alrt", "channel": "inbox", "operator": "maker"}, "Topic", "not a topic"),
        ({"topic": "position.alert", "channel": "sms", "operator": "maker"}, "Channel", "inbox, email or webhook"),
        ({"topic": "position.alert", "channel": "email", "operator": "maker", "address": "maker@"}, "Address",
         "email address"),
        ({"topic": "position.alert", "channel": "email", "operator": "maker", "address": "a b@example.com"},
         "Address", "email address"),
        ({"topic": "position.alert", "channel": "email", "operator": "maker"}, "Address", "email address"),
        ({"topic": "position.alert", "channel": "webhook", "address": "ftp://example.com/x"}, "Address",
         "http:// or https://"),
        ({"topic": "position.alert", "channel": "webhook", "address": "https://"}, "Address", "http:// or https://"),
        ({"topic": "position.alert", "channel": "webhook", "address": "https://x.example.com", "operator": "maker"},
         "Role", "not used by webhook"),
        ({"topic": "position.alert", "channel": "inbox"}, "Role", "exactly one"),
        ({"topic": "position.alert", "channel": "inbox", "operator": "maker", "role": "checker"}, "Role",
         "exactly one"),
        ({"topic": "position.alert", "channel": "inbox", "operator": "maker", "address": "m@example.com"},
         "Address", "not used by inbox"),
    ],
)
def test_validation_names_the_field(fields: dict, label: str, words: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build(CreateSubscription, **fields)
    assert caught.value.field == label, str(caught.value)
    assert words in str(caught.value)


def test_blank_recipient_fields_from_a_form_count_as_absent() -> None:
    cmd = build(CreateSubscription, topic="position.alert", channel="Inbox", operator=" maker ", role="", address="")
    assert (cmd.channel, cmd.operator, cmd.role, cmd.address) == ("inbox", "maker", None, None)


async def test_unknown_or_disabled_recipients_are_refused(engine: Engine) -> None:
    admin = await login(engine, "admin")
    await engine.execute(admin, SetOperatorEnabled(username="viewer", enabled=False))
    before = await snapshot(engine)
    cases = [
        (CreateSubscription(topic="position.alert", channel="inbox", operator="nobody"), "Operator", "not an operator"),
        (CreateSubscription(topic="position.alert", channel="inbox", operator="viewer"), "Operator", "disabled"),
        (CreateSubscription(topic="position.alert", channel="email", role="desk", address="d@example.com"), "Role",
         "not a role"),
    ]
    for command, label, words in cases:
        with pytest.raises(ValidationFailed) as caught:
            await engine.execute(admin, command)
        assert caught.value.field == label
        assert words in str(caught.value)
    assert await snapshot(engine) == before


async def test_a_duplicate_subscription_is_refused_and_the_database_backs_it(engine: Engine) -> None:
    admin = await login(engine, "admin")
    first = await subscribe(engine, admin, channel="inbox", role="checker")
    await subscribe(engine, admin, channel="webhook", address="https://hooks.example.com/a")
    with pytest.raises(Conflict, match=f"role checker is already subscribed to position.alert by inbox .*{first}"):
        await engine.execute(admin, CreateSubscription(topic="position.alert", channel="inbox", role="checker"))
    with pytest.raises(Conflict, match="already subscribed"):
        await engine.execute(admin, CreateSubscription(
            topic="position.alert", channel="webhook", address="https://hooks.example.com/a",
        ))
    # Another topic, or another recipient, is a different subscription.
    await subscribe(engine, admin, topic="position.recovered", channel="inbox", role="checker")
    await subscribe(engine, admin, channel="inbox", operator="checker")
    # A writer that skips the check still cannot store a duplicate.
    with pytest.raises(IntegrityError):
        await execute_raw(
            engine,
            "INSERT INTO message_subscriptions (topic, channel, role_id, enabled, created_at, created_by) "
            "SELECT 'position.alert', 'inbox', role_id, true, created_at, 'x' FROM message_subscriptions "
            "WHERE id = :id",
            id=first,
        )
    assert await scalar(engine, "SELECT count(*) FROM message_subscriptions") == 4


async def test_the_table_refuses_a_malformed_recipient(engine: Engine) -> None:
    with pytest.raises(IntegrityError):
        await execute_raw(
            engine,
            "INSERT INTO message_subscriptions (topic, channel, address, enabled, created_at, created_by) "
            "VALUES ('position.alert', 'inbox', NULL, true, '2026-11-20 09:30:00', 'x')",
        )
    assert await scalar(engine, "SELECT count(*) FROM message_subscriptions") == 0


async def test_disabled_subscription_receives_nothing_until_enabled(engine: Engine) -> None:
    admin = await login(engine, "admin")
    sub = await subscribe(engine, admin, channel="webhook", address="https://hooks.example.com/a")
    paused = await engine.execute(admin, SetSubscriptionEnabled(subscription_id=sub, enabled=False))
    assert paused.enabled is False
    with pytest.raises(Conflict, match="already disabled"):
        await engine.execute(admin, SetSubscriptionEnabled(subscription_id=sub, enabled=False))
    await publish_now(engine)
    assert await engine.query(admin, ListDeliveries()) == ()
    await engine.execute(admin, SetSubscriptionEnabled(subscription_id=sub, enabled=True))
    await publish_now(engine)
    assert len(await engine.query(admin, ListDeliveries())) == 1
    assert [r.action for r in await audit_records(engine, "subscription.disable")] == ["subscription.disable"]


async def test_deleting_a_subscription_fails_its_waiting_deliveries_visibly(engine: Engine) -> None:
    admin = await login(engine, "admin")
    sub = await subscribe(engine, admin, channel="webhook", address="https://hooks.example.com/a")
    await publish_now(engine)
    deleted = await engine.execute(admin, DeleteSubscription(subscription_id=sub))
    assert deleted.id == sub
    assert await engine.query(admin, ListSubscriptions()) == ()
    (delivery,) = await engine.query(admin, ListDeliveries(status="FAILED"))
    assert delivery.subscription_id is None
    assert f"Subscription {sub} was deleted" in (delivery.last_error or "")
    (record,) = await audit_records(engine, "subscription.delete")
    assert '"cancelled_deliveries":1' in record.after
    with pytest.raises(NotFound):
        await engine.execute(admin, DeleteSubscription(subscription_id=sub))


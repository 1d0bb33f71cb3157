"""A poll's threshold crossings are recorded in batches: the batch writes exactly the
rows one-by-one publishing writes, in the poll's transaction, and the audit chain holds."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_support import audit_records, login, scalar, snapshot
from notify_support import SERVICE, subscribe
from positions_support import open_desk
from sqlalchemy import select

from wbo_tui.engine import Engine
from wbo_tui.engine.positions import ListPositions, SetThresholds
from wbo_tui.engine.audit import verify
from wbo_tui.engine.notify.publish import Message, publish, publish_many
from wbo_tui.engine.notify.tables import deliveries, inbox_messages, notifications
from wbo_tui.engine.positions import levels
from wbo_tui.engine.positions.tables import domain_events
from wbo_tui.engine.uow import write_unit

D = Decimal

MESSAGES = [
    Message("position.alert", "Alert threshold crossed: A", "Available 900 is below 1000.", "channel_account", 7),
    Message("position.blocking", "Blocking  threshold\ncrossed: B", "Below 500.", "channel_account", 8),
    Message("position.recovered", "Position recovered: C", "Back above.", "channel_account", 9),  # no subscriber
    Message("position.alert", "Alert threshold crossed: A", "Available 900 is below 1000.", "channel_account", 7),
    Message("position.alert", "Alert threshold crossed: D", "Available 10 is below 1000.", "channel_account", "10"),
]


async def _subscriptions(engine: Engine) -> None:
    admin = await login(engine, "admin")
    await subscribe(engine, admin, channel="inbox", role="checker")
    await subscribe(engine, admin, channel="inbox", operator="checker")  # also via the role: one message
    await subscribe(engine, admin, channel="inbox", operator="maker")
    await subscribe(engine, admin, channel="email", operator="trader", address="desk@example.com")
    await subscribe(engine, admin, channel="email", role="checker", address="desk@example.com")  # same mailbox
    await subscribe(engine, admin, channel="webhook", address="https://hooks.example.com/a")
    await subscribe(engine, admin, topic="position.blocking", channel="inbox", operator="admin")
    await subscribe(engine, admin, topic="position.blocking", channel="webhook", address="https://hooks.example.com/b")


async def _written(engine: Engine, ids: list[int]) -> list[tuple[Any, ...]]:
    """What was written for each of the notifications ``ids``, in id order, with the ids
    and delivery refs replaced by their rank (two runs differ only in those)."""
    async with engine.db.connect() as conn:
        rows = (await conn.execute(select(notifications).where(notifications.c.id.in_(ids))
                                   .order_by(notifications.c.id))).all()
        inbox = (await conn.execute(select(inbox_messages.c.notification_id, inbox_messages.c.operator_id)
                                    .order_by(inbox_messages.c.id))).all()
        sent = (await conn.execute(select(deliveries).order_by(deliveries.c.id))).all()
    refs = sorted(d.ref for d in sent if d.notification_id in ids)
    out = []
    for rank, n in enumerate(rows):
        out.append((
            rank, n.topic, n.subject, n.body, n.source_type, n.source_id, n.created_at,
            [op for nid, op in inbox if nid == n.id],
            [(refs.index(d.ref), d.channel, d.address, d.operator_id, d.subscription_id, d.status, d.attempts)
             for d in sent if d.notification_id == n.id],
        ))
    return out


async def _publish_audit(engine: Engine, ids: list[int]) -> list[dict[str, Any]]:
    records = [r for r in await audit_records(engine, "notification.publish") if int(r.target_id) in ids]
    out = []
    for r in records:
        after = json.loads(r.after)
        after["deliveries"] = [(d["channel"], d["address"]) for d in after["deliveries"]]
        out.append(after)
    return out


async def test_publish_many_writes_what_publish_writes_one_by_one(engine: Engine) -> None:
    await _subscriptions(engine)
    async with write_unit(engine.db, SERVICE, engine.services) as uow:
        one_by_one = [
            await publish(uow, m.topic, m.subject, m.body, source_type=m.source_type, source_id=m.source_id)
            for m in MESSAGES
        ]
    async with write_unit(engine.db, SERVICE, engine.services) as uow:
        batch = await publish_many(uow, MESSAGES)

    assert batch == sorted(batch) and batch[0] > one_by_one[-1]  # ids in message order
    singles, batched = await _written(engine, one_by_one), await _written(engine, batch)
    assert batched == singles  # the same rows, in the same order
    assert [r[1] for r in batched] == [m.topic for m in MESSAGES]
    assert batched[1][2] == "Blocking threshold crossed: B"  # one header line, as publish makes it
    assert batched[0][7] == sorted(batched[0][7]) and len(batched[0][7]) == 2  # checker once, maker
    assert batched[2][7] == [] and batched[2][8] == []  # nobody subscribes to recoveries: the row alone
    assert [len(r[8]) for r in batched] == [2, 1, 0, 2, 2]  # desk@ once, each webhook once
    assert await _publish_audit(engine, batch) == await _publish_audit(engine, one_by_one)


async def test_publish_many_refuses_an_unknown_topic_before_writing(engine: Engine) -> None:
    before = await snapshot(engine)
    with pytest.raises(ValueError, match="unknown topic 'position.lunch'"):
        async with write_unit(engine.db, SERVICE, engine.services) as uow:
            await publish_many(uow, [MESSAGES[0], Message("position.lunch", "s", "b", "channel_account", 1)])
    assert await snapshot(engine) == before


@pytest.fixture
async def desk(engine: Engine, tmp_path: Path):  # noqa: ANN201
    d = await open_desk(engine, tmp_path / "bank.sqlite")
    yield d
    d.bank.close()


async def _thresholds(desk: Any) -> None:  # noqa: ANN401
    for name, alert, blocking in [("hkd_principal", "50000", "20000"), ("hkd_fee", "50000", "20000"),
                                  ("usdt_principal", "1000", "500"), ("usdt_fee", "1000", "500")]:
        await desk.engine.execute(desk.maker, SetThresholds(
            channel_account_id=desk.accounts[name], threshold_alert=alert, threshold_blocking=blocking))


async def test_a_poll_records_every_crossing_with_its_alert_event_and_audit(desk: Any) -> None:  # noqa: ANN401
    engine = desk.engine
    await _subscriptions(engine)
    await engine.poll_positions(slot="test:0", holder="tests")
    await _thresholds(desk)
    await desk.bank.set_balance("HK-PRIN-001", "HKD", D("10000"))  # blocking
    await desk.bank.set_balance("HK-FEE-001", "HKD", D("40000.50"))  # alert
    await desk.bank.set_balance("HK-PRIN-001", "USDT", D("499.999999"))  # blocking
    report = await engine.poll_positions(slot="test:1", holder="tests")
    assert (report.accounts_ok, report.level_changes) == (5, 3)

    page = await engine.query(desk.maker, ListPositions(sort_by="level"))
    levels_now = {p.channel_account_id: (p.level, p.available) for p in page.rows}
    assert levels_now[desk.accounts["hkd_principal"]] == ("BLOCKING", D("10000"))
    assert levels_now[desk.accounts["hkd_fee"]] == ("ALERT", D("40000.50"))
    assert levels_now[desk.accounts["usdt_principal"]] == ("BLOCKING", D("499.999999"))
    assert levels_now[desk.accounts["usdt_fee"]] == ("NORMAL", D("5000"))

    crossed = {str(desk.accounts[n]) for n in ("hkd_principal", "hkd_fee", "usdt_principal")}
    async with engine.db.connect() as conn:
        sources = (await conn.execute(select(notifications.c.topic, notifications.c.source_id))).all()
        blocking_events = (await conn.execute(select(domain_events.c.aggregate_id)
                                              .where(domain_events.c.kind == "position.below_blocking"))).all()
    assert sorted(sources) == sorted([("position.blocking", str(desk.accounts["hkd_principal"])),
                                      ("position.alert", str(desk.accounts["hkd_fee"])),
                                      ("position.blocking", str(desk.accounts["usdt_principal"]))])
    assert {r[0] for r in blocking_events} == crossed - {str(desk.accounts["hkd_fee"])}
    assert {r.target_id for r in await audit_records(engine, "position.level")} == crossed
    # Blocking: admin's inbox and webhook b; alert: checker and maker, desk@ and webhook a.
    assert await scalar(engine, "SELECT count(*) FROM inbox_messages") == 2 * 1 + 2
    assert await scalar(engine, "SELECT count(*) FROM deliveries") == 2 * 1 + 2

    again = await engine.poll_positions(slot="test:2", holder="tests")  # levels unchanged: no alert
    assert again.level_changes == 0
    assert await scalar(engine, "SELECT count(*) FROM notifications") == 3
    async with engine.db.connect() as conn:
        assert (await verify(conn)).ok


async def test_crossings_roll_back_with_the_balances_they_are_based_on(desk: Any, monkeypatch) -> None:  # noqa: ANN001, ANN401
    engine = desk.engine
    await engine.poll_positions(slot="test:0", holder="tests")
    await _thresholds(desk)
    await desk.bank.set_balance("HK-PRIN-001", "HKD", D("10000"))
    before = await snapshot(engine, everything=True)

    class EventStoreDown(Exception):
        pass

    async def failing(*_: Any) -> None:  # noqa: ANN401
        raise EventStoreDown

    monkeypatch.setattr(levels.events, "emit_many", failing)
    with pytest.raises(EventStoreDown):
        await engine.poll_positions(slot="test:1", holder="tests")
    after = await snapshot(engine, everything=True)
    for table in ("positions", "notifications", "inbox_messages", "deliveries", "domain_events", "audit_log"):
        assert after[table] == before[table], table

"""The delivery loop against a real SMTP server and a real HTTP endpoint on loopback:
sending, retries with backoff, failure, operator retry, and claims."""

from __future__ import annotations

from datetime import timedelta

import pytest
from engine_support import audit_actions, audit_head_row, audit_records, login, scalar
from notify_support import WebhookReceiver, closed_port, publish_now, smtp_sink, subscribe

from wbo_tui.engine import Conflict, Engine, FixedClock, ListDeliveries, ListNotifications, RetryDelivery, VerifyAuditLog
from wbo_tui.engine.notify import (
    RetryPolicy,
    SmtpSender,
    SmtpServer,
    WebhookSender,
    claim_due,
    deliver_due,
    make_senders,
)
from wbo_tui.engine.notify.delivery import record_outcome, send_claimed

WORKER = "console-a"


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(backoff_s=(30, 120, 600, 1800), cap_s=3600, max_attempts=8)
    assert [policy.delay_after(n).total_seconds() for n in range(1, 7)] == [30, 120, 600, 1800, 3600, 3600]
    assert RetryPolicy(backoff_s=(30, 7200), cap_s=3600).delay_after(2) == timedelta(hours=1)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


async def test_email_reaches_a_real_smtp_server(engine: Engine, clock: FixedClock) -> None:
    admin = await login(engine, "admin")
    await subscribe(engine, admin, channel="email", operator="trader", address="tom.trader@example.com")
    notification_id = await publish_now(engine, subject="Alert threshold crossed: HSBC 001 HKD")
    (queued,) = await engine.query(admin, ListDeliveries())
    async with smtp_sink() as sink:
        senders = make_senders(SmtpServer("127.0.0.1", sink.port, sender="wbo-alerts@bank.example"))
        report = await deliver_due(engine, worker_id=WORKER, senders=senders)

    assert (report.claimed, report.sent) == (1, 1)
    ((mail_from, rcpt_tos, email),) = sink.messages
    assert (mail_from, rcpt_tos) == ("wbo-alerts@bank.example", ["tom.trader@example.com"])
    assert email["Subject"] == "Alert threshold crossed: HSBC 001 HKD"
    assert email["To"] == "tom.trader@example.com"
    assert email["Message-ID"] == f"<{queued.ref}@bank.example>"
    assert email["X-WBO-Topic"] == "position.alert"
    assert "below the alert threshold 1000.00" in email.get_content()
    (sent,) = await engine.query(admin, ListDeliveries(status="SENT"))
    assert (sent.attempts, sent.sent_at, sent.last_error, sent.claimed_by) == (1, clock.now(), None, None)
    (notification,) = await engine.query(admin, ListNotifications())
    assert (notification.id, notification.sent, notification.pending) == (notification_id, 1, 0)
    assert (await audit_actions(engine))[-2:] == ["delivery.claim", "delivery.sent"]
    # Nothing left: the next pass claims nothing and writes nothing.
    head, _ = await audit_head_row(engine)
    assert (await deliver_due(engine, worker_id=WORKER, senders=senders)).claimed == 0
    assert (await audit_head_row(engine))[0] == head


async def test_webhook_posts_json_with_an_idempotency_key(engine: Engine) -> None:
    admin = await login(engine, "admin")
    with WebhookReceiver() as receiver:
        await subscribe(engine, admin, topic="position.blocking", channel="webhook", address=receiver.url)
        notification_id = await publish_now(engine, topic="position.blocking", subject="Blocking threshold crossed",
                                            body="Withdrawals are intercepted.", source_id="12")
        report = await deliver_due(engine, worker_id=WORKER, senders=make_senders())
    assert report.sent == 1
    (request,) = receiver.received
    (delivery,) = await engine.query(admin, ListDeliveries(status="SENT"))
    assert request.path == "/hooks/wbo"
    assert request.headers["Idempotency-Key"] == delivery.ref
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.body == {
        "delivery": delivery.ref, "notification_id": notification_id, "topic": "position.blocking",
        "subject": "Blocking threshold crossed", "body": "Withdrawals are intercepted.",
        "source": {"type": "channel_account", "id": "12"},
        "created_at": engine.clock.now().isoformat(), "attempt": 1,
    }


async def test_smtp_server_down_schedules_retries_with_backoff(engine: Engine, clock: FixedClock) -> None:
    admin = await login(engine, "admin")
    await subscribe(engine, admin, channel="email", role="checker", address="checkers@example.com")
    await publish_now(engine)
    start = clock.now()
    with closed_port() as port:
        senders = make_senders(SmtpServer("127.0.0.1", port, timeout_s=5))
        report = await deliver_due(engine, worker_id=WORKER, senders=senders)
        assert (report.claimed, report.retry_scheduled) == (1, 1)
        (waiting,) = await engine.query(admin, ListDeliveries(status="PENDING"))
        assert waiting.attempts == 1
        assert waiting.next_attempt_at == start + timedelta(seconds=30)
        assert f"127.0.0.1:{port} unreachable" in (waiting.last_error or "")

        clock.advance(seconds=29)  # not due yet
        assert (await deliver_due(engine, worker_id=WORKER, senders=senders)).claimed == 0
        clock.advance(seconds=1)
        assert (await deliver_due(engine, worker_id=WORKER, senders=senders)).retry_scheduled == 1
        (waiting,) = await engine.query(admin, ListDeliveries(status="PENDING"))
        assert (waiting.attempts, waiting.next_attempt_at) == (2, clock.now() + timedelta(minutes=2))

    # The server comes back: the next due pass delivers.
    clock.advance(minutes=2)
    async with smtp_sink() as sink:
        report = await deliver_due(engine, worker_id=WORKER, senders=make_senders(SmtpServer("127.0.0.1", sink.port)))
    assert report.sent == 1 and len(sink.messages) == 1
    (sent,) = await engine.query(admin, ListDeliveries())
    assert (sent.status, sent.attempts, sent.last_error) == ("SENT", 3, None)
    assert [r.action for r in await audit_records(engine, "delivery.retry_scheduled")] == ["delivery.retry_scheduled"] * 2


async def test_webhook_failing_until_max_attempts_then_operator_retry_sends(engine: Engine, clock: FixedClock) -> None:
    admin = await login(engine, "admin")
    policy = RetryPolicy(backoff_s=(30, 120), max_attempts=3)
    with WebhookReceiver(statuses=[500, 503, 500]) as receiver:
        await subscribe(engine, admin, channel="webhook", address=receiver.url)
        await publish_now(engine)
        outcomes = []
        for wait_s in (0, 30, 120):
            clock.advance(seconds=wait_s)
            report = await deliver_due(engine, worker_id=WORKER, senders=make_senders(), policy=policy)
            outcomes.append((report.retry_scheduled, report.failed))
        assert outcomes == [(1, 0), (1, 0), (0, 1)]
        (failed,) = await engine.query(admin, ListDeliveries(status="FAILED"))
        assert failed.attempts == 3
        assert failed.last_error == "Webhook answered HTTP 500 Internal Server Error"
        assert await engine.query(admin, ListDeliveries(status="PENDING")) == ()
        clock.advance(hours=2)  # FAILED is final for the loop, however long it waits
        assert (await deliver_due(engine, worker_id=WORKER, senders=make_senders(), policy=policy)).claimed == 0

        retried = await engine.execute(admin, RetryDelivery(delivery_id=failed.id))
        assert (retried.status, retried.attempts, retried.next_attempt_at) == ("PENDING", 0, clock.now())
        report = await deliver_due(engine, worker_id=WORKER, senders=make_senders(), policy=policy)
        assert report.sent == 1
        with pytest.raises(Conflict, match="is SENT; only failed deliveries can be retried"):
            await engine.execute(admin, RetryDelivery(delivery_id=failed.id))
    assert receiver.keys() == [failed.ref] * 4, "every attempt carries the same idempotency key"
    assert [r.body["attempt"] for r in receiver.received] == [1, 2, 3, 1]
    assert (await audit_records(engine, "delivery.retry"))[0].operator == "admin"


async def test_permanent_refusals_fail_at_once(engine: Engine) -> None:
    """A refused mailbox or an HTTP 404 will not heal by waiting: FAILED on the first
    attempt, visible, and retryable by an operator once someone fixes the address."""
    admin = await login(engine, "admin")
    with WebhookReceiver(statuses=[404]) as receiver:
        await subscribe(engine, admin, channel="webhook", address=receiver.url)
        await subscribe(engine, admin, channel="email", operator="maker", address="gone@example.com")
        await publish_now(engine)
        async with smtp_sink() as sink:
            sink.refuse.add("gone@example.com")
            report = await deliver_due(engine, worker_id=WORKER,
                                       senders=make_senders(SmtpServer("127.0.0.1", sink.port)))
    assert (report.claimed, report.failed) == (2, 2)
    errors = sorted(d.last_error or "" for d in await engine.query(admin, ListDeliveries(status="FAILED")))
    assert errors[0].startswith("SMTP refused the recipient: gone@example.com: 550")
    assert errors[1] == "Webhook answered HTTP 404 Not Found"


async def test_without_an_smtp_server_email_waits_visibly(engine: Engine) -> None:
    admin = await login(engine, "admin")
    await subscribe(engine, admin, channel="email", operator="maker", address="mei@example.com")
    await publish_now(engine)
    report = await deliver_due(engine, worker_id=WORKER, senders=make_senders(smtp=None))
    assert report.retry_scheduled == 1
    (waiting,) = await engine.query(admin, ListDeliveries(status="PENDING"))
    assert waiting.last_error == "No SMTP server is configured for this console."


def test_smtp_credentials_require_starttls() -> None:
    with pytest.raises(ValueError, match="starttls"):
        SmtpServer("smtp.example.com", 587, username="wbo", password="secret")
    assert "secret" not in repr(SmtpServer("smtp.example.com", 587, starttls=True, username="wbo", password="secret"))


# --- claims ---------------------------------------------------------------------------------


async def test_a_live_claim_keeps_other_workers_off(engine: Engine, clock: FixedClock) -> None:
    admin = await login(engine, "admin")
    await subscribe(engine, admin, channel="webhook", address="https://hooks.example.com/a")
    for i in range(3):
        await publish_now(engine, source_id=str(i))
    now = clock.now()
    mine = await claim_due(engine, worker_id="a", now=now, limit=2, claim_ttl_s=60)
    theirs = await claim_due(engine, worker_id="b", now=now, limit=10, claim_ttl_s=60)
    assert len(mine) == 2 and len(theirs) == 1
    assert {c.delivery_id for c in mine}.isdisjoint({c.delivery_id for c in theirs})
    assert await claim_due(engine, worker_id="c", now=now + timedelta(seconds=59), limit=10) == []
    (held,) = [d for d in await engine.query(admin, ListDeliveries()) if d.id == theirs[0].delivery_id]
    assert held.claimed_by is not None and held.claimed_by.startswith("b#")


async def test_a_crash_after_sending_resends_once_with_the_same_key(engine: Engine, clock: FixedClock) -> None:
    """At-least-once: worker A sends, then dies before recording.  When A's claim expires,
    worker B sends again, with the same Idempotency-Key, and records it.  A's late
    result (had it survived) is refused and audited, not recorded over B's."""
    admin = await login(engine, "admin")
    with WebhookReceiver() as receiver:
        await subscribe(engine, admin, channel="webhook", address=receiver.url)
        await publish_now(engine)
        senders = {"webhook": WebhookSender()}
        (claim_a,) = await claim_due(engine, worker_id="a", now=clock.now(), claim_ttl_s=60)
        assert await send_claimed(senders, claim_a) is None  # sent; then process A "dies"

        clock.advance(seconds=61)
        report = await deliver_due(engine, worker_id="b", senders=senders, claim_ttl_s=60)
        assert report.sent == 1
        late = await record_outcome(engine, claim_a, None, at=clock.now(), policy=RetryPolicy())
    assert late == "claims_lost"
    assert receiver.keys() == [claim_a.message.ref] * 2
    (sent,) = await engine.query(admin, ListDeliveries(status="SENT"))
    assert sent.attempts == 1
    (lost,) = await audit_records(engine, "delivery.claim_lost")
    assert lost.target_id == claim_a.message.ref
    assert (await engine.query(admin, VerifyAuditLog())).ok


async def test_a_sender_bug_is_recorded_as_a_failure_not_lost(engine: Engine) -> None:
    class Broken:
        async def send(self, message: object) -> None:
            raise RuntimeError("boom")

    admin = await login(engine, "admin")
    await subscribe(engine, admin, channel="webhook", address="https://hooks.example.com/a")
    await publish_now(engine)
    report = await deliver_due(engine, worker_id=WORKER, senders={"webhook": Broken()})
    assert report.retry_scheduled == 1
    (waiting,) = await engine.query(admin, ListDeliveries())
    assert waiting.last_error == "Internal error in the webhook sender: RuntimeError: boom"
    assert waiting.claimed_by is None
    assert await scalar(engine, "SELECT count(*) FROM deliveries WHERE claimed_by IS NOT NULL") == 0


def test_email_message_is_built_with_stable_headers() -> None:
    from datetime import UTC, datetime

    from wbo_tui.engine.notify import OutgoingMessage

    message = OutgoingMessage(
        ref="DL-000001", channel="email", address="a@example.com", topic="position.alert", subject="S",
        body="B", source_type="channel_account", source_id="7", notification_id=1,
        created_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC), attempt=2,
    )
    sender = SmtpSender(SmtpServer("localhost", sender="alerts@bank.example", message_id_domain="wbo.bank.example"))
    first, second = sender.build(message), sender.build(message)
    assert first["Message-ID"] == second["Message-ID"] == "<DL-000001@wbo.bank.example>"
    assert first["Date"] == "Fri, 20 Nov 2026 09:30:00 +0000"

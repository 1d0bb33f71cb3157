"""A checker is told what awaits their review: ``approval.pending`` reaches the subscribed
inboxes when an item is submitted, and ``AwaitingMyReview`` counts the pending items the
operator may decide (not their own, of a kind whose approval permission they hold)."""

from __future__ import annotations

from engine_support import audit_actions, login

from wbo_tui.engine import ApproveItem, Engine, RequestPermission
from wbo_tui.engine.approvals import AwaitingMyReview
from wbo_tui.engine.notify import CreateSubscription, ListInbox, UnreadCount


async def test_a_submission_reaches_the_subscribed_checkers_inbox(engine: Engine) -> None:
    await engine.setup_execute(CreateSubscription(topic="approval.pending", channel="inbox", role="administrator"),
                               tool="test")
    maker, admin = await login(engine, "maker"), await login(engine, "admin")
    item = await engine.execute(maker, RequestPermission(permission_code="fx.customer_exchange_approval",
                                                         reason="covering the FX review desk"))
    (message,) = await engine.query(admin, ListInbox())
    assert message.topic == "approval.pending"
    assert message.subject.startswith(f"{item.ref} awaits approval: ")
    assert "submitted by maker" in message.body and "admin.permission_request_approval" in message.body
    assert await engine.query(maker, UnreadCount()) == 0  # the maker is not subscribed


async def test_nobody_subscribed_writes_no_notification(engine: Engine) -> None:
    maker = await login(engine, "maker")
    await engine.execute(maker, RequestPermission(permission_code="fx.customer_exchange_approval", reason="x"))
    assert "notification.publish" not in await audit_actions(engine)


async def test_awaiting_my_review_counts_what_i_may_decide(engine: Engine) -> None:
    maker, admin, checker = await login(engine, "maker"), await login(engine, "admin"), await login(engine, "checker")
    assert await engine.query(admin, AwaitingMyReview()) == 0
    first = await engine.execute(maker, RequestPermission(permission_code="fx.customer_exchange_approval", reason="x"))
    await engine.execute(admin, RequestPermission(permission_code="fx.currency_pair_inquiry", reason="y"))
    # admin may decide permission requests, but not their own; the maker and the checker
    # hold no permission to decide them.
    assert await engine.query(admin, AwaitingMyReview()) == 1
    assert await engine.query(maker, AwaitingMyReview()) == 0
    assert await engine.query(checker, AwaitingMyReview()) == 0
    admin2 = await login(engine, "admin2")
    assert await engine.query(admin2, AwaitingMyReview()) == 2
    await engine.execute(admin2, ApproveItem(approval_id=first.id))
    assert await engine.query(admin, AwaitingMyReview()) == 0
    assert await engine.query(admin2, AwaitingMyReview()) == 1

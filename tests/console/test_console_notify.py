"""Message subscriptions, deliveries and the inbox in the console: the Admin tabs, the
inbox modal and the unread count in the header."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from console_helpers import (
    PASSWORDS,
    last_actions,
    login,
    plain,
    screen_text,
    settle,
    table_column,
    type_into,
    wait_for_screen,
    wait_until,
)
from notify_helpers import DEAD_HOOK, SUBJECT, deliver, delivery_row, inbox_rows, publish_alert, seed, subscribe
from sqlalchemy.exc import OperationalError
from test_console_snapshots import after
from textual.pilot import Pilot
from textual.widgets import DataTable, Select, Static

from wbo_tui.engine import (
    Engine,
    ListDeliveries,
    ListInbox,
    ListSubscriptions,
    MarkInboxRead,
    SetSubscriptionEnabled,
    UnreadCount,
)
from wbo_tui.engine.notify import DeliveryError
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.screens.inbox import InboxPane, InboxScreen
from wbo_tui.screens.shell import ShellScreen
from wbo_tui.screens.admin.subscription_forms import CreateSubscriptionScreen
from wbo_tui.screens.admin.subscriptions import DeliveriesPane, SubscriptionsPane
from wbo_tui.widgets.denied import DeniedPanel

WIDE = (120, 36)
SMALL = (80, 24)
TO_SUBSCRIPTIONS = ("]", "]", "]", "]")  # Operators → Roles → Permission requests → Changes → Subscriptions
TO_DELIVERIES = ("[", "[")  # Operators ← My submissions ← Deliveries (the tabs wrap around)


async def open_tab(pilot: Pilot, username: str, steps: tuple[str, ...]) -> None:
    await login(pilot, username)
    await pilot.press("5")
    await settle(pilot)
    for key in steps:
        await pilot.press(key)
        await settle(pilot)


def table_of(pilot: Pilot, pane_id: str) -> DataTable:
    return pilot.app.screen.query_one(f"#{pane_id} DataTable", DataTable)


def select_row(table: DataTable, key: str) -> None:
    table.move_cursor(row=table.get_row_index(key))


def header_inbox(pilot: Pilot) -> Static:
    """The header's inbox count, also while a modal covers the shell."""
    shell = next(screen for screen in pilot.app.screen_stack if isinstance(screen, ShellScreen))
    return shell.query_one("#hdr-inbox", Static)


def notices(pilot: Pilot) -> list[str]:
    return [str(n.message) for n in pilot.app._notifications]


# --- subscriptions --------------------------------------------------------------------------


async def test_subscription_form_names_the_field_it_refuses_then_creates(make_app, engine: Engine) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_tab(pilot, "admin", TO_SUBSCRIPTIONS)
        pane = app.screen.query_one(SubscriptionsPane)
        assert plain(pane.query_one(".pane-status")).startswith("No message subscriptions")
        await pilot.press("n")
        await wait_for_screen(pilot, CreateSubscriptionScreen)

        await pilot.click("#submit")
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == "Topic is required."

        app.screen.query_one("#sub-topic", Select).value = "position.alert"
        app.screen.query_one("#sub-channel", Select).value = "webhook"
        await type_into(pilot, "#sub-address", "ftp://hooks.example.com/wbo")
        await pilot.click("#submit")
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == "Address must be an http:// or https:// URL with a host."

        app.screen.query_one("#sub-channel", Select).value = "inbox"
        await type_into(pilot, "#sub-address", "")
        await pilot.click("#submit")
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == (
            "Role or operator: name exactly one for an inbox subscription."
        )

        await type_into(pilot, "#sub-role", "nobody")
        await pilot.click("#submit")
        await settle(pilot)
        assert screen_text(pilot, "#form-error") == "Role 'nobody' is not a role."
        assert await engine.setup_query(tool="test", query=ListSubscriptions()) == ()

        await type_into(pilot, "#sub-role", "checker")
        await pilot.press("enter")  # to the address field, where Enter submits
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen.query_one(SubscriptionsPane) is pane
        (created,) = await engine.setup_query(tool="test", query=ListSubscriptions())
        assert (created.topic, created.channel, created.role, created.operator, created.enabled) == (
            "position.alert", "inbox", "checker", None, True)
        table = table_of(pilot, "subscriptions-pane")
        assert [str(c) for c in table.get_row(str(created.id))][1:6] == [
            "position.alert", "role", "checker", "inbox", "yes"]
        assert any(f"Subscription {created.id} created" in n for n in notices(pilot))
    assert (await last_actions(engine, 1)) == ["subscription.create"]


async def test_toggle_then_delete_a_subscription(make_app, engine: Engine) -> None:
    await subscribe(engine, channel="inbox", role="maker")
    sub_id = await subscribe(engine, channel="email", operator="checker", address="checker@example.com")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_tab(pilot, "admin", TO_SUBSCRIPTIONS)
        table = table_of(pilot, "subscriptions-pane")
        assert table.row_count == 2
        select_row(table, str(sub_id))
        await settle(pilot)
        assert [str(c) for c in table.get_row(str(sub_id))][2:6] == [
            "operator", "checker <checker@example.com>", "email", "yes"]

        await pilot.press("e")
        await settle(pilot)
        assert str(table.get_row(str(sub_id))[5]) == "no"
        (after,) = [s for s in await engine.setup_query(tool="test", query=ListSubscriptions()) if s.id == sub_id]
        assert after.enabled is False
        await pilot.press("e")
        await settle(pilot)
        (after,) = [s for s in await engine.setup_query(tool="test", query=ListSubscriptions()) if s.id == sub_id]
        assert after.enabled is True

        await pilot.press("d")
        await wait_for_screen(pilot, ConfirmScreen)
        assert "checker <checker@example.com>" in screen_text(pilot, "#confirm-consequences")
        await pilot.click("#confirm")
        await settle(pilot)
        assert table.row_count == 1
        assert sub_id not in [s.id for s in await engine.setup_query(tool="test", query=ListSubscriptions())]
    assert (await last_actions(engine, 3)) == ["subscription.delete", "subscription.enable", "subscription.disable"]


async def test_operator_without_the_inquiry_permission_sees_the_denial(make_app) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_tab(pilot, "maker", TO_SUBSCRIPTIONS)
        pane = app.screen.query_one(SubscriptionsPane)
        denied = pane.query_one(DeniedPanel)
        assert denied.shown and pane.has_class("-denied")
        assert "admin.message_subscription_inquiry" in plain(denied.query_one(".denied-text"))
        await pilot.press("n")  # nothing to act on while denied
        await settle(pilot)
        assert not isinstance(app.screen, CreateSubscriptionScreen)


# --- deliveries -----------------------------------------------------------------------------


async def test_a_failed_delivery_is_listed_and_retried(make_app, engine: Engine) -> None:
    await subscribe(engine, channel="webhook", address=DEAD_HOOK)
    await subscribe(engine, channel="email", role="checker", address="desk@example.com")
    await publish_alert(engine)
    await deliver(engine, {DEAD_HOOK: DeliveryError("Webhook answered HTTP 410 Gone", permanent=True)})
    (failed,) = await engine.setup_query(tool="test", query=ListDeliveries(status="FAILED"))

    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_tab(pilot, "admin", TO_DELIVERIES)
        pane = app.screen.query_one(DeliveriesPane)
        table = table_of(pilot, "deliveries-pane")
        assert sorted(table_column(table, 3)) == ["FAILED", "SENT"]
        row = [str(c) for c in table.get_row(str(failed.id))]
        assert row[1:5] == ["webhook", DEAD_HOOK, "FAILED", "1"]
        assert row[6] == "Webhook answered HTTP 410 Gone"
        assert "1 failed, 0 pending, 1 sent" in plain(pane.query_one(".pane-status"))

        await pilot.press("f")
        await settle(pilot)
        assert table_column(table, 3) == ["FAILED"]
        select_row(table, str(failed.id))
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert any(f"{failed.ref} queued again" in n for n in notices(pilot))
        assert table.row_count == 0
        assert "No failed deliveries" in plain(pane.query_one(".pane-status"))

    row = await delivery_row(engine, failed.id)
    # Queued again; the console's own delivery loop may already have tried it once more.
    assert row.status == "PENDING"
    assert "delivery.retry" in await last_actions(engine, 3)


async def test_retry_is_offered_only_for_a_failed_delivery(make_app, engine: Engine) -> None:
    await subscribe(engine, channel="email", role="checker", address="desk@example.com")
    await publish_alert(engine)
    await deliver(engine, {})
    (sent,) = await engine.setup_query(tool="test", query=ListDeliveries())
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await open_tab(pilot, "admin", TO_DELIVERIES)
        pane = app.screen.query_one(DeliveriesPane)
        assert pane.selected.id == sent.id and pane.check_action("retry", ()) is None
        await pilot.press("r")
        await settle(pilot)
    assert (await delivery_row(engine, sent.id)).status == "SENT"
    assert "delivery.retry" not in await last_actions(engine, 3)


# --- inbox and header -----------------------------------------------------------------------


async def test_an_alert_shows_in_the_header_and_the_inbox_marks_it_read(make_app, engine: Engine,
                                                                        ) -> None:
    await subscribe(engine, channel="inbox", role="checker")
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await login(pilot, "checker")
        await settle(pilot)
        assert not header_inbox(pilot).display

        await publish_alert(engine)
        await wait_until(pilot, lambda: header_inbox(pilot).display, "the unread count in the header")
        assert plain(header_inbox(pilot)) == "Inbox 1" and header_inbox(pilot).has_class("-unread")

        await pilot.press("i")
        await wait_for_screen(pilot, InboxScreen)
        await settle(pilot)
        table = table_of(pilot, "inbox-pane")
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)] == ["●", "2026-11-20 09:30:00", "position.alert", SUBJECT]
        assert screen_text(pilot, "#inbox-title") == "Inbox: 1 unread"
        assert "Available 450,000.00 HKD" in screen_text(pilot, "#inbox-pane .pane-detail")

        await pilot.press("enter")
        await settle(pilot)
        assert [str(c) for c in table.get_row_at(0)][0] == ""
        assert screen_text(pilot, "#inbox-title") == "Inbox: 0 unread"
        # The header behind the inbox follows at once, not at its next count.
        assert not header_inbox(pilot).display
        (message,) = await inbox_rows(engine, "checker")
        assert message.read_at is not None

        await pilot.press("escape")
        await settle(pilot)
        assert not header_inbox(pilot).display
    assert (await last_actions(engine, 2))[0] == "inbox.mark_read"


async def test_mark_all_read_clears_every_unread_message(make_app, engine: Engine) -> None:
    await subscribe(engine, channel="inbox", operator="maker")
    for n in range(3):
        await publish_alert(engine, subject=f"Alert {n}", source_id=str(n))
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await login(pilot, "maker")
        await wait_until(pilot, lambda: plain(header_inbox(pilot)) == "Inbox 3", "three unread")
        await pilot.press("i")
        await wait_for_screen(pilot, InboxScreen)
        await settle(pilot)
        assert table_column(table_of(pilot, "inbox-pane"), 3) == ["Alert 2", "Alert 1", "Alert 0"]
        await pilot.press("M")
        await settle(pilot)
        assert "3 message(s) marked read." in notices(pilot)
        assert table_column(table_of(pilot, "inbox-pane"), 0) == ["", "", ""]
        assert app.screen.query_one(InboxPane).unread == 0
        await pilot.press("escape")
        await settle(pilot)
        assert not header_inbox(pilot).display
    assert all(row.read_at is not None for row in await inbox_rows(engine, "maker"))
    assert await engine.setup_query(tool="test", query=UnreadCount()) == 0


async def test_a_busy_database_leaves_the_last_count_and_no_error(make_app, engine: Engine,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    await subscribe(engine, channel="inbox", operator="checker")
    await publish_alert(engine)
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await login(pilot, "checker")
        await wait_until(pilot, lambda: plain(header_inbox(pilot)) == "Inbox 1", "one unread")
        real_query, refused = app.engine.query, []

        async def locked(session, query):  # noqa: ANN001, ANN202
            if isinstance(query, UnreadCount):
                refused.append(query)
                raise OperationalError("SELECT count(*)", {}, Exception("database is locked"))
            return await real_query(session, query)

        monkeypatch.setattr(app.engine, "query", locked)
        # The header counts when the change feed reports the inbox changed.
        await publish_alert(engine, subject="Second alert", source_id="2")
        await wait_until(pilot, lambda: len(refused) >= 1, "a refused count")
        await publish_alert(engine, subject="Third alert", source_id="3")
        await wait_until(pilot, lambda: len(refused) >= 2, "two refused counts")
        assert plain(header_inbox(pilot)) == "Inbox 1"
        assert notices(pilot) == []
        monkeypatch.setattr(app.engine, "query", real_query)
        await publish_alert(engine, subject="Fourth alert", source_id="4")
        await wait_until(pilot, lambda: plain(header_inbox(pilot)) == "Inbox 4", "the count once the database answers")


# --- snapshots ------------------------------------------------------------------------------


async def _subscriptions(engine: Engine) -> None:
    await subscribe(engine, channel="inbox", role="checker")
    await subscribe(engine, channel="inbox", role="maker", topic="position.blocking")
    disabled = await subscribe(engine, channel="email", operator="checker", address="checker@example.com")
    await subscribe(engine, channel="webhook", address=DEAD_HOOK, topic="position.blocking")
    await engine.setup_execute(tool="test", command=SetSubscriptionEnabled(subscription_id=disabled, enabled=False))


async def _deliveries(engine: Engine) -> None:
    """One delivery of each status: SENT, PENDING (a retry due after START, so the app's
    own delivery loop leaves it alone) and FAILED."""
    await subscribe(engine, channel="email", role="checker", address="desk@example.com")
    await subscribe(engine, channel="email", operator="maker", address="maker@example.com")
    await subscribe(engine, channel="webhook", address=DEAD_HOOK)
    await publish_alert(engine)
    await deliver(engine, {
        "maker@example.com": DeliveryError("SMTP 451 4.3.0 Mail server temporarily rejected message"),
        DEAD_HOOK: DeliveryError("Webhook answered HTTP 410 Gone", permanent=True),
    })


async def _checker_inbox(engine: Engine) -> None:
    """Two alerts for the checker, the older one read."""
    await subscribe(engine, channel="inbox", role="checker")
    await subscribe(engine, channel="inbox", role="checker", topic="position.blocking")
    await publish_alert(engine)
    await publish_alert(engine, topic="position.blocking", subject="Blocking threshold crossed: HK-FEE-001 HKD",
                        body="Available 9,200.00 HKD is below the blocking threshold 10,000.00; withdrawals "
                             "that would go lower are refused.", source_id="2")
    session = await engine.login("checker", PASSWORDS["checker"])
    older = (await engine.query(session, ListInbox()))[-1]
    await engine.execute(session, MarkInboxRead(message_ids=[older.id]))
    await engine.logout(session)


def snapshot_steps(username: str, *steps: str) -> Callable[[Pilot], Awaitable[None]]:
    """As the console snapshots' ``after``, then wait for the header to count the unread."""
    before = after(*steps, username=username)

    async def run_before(pilot: Pilot) -> None:
        await before(pilot)
        await wait_until(pilot, lambda: header_inbox(pilot).display, "the unread count")

    return run_before


def test_snapshot_subscriptions_tab(snap_compare, make_app, db_url) -> None:
    seed(db_url, _subscriptions)
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=after("5", *TO_SUBSCRIPTIONS))


def test_snapshot_deliveries_tab(snap_compare, make_app, db_url) -> None:
    seed(db_url, _deliveries)
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=after("5", *TO_DELIVERIES))


def test_snapshot_inbox(snap_compare, make_app, db_url) -> None:
    seed(db_url, _checker_inbox)
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=snapshot_steps("checker", "i"))


def test_snapshot_header_with_unread_count_at_80x24(snap_compare, make_app, db_url) -> None:
    seed(db_url, _checker_inbox)
    assert snap_compare(make_app(), terminal_size=SMALL, run_before=snapshot_steps("checker"))

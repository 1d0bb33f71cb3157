"""Admin › Subscriptions (who receives which alert through which channel) and Admin ›
Deliveries (what became of each email and webhook message; failed ones are retried
from here, never silently dropped)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import Static

from wbo_tui.engine import (
    DeleteSubscription,
    DeliveryDTO,
    ListDeliveries,
    ListSubscriptions,
    RetryDelivery,
    SetSubscriptionEnabled,
    SubscriptionDTO,
    build,
)

from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.table_pane import TablePane, cell
from wbo_tui.screens.admin.subscription_forms import CreateSubscriptionScreen

# Deliveries shown at once, newest first: the failures that need attention are recent.
DELIVERY_PAGE = 200
# Characters of the last error shown in the table, so the columns fit 120 columns.
ERROR_CELL = 32
STATUS_STYLES = {"FAILED": "bold red", "PENDING": "yellow", "SENT": "green"}


def recipient_kind(s: SubscriptionDTO) -> str:
    """Whom the subscription names: one operator, a role's operators, or an outside address."""
    if s.operator:
        return "operator"
    if s.role:
        return "role"
    return s.channel


def recipient(s: SubscriptionDTO) -> str:
    whom = s.operator or s.role or ""
    if whom and s.address:
        return f"{whom} <{s.address}>"
    return whom or s.address or ""


def describe(s: SubscriptionDTO) -> str:
    return f"{s.topic} by {s.channel} to {recipient_kind(s)} {recipient(s)}"


class SubscriptionsPane(TablePane):
    COLUMNS = ("Id", "Topic", "Recipient kind", "Recipient", "Channel", "Enabled", "Created (UTC)", "Created by")
    DROP_ORDER = ("Created by", "Created (UTC)", "Recipient kind")  # in the detail line
    NARROW = {"Recipient": 16, "Topic": 16}
    EMPTY = "No message subscriptions: no alert reaches anyone. n creates one."
    TOPICS = frozenset({"message_subscriptions"})
    HELP = (
        "Message subscriptions: who receives which alert through which channel (the "
        "in-console inbox, email over SMTP, a webhook POST). n creates one; e enables or "
        "disables the selected subscription (a disabled one receives nothing until enabled "
        "again); d deletes it after confirmation, and its deliveries still waiting are marked "
        "failed with the reason. Viewing needs admin.message_subscription_inquiry, changing "
        "admin.message_subscription_operation."
    )
    BINDINGS = [
        Binding("n", "new", "New", id="subscription-new", tooltip="Create a message subscription"),
        Binding("e", "toggle", "Enable/disable", id="subscription-toggle"),
        Binding("d", "delete", "Delete", id="subscription-delete"),
    ]
    ROW_ACTIONS = frozenset({"toggle", "delete"})

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[SubscriptionDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        return await engine.query(session, ListSubscriptions())

    def row_key(self, item: SubscriptionDTO) -> str:
        return str(item.id)

    def row_cells(self, s: SubscriptionDTO) -> Sequence[object]:
        enabled = cell("yes") if s.enabled else Text("no", style="bold yellow")
        return (s.id, s.topic, recipient_kind(s), recipient(s), s.channel, enabled,
                f"{s.created_at:%Y-%m-%d %H:%M}", s.created_by)

    def status_text(self, items: Sequence[Any]) -> str:
        if not items:
            return self.EMPTY
        disabled = sum(1 for s in items if not s.enabled)
        return f"{len(items)} subscriptions, {disabled} disabled."

    def show_detail(self, s: SubscriptionDTO | None) -> None:
        text = "" if s is None else (
            f"Subscription {s.id}: {describe(s)}; {'enabled' if s.enabled else 'disabled'}. "
            f"Created {s.created_at:%Y-%m-%d %H:%M} UTC by {s.created_by}."
        )
        self.query_one(".pane-detail", Static).update(text)

    def action_new(self) -> None:
        self.app.push_screen(CreateSubscriptionScreen(), callback=self._created)

    def _created(self, s: SubscriptionDTO | None) -> None:
        if s is not None:
            self.selected_key = str(s.id)
            self.app.notify(f"Subscription {s.id} created: {describe(s)}.", markup=False)
            self.load()

    def action_toggle(self) -> None:
        s: SubscriptionDTO = self.selected
        done = "disabled: it receives nothing until enabled again" if s.enabled else "enabled"
        self.run_command(build(SetSubscriptionEnabled, subscription_id=s.id, enabled=not s.enabled),
                         f"Subscription {s.id} {done}.")

    def action_delete(self) -> None:
        s: SubscriptionDTO = self.selected
        consequences = [
            f"Subscription {s.id} ({describe(s)}) is removed; later alerts no longer reach this recipient.",
            "Its deliveries still waiting are marked FAILED with the reason; sent ones keep their history.",
            "The removal is recorded in the audit log under your name.",
        ]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_command(build(DeleteSubscription, subscription_id=s.id), f"Subscription {s.id} deleted.")

        self.app.push_screen(ConfirmScreen(f"Delete subscription {s.id}?", consequences, "Delete"),
                             callback=confirmed)


class DeliveriesPane(TablePane):
    COLUMNS = ("Ref", "Channel", "Recipient", "Status", "Attempts", "Next try (UTC)", "Last error")
    NARROW = {"Last error": 12, "Recipient": 16}  # the whole error is in the detail line
    EMPTY = "No deliveries yet: email and webhook messages appear here once an alert is published."
    TOPICS = frozenset({"deliveries"})
    HELP = (
        "Email and webhook deliveries, newest first (inbox messages are written at once and "
        "are not listed). A delivery that fails is retried on a schedule; after its last "
        "attempt it stays FAILED with its error. r puts the selected failed delivery back in "
        "the queue, due now, with a fresh set of attempts. f shows only failed deliveries, "
        "or all again."
    )
    BINDINGS = [
        Binding("r", "retry", "Retry", id="delivery-retry", tooltip="Retry the selected failed delivery"),
        Binding("f", "failed_only", "Failed only", id="delivery-failed-only", tooltip="Show only failed, or all"),
    ]
    ROW_ACTIONS = frozenset({"retry"})

    failed_only = reactive(False, init=False)

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[DeliveryDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        status = "FAILED" if self.failed_only else None
        return await engine.query(session, ListDeliveries(status=status, limit=DELIVERY_PAGE))

    def row_key(self, item: DeliveryDTO) -> str:
        return str(item.id)

    def row_cells(self, d: DeliveryDTO) -> Sequence[object]:
        status = Text(d.status, style=STATUS_STYLES.get(d.status, ""), no_wrap=True)
        next_attempt = f"{d.next_attempt_at:%m-%d %H:%M:%S}" if d.status == "PENDING" else ""
        error = d.last_error or ""
        if len(error) > ERROR_CELL:
            error = error[:ERROR_CELL - 1] + "…"  # the whole error is in the detail line
        return (d.ref, d.channel, d.address, status, d.attempts, next_attempt, error)

    def status_text(self, items: Sequence[Any]) -> str:
        if not items:
            return "No failed deliveries. f shows all." if self.failed_only else self.EMPTY
        counts = {status: sum(1 for d in items if d.status == status) for status in STATUS_STYLES}
        shown = "failed only (f shows all)" if self.failed_only else "newest first"
        more = f" (the newest {DELIVERY_PAGE})" if len(items) >= DELIVERY_PAGE else ""
        return (f"{len(items)} deliveries{more}, {shown}: {counts['FAILED']} failed, {counts['PENDING']} pending, "
                f"{counts['SENT']} sent.")

    def show_detail(self, d: DeliveryDTO | None) -> None:
        text = ""
        if d is not None:
            sent = f", sent {d.sent_at:%Y-%m-%d %H:%M:%S} UTC" if d.sent_at else ""
            error = f" Last error: {d.last_error}" if d.last_error else ""
            behalf = f" for {d.operator}" if d.operator else ""
            text = (f"{d.ref} of notification {d.notification_id}, {d.topic} ({d.subject}), by {d.channel} "
                    f"to {d.address}{behalf}: {d.status} after {d.attempts} attempt(s){sent}.{error}")
        self.query_one(".pane-detail", Static).update(text)

    def applies(self, action: str, d: DeliveryDTO | None) -> bool:
        return d is not None and d.status == "FAILED"

    def action_retry(self) -> None:
        d: DeliveryDTO = self.selected
        self.run_command(build(RetryDelivery, delivery_id=d.id),
                         f"{d.ref} queued again: due now, with a fresh set of attempts.")

    def action_failed_only(self) -> None:
        self.failed_only = not self.failed_only

    def watch_failed_only(self) -> None:
        self.load()

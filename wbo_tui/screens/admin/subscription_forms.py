"""The form of Admin › Subscriptions: subscribe an operator, a role, an email address or
a webhook to one topic."""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget
from textual.widgets import Input, Select, Static

from wbo_tui.engine import CreateSubscription, SessionInfo, SubscriptionDTO, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.notify.topics import TOPICS

from wbo_tui.widgets.forms import FormScreen, labelled

CHANNEL_CHOICES = (
    ("inbox: the in-console inbox", "inbox"),
    ("email: an address over SMTP", "email"),
    ("webhook: a JSON POST to a URL", "webhook"),
)


class CreateSubscriptionScreen(FormScreen[SubscriptionDTO]):
    FORM_TITLE = "New message subscription"
    SUBMIT_LABEL = "Subscribe"
    HELP = (
        "Who receives which alert through which channel. Inbox: name an operator or a role "
        "(every enabled operator holding it, including later members). Email: an address, "
        "on behalf of an operator or a role. Webhook: an http:// or https:// URL only. A "
        "delivery that fails is retried and listed under Deliveries, never dropped."
    )

    def compose_fields(self) -> Iterable[Widget]:
        yield Static(
            "Name exactly one of operator or role for inbox and email; a webhook takes only its URL.",
            classes="what-happens", markup=False,
        )
        topics = [(f"{t.code}: {t.description}", t.code) for t in TOPICS]
        yield from labelled("Topic", Select(topics, id="sub-topic", allow_blank=True))
        yield from labelled("Channel", Select(CHANNEL_CHOICES, id="sub-channel", allow_blank=True))
        yield from labelled("Operator (username)", Input(id="sub-operator", placeholder="e.g. checker"))
        yield from labelled("Role", Input(id="sub-role", placeholder="e.g. checker"))
        yield from labelled("Address (email address or webhook URL)",
                            Input(id="sub-address", placeholder="treasury@example.com or https://…"))

    def _select(self, selector: str, label: str) -> str:
        value = self.query_one(selector, Select).value
        if value is Select.NULL:
            raise ValidationFailed(label, "is required")
        return str(value)

    async def perform(self, engine: Engine, session: SessionInfo) -> SubscriptionDTO:
        command = build(
            CreateSubscription, topic=self._select("#sub-topic", "Topic"),
            channel=self._select("#sub-channel", "Channel"), operator=self.value("#sub-operator"),
            role=self.value("#sub-role"), address=self.value("#sub-address"),
        )
        return await engine.execute(session, command)

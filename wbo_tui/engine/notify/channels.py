"""Senders for the external channels, behind one small interface.

A sender delivers one ``OutgoingMessage`` or raises ``DeliveryError``.  It runs outside
any database transaction.  Neither SMTP nor HTTP can be exactly-once: a message may be
accepted by the receiver and the acknowledgement lost, and the delivery loop will then
send it again.  Every message therefore carries its delivery's stable reference, the same
on every attempt, so receivers can drop duplicates:

- email: ``Message-ID: <DL-…@domain>`` and ``X-WBO-Delivery: DL-…``;
- webhook: ``Idempotency-Key: DL-…`` and ``"delivery": "DL-…"`` in the JSON body.

The in-console inbox needs no sender: it is written in the publishing transaction.
"""

from __future__ import annotations

import asyncio
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Protocol

from ..clock import Seconds

USER_AGENT = "WBO-Console-Notify/1"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    ref: str
    """The delivery's stable reference: Message-ID and Idempotency-Key."""
    channel: str
    address: str
    topic: str
    subject: str
    body: str
    source_type: str
    source_id: str
    notification_id: int
    created_at: datetime
    attempt: int
    """1 for the first try, 2 for the first retry…"""


class DeliveryError(Exception):
    """The receiver did not take the message.  ``permanent`` failures (a refused
    recipient, HTTP 4xx) are not retried automatically; an operator can retry them."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, message: OutgoingMessage) -> None:
        """Deliver or raise ``DeliveryError``.  Must give up within its own timeout,
        which must be shorter than the delivery loop's claim."""
        ...


Senders = Mapping[str, Sender]


# --- email -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where email goes.  Plain SMTP, optionally upgraded with STARTTLS, optionally
    authenticated (only ever over STARTTLS: credentials are not sent in clear)."""

    host: str
    port: int = 25
    sender: str = "wbo-console@localhost"
    """The From address."""
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_s: Seconds = 30.0
    message_id_domain: str | None = None
    """Right-hand side of Message-IDs; the sender's domain when None."""

    def __post_init__(self) -> None:
        if self.username and not self.starttls:
            raise ValueError("SMTP credentials need starttls=True: they must not travel in clear")


class SmtpSender:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    def build(self, message: OutgoingMessage) -> EmailMessage:
        domain = self.server.message_id_domain or self.server.sender.rpartition("@")[2] or "wbo.invalid"
        email = EmailMessage()
        email["From"] = self.server.sender
        email["To"] = message.address
        email["Subject"] = message.subject
        email["Date"] = format_datetime(message.created_at)
        email["Message-ID"] = f"<{message.ref}@{domain}>"
        email["X-WBO-Delivery"] = message.ref
        email["X-WBO-Topic"] = message.topic
        email["X-WBO-Source"] = f"{message.source_type}:{message.source_id}"
        email.set_content(message.body)
        return email

    async def send(self, message: OutgoingMessage) -> None:
        await asyncio.to_thread(self._send_blocking, self.build(message))

    def _send_blocking(self, email: EmailMessage) -> None:
        server = self.server
        try:
            with smtplib.SMTP(server.host, server.port, timeout=server.timeout_s) as smtp:
                if server.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if server.username:
                    smtp.login(server.username, server.password or "")
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{addr}: {code} {_text(msg)}" for addr, (code, msg) in exc.recipients.items())
            raise DeliveryError(f"SMTP refused the recipient: {detail}", permanent=all(c >= 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP error {exc.smtp_code}: {_text(exc.smtp_error)}",
                                permanent=exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPAuthenticationError),
                                ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP server {server.host}:{server.port} unreachable: {_describe(exc)}") from None


# --- webhook -----------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST is a misconfigured URL: fail visibly instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# Client errors worth retrying on their own: timeouts, rate limits, "too early".
_TRANSIENT_4XX = {408, 425, 429}


class WebhookSender:
    """POSTs the notification as JSON.  2xx is success; anything else is a failure,
    4xx (except 408, 425, 429) a permanent one."""

    def __init__(self, timeout_s: Seconds = 10.0) -> None:
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(_NoRedirects)

    @staticmethod
    def payload(message: OutgoingMessage) -> dict[str, Any]:
        return {
            "delivery": message.ref, "notification_id": message.notification_id, "topic": message.topic,
            "subject": message.subject, "body": message.body,
            "source": {"type": message.source_type, "id": message.source_id},
            "created_at": message.created_at.isoformat(), "attempt": message.attempt,
        }

    async def send(self, message: OutgoingMessage) -> None:
        await asyncio.to_thread(self._post, message)

    def _post(self, message: OutgoingMessage) -> None:
        request = urllib.request.Request(
            message.address, method="POST",
            data=json.dumps(self.payload(message), ensure_ascii=False).encode(),
            headers={
                "Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                "Idempotency-Key": message.ref, "X-WBO-Topic": message.topic,
            },
        )
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                response.read(65536)
        except urllib.error.HTTPError as exc:
            code = exc.code
            exc.close()
            raise DeliveryError(f"Webhook answered HTTP {code} {exc.reason}",
                                permanent=400 <= code < 500 and code not in _TRANSIENT_4XX) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DeliveryError(f"Webhook unreachable: {_describe(exc)}") from None


# --- simulator and the unconfigured channel ----------------------------------------------------


class SimulatedSender:
    """The built-in stand-in (demo, tests): keeps what it was given instead of sending it."""

    def __init__(self, fail_with: DeliveryError | None = None) -> None:
        self.sent: list[OutgoingMessage] = []
        self.fail_with = fail_with

    async def send(self, message: OutgoingMessage) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(message)


class UnconfiguredSender:
    """A channel this console has no server for: every delivery fails, visibly, and is
    retried, so configuring the server later still delivers the backlog."""

    def __init__(self, what: str) -> None:
        self.what = what

    async def send(self, message: OutgoingMessage) -> None:
        raise DeliveryError(f"No {self.what} is configured for this console.")


def make_senders(smtp: SmtpServer | None = None, *, webhook_timeout_s: Seconds = 10.0) -> dict[str, Sender]:
    """The real senders: email through ``smtp`` (failing visibly when None), webhooks by HTTP."""
    return {
        "email": SmtpSender(smtp) if smtp is not None else UnconfiguredSender("SMTP server"),
        "webhook": WebhookSender(timeout_s=webhook_timeout_s),
    }


def simulated_senders() -> dict[str, SimulatedSender]:
    return {"email": SimulatedSender(), "webhook": SimulatedSender()}


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return _describe(exc.reason) if isinstance(exc.reason, BaseException) else str(exc.reason)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

"""Helpers for the notification tests: a real SMTP server (aiosmtpd) and a webhook
receiver (stdlib ``http.server``) on 127.0.0.1, publishing as a service would, and the
delivery worker process for the multi-process test."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import func, select

from wbo_tui.engine import CreateSubscription, Engine, SessionInfo
from wbo_tui.engine.notify import (
    DeliveryError,
    ListDeliveries,
    RetryPolicy,
    SimulatedSender,
    WebhookSender,
    deliver_due,
    publish,
)
from wbo_tui.engine.notify.tables import deliveries, inbox_messages
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.schema import operators
from wbo_tui.engine.uow import Actor, write_unit

SERVICE = Actor.system("positions")


async def publish_now(
    engine: Engine, topic: str = "position.alert", subject: str = "Alert threshold crossed: HSBC 001 HKD",
    body: str = "Available 900.00 HKD is below the alert threshold 1000.00.", source_id: str = "7",
) -> int:
    """Publish in a unit of work of its own, as the position service does in its own."""
    async with write_unit(engine.db, SERVICE, engine.services) as uow:
        return await publish(uow, topic, subject, body, source_type="channel_account", source_id=source_id)


async def subscribe(engine: Engine, admin: SessionInfo, **fields: Any) -> int:
    fields.setdefault("topic", "position.alert")
    return (await engine.execute(admin, CreateSubscription(**fields))).id


# --- SMTP ------------------------------------------------------------------------------------


@dataclass
class SmtpSink:
    port: int
    refuse: set[str] = field(default_factory=set)
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@asynccontextmanager
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    """A real SMTP server on a free port, served by the test's own event loop (the SMTP
    sender talks to it from a worker thread)."""
    sink = SmtpSink(port=0)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(sink, hostname="smtp.test"), "127.0.0.1", 0,
    )
    sink.port = server.sockets[0].getsockname()[1]
    try:
        yield sink
    finally:
        server.close()
        await server.wait_closed()


@contextmanager
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound, never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


# --- webhook receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class WebhookReceiver:
    """Answers POSTs with the next status from ``statuses`` (200 once they run out),
    after ``delay_s``, and keeps every request it was sent."""

    def __init__(self, statuses: list[int] | None = None, delay_s: float = 0.0) -> None:
        self.statuses = list(statuses or [])
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if delay_s:
                    time.sleep(delay_s)  # a receiver that takes a moment, so both loops overlap
                with receiver._lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), json.loads(raw)))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/wbo"

    def keys(self) -> list[str]:
        with self._lock:
            return [r.headers["Idempotency-Key"] for r in self.received]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --- the delivery worker process ---------------------------------------------------------------


def run_delivery_worker(url: str, worker_id: str, now_iso: str, batch_size: int, barrier: Any, results: Any) -> None:
    """Process entry point: meet the other worker at ``barrier``, then run the delivery
    loop until nothing is due, and report ``(worker_id, "ok", passes)``."""
    try:
        passes = asyncio.run(_deliver_until_done(url, worker_id, datetime.fromisoformat(now_iso), batch_size, barrier))
        results.put((worker_id, "ok", passes))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put((worker_id, "error", traceback.format_exc()))


async def _deliver_until_done(url: str, worker_id: str, now: datetime, batch_size: int, barrier: Any) -> int:
    engine = await Engine.open(url, hasher=fast_hasher())
    senders = {"webhook": WebhookSender(timeout_s=10), "email": SimulatedSender(DeliveryError("not in this test"))}
    passes = 0
    try:
        await asyncio.to_thread(barrier.wait, 60)
        deadline = asyncio.get_running_loop().time() + 60
        while asyncio.get_running_loop().time() < deadline:
            report = await deliver_due(engine, worker_id=worker_id, senders=senders, now=now,
                                       batch_size=batch_size, policy=RetryPolicy(max_attempts=3))
            passes += 1
            if report.claimed:
                continue
            async with engine.db.connect() as conn:
                left = (await conn.execute(
                    select(func.count()).select_from(deliveries).where(deliveries.c.status == "PENDING")
                )).scalar_one()
            if left == 0:
                return passes
            await asyncio.sleep(0.02)  # the other worker holds what is left
        raise TimeoutError(f"{worker_id}: deliveries still pending after 60 s")
    finally:
        await engine.close()


def at(start: datetime, **delta: float) -> datetime:
    return start + timedelta(**delta)


# --- example data for the permission matrix ----------------------------------------------------


async def failed_delivery_id(engine: Engine, admin: SessionInfo) -> int:
    """A webhook delivery that failed for good (the receiver refused it)."""
    await subscribe(engine, admin, channel="webhook", address="https://hooks.example.com/refusing")
    await publish_now(engine)
    refusing = SimulatedSender(DeliveryError("Webhook answered HTTP 410 Gone", permanent=True))
    report = await deliver_due(engine, worker_id="matrix", senders={"webhook": refusing})
    assert report.failed == 1, report
    (failed,) = await engine.query(admin, ListDeliveries(status="FAILED"))
    return failed.id


async def inbox_message_id(engine: Engine, admin: SessionInfo, username: str) -> int:
    """An unread inbox message of ``username``."""
    await subscribe(engine, admin, channel="inbox", operator=username)
    await publish_now(engine)
    async with engine.db.connect() as conn:
        return (await conn.execute(
            select(inbox_messages.c.id).join(operators, operators.c.id == inbox_messages.c.operator_id)
            .where(operators.c.username == username, inbox_messages.c.read_at.is_(None))
        )).scalar_one()

"""Helpers for the console's notification tests: subscriptions, published alerts and
deliveries with a known outcome, made through a second engine as another console
process (or the position service) would make them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from console_helpers import START
from sqlalchemy import select

from wbo_tui.engine import CreateSubscription, Engine, FixedClock, SequentialIds
from wbo_tui.engine.notify import DeliveryError, OutgoingMessage, deliver_due, publish
from wbo_tui.engine.notify.tables import deliveries, inbox_messages
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.schema import operators
from wbo_tui.engine.uow import Actor, write_unit

POSITIONS = Actor.system("positions")
SUBJECT = "Alert threshold crossed: HK-PRIN-001 HKD"
BODY = "Available 450,000.00 HKD is below the alert threshold 500,000.00."
# A webhook URL nothing listens on (the discard port): a real attempt fails at once.
DEAD_HOOK = "http://127.0.0.1:9/hooks/wbo"


async def subscribe(engine: Engine, **fields: Any) -> int:
    fields.setdefault("topic", "position.alert")
    return (await engine.setup_execute(tool="test", command=CreateSubscription(**fields))).id


async def publish_alert(engine: Engine, subject: str = SUBJECT, body: str = BODY, topic: str = "position.alert",
                        source_id: str = "1") -> int:
    """Publish in a unit of work of its own, as the position service does after a poll."""
    async with write_unit(engine.db, POSITIONS, engine.services) as uow:
        return await publish(uow, topic, subject, body, source_type="channel_account", source_id=source_id)


class ScriptedSender:
    """Fails the addresses it was told to fail (with that error) and takes the others."""

    def __init__(self, failures: dict[str, DeliveryError]) -> None:
        self.failures = failures
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> None:
        failure = self.failures.get(message.address)
        if failure is not None:
            raise failure
        self.sent.append(message)


async def deliver(engine: Engine, failures: dict[str, DeliveryError], now: datetime = START) -> None:
    """One pass of the delivery loop with scripted outcomes for email and webhook."""
    sender = ScriptedSender(failures)
    await deliver_due(engine, worker_id="test", senders={"email": sender, "webhook": sender}, now=now)


async def delivery_row(engine: Engine, delivery_id: int) -> Any:
    async with engine.db.connect() as conn:
        return (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id))).one()


async def inbox_rows(engine: Engine, username: str) -> list[Any]:
    """``username``'s inbox messages, oldest first."""
    async with engine.db.connect() as conn:
        return list(await conn.execute(
            select(inbox_messages).join(operators, operators.c.id == inbox_messages.c.operator_id)
            .where(operators.c.username == username).order_by(inbox_messages.c.id)
        ))


def seed(db_url: str, steps: Callable[[Engine], Awaitable[None]]) -> None:
    """Run ``steps`` on an engine of their own at START, before a snapshot's app starts
    (off pytest's event loop, as the console conftest seeds its template)."""

    async def run() -> None:
        engine = await Engine.open(db_url, hasher=fast_hasher(), clock=FixedClock(START),
                                   ids=SequentialIds(700_000))
        try:
            await steps(engine)
        finally:
            await engine.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()

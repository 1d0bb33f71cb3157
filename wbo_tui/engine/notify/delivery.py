"""The delivery loop's step: claim due deliveries, send them, record what happened.

Several console processes may run this loop against one database.  Guarantees:

- **A delivery is claimed by one worker at a time.**  The claim is one guarded UPDATE
  (``… WHERE status = 'PENDING' AND next_attempt_at <= now AND (claimed_by IS NULL OR
  claim_expires_at <= now)``) in a write unit, which is serialised on both backends
  (``BEGIN IMMEDIATE`` on SQLite, the audit head row lock on PostgreSQL).  The worker
  then reads back the rows carrying its own claim token.  Two processes never send the
  same delivery while a claim is live; the multi-process test proves it.
- **Results are recorded only by the claim holder** (``… WHERE claimed_by = :token AND
  status = 'PENDING'``).  A worker whose claim expired or was withdrawn (subscription
  deleted) records nothing and audits ``delivery.claim_lost`` instead.
- **At-least-once, not exactly-once, for email and webhooks.**  Sending happens outside
  the transaction; no protocol lets the database and an SMTP server or HTTP endpoint
  commit together.  If a process dies after the receiver accepted a message but before
  the result is recorded, the claim expires and another worker sends it again, once per
  such crash.  Each message carries the delivery's stable reference (Message-ID,
  Idempotency-Key) so receivers can deduplicate.  Claims must outlast a send: keep
  ``claim_ttl_s`` well above the senders' timeouts.
- **Nothing is silently dropped.**  A failure schedules a retry with exponential backoff;
  after ``RetryPolicy.max_attempts`` (or at once for permanent failures) the delivery is
  FAILED with its last error, listed by ``ListDeliveries`` and retried by ``RetryDelivery``.

Every state change is audited as the system actor ``delivery``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update

from ..clock import Seconds
from ..passes import Backoff, PassRun
from ..uow import Actor, read_unit, write_unit
from .channels import DeliveryError, OutgoingMessage, Senders
from .dto import DeliveryReport
from .tables import deliveries, notifications

if TYPE_CHECKING:
    from ..api import Engine

log = logging.getLogger(__name__)

DELIVERY_ACTOR = Actor.system("delivery")
ERROR_MAX = 500


@dataclass(frozen=True, slots=True)
class RetryPolicy(Backoff):
    """The scheduled passes' back-off (``passes.Backoff``: after the 1st, 2nd, … failed
    attempt; ``cap_s`` beyond the list), and after ``max_attempts`` a delivery is FAILED."""

    max_attempts: int = 8

    def __post_init__(self) -> None:
        Backoff.__post_init__(self)
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


@dataclass(frozen=True, slots=True)
class Claim:
    """One delivery this worker holds, with what to send."""

    delivery_id: int
    token: str
    attempts: int
    message: OutgoingMessage


def _due(now: datetime) -> Any:
    d = deliveries
    return and_(
        d.c.status == "PENDING", d.c.next_attempt_at <= now,
        or_(d.c.claimed_by.is_(None), d.c.claim_expires_at <= now),
    )


async def claim_due(
    engine: Engine, *, worker_id: str, now: datetime, limit: int = 20, claim_ttl_s: Seconds = 300.0
) -> list[Claim]:
    """Claim up to ``limit`` due deliveries for ``worker_id`` until ``now + claim_ttl_s``.

    An idle pass costs one read and takes no write lock.
    """
    d = deliveries
    async with read_unit(engine.db, DELIVERY_ACTOR, engine.services) as uow:
        anything = (await uow.conn.execute(select(d.c.id).where(_due(now)).limit(1))).first()
    if anything is None:
        return []
    token = f"{worker_id[:80]}#{uuid.uuid4().hex[:16]}"
    expires = now + timedelta(seconds=claim_ttl_s)
    async with write_unit(engine.db, DELIVERY_ACTOR, engine.services) as uow:
        wanted = select(d.c.id).where(_due(now)).order_by(d.c.next_attempt_at, d.c.id).limit(limit)
        ids = [r[0] for r in await uow.conn.execute(wanted)]
        if not ids:
            return []
        # The guard repeats the due condition: the UPDATE itself decides who wins.
        await uow.conn.execute(
            update(d).where(d.c.id.in_(ids), _due(now)).values(claimed_by=token, claim_expires_at=expires)
        )
        rows = (await uow.conn.execute(
            select(d, notifications.c.topic, notifications.c.subject, notifications.c.body,
                   notifications.c.source_type, notifications.c.source_id,
                   notifications.c.created_at.label("published_at"))
            .join(notifications, notifications.c.id == d.c.notification_id)
            .where(d.c.claimed_by == token)
            .order_by(d.c.id)
        )).all()
        if rows:
            uow.record("delivery.claim", "delivery_worker", worker_id[:80], None, {
                "token": token, "deliveries": [r.ref for r in rows], "claim_expires_at": expires,
            })
    return [
        Claim(r.id, token, r.attempts, OutgoingMessage(
            ref=r.ref, channel=r.channel, address=r.address, topic=r.topic, subject=r.subject, body=r.body,
            source_type=r.source_type, source_id=r.source_id, notification_id=r.notification_id,
            created_at=r.published_at, attempt=r.attempts + 1,
        ))
        for r in rows
    ]


async def send_claimed(senders: Senders, claim: Claim) -> DeliveryError | None:
    """Send one claimed message; a failure is returned, never raised."""
    sender = senders.get(claim.message.channel)
    if sender is None:
        return DeliveryError(f"No sender for the {claim.message.channel} channel in this delivery loop.")
    try:
        await sender.send(claim.message)
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a sender bug must not leave the delivery unrecorded
        log.exception("sender for %s raised", claim.message.channel)
        return DeliveryError(f"Internal error in the {claim.message.channel} sender: {type(exc).__name__}: {exc}")
    return None


async def record_outcome(
    engine: Engine, claim: Claim, error: DeliveryError | None, *, at: datetime, policy: RetryPolicy
) -> str:
    """Record one send's result, if this worker still holds the claim.  Returns one of
    ``sent``, ``retry_scheduled``, ``failed``, ``claims_lost``."""
    d = deliveries
    attempts = claim.attempts + 1
    before = {"status": "PENDING", "attempts": claim.attempts}
    if error is None:
        outcome, status = "sent", "SENT"
        values: dict[str, Any] = {"status": "SENT", "sent_at": at, "last_error": None}
        after: dict[str, Any] = {"status": "SENT", "attempts": attempts}
    else:
        message = error.message[:ERROR_MAX]
        if error.permanent or attempts >= policy.max_attempts:
            outcome, status = "failed", "FAILED"
            values = {"status": "FAILED", "last_error": message}
            after = {"status": "FAILED", "attempts": attempts, "error": message, "permanent": error.permanent}
        else:
            outcome, status = "retry_scheduled", "PENDING"
            retry_at = at + policy.delay_after(attempts)
            values = {"status": "PENDING", "last_error": message, "next_attempt_at": retry_at}
            after = {"status": "PENDING", "attempts": attempts, "error": message, "next_attempt_at": retry_at}
    async with write_unit(engine.db, DELIVERY_ACTOR, engine.services) as uow:
        changed = (await uow.conn.execute(
            update(d)
            .where(d.c.id == claim.delivery_id, d.c.claimed_by == claim.token, d.c.status == "PENDING")
            .values(attempts=d.c.attempts + 1, claimed_by=None, claim_expires_at=None, **values)
        )).rowcount
        if changed != 1:
            uow.record("delivery.claim_lost", "delivery", claim.message.ref, None, {
                "token": claim.token, "result": "sent" if error is None else error.message[:ERROR_MAX],
            })
            return "claims_lost"
        uow.record(f"delivery.{outcome}", "delivery", claim.message.ref, before, after)
    log.info("delivery %s: %s", claim.message.ref, status)
    return outcome


async def deliver_due(
    engine: Engine,
    *,
    worker_id: str,
    senders: Senders,
    now: datetime | None = None,
    policy: RetryPolicy | None = None,
    batch_size: int = 20,
    claim_ttl_s: Seconds = 300.0,
) -> DeliveryReport:
    """One pass of the delivery loop: claim what is due, send it (concurrently, outside
    any transaction), record each result as soon as it is known.

    ``now`` fixes the pass's moment (tests); by default the engine's clock is read when
    claiming and again when recording each result.  Call it every few seconds from one
    or more processes; see the module docstring for what that guarantees.
    """
    policy = policy or RetryPolicy()
    claims = await claim_due(
        engine, worker_id=worker_id, now=now or engine.clock.now(), limit=batch_size, claim_ttl_s=claim_ttl_s
    )

    async def one(claim: Claim) -> str:
        error = await send_claimed(senders, claim)
        return await record_outcome(engine, claim, error, at=now or engine.clock.now(), policy=policy)

    # A delivery whose result cannot be recorded (the database failed under it) keeps its
    # claim until ``claim_ttl_s``, then is sent again: the others are recorded regardless.
    run = PassRun("alert delivery")
    outcomes = await asyncio.gather(*(run.item(f"delivery {c.message.ref}", functools.partial(one, c)) for c in claims))
    counts = {name: outcomes.count(name) for name in ("sent", "retry_scheduled", "failed", "claims_lost")}
    return DeliveryReport(claimed=len(claims), **counts)

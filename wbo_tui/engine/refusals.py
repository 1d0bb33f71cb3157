"""Refusals leave a trace.

A refused command rolls back with everything it did, its audit records included; so the
refusal itself (who, what, why) is written in a transaction of its own.  Every command
the engine refuses is recorded this way, and so is every query refused for want of a
session or a permission.  Secrets in the refused command (passwords) are never stored.

A command whose refusal the desk must hear about (a reference-rate import that imported
nothing) names a topic in its ``REFUSAL_NOTICE``: when such a command from a signed-in
operator is refused for what it carried (not for want of a permission or a session), the
refusal is also published on that topic, in the same transaction as its audit record.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from pydantic import BaseModel

from .errors import NotAuthenticated, PermissionDenied, WboError
from .notify.publish import publish
from .uow import Actor, Services, write_unit

log = logging.getLogger(__name__)

_SECRET_FIELDS = ("password", "token", "secret")
_TEXT_LIMIT = 200


async def record(engine: Any, actor: Actor, request: BaseModel, error: WboError, *, resolved: bool) -> None:
    """Audit ``request`` refused with ``error``, acted by ``actor``: the operator its
    session resolved to (``resolved``), or else the system, keeping the identity the
    caller claimed as evidence."""
    recorder = Actor(actor.operator_id, actor.username) if resolved else Actor.system("unauthenticated")
    after: dict[str, Any] = {
        "request": type(request).__name__, "error": type(error).__name__, "reason": str(error),
        "fields": redacted(request),
    }
    if not resolved:
        after["claimed_operator_id"] = actor.operator_id
        after["claimed_username"] = actor.username[:64]
    notice = getattr(type(request), "REFUSAL_NOTICE", None)
    try:
        async with write_unit(engine.db, recorder, engine.services) as uow:
            uow.record("request.refused", "request", type(request).__name__, None, after)
            if notice is not None and resolved and not isinstance(error, (PermissionDenied, NotAuthenticated)):
                topic, subject = notice
                await publish(uow, topic, subject, f"{actor.username}'s {type(request).__name__} was refused: "
                              f"{error}. Nothing of it was saved.", source_type="request",
                              source_id=type(request).__name__)
    except Exception:  # noqa: BLE001 - the refusal itself still reaches the caller
        log.exception("Could not audit the refusal of %s", type(request).__name__)


def redacted(request: BaseModel) -> dict[str, Any]:
    """The request's fields as JSON values, secrets replaced and long text cut."""
    out: dict[str, Any] = {}
    for name, value in request.model_dump(mode="json", warnings=False).items():
        if any(word in name.lower() for word in _SECRET_FIELDS):
            out[name] = "(not recorded)"
        elif isinstance(value, str) and len(value) > _TEXT_LIMIT:
            out[name] = value[:_TEXT_LIMIT] + "…"
        else:
            out[name] = value
    return out


def unknown_name(services: Services, typed: str) -> str:
    """What the audit log keeps of a login name that matches no operator: a keyed hash
    (the same name gives the same mark, so repeated attempts show) when the installation
    has an audit key, else only its length.  Never the text: it may be a password typed
    into the wrong field."""
    if services.audit_key:
        digest = hmac.new(services.audit_key, typed.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"unknown#{digest.hexdigest()[:16]}"
    return f"unknown ({len(typed)} characters)"

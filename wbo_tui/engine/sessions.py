"""Server-side operator sessions (OWASP ASVS V3).

Login makes a random token of 256 bits and stores only its SHA-256; the operator's
console holds the token inside its ``SessionInfo`` and presents it with every command.
The unit of work resolves the token to an operator inside the command's own transaction
(``uow.UnitOfWork.require``), so the operator id a caller hands in is never believed: a
session is only as good as the row behind its token.

A session ends at its absolute expiry (``SecurityPolicy.session_max_age_s``) or when it
is revoked: logout, the operator disabled, its password changed or reset.  An idle lock
suspends it (``locked_at``) until the operator's password unlocks it again; a suspended
session can do nothing, so a token copied from a locked console is worth nothing without
the password.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import insert, update

from .schema import operator_sessions
from .uow import UnitOfWork


def new_token() -> str:
    """256 random bits, URL-safe text."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def open_session(uow: UnitOfWork, operator_id: int, max_age_s: int) -> tuple[str, datetime]:
    """Start a session for ``operator_id``; returns the token (never stored) and its expiry."""
    token = new_token()
    expires_at = uow.now + timedelta(seconds=max_age_s)
    await uow.conn.execute(insert(operator_sessions).values(
        token_hash=token_hash(token), operator_id=operator_id, created_at=uow.now, expires_at=expires_at,
    ))
    return token, expires_at


async def revoke(uow: UnitOfWork, hashed: str, reason: str) -> None:
    await uow.conn.execute(
        update(operator_sessions)
        .where(operator_sessions.c.token_hash == hashed, operator_sessions.c.revoked_at.is_(None))
        .values(revoked_at=uow.now, revoked_reason=reason)
    )


async def revoke_all(uow: UnitOfWork, operator_id: int, reason: str, *, keep: str | None = None) -> int:
    """Revoke every live session of ``operator_id`` (but ``keep``, a token hash); returns how many."""
    statement = update(operator_sessions).where(
        operator_sessions.c.operator_id == operator_id, operator_sessions.c.revoked_at.is_(None),
    )
    if keep is not None:
        statement = statement.where(operator_sessions.c.token_hash != keep)
    result = await uow.conn.execute(statement.values(revoked_at=uow.now, revoked_reason=reason))
    return result.rowcount or 0


async def set_locked(uow: UnitOfWork, hashed: str, locked: bool) -> None:
    """Suspend a session at the idle lock, or resume it once the password was checked."""
    await uow.conn.execute(
        update(operator_sessions).where(operator_sessions.c.token_hash == hashed)
        .values(locked_at=uow.now if locked else None)
    )

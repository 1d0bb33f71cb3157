"""Unit of work: one database transaction with its permission check and its audit records.

A write unit begins with ``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL it locks the audit
head row first, which serialises audited writers just as SQLite does.  That makes
check-then-act invariants (the last administrator, one decision per approval) hold on
both backends without per-table locking schemes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, union
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import audit
from argon2 import PasswordHasher

from .clock import Clock, IdGenerator
from .policy import SecurityPolicy
from .db import WRITE_OPTION, writer_for
from .sqlite_inline import InlineConnection
from .errors import NotAuthenticated, PasswordChangeRequired, PermissionDenied, SessionLocked
from .permissions import with_implied
from .prepared import Prepared
from .schema import (
    audit_head,
    operator_permissions,
    operator_roles,
    operator_sessions,
    operators,
    role_permissions,
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting.  ``operator_id`` None means the system itself (setup tools, the
    engine's scheduled work).  An operator acts through a session: ``session_hash`` is
    the SHA-256 of its token, and ``operator_id``/``username`` are only what the caller
    claims until ``UnitOfWork.require`` has resolved the token inside the transaction.
    Only the engine makes actors: ``Engine.execute`` takes a ``SessionInfo``, never one
    of these."""

    operator_id: int | None
    username: str
    session_hash: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(None, name)


@dataclass(frozen=True, slots=True)
class Services:
    """What handlers need besides the connection: injected clock, ids, hashing, policy."""

    clock: Clock
    ids: IdGenerator
    hasher: PasswordHasher
    policy: SecurityPolicy
    audit_key: bytes | None = None
    """The key that anchors the audit chain (never stored in the database); None when
    the installation has none configured."""


@dataclass(slots=True)
class UnitOfWork:
    conn: AsyncConnection
    actor: Actor
    services: Services
    now: datetime
    sqlite: sqlite3.Connection | None = None
    """The driver connection of an inline SQLite write unit, for ``Prepared`` statements
    and ``bulk.insert_many``; None elsewhere (they then go through ``conn``)."""
    _permissions: frozenset[str] | None = None
    _audit: list[audit.PendingRecord] = field(default_factory=list)
    after_commit: list[Callable[[Any, str], Awaitable[None]]] = field(default_factory=list)
    """Work for after this unit commits (e.g. submitting a transfer at a channel, which
    must never happen inside a transaction); ``Engine.execute`` runs it with (engine,
    process name).  If the process dies first, the work is found again by its state."""

    @property
    def resolved(self) -> bool:
        """Whether ``actor`` is known: the system, or an operator whose session this unit
        has checked (before that, it is only what the caller claimed)."""
        return self.actor.session_hash is None or self._permissions is not None

    @property
    def ids(self) -> IdGenerator:
        return self.services.ids

    async def permissions(self) -> frozenset[str]:
        """The acting operator's effective permissions, read inside this transaction."""
        if self._permissions is None:
            if self.actor.operator_id is None:
                self._permissions = frozenset()
            else:
                await self._load_access(self.actor.operator_id)
        return self._permissions  # type: ignore[return-value]

    async def require(self, permission: str | None, action: str | None = None, *,
                      own_credentials: bool = False) -> None:
        """Refuse unless the acting session is live, its operator enabled and holding
        ``permission`` (None: any operator).  All of it is read once per unit, in one
        query, inside its transaction.  ``own_credentials``: the unit deals with the
        operator's own session or password (unlock, change password, log out), the one
        thing a locked session or a pending forced password change allows."""
        if self.actor.operator_id is None:
            return  # The system acts with full authority; only setup tools and scheduled work run as it.
        if self._permissions is None:
            await self._load_access(own_credentials)
        if permission is not None and permission not in self._permissions:  # type: ignore[operator]
            raise PermissionDenied(permission, action)

    async def _load_access(self, own_credentials: bool) -> None:
        claimed = self.actor
        if claimed.session_hash is None:
            raise NotAuthenticated(NO_SESSION)
        rows = await _ACCESS.rows(self.conn, {"token_hash": claimed.session_hash}, sqlite=self.sqlite)
        if not rows:
            raise NotAuthenticated(SESSION_ENDED)
        row = rows[0]
        if row.id != claimed.operator_id:
            raise NotAuthenticated(SESSION_OF_ANOTHER)
        if not row.enabled:  # before "ended": disabling ends the sessions, and says why
            raise NotAuthenticated(DISABLED)
        if row.revoked_at is not None:
            raise NotAuthenticated(SESSION_ENDED)
        if row.expires_at <= self.now:
            raise NotAuthenticated(SESSION_EXPIRED)
        if row.locked_at is not None and not own_credentials:
            raise SessionLocked(SESSION_LOCKED)
        if row.must_change_password and not own_credentials:
            raise PasswordChangeRequired(CHANGE_PASSWORD_FIRST)
        # From here on the unit acts, and audits, as the operator the database names.
        self.actor = Actor(row.id, row.username, claimed.session_hash)
        self._permissions = with_implied(frozenset(r.permission for r in rows if r.permission is not None))

    def record(
        self,
        action: str,
        target_type: str,
        target_id: str | int,
        before: Any = None,
        after: Any = None,
    ) -> None:
        """Queue an audit record; it is written in this transaction, before commit."""
        self.record_json(action, target_type, target_id, audit.to_json(before), audit.to_json(after))

    def record_json(self, action: str, target_type: str, target_id: str | int, before: str | None,
                    after: str | None) -> None:
        """``record`` for a caller that already holds the canonical JSON (``audit.to_json``)
        of before and after (batch mode writes thousands)."""
        if not self.resolved:
            raise AssertionError("an operator's unit must resolve its session (require) before it audits")
        self._audit.append(audit.PendingRecord(self.now, self.actor.operator_id, self.actor.username, action,
                                               target_type, str(target_id), before, after))

    async def flush_audit(self) -> None:
        records, self._audit = self._audit, []
        await audit.append(self.conn, records, sqlite=self.sqlite, key=self.services.audit_key)


async def effective_permissions(conn: AsyncConnection, operator_id: int) -> frozenset[str]:
    """An operator's permissions, through their roles or granted directly."""
    return with_implied(frozenset(r.permission for r in await _PERMISSIONS.rows(conn, {"operator_id": operator_id})
                                  if r.permission is not None))


DISABLED = "Your operator account is disabled. Ask an administrator."
NO_SESSION = "You are not logged in."
SESSION_ENDED = "Your session has ended. Log in again."
SESSION_EXPIRED = "Your session has expired. Log in again."
SESSION_OF_ANOTHER = "This session belongs to another operator. Log in again."
SESSION_LOCKED = "This console is locked. Enter your password to unlock it."
CHANGE_PASSWORD_FIRST = "Your password was set by an administrator. Change it before anything else."


def _granted(operator_id: Any) -> Any:
    """Each permission ``operator_id`` holds (through a role or directly), one per row."""
    return union(
        select(operator_roles.c.operator_id, role_permissions.c.permission)
        .join(role_permissions, role_permissions.c.role_id == operator_roles.c.role_id)
        .where(operator_roles.c.operator_id == operator_id),
        select(operator_permissions.c.operator_id, operator_permissions.c.permission)
        .where(operator_permissions.c.operator_id == operator_id),
    ).subquery("granted")


# The session behind a token with its operator, and each permission that operator holds
# on its own row (one row with permission NULL when none is granted).
_session_operator = (select(operator_sessions.c.operator_id)
                     .where(operator_sessions.c.token_hash == bindparam("token_hash")).scalar_subquery())
_session_granted = _granted(_session_operator)
_ACCESS = Prepared(
    select(operators.c.id, operators.c.username, operators.c.enabled, operators.c.must_change_password,
           operator_sessions.c.expires_at, operator_sessions.c.locked_at, operator_sessions.c.revoked_at,
           _session_granted.c.permission)
    .select_from(operator_sessions.join(operators, operators.c.id == operator_sessions.c.operator_id)
                 .outerjoin(_session_granted, _session_granted.c.operator_id == operators.c.id))
    .where(operator_sessions.c.token_hash == bindparam("token_hash"))
)
_operator_granted = _granted(bindparam("operator_id"))
_PERMISSIONS = Prepared(
    select(operators.c.enabled, _operator_granted.c.permission)
    .outerjoin(_operator_granted, _operator_granted.c.operator_id == operators.c.id)
    .where(operators.c.id == bindparam("operator_id"))
)


@asynccontextmanager
async def write_unit(engine: AsyncEngine, actor: Actor, services: Services) -> AsyncIterator[UnitOfWork]:
    async with writer_for(engine).connect() as conn:
        conn = await conn.execution_options(**{WRITE_OPTION: True})
        async with conn.begin():
            if conn.dialect.name == "postgresql":
                await conn.execute(select(audit_head.c.seq).where(audit_head.c.id == 1).with_for_update())
            driver = (await conn.get_raw_connection()).driver_connection if conn.dialect.name == "sqlite" else None
            uow = UnitOfWork(conn, actor, services, services.clock.now(),
                             driver.sqlite if isinstance(driver, InlineConnection) else None)
            yield uow
            await uow.flush_audit()


@asynccontextmanager
async def read_unit(engine: AsyncEngine, actor: Actor, services: Services) -> AsyncIterator[UnitOfWork]:
    async with engine.connect() as conn:
        async with conn.begin():
            uow = UnitOfWork(conn, actor, services, services.clock.now())
            yield uow
            if uow._audit:
                raise AssertionError("a read unit tried to write audit records")

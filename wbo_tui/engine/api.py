"""The one entry point: the console, the CLI and scripts all open an ``Engine``.

    engine = await Engine.open("sqlite:///wbo.db")
    session = await engine.login("alice", "…")
    page = await engine.query(session, QueryAuditLog(page_size=50))
    await engine.execute(session, CreateRole(name="desk", permissions=[…]))

Commands and queries are pydantic models; results are DTOs.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from argon2 import PasswordHasher
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from . import passwords, refusals, sessions
from .clock import Clock, IdGenerator, SystemClock, UuidIds
from .commands import COMMAND_HANDLERS, QUERY_HANDLERS, Command, Query
from .db import create_engine, describe_url, dispose
from .dto import SessionInfo
from .errors import (
    AccountLocked,
    AuthenticationFailed,
    NotAuthenticated,
    NotFound,
    SchemaOutOfDate,
    WboError,
)
from .policy import SecurityPolicy
from .schema import operators
from .uow import NO_SESSION, Actor, Services, UnitOfWork, effective_permissions, read_unit, write_unit

# The Alembic revision this code expects.  A test keeps it equal to the migrations' head,
# so the console can check the schema without importing Alembic at start-up.
SCHEMA_REVISION = "0009_reservations"

R = TypeVar("R")
log = logging.getLogger(__name__)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Engine:
    def __init__(self, db: AsyncEngine, url: str, services: Services,
                 gateway_factory: Callable[[str, dict[str, Any]], Any] | None = None) -> None:
        self.db = db
        self.url = url
        self.services = services
        self._dummy: str | None = None
        # This process's name in claims and leases (host:pid unless a test names it).
        self.holder = process_name()
        # Builds the upstream gateway of a settlement channel from its configuration.
        self.gateway_factory = gateway_factory or GatewayCache(services.clock)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        ids: IdGenerator | None = None,
        hasher: PasswordHasher | None = None,
        policy: SecurityPolicy | None = None,
        check_schema: bool = True,
        gateway_factory: Callable[[str, dict[str, Any]], Any] | None = None,
        audit_key: bytes | None = None,
    ) -> Engine:
        services = Services(
            clock=clock or SystemClock(), ids=ids or UuidIds(),
            hasher=hasher or passwords.default_hasher(), policy=policy or SecurityPolicy(),
            audit_key=audit_key,
        )
        engine = cls(create_engine(url), url, services, gateway_factory)
        if check_schema:
            try:
                await engine.check_schema()
            except BaseException:
                await engine.close()
                raise
        return engine

    async def close(self) -> None:
        """Close the gateways this engine built (connections, files), then the database."""
        if isinstance(self.gateway_factory, GatewayCache):
            await self.gateway_factory.aclose()
        await dispose(self.db)

    @property
    def database_label(self) -> str:
        return describe_url(self.url)

    @property
    def clock(self) -> Clock:
        return self.services.clock

    async def schema_revision(self) -> str | None:
        async with self.db.connect() as conn:
            try:
                return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
            except Exception:  # noqa: BLE001 - no table at all means an empty database
                return None

    async def check_schema(self) -> None:
        current = await self.schema_revision()
        if current != SCHEMA_REVISION:
            found = "has no WBO schema" if current is None else f"is at schema revision {current}"
            raise SchemaOutOfDate(
                f"The database {self.database_label} {found}; this console needs {SCHEMA_REVISION}. "
                f"Run: wbo-tui db upgrade --db {make_url(self.url).render_as_string(hide_password=True)}"
            )

    # --- commands and queries -----------------------------------------------------------

    async def execute(self, session: SessionInfo, command: Command) -> Any:
        """Run one command in one write transaction for the operator whose server-side
        session ``session.token`` names; the session, the permission and the command's
        rules are all checked inside that transaction.  A refusal is audited."""
        try:
            actor = _actor(session)
        except NotAuthenticated as error:
            await refusals.record(self, _claim(session), command, error, resolved=False)
            raise
        return await self._run(actor, command)

    async def setup_execute(self, command: Command, *, tool: str = "setup") -> Any:
        """Run ``command`` as the installation's setup tool (``wbo-tui seed``, ``operator
        create-admin``): no operator session, audited under ``tool``.  Only command-line
        set-up calls this (it holds the database's credentials anyway); the console and
        every operator go through ``execute``.  The system never decides an approval."""
        return await self._run(Actor.system(tool), command)

    async def _run(self, actor: Actor, command: Command) -> Any:
        handler = COMMAND_HANDLERS.get(type(command))
        if handler is None:
            raise TypeError(f"{type(command).__name__} is not a registered command")
        uow: UnitOfWork | None = None
        try:
            async with write_unit(self.db, actor, self.services) as uow:
                await uow.require(command.permission, command.action)
                result = await handler(uow, command)
        except WboError as error:
            await refusals.record(self, uow.actor if uow is not None else actor, command, error,
                                  resolved=uow is not None and uow.resolved)
            raise
        for job in uow.after_commit:
            try:
                await job(self, self.holder)
            except Exception:  # noqa: BLE001 - committed work is picked up again by its state
                log.exception("After-commit work of %s failed; the allocation engine will retry it",
                              type(command).__name__)
        return result

    async def query(self, session: SessionInfo, query: Query) -> Any:
        handler = QUERY_HANDLERS.get(type(query))
        if handler is None:
            raise TypeError(f"{type(query).__name__} is not a registered query")
        uow: UnitOfWork | None = None
        try:
            async with read_unit(self.db, _actor(session), self.services) as uow:
                await uow.require(query.permission, query.action)
                return await handler(uow, query)
        except NotAuthenticated as error:
            # A read through a forged, ended or disabled session is a security event.  A
            # read without a permission is not recorded: the console shows the denial in
            # place and its list refreshes would repeat it every few seconds; nor is a
            # locked console's refresh (SessionLocked).
            await refusals.record(self, uow.actor if uow is not None else _claim(session), query, error,
                                  resolved=uow is not None and uow.resolved)
            raise

    async def setup_query(self, query: Query, *, tool: str = "setup") -> Any:
        """``query`` for a setup tool, as ``setup_execute`` runs commands."""
        handler = QUERY_HANDLERS[type(query)]
        async with read_unit(self.db, Actor.system(tool), self.services) as uow:
            return await handler(uow, query)

    # --- positions ----------------------------------------------------------------------

    async def poll_positions(self, *, slot: str, holder: str) -> Any:
        """Poll every channel's balances for ``slot`` unless another process already has.

        Network calls run outside any transaction; see ``positions.polling``."""
        from .positions import polling

        return await polling.poll(self, slot=slot, holder=holder, gateway_factory=self.gateway_factory)

    async def run_allocations(self) -> Any:
        """One pass of the allocation engine: decide new events and due schedule fire
        times (each exactly once across processes), then drive transfers at the channels.
        Every console process runs this on a short interval; see ``allocations.triggers``."""
        from .allocations.triggers import run_pass

        return await run_pass(self, self.holder)

    async def refresh_positions(self, session: SessionInfo, *, holder: str) -> Any:
        """The Refresh button: permission-checked and audited, then an immediate poll."""
        from .positions.polling import RefreshPositions

        slot = await self.execute(session, RefreshPositions())
        return await self.poll_positions(slot=slot, holder=holder)

    # --- authentication -----------------------------------------------------------------

    async def login(self, username: str, password: str) -> SessionInfo:
        """Check the password; count failures; lock the account after too many.  A good
        password opens a server-side session whose token the returned ``SessionInfo``
        carries (``engine.sessions``)."""
        username = username.strip()
        if not username or not password:
            raise AuthenticationFailed("Enter your username and password.")
        row = await self._operator_by_name(username)
        now = self.clock.now()
        if row is not None and row.locked_until is not None and row.locked_until > now:
            raise AccountLocked(_locked_sentence(row.locked_until))
        # Hash verification is slow on purpose; it runs outside any transaction.  An
        # unknown username is checked against a dummy hash so the answer takes as long
        # as for a real one and timing does not reveal which usernames exist.
        stored = row.password_hash if row is not None else await self._dummy_hash()
        ok = await passwords.verify(self.services.hasher, stored, password) and row is not None
        if row is None:
            # Still audited, still a uniform answer.  What was typed is not stored: it may
            # be a password typed into the wrong field.
            async with write_unit(self.db, Actor.system("login"), self.services) as uow:
                uow.record("operator.login_failed", "operator", refusals.unknown_name(self.services, username),
                           None, {"reason": "unknown username"})
            raise AuthenticationFailed("Wrong username or password.")
        if not ok:
            locked_until = await self._count_failure(row.id, row.username)
            if locked_until is not None:
                raise AccountLocked(_locked_sentence(locked_until))
            raise AuthenticationFailed("Wrong username or password.")
        if not row.enabled:
            async with write_unit(self.db, Actor(row.id, row.username), self.services) as uow:
                uow.record("operator.login_failed", "operator", row.username, None, {"reason": "disabled"})
            raise AuthenticationFailed("This operator account is disabled. Ask an administrator.")
        async with write_unit(self.db, Actor(row.id, row.username), self.services) as uow:
            await uow.conn.execute(
                update(operators).where(operators.c.id == row.id).values(failed_logins=0, last_login_at=uow.now)
            )
            token, expires_at = await sessions.open_session(uow, row.id, self.services.policy.session_max_age_s)
            uow.record("operator.login", "operator", row.username, None, {"session_expires_at": expires_at})
            perms = await effective_permissions(uow.conn, row.id)
            login_at = uow.now
        return SessionInfo(
            operator_id=row.id, username=row.username, display_name=row.display_name,
            permissions=perms, login_at=login_at, token=token, expires_at=expires_at,
            must_change_password=row.must_change_password,
        )

    async def refresh_session(self, session: SessionInfo) -> SessionInfo:
        """Re-read the operator's permissions (after a grant takes effect)."""
        async with read_unit(self.db, _actor(session), self.services) as uow:
            await uow.require(None)
            perms = await effective_permissions(uow.conn, uow.actor.operator_id)  # type: ignore[arg-type]
        return session.model_copy(update={"permissions": perms})

    async def lock_session(self, session: SessionInfo) -> None:
        """The idle lock: suspend the session until the operator's password resumes it."""
        async with write_unit(self.db, _actor(session), self.services) as uow:
            await uow.require(None, own_credentials=True)
            await sessions.set_locked(uow, uow.actor.session_hash, True)  # type: ignore[arg-type]
            uow.record("operator.lock_console", "operator", uow.actor.username)

    async def unlock(self, session: SessionInfo, password: str) -> None:
        """Unlock an idle-locked console: the operator's own password, counted like a login."""
        row = await self._operator_by_id(session.operator_id)
        if row is None or not row.enabled:
            raise AuthenticationFailed("This operator account is disabled. Ask an administrator.")
        if row.locked_until is not None and row.locked_until > self.clock.now():
            raise AccountLocked(_locked_sentence(row.locked_until))
        if not await passwords.verify(self.services.hasher, row.password_hash, password):
            locked_until = await self._count_failure(row.id, row.username)
            if locked_until is not None:
                raise AccountLocked(_locked_sentence(locked_until))
            raise AuthenticationFailed("Wrong password.")
        async with write_unit(self.db, _actor(session), self.services) as uow:
            await uow.require(None, own_credentials=True)
            await uow.conn.execute(update(operators).where(operators.c.id == row.id).values(failed_logins=0))
            await sessions.set_locked(uow, uow.actor.session_hash, False)  # type: ignore[arg-type]
            uow.record("operator.unlock_console", "operator", uow.actor.username)

    async def logout(self, session: SessionInfo) -> None:
        """End the session: its token is worth nothing afterwards."""
        async with write_unit(self.db, _actor(session), self.services) as uow:
            await uow.require(None, own_credentials=True)
            await sessions.revoke(uow, uow.actor.session_hash, "logout")  # type: ignore[arg-type]
            uow.record("operator.logout", "operator", uow.actor.username)

    async def change_password(self, session: SessionInfo, old_password: str, new_password: str) -> None:
        """Change one's own password; every other session of the operator ends."""
        row = await self._operator_by_id(session.operator_id)
        if row is None:
            raise NotFound("Your operator account no longer exists.")
        if not await passwords.verify(self.services.hasher, row.password_hash, old_password):
            locked_until = await self._count_failure(row.id, row.username)
            if locked_until is not None:
                raise AccountLocked(_locked_sentence(locked_until))
            raise AuthenticationFailed("Current password is wrong.")
        passwords.check_strength(
            new_password, username=row.username, min_length=self.services.policy.password_min_length,
            field="New password",
        )
        if new_password == old_password:
            raise WboError("New password must differ from the current one.")
        new_hash = await passwords.hash_password(self.services.hasher, new_password)
        async with write_unit(self.db, _actor(session), self.services) as uow:
            await uow.require(None, own_credentials=True)
            await uow.conn.execute(update(operators).where(operators.c.id == row.id).values(
                password_hash=new_hash, password_changed_at=uow.now, must_change_password=False,
            ))
            ended = await sessions.revoke_all(uow, row.id, "password changed", keep=uow.actor.session_hash)
            uow.record("operator.change_password", "operator", uow.actor.username, None,
                       {"password_changed_at": uow.now, "other_sessions_ended": ended})

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await passwords.hash_password(self.services.hasher, "not-a-password-of-anyone")
        return self._dummy

    async def _operator_by_name(self, username: str) -> Any:
        async with self.db.connect() as conn:
            return (await conn.execute(select(operators).where(operators.c.username == username))).first()

    async def _operator_by_id(self, operator_id: int) -> Any:
        async with self.db.connect() as conn:
            return (await conn.execute(select(operators).where(operators.c.id == operator_id))).first()

    async def _count_failure(self, operator_id: int, username: str) -> Any:
        """Count a failed password check in its own committed transaction."""
        policy = self.services.policy
        async with write_unit(self.db, Actor(operator_id, username), self.services) as uow:
            failures = (
                await uow.conn.execute(
                    update(operators).where(operators.c.id == operator_id)
                    .values(failed_logins=operators.c.failed_logins + 1).returning(operators.c.failed_logins)
                )
            ).scalar_one()
            locked_until = None
            if failures >= policy.lockout_threshold:
                locked_until = uow.now + timedelta(seconds=policy.lockout_duration_s)
                await uow.conn.execute(
                    update(operators).where(operators.c.id == operator_id).values(locked_until=locked_until, failed_logins=0)
                )
                uow.record("operator.locked_out", "operator", username, None,
                           {"failures": failures, "locked_until": locked_until})
            else:
                uow.record("operator.login_failed", "operator", username, None, {"failures": failures})
        return locked_until


class GatewayCache:
    """One gateway object per configuration, built on first use: a gateway is made from its
    configuration alone, so channels configured alike (one bank, one store) share one and
    its connection, rather than queueing on each other's."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.built: dict[str, Any] = {}

    def __call__(self, channel: str, config: dict[str, Any]) -> Any:
        import json

        from .upstream.registry import build_gateway

        key = json.dumps(config, sort_keys=True)
        if key not in self.built:
            self.built[key] = build_gateway(config, clock=self.clock)
        return self.built[key]

    async def aclose(self) -> None:
        built, self.built = self.built, {}
        for gateway in built.values():
            await gateway.aclose()


def _actor(session: SessionInfo) -> Actor:
    """The claim a caller makes: checked against the server-side session by the unit."""
    if not isinstance(session, SessionInfo):
        raise NotAuthenticated(NO_SESSION)
    return Actor(session.operator_id, session.username, sessions.token_hash(session.token))


def _claim(session: Any) -> Actor:
    """Whatever identity a refused caller claimed, for the audit record's evidence."""
    operator_id = getattr(session, "operator_id", None)
    return Actor(operator_id if isinstance(operator_id, int) else None,
                 str(getattr(session, "username", type(session).__name__))[:64], "claimed")


def _locked_sentence(until: Any) -> str:
    return (
        f"This account is locked after too many failed passwords, until {until:%H:%M} UTC. "
        "An administrator can unlock it sooner."
    )

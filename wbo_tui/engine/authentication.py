"""Operator access: login, the session's lock and unlock, logout, changing one's password.

``Engine`` takes these methods from ``Authentication``; they open and end the server-side
sessions (``engine.sessions``) that every command presents, and count failed passwords
towards the account lockout.  Password hashing is slow on purpose and runs outside any
transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from . import passwords, refusals, sessions
from .dto import SessionInfo
from .errors import AccountLocked, AuthenticationFailed, NotAuthenticated, NotFound, WboError
from .schema import operators
from .db import writer_for
from .uow import NO_SESSION, Actor, effective_permissions, read_unit, write_unit


class Authentication:
    """Mixed into ``Engine`` (which provides ``db``, ``services`` and ``clock``)."""

    db: Any
    services: Any
    clock: Any
    _dummy: str | None

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

    async def prepare_login(self) -> None:
        """Pay the first login's one-off costs before anyone presses Enter (the console
        calls this while the operator types): argon2's first use, the dummy hash an
        unknown username is checked against, the lookup and permission statements
        compiled, a pooled connection opened.  Reads only; nothing is recorded."""
        await passwords.verify(self.services.hasher, await self._dummy_hash(), "not-the-password")
        await self._operator_by_name("")
        async with self.db.connect() as conn:
            await effective_permissions(conn, 0)
        async with writer_for(self.db).connect() as conn:  # opened and pooled; no transaction
            await conn.get_raw_connection()

    async def refresh_session(self, session: SessionInfo) -> SessionInfo:
        """Re-read the operator's permissions (after a grant takes effect)."""
        async with read_unit(self.db, session_actor(session), self.services) as uow:
            await uow.require(None)
            perms = await effective_permissions(uow.conn, uow.actor.operator_id)  # type: ignore[arg-type]
        return session.model_copy(update={"permissions": perms})

    async def lock_session(self, session: SessionInfo) -> None:
        """The idle lock: suspend the session until the operator's password resumes it."""
        async with write_unit(self.db, session_actor(session), self.services) as uow:
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
        async with write_unit(self.db, session_actor(session), self.services) as uow:
            await uow.require(None, own_credentials=True)
            await uow.conn.execute(update(operators).where(operators.c.id == row.id).values(failed_logins=0))
            await sessions.set_locked(uow, uow.actor.session_hash, False)  # type: ignore[arg-type]
            uow.record("operator.unlock_console", "operator", uow.actor.username)

    async def logout(self, session: SessionInfo) -> None:
        """End the session: its token is worth nothing afterwards."""
        async with write_unit(self.db, session_actor(session), self.services) as uow:
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
        async with write_unit(self.db, session_actor(session), self.services) as uow:
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




def session_actor(session: SessionInfo) -> Actor:
    """The claim a caller makes: checked against the server-side session by the unit."""
    if not isinstance(session, SessionInfo):
        raise NotAuthenticated(NO_SESSION)
    return Actor(session.operator_id, session.username, sessions.token_hash(session.token))


def claimed_actor(session: Any) -> Actor:
    """Whatever identity a refused caller claimed, for the audit record's evidence."""
    operator_id = getattr(session, "operator_id", None)
    return Actor(operator_id if isinstance(operator_id, int) else None,
                 str(getattr(session, "username", type(session).__name__))[:64], "claimed")


def _locked_sentence(until: Any) -> str:
    return (
        f"This account is locked after too many failed passwords, until {until:%H:%M} UTC. "
        "An administrator can unlock it sooner."
    )

"""The one entry point: the console, the CLI and scripts all open an ``Engine``.

    engine = await Engine.open("sqlite:///wbo.db")
    session = await engine.login("alice", "…")
    page = await engine.query(session, QueryAuditLog(page_size=50))
    await engine.execute(session, CreateRole(name="desk", permissions=[…]))

Commands and queries are pydantic models; results are DTOs.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from . import passwords, refusals
from .authentication import Authentication, claimed_actor, session_actor
from .clock import Clock, IdGenerator, SystemClock, UuidIds
from .commands import COMMAND_HANDLERS, QUERY_HANDLERS, Command, Query
from .db import create_engine, describe_url, dispose
from .dto import SessionInfo
from .engine_loop import EngineLoop
from .errors import NotAuthenticated, SchemaOutOfDate, WboError
from .policy import SecurityPolicy
from .uow import Actor, Services, UnitOfWork, read_unit, write_unit

# The Alembic revision this code expects.  A test keeps it equal to the migrations' head,
# so the console can check the schema without importing Alembic at start-up.
SCHEMA_REVISION = "0014_margin"

R = TypeVar("R")
log = logging.getLogger(__name__)


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Engine(Authentication):
    def __init__(self, db: AsyncEngine, url: str, services: Services,
                 gateway_factory: Callable[[str, dict[str, Any]], Any] | None = None,
                 engine_loop: EngineLoop | None = None) -> None:
        self.db = db
        self.url = url
        self.services = services
        self._dummy: str | None = None
        # This process's name in claims and leases (host:pid unless a test names it).
        self.holder = process_name()
        self._pass_gate: Any = None  # allocations.pass_gate.PassGate, made by the first pass
        # Builds the upstream gateway of a settlement channel from its configuration.
        self.gateway_factory = gateway_factory or GatewayCache(services.clock)
        # The gateways of the FX bank exchange channels (``fx.channel_execution``).
        self.fx_bank_gateways = GatewayCache(services.clock, _build_bank_channel, close_with="close")
        self.margin_venues = GatewayCache(services.clock, _build_venue, close_with="close")
        # The thread and loop every call runs on (``own_loop``); None: the caller's loop.
        self.engine_loop = engine_loop

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
        own_loop: bool = False,
    ) -> Engine:
        """``own_loop``: run every call on a thread of the engine's own (``engine_loop``),
        as the console does, so its event loop never waits for disk or network; work after
        a commit (an approved allocation's transfer) then runs after the call returns."""
        services = Services(
            clock=clock or SystemClock(), ids=ids or UuidIds(),
            hasher=hasher or passwords.default_hasher(), policy=policy or SecurityPolicy(),
            audit_key=audit_key,
        )
        engine = cls(create_engine(url), url, services, gateway_factory, EngineLoop() if own_loop else None)
        if check_schema:
            try:
                await engine.check_schema()
            except BaseException:
                await engine.close()
                raise
        return engine

    # How long closing waits for work queued after a commit (a transfer at a channel).
    AFTER_COMMIT_DRAIN_S = 10.0

    async def close(self) -> None:
        """Let work after commits finish (``AFTER_COMMIT_DRAIN_S``), close the gateways this
        engine built (connections, files), then the database, then the engine's loop."""
        if self.engine_loop is None:
            await self._close()
            return
        try:
            await self.engine_loop.run(self._close())
        finally:
            await self.engine_loop.stop()

    async def _close(self) -> None:
        if self.engine_loop is not None:
            await self.engine_loop.drain(self.AFTER_COMMIT_DRAIN_S)
        try:
            if isinstance(self.gateway_factory, GatewayCache):
                await self.gateway_factory.aclose()
        finally:
            await self.fx_bank_gateways.aclose()
            await self.margin_venues.aclose()
        await dispose(self.db)

    async def call(self, fn: Callable[..., Awaitable[R]], *args: Any, **kwargs: Any) -> R:
        """``await fn(*args, **kwargs)`` where the engine's calls run (its own loop, when it
        has one): for engine functions that take the engine or its database directly."""
        if self.engine_loop is None:
            return await fn(*args, **kwargs)
        return await self.engine_loop.run(fn(*args, **kwargs))

    async def after_commit_idle(self) -> None:
        """Wait until the work queued after commits (transfers) has run (tests, tools)."""
        if self.engine_loop is not None:
            await self.engine_loop.run(self.engine_loop.drain())

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
            actor = session_actor(session)
        except NotAuthenticated as error:
            await refusals.record(self, claimed_actor(session), command, error, resolved=False)
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
            if self.engine_loop is not None:  # the caller has its answer once the unit commits
                self.engine_loop.spawn(self._after_commit(job, command),
                                       f"after-commit work of {type(command).__name__}")
            else:
                await self._after_commit(job, command)
        return result

    async def _after_commit(self, job: Callable[[Any, str], Awaitable[None]], command: Command) -> None:
        try:
            await job(self, self.holder)
        except Exception:  # noqa: BLE001 - committed work is picked up again by its state
            log.exception("After-commit work of %s failed; the allocation engine will retry it",
                          type(command).__name__)

    async def query(self, session: SessionInfo, query: Query) -> Any:
        handler = QUERY_HANDLERS.get(type(query))
        if handler is None:
            raise TypeError(f"{type(query).__name__} is not a registered query")
        uow: UnitOfWork | None = None
        try:
            async with read_unit(self.db, session_actor(session), self.services) as uow:
                await uow.require(query.permission, query.action)
                return await handler(uow, query)
        except NotAuthenticated as error:
            # A read through a forged, ended or disabled session is a security event.  A
            # read without a permission is not recorded: the console shows the denial in
            # place and its list refreshes would repeat it every few seconds; nor is a
            # locked console's refresh (SessionLocked).
            await refusals.record(self, uow.actor if uow is not None else claimed_actor(session), query, error,
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
        from .allocations.pass_gate import PassGate
        from .allocations.triggers import run_pass

        if self._pass_gate is None:
            self._pass_gate = PassGate()
        return await run_pass(self, self.holder, self._pass_gate)

    async def refresh_positions(self, session: SessionInfo, *, holder: str) -> Any:
        """The Refresh button: permission-checked and audited, then an immediate poll."""
        from .positions.polling import RefreshPositions

        slot = await self.execute(session, RefreshPositions())
        return await self.poll_positions(slot=slot, holder=holder)

    def watch_changes(self, **options: Any) -> Any:
        """The tables other connections commit changes to, as they commit: an async
        iterator of sets of table names (``changes.watch_changes``)."""
        from .changes import watch_changes

        return watch_changes(self.db, **options)


def _on_engine_loop(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """``method`` run whole on the engine's own loop (one hop per call), when it has one."""

    @functools.wraps(method)
    async def hop(self: Engine, *args: Any, **kwargs: Any) -> R:
        loop = self.engine_loop
        if loop is None or loop.here():
            return await method(self, *args, **kwargs)
        return await loop.run(method(self, *args, **kwargs))

    return hop


for _name in ("execute", "setup_execute", "query", "setup_query", "schema_revision", "check_schema",
              "poll_positions", "run_allocations", "refresh_positions", "login", "prepare_login", "refresh_session",
              "lock_session", "unlock", "logout", "change_password"):
    setattr(Engine, _name, _on_engine_loop(getattr(Engine, _name)))


class GatewayCache:
    """One gateway object per configuration, built on first use: a gateway is made from its
    configuration alone, so channels configured alike (one bank, one store) share one and
    its connection, rather than queueing on each other's.  ``Engine.close`` closes every
    gateway its caches built (connections, store files).

    ``build(config, clock=…)`` makes a gateway (the settlement channels' registry unless
    told otherwise); ``close_with`` names the coroutine method that closes one, as its
    gateway interface calls it (``aclose`` for settlement channels, ``close`` for FX)."""

    def __init__(self, clock: Clock, build: Callable[..., Any] | None = None, *, close_with: str = "aclose") -> None:
        self.clock = clock
        self.build = build
        self.close_with = close_with
        self.built: dict[str, Any] = {}

    def __call__(self, channel: str, config: dict[str, Any]) -> Any:
        import json

        key = json.dumps(config, sort_keys=True)
        if key not in self.built:
            self.built[key] = self._build(config)
        return self.built[key]

    def _build(self, config: dict[str, Any]) -> Any:
        if self.build is not None:
            return self.build(config, clock=self.clock)
        from .upstream.registry import build_gateway

        return build_gateway(config, clock=self.clock)

    async def aclose(self) -> None:
        built, self.built = self.built, {}
        for gateway in built.values():
            await getattr(gateway, self.close_with)()


def _build_bank_channel(config: dict[str, Any], *, clock: Clock) -> Any:
    # Imported on first use: most processes never send an FX order.
    from .fx.bank.registry import build_bank_channel

    return build_bank_channel(config, clock=clock)


def _build_venue(config: dict[str, Any], *, clock: Clock) -> Any:
    """The liquidation venue ``config`` describes.  A simulated venue's ``prices`` (the
    simulated market's configuration, added by the margin engine) become its market."""
    from .margin.prices import build_price_gateway
    from .margin.venue import build_venue

    config = dict(config)
    market_config = config.pop("prices", None)
    if market_config is None:
        return build_venue(config, clock=clock, prices=None)
    market = build_price_gateway(market_config, clock=clock)

    def prices(code: str) -> tuple[Any, Any] | None:
        quote = market.quote_at(code, clock.now())  # type: ignore[attr-defined]
        return None if quote is None else (quote.bid, quote.ask)

    return build_venue(config, clock=clock, prices=prices)

"""Polling positions from the upstream channels.

Every console process runs the same schedule; each interval has one *slot*, and the
process that inserts the slot's ``poll_runs`` row (a unique key) is the one that asks the
upstream.  The others find the row and do nothing: one upstream poll per interval, however
many consoles are open, with no leader to elect and nothing to hand over when a process
exits.  A process that dies mid-poll loses that slot's poll; the next slot polls again.

Network calls happen outside any transaction; the balances are then written, thresholds
evaluated and alerts raised in one write transaction.  That transaction yields to the
event loop between slices of accounts (the console shares the loop): still one
transaction, so the level changes and alerts commit with the balances they are based on.

Each channel is asked on its own (``passes.PassRun``): a channel that fails in any way,
foreseen or not (a simulated bank whose store cannot be opened, a garbled answer), marks
its accounts FAILED with the reason, shown on the positions table, and the other channels'
balances are recorded as usual.  A channel that keeps failing is asked less often: each
scheduled poll skips it until its ``poll_retry_at`` (a back-off over its consecutive
failed polls, cleared by its next answer); a manual refresh asks every channel.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, literal_column, null, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..bulk import bind_processor
from ..commands import Command, handles
from ..dto import DTO
from ..passes import Backoff, ItemFailure, PassRun
from ..uow import Actor, UnitOfWork, read_unit, write_unit
from .channel_health import announce, channel_down, channel_recovered
from .levels import NORMAL, LevelChange, apply_levels, level_for
from .tables import channel_accounts, poll_runs, positions, settlement_channels

POLL_ACTOR = Actor.system("position-poller")
# How long one channel may take to answer a balance request before it counts as failed.
CHANNEL_TIMEOUT_S = 20.0
# Accounts handled between two yields to the event loop while recording a poll (the
# console shares the loop: each slice must stay well under a frame's worth of work).
_CHUNK = 250
# A channel's scheduled polls after consecutive failures: the next slot after the first
# (at the default 300 s interval), then every 10 and 30 minutes, then hourly.
POLL_BACKOFF = Backoff((60, 600, 1800), cap_s=3600)
SCHEDULED = "scheduled:"  # the slots ``slot_for`` makes; back-off applies to these only

GatewayFactory = Callable[[str, dict[str, Any]], Any]


class PollReport(DTO):
    slot: str
    polled: bool
    """False when another process had already claimed this slot."""
    accounts_ok: int = 0
    accounts_failed: int = 0
    failed_channels: tuple[str, ...] = ()
    deferred_channels: tuple[str, ...] = ()
    """Channels this scheduled poll did not ask: backing off after failures."""
    level_changes: int = 0


@dataclass(frozen=True, slots=True)
class _Fetched:
    channel: str
    balances: dict[tuple[str, str], Any] | None  # (account_no, currency) -> UpstreamBalance
    error: str | None


def slot_for(moment: datetime, interval_s: int) -> str:
    epoch = int(moment.timestamp())
    return f"scheduled:{epoch - epoch % interval_s}"


async def claim_slot(engine: Any, slot: str, holder: str) -> bool:
    """Insert the slot's run row; False if another process got there first."""
    try:
        async with write_unit(engine.db, POLL_ACTOR, engine.services) as uow:
            await uow.conn.execute(insert(poll_runs).values(slot=slot, holder=holder[:80], started_at=uow.now))
    except IntegrityError:
        return False
    return True


async def poll(engine: Any, *, slot: str, holder: str, gateway_factory: GatewayFactory) -> PollReport:
    """Claim ``slot`` and, if ours, fetch every channel's balances and record them."""
    accounts, channels = await _load(engine)
    if not accounts:
        return PollReport(slot=slot, polled=False)  # nothing configured: no run, no audit noise
    if not await claim_slot(engine, slot, holder):
        return PollReport(slot=slot, polled=False)
    deferred: set[str] = set()
    if slot.startswith(SCHEDULED):  # a manual refresh asks every channel
        now = engine.clock.now()
        waiting = {code for code, c in channels.items() if c.retry_at is not None and c.retry_at > now}
        deferred = {a.channel for a in accounts if a.channel in waiting} if waiting else set()
    by_channel: dict[str, list[Any]] = defaultdict(list)
    for account in accounts:  # one pass: 4,000 accounts x 40 channels must not be 160,000 row reads
        if account.channel not in deferred:
            by_channel[account.channel].append(account)
    run = PassRun("position poll")
    fetched = await asyncio.gather(*(
        _fetch(run, code, channels[code].config, by_channel[code], gateway_factory) for code in sorted(by_channel)
    ))
    polled = [a for a in accounts if a.channel not in deferred] if deferred else accounts
    return await _record(engine, slot, polled, fetched, channels, tuple(sorted(deferred)))


@dataclass(frozen=True, slots=True)
class _Channel:
    config: dict[str, Any]
    failures: int  # polls of this channel that failed in a row
    retry_at: datetime | None


async def _load(engine: Any) -> tuple[list[Any], dict[str, _Channel]]:
    async with read_unit(engine.db, POLL_ACTOR, engine.services) as uow:
        accounts = (await uow.conn.execute(
            select(channel_accounts.c.id, channel_accounts.c.channel, channel_accounts.c.account_no,
                   channel_accounts.c.currency, channel_accounts.c.scenario)
            .join(settlement_channels, settlement_channels.c.code == channel_accounts.c.channel)
            .where(settlement_channels.c.enabled.is_(True))
        )).all()
        channels = {r.code: _Channel(json.loads(r.gateway), r.poll_failures, r.poll_retry_at)
                    for r in await uow.conn.execute(select(settlement_channels))}
    return accounts, channels


async def _fetch(run: PassRun, code: str, config: dict[str, Any], accounts: list[Any],
                 factory: GatewayFactory) -> _Fetched:
    """One channel's balances, or why there are none; never raises (``Exception``)."""
    result = await run.item(f"channel {code}", functools.partial(_ask, code, config, accounts, factory))
    if isinstance(result, ItemFailure):
        return _Fetched(code, None, f"{code}: {result.error}")
    return result


async def _ask(code: str, config: dict[str, Any], accounts: list[Any], factory: GatewayFactory) -> _Fetched:
    # Not a cycle: importing the upstream package (HTTP client and server, simulator)
    # costs ~80 ms, and the console imports this module at start-up, before any poll.
    from ..upstream.gateway import UnknownAccounts, UpstreamError
    from ..upstream.registry import UpstreamConfigError

    account_nos = sorted({a.account_no for a in accounts})
    try:
        gateway = factory(code, config)
        balances = await asyncio.wait_for(gateway.fetch_balances(account_nos), timeout=CHANNEL_TIMEOUT_S)
    except TimeoutError:
        return _Fetched(code, None, f"{code} did not answer within {CHANNEL_TIMEOUT_S:.0f} s")
    except UnknownAccounts as exc:
        # Keep what the channel did report; the unknown accounts are flagged one by one.
        balances = exc.balances
    except UpstreamError as exc:
        return _Fetched(code, None, f"{code}: {exc.message}")
    except UpstreamConfigError as exc:
        return _Fetched(code, None, f"{code} is misconfigured: {exc}")
    return _Fetched(code, {(b.account_no, b.currency): b for b in balances}, None)


# The thresholds and level of an account with no threshold at NORMAL (not read).
_UNWATCHED: tuple[None, None, str] = (None, None, NORMAL)


@dataclass(slots=True)
class _Evaluation:
    """What one poll found, before any of it is written."""

    balances: list[tuple[int, Any]] = field(default_factory=list)  # (channel account id, UpstreamBalance)
    failures: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # reason -> ids
    transitions: list[LevelChange] = field(default_factory=list)


async def _record(engine: Any, slot: str, accounts: list[Any], fetched: list[_Fetched],
                  channels: dict[str, _Channel], deferred: tuple[str, ...]) -> PollReport:
    async with write_unit(engine.db, POLL_ACTOR, engine.services) as uow:
        fetched = await _back_off(uow, fetched, channels)
        # Only what the evaluation needs, and only for the accounts a balance can move:
        # one with no threshold at NORMAL stays NORMAL (``level_for``), whatever it holds.
        # Converting every stored amount back to Decimal would hold the event loop for nothing.
        p = positions.c
        current = {cid: (alert, blocking, level) for cid, alert, blocking, level in await uow.conn.execute(
            select(p.channel_account_id, p.threshold_alert, p.threshold_blocking, p.level).where(or_(
                p.threshold_alert.is_not(None), p.threshold_blocking.is_not(None), p.level != NORMAL,
            ))
        )}
        found = await _evaluate(accounts, {f.channel: f for f in fetched}, current)
        await _write_balances(uow, found.balances)
        for reason, ids in found.failures.items():
            await uow.conn.execute(
                update(positions).where(positions.c.channel_account_id.in_(ids))
                .values(poll_status="FAILED", poll_error=reason, updated_at=uow.now)
            )
        changes = await apply_levels(uow, found.transitions)
        ok, failed = len(found.balances), sum(len(ids) for ids in found.failures.values())
        await uow.conn.execute(update(poll_runs).where(poll_runs.c.slot == slot).values(
            finished_at=uow.now, accounts_ok=ok, accounts_failed=failed,
        ))
        failed_channels = tuple(sorted(f.channel for f in fetched if f.error))
        uow.record("position.poll", "poll_run", slot, None, {
            "accounts_ok": ok, "accounts_failed": failed, "failed_channels": list(failed_channels),
            "deferred_channels": list(deferred), "level_changes": changes,
        })
    return PollReport(slot=slot, polled=True, accounts_ok=ok, accounts_failed=failed,
                      failed_channels=failed_channels, deferred_channels=deferred, level_changes=changes)


async def _back_off(uow: UnitOfWork, fetched: list[_Fetched], channels: dict[str, _Channel]) -> list[_Fetched]:
    """Count each failed channel's failure and set when it is asked again (the reason its
    accounts show says when); clear the count of a channel that answered.  A statement per
    failed channel, one for all the recovered ones, none when all is well.  The first
    failure of an outage and the answer that ends it are announced (``channel_health``)."""
    out = []
    recovered = [f.channel for f in fetched if f.error is None and channels[f.channel].failures]
    announced = [channel_recovered(code, channels[code].failures, uow.now) for code in recovered]
    if recovered:
        await uow.conn.execute(update(settlement_channels).where(settlement_channels.c.code.in_(recovered))
                               .values(poll_failures=0, poll_retry_at=None))
    for f in fetched:
        if f.error is None:
            out.append(f)
            continue
        failures = channels[f.channel].failures + 1
        retry_at = POLL_BACKOFF.next_attempt(uow.now, failures)
        await uow.conn.execute(update(settlement_channels).where(settlement_channels.c.code == f.channel)
                               .values(poll_failures=failures, poll_retry_at=retry_at))
        if failures == 1:
            announced.append(channel_down(f.channel, f.error, retry_at))
        note = f" Next scheduled poll of {f.channel} after {retry_at:%Y-%m-%d %H:%M} UTC"
        note += f" ({failures} failed in a row)." if failures > 1 else "."
        # One full stop between the reason and the note, whether the reason ends with one or not.
        reason = f.error.rstrip().rstrip(".") + "."
        out.append(_Fetched(f.channel, f.balances, reason[:300 - len(note)] + note))
    await announce(uow, announced)
    return out


async def _evaluate(accounts: list[Any], by_channel: dict[str, _Fetched],
                    current: dict[int, tuple[Any, Any, str]]) -> _Evaluation:
    """Match every account with its reported balance and its new level.  Pure Python on
    the event loop, so it yields between slices (the console shares the loop)."""
    found = _Evaluation()
    for n, account in enumerate(accounts, 1):
        if n % _CHUNK == 0:
            await asyncio.sleep(0)
        account_id, channel, account_no, currency, _scenario = account  # tuples: Row attributes cost more
        result = by_channel[channel]
        balance = result.balances.get((account_no, currency)) if result.balances else None
        if balance is None:
            reason = result.error or f"{channel} reported no {currency} balance for this account"
            found.failures[reason[:300]].append(account_id)
            continue
        found.balances.append((account_id, balance))
        alert, blocking, level = current.get(account_id, _UNWATCHED)
        new = level_for(balance.available, alert, blocking, level)
        if new != level:
            found.transitions.append(LevelChange(account, level, new, balance.available, alert, blocking))
    return found


def _balance_update(dialect: Any) -> str:
    """The balance UPDATE as the driver's SQL (one positional parameter per bind)."""
    stmt = (
        update(positions)
        .where(positions.c.channel_account_id == bindparam("b_id"))
        .values(available=bindparam("b_available"), in_transit=bindparam("b_in_transit"),
                total=bindparam("b_total"), as_of=bindparam("b_as_of"), polled_at=bindparam("b_polled_at"),
                updated_at=bindparam("b_updated_at"), poll_status=literal_column("'OK'"), poll_error=null())
    )
    compiled = stmt.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    # Distinct names, so every dialect's positional style takes the same tuple.
    assert names == ("b_available", "b_in_transit", "b_total", "b_as_of", "b_polled_at", "b_updated_at", "b_id"), names
    return compiled.string


async def _write_balances(uow: UnitOfWork, rows: list[tuple[int, Any]]) -> None:
    """Write every reported balance, in slices, all in the caller's transaction.

    4,000 rows through SQLAlchemy's per-row, per-parameter processing cost ~150 ms of
    Python on the event loop; instead each value is converted here by its column's own
    bind processor (exactly what a Core statement would store: Amount text on SQLite,
    NUMERIC on PostgreSQL) and the rows go to the driver's executemany (~45 ms for 4,000
    rows on SQLite, about what raw ``sqlite3`` takes).  The as-of time is one per channel
    answer, so it is converted once per distinct value.
    """
    if not rows:
        return
    dialect = uow.conn.dialect
    sql = _balance_update(dialect)
    amount = _processor(positions.c.available, dialect)
    moment = _processor(positions.c.as_of, dialect)
    now = moment(uow.now)
    as_of: dict[datetime, Any] = {}
    for start in range(0, len(rows), _CHUNK):
        params = []
        for account_id, b in rows[start:start + _CHUNK]:
            when = as_of.get(b.as_of)
            if when is None:
                when = as_of[b.as_of] = moment(b.as_of)
            params.append((amount(b.available), amount(b.in_transit), amount(b.total), when, now, now, account_id))
        await uow.conn.exec_driver_sql(sql, params)
        await asyncio.sleep(0)


def _processor(column: Any, dialect: Any) -> Callable[[Any], Any]:
    """The column type's bind conversion for ``dialect`` (identity when there is none)."""
    process = bind_processor(column, dialect)
    return process if process is not None else (lambda value: value)


class RefreshPositions(Command):
    """Poll the upstream now (the Positions screen's Refresh)."""

    permission = "assets.position_anagement_inquiry_operation"
    action = "refresh positions"


@handles(RefreshPositions)
async def refresh_positions(uow: UnitOfWork, cmd: RefreshPositions) -> str:
    """Only records the request; the engine runs the poll outside this transaction
    (network calls never happen inside one).  Returns the manual slot to poll."""
    slot = f"manual:{uow.ids.new_ref('RF')}"
    uow.record("position.refresh", "poll_run", slot)
    return slot

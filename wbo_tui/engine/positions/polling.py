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
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from ..commands import Command, handles
from ..dto import DTO
from ..uow import Actor, UnitOfWork, read_unit, write_unit
from .levels import apply_level, level_for
from .tables import channel_accounts, poll_runs, positions, settlement_channels

POLL_ACTOR = Actor.system("position-poller")
# How long one channel may take to answer a balance request before it counts as failed.
CHANNEL_TIMEOUT_S = 20.0
# Accounts handled between two yields to the event loop while recording a poll (the
# console shares the loop: each slice must stay well under a frame's worth of work).
_CHUNK = 250

GatewayFactory = Callable[[str, dict[str, Any]], Any]


class PollReport(DTO):
    slot: str
    polled: bool
    """False when another process had already claimed this slot."""
    accounts_ok: int = 0
    accounts_failed: int = 0
    failed_channels: tuple[str, ...] = ()
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
    by_channel: dict[str, list[Any]] = defaultdict(list)
    for account in accounts:  # one pass: 4,000 accounts x 40 channels must not be 160,000 row reads
        by_channel[account.channel].append(account)
    fetched = await asyncio.gather(*(
        _fetch(code, channels[code], by_channel[code], gateway_factory) for code in sorted(by_channel)
    ))
    return await _record(engine, slot, accounts, fetched)


async def _load(engine: Any) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    async with read_unit(engine.db, POLL_ACTOR, engine.services) as uow:
        accounts = (await uow.conn.execute(
            select(channel_accounts.c.id, channel_accounts.c.channel, channel_accounts.c.account_no,
                   channel_accounts.c.currency, channel_accounts.c.scenario)
            .join(settlement_channels, settlement_channels.c.code == channel_accounts.c.channel)
            .where(settlement_channels.c.enabled.is_(True))
        )).all()
        channels = {r.code: json.loads(r.gateway) for r in await uow.conn.execute(select(settlement_channels))}
    return accounts, channels


async def _fetch(code: str, config: dict[str, Any], accounts: list[Any], factory: GatewayFactory) -> _Fetched:
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


async def _record(engine: Any, slot: str, accounts: list[Any], fetched: list[_Fetched]) -> PollReport:
    by_channel = {f.channel: f for f in fetched}
    ok = failed = changes = 0
    async with write_unit(engine.db, POLL_ACTOR, engine.services) as uow:
        # Only what the evaluation needs: converting every stored balance back to Decimal
        # and datetime would hold the event loop for nothing.
        current = {r.channel_account_id: r for r in await uow.conn.execute(select(
            positions.c.channel_account_id, positions.c.threshold_alert, positions.c.threshold_blocking,
            positions.c.level,
        ))}
        updates_ok: list[dict[str, Any]] = []
        failures: dict[str, list[int]] = defaultdict(list)
        transitions = []
        for n, account in enumerate(accounts, 1):
            if n % _CHUNK == 0:
                await asyncio.sleep(0)  # let the console draw between slices of pure-Python work
            result = by_channel[account.channel]
            balance = result.balances.get((account.account_no, account.currency)) if result.balances else None
            if balance is None:
                reason = result.error or f"{account.channel} reported no {account.currency} balance for this account"
                failures[reason[:300]].append(account.id)
                failed += 1
                continue
            ok += 1
            pos = current[account.id]
            updates_ok.append({
                "b_id": account.id, "available": balance.available, "in_transit": balance.in_transit,
                "total": balance.total, "as_of": balance.as_of,
            })
            new = level_for(balance.available, pos.threshold_alert, pos.threshold_blocking, pos.level)
            if new != pos.level:
                transitions.append((account, pos, new, balance.available))
        await _write_balances(uow, updates_ok)
        for reason, ids in failures.items():
            await uow.conn.execute(
                update(positions).where(positions.c.channel_account_id.in_(ids))
                .values(poll_status="FAILED", poll_error=reason, updated_at=uow.now)
            )
        for account, pos, new, available in transitions:
            changes += await apply_level(uow, account, pos.level, new, available,
                                         pos.threshold_alert, pos.threshold_blocking)
        await uow.conn.execute(update(poll_runs).where(poll_runs.c.slot == slot).values(
            finished_at=uow.now, accounts_ok=ok, accounts_failed=failed,
        ))
        failed_channels = tuple(sorted(f.channel for f in fetched if f.error))
        uow.record("position.poll", "poll_run", slot, None, {
            "accounts_ok": ok, "accounts_failed": failed, "failed_channels": list(failed_channels),
            "level_changes": changes,
        })
    return PollReport(slot=slot, polled=True, accounts_ok=ok, accounts_failed=failed,
                      failed_channels=failed_channels, level_changes=changes)


async def _write_balances(uow: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    from sqlalchemy import bindparam

    stmt = (
        update(positions)
        .where(positions.c.channel_account_id == bindparam("b_id"))
        .values(available=bindparam("available"), in_transit=bindparam("in_transit"), total=bindparam("total"),
                as_of=bindparam("as_of"), polled_at=uow.now, poll_status="OK", poll_error=None, updated_at=uow.now)
    )
    # In slices, all in the caller's transaction: the driver's parameter processing for
    # thousands of rows at once would hold the event loop for hundreds of milliseconds.
    for start in range(0, len(rows), _CHUNK):
        await uow.conn.execute(stmt, rows[start:start + _CHUNK])
        await asyncio.sleep(0)


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

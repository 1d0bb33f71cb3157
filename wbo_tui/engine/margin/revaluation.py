"""The margin engine's passes: prices in, calls re-valued, live and incremental.

Every console process ticks the price pass; each interval is a slot that exactly one of
them claims (a row in ``margin_price_runs``), so N consoles make one request to the feed
per interval.  The quotes that moved are stored, and only the clients holding those
securities are re-valued; calls whose deadline passed are re-valued too (they turn into
force calls), and each open call gets its daily snapshot.

Clients are re-valued in chunks, each chunk one transaction with its clients' rows
locked; within a chunk each client whose state changes is a savepoint of its own, so one
client's failure is recorded and never stops the others.  A client whose figures did not
move costs no write at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..fx.tables import clients
from ..passes import PassRun
from ..uow import Actor, read_unit, write_unit
from .books import all_book_ids, holders_of, hkd_mids, load_books
from .calls import FIGURE_COLUMNS, _figures, daily_snapshots, revalue
from .formulas import value
from .prices import PriceFeedError, build_price_gateway
from .settings import MarginSettingsDTO, load_settings
from .tables import instruments, margin_calls, margin_price_runs, market_prices

log = logging.getLogger(__name__)
SYSTEM = Actor.system("margin")
CHUNK = 500


@dataclass(slots=True)
class RevalueReport:
    valued: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        key = outcome.split(":", 1)[0]
        self.outcomes[key] = self.outcomes.get(key, 0) + 1


def _needs_write(book: Any, call: Any, settings: MarginSettingsDTO, now: datetime) -> bool:  # noqa: ANN401
    """Whether ``revalue`` would write anything: no call and none to open, or a call whose
    figures and type stand as they are, is a read and nothing more (a quote that came again
    unchanged moves nothing; the lists read each row's price age from the quotes)."""
    if book.problems:
        return False
    v = value(book.cash, book.positions, book.terms, settings.warning_rule)
    if call is None:
        return v.triggered and not book.exempt
    if v.cured:
        return True
    if call.alert_type != "FORCE_CALL" and (v.force or now >= call.deadline):
        return True
    figures = _figures(v)
    return any(getattr(call, k) != figures[k] for k in (*FIGURE_COLUMNS, "market_value"))


async def revalue_clients(engine: Any, client_ids: Sequence[int], *,  # noqa: ANN401
                          report: RevalueReport | None = None, run: PassRun | None = None) -> RevalueReport:
    """Re-value ``client_ids`` and open, update or end their calls."""
    report = report or RevalueReport()
    run = run or PassRun("margin-revaluation")
    ids = sorted(set(client_ids))
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        settings = await load_settings(uow)
        mids = await hkd_mids(uow)
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        async with write_unit(engine.db, SYSTEM, engine.services) as uow:
            if uow.conn.dialect.name == "postgresql":
                await uow.conn.execute(select(clients.c.id).where(clients.c.id.in_(part))
                                       .order_by(clients.c.id).with_for_update())
            books = await load_books(uow, part, stale_after_s=settings.stale_price_s,
                                     suspended_days=settings.suspended_days, mids=mids)
            calls = {row.client_id: row for row in await uow.conn.execute(select(margin_calls).where(
                margin_calls.c.client_id.in_(part), margin_calls.c.status != "ENDED"))}
            for client_id in part:
                book = books.get(client_id)
                if book is None:
                    continue
                report.valued += 1
                call = calls.get(client_id)
                if book.problems:
                    report.count("skipped")
                    report.failures.append(f"{book.account_no}: " + "; ".join(book.problems))
                    continue
                if not _needs_write(book, call, settings, uow.now):
                    report.count("unchanged" if call is not None else "clear")
                    continue
                outcome = await run.item_in_unit(uow, book.account_no, lambda b=book, c=call: revalue(
                    uow, b, settings, c, looked_up=True))
                if isinstance(outcome, str):
                    report.count(outcome)
                else:
                    report.count("failed")
                    report.failures.append(f"{book.account_no}: {outcome.error}")
    return report


async def revalue_everyone(engine: Any) -> RevalueReport:  # noqa: ANN401
    """A full re-valuation: every client with a position, a debit or an open call."""
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        ids = await all_book_ids(uow)
    return await revalue_clients(engine, ids)


def price_slot(now: datetime, step_s: int) -> str:
    epoch = int(now.timestamp())
    return f"prices/{epoch - epoch % step_s}"


@dataclass(slots=True)
class PricePassReport:
    slot: str
    outcome: str
    moved: tuple[str, ...] = ()
    revaluation: RevalueReport | None = None


def gateway_config(settings: MarginSettingsDTO, anchors: dict[str, str]) -> dict[str, Any]:
    """The price gateway's configuration; the simulator's market opens at each
    instrument's reference price."""
    config = dict(settings.price_source)
    if config.get("kind") == "simulator":
        config["anchors"] = anchors
    return config


async def price_pass(engine: Any, holder: str, *, step_s: int = 5) -> PricePassReport:  # noqa: ANN401
    """Fetch the quotes of every instrument once per ``step_s`` across consoles, store the
    ones that moved and re-value their holders; then the calls past their deadline and the
    daily snapshots."""
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        settings = await load_settings(uow)
        now = uow.now
        listed = {r.code: r for r in await uow.conn.execute(select(instruments.c.code, instruments.c.anchor_price,
                                                                   instruments.c.status))}
        stored = {r.code: r for r in await uow.conn.execute(select(market_prices))}
    if not listed:
        return PricePassReport("", "no instruments")
    slot = price_slot(now, int(settings.price_source.get("step_s", step_s)))
    try:
        async with write_unit(engine.db, SYSTEM, engine.services) as uow:
            await uow.conn.execute(insert(margin_price_runs).values(slot=slot, holder=holder, started_at=uow.now,
                                                                    outcome=""))
    except IntegrityError:
        return PricePassReport(slot, "taken")
    gateway = build_price_gateway(gateway_config(settings, {c: str(r.anchor_price) for c, r in listed.items()}),
                                  clock=engine.clock)
    try:
        # A suspended or delisted stock does not trade: its last quote stands, and ages.
        quotes = await gateway.quotes(sorted(code for code, r in listed.items() if r.status == "NORMAL"))
    except PriceFeedError as error:
        await _finish(engine, slot, f"failed: {error}")
        return PricePassReport(slot, f"failed: {error}")
    finally:
        await gateway.close()
    moved = await _store(engine, quotes, stored)
    ids: set[int] = set()
    async with read_unit(engine.db, SYSTEM, engine.services) as uow:
        if moved:
            ids.update(await holders_of(uow, moved))
        overdue = await uow.conn.execute(select(margin_calls.c.client_id).where(
            margin_calls.c.status != "ENDED", margin_calls.c.alert_type != "FORCE_CALL",
            margin_calls.c.deadline <= uow.now))
        ids.update(r.client_id for r in overdue)
    report = await revalue_clients(engine, sorted(ids))
    try:
        async with write_unit(engine.db, SYSTEM, engine.services) as uow:
            await daily_snapshots(uow)
    except IntegrityError:
        pass  # another console wrote today's records first
    outcome = f"{len(quotes)} quotes, {len(moved)} moved, {report.valued} clients valued"
    await _finish(engine, slot, outcome)
    return PricePassReport(slot, outcome, tuple(moved), report)


async def _store(engine: Any, quotes: dict[str, Any], stored: dict[str, Any]) -> list[str]:  # noqa: ANN401
    moved: list[str] = []
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        for code, quote in sorted(quotes.items()):
            old = stored.get(code)
            if old is not None and (old.bid, old.ask, old.last, old.quoted_at) == (
                    quote.bid, quote.ask, quote.last, quote.quoted_at):
                continue
            values = {"bid": quote.bid, "ask": quote.ask, "last": quote.last, "quoted_at": quote.quoted_at,
                      "received_at": uow.now}
            if old is None:
                await uow.conn.execute(insert(market_prices).values(code=code, **values))
            else:
                await uow.conn.execute(update(market_prices).where(market_prices.c.code == code).values(**values))
            if old is None or (old.bid, old.ask, old.last) != (quote.bid, quote.ask, quote.last):
                moved.append(code)
    return moved


async def _finish(engine: Any, slot: str, outcome: str) -> None:  # noqa: ANN401
    async with write_unit(engine.db, SYSTEM, engine.services) as uow:
        await uow.conn.execute(update(margin_price_runs).where(margin_price_runs.c.slot == slot).values(
            finished_at=uow.now, outcome=outcome[:300]))
        # The slots are a claim, not a history: a day's are enough.
        await uow.conn.execute(delete(margin_price_runs).where(
            margin_price_runs.c.started_at < uow.now - timedelta(days=1)))

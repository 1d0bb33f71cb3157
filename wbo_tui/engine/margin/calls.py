"""Margin calls: when one opens, turns into a force call, and ends.

A call opens when a client's liquid net assets fall below the margin-call requirement (or,
with the over-financing switch on, when the client borrows beyond the financing limit);
its deadline is the close of the third Hong Kong trading day after the day it opened
(the exchange's calendar, as allocation schedules use).  It turns into a force call when
net assets fall below the force requirement or the deadline passes uncured.  It ends when
the client is cured: net assets at or above the requirement and nothing left to collect;
it then moves to History with its figures when it opened and when it ended.  An exempt
client never gets a call.

Snapshots are written when a call opens, turns into a force call, when a message is sent,
once a Hong Kong day while it is open, and when it ends.  The client's trading limit
expires when a call opens (a desk setting, on by default).

Every step here runs inside the caller's write unit; ``revalue`` applies one client's
valuation and is what the price pass, fills and the desk's own commands all call.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update

from ..hk_calendar import HONG_KONG, hkex
from ..notify.publish import publish
from ..uow import UnitOfWork
from .books import Book, describe
from .formulas import Valuation, value
from .settings import MarginSettingsDTO
from .tables import margin_call_snapshots, margin_calls, margin_terms

CLOSE = time(16, 0)  # HKEX's close: a deadline is the close of its day
OPENED_TOPIC = "margin.call_opened"
FIGURE_COLUMNS = ("net_asset_ratio", "lna", "equity", "cash_hkd", "requirement", "margin_to_collect")


def deadline_after(opened: datetime, trading_days: int) -> datetime:
    """The close (16:00 Hong Kong time) of the ``trading_days``-th HKEX trading day after
    the day ``opened`` falls on."""
    day: date = opened.astimezone(HONG_KONG).date()
    calendar = hkex()
    left = trading_days
    while left > 0:
        day += timedelta(days=1)
        if calendar.skip_reason(day) is None:
            left -= 1
    return datetime.combine(day, CLOSE, tzinfo=HONG_KONG).astimezone(opened.tzinfo)


def hk_day(moment: datetime) -> str:
    return moment.astimezone(HONG_KONG).strftime("%Y%m%d")


def _alert_type(v: Valuation) -> str:
    if v.lna >= v.requirement:
        return "OVER_FINANCING"
    return "FORCE_CALL" if v.force else "MARGIN_CALL"


def _figures(v: Valuation) -> dict[str, Any]:
    market_value = v.long_mv + v.short_mv
    return {"net_asset_ratio": v.net_asset_ratio, "lna": v.lna, "equity": v.equity, "cash_hkd": v.cash_hkd,
            "market_value": market_value, "requirement": v.requirement, "margin_to_collect": v.margin_to_collect}


def _snapshot_json(v: Valuation, book: Book, **extra: Any) -> str:  # noqa: ANN401
    return json.dumps({**v.as_figures(), **describe(book), **extra}, sort_keys=True)


async def snapshot(uow: UnitOfWork, call_id: int, reason: str, figures: str) -> None:
    await uow.conn.execute(insert(margin_call_snapshots).values(
        call_id=call_id, reason=reason, day=hk_day(uow.now), figures=figures, created_at=uow.now))


async def open_call_of(uow: UnitOfWork, client_id: int) -> Any | None:  # noqa: ANN401
    return (await uow.conn.execute(select(margin_calls).where(
        margin_calls.c.client_id == client_id, margin_calls.c.status != "ENDED"))).first()


async def revalue(uow: UnitOfWork, book: Book, settings: MarginSettingsDTO, call: Any | None = None,  # noqa: ANN401
                  *, looked_up: bool = False) -> str:
    """Value ``book`` and open, update or end its client's call; returns what happened:
    "opened", "force", "ended", "updated", "unchanged", "clear" or "skipped: …".
    ``call``: the client's open call when the caller has read it (``looked_up``)."""
    if book.problems:
        return "skipped: " + "; ".join(book.problems)
    if not looked_up:
        call = await open_call_of(uow, book.client_id)
    v = value(book.cash, book.positions, book.terms, settings.warning_rule)
    if call is None:
        if book.exempt or not v.triggered:
            return "clear"
        return await _open(uow, book, v, settings)
    if v.cured:
        await _end(uow, call, book, v, "CURED")
        return "ended"
    return await _update(uow, call, book, v)


async def _open(uow: UnitOfWork, book: Book, v: Valuation, settings: MarginSettingsDTO) -> str:
    if settings.expire_trading_limit and book.trading_limit_live:
        # The limit expires as the call opens, and the call is figured without it.
        await uow.conn.execute(update(margin_terms).where(margin_terms.c.client_id == book.client_id).values(
            trading_limit_expired_at=uow.now, version=margin_terms.c.version + 1, updated_at=uow.now))
        uow.record("margin.trading_limit.expired", "client", book.client_id,
                   {"trading_limit": book.terms.trading_limit}, {"expired_at": uow.now})
        book.terms = replace(book.terms, trading_limit=Decimal(0))
        book.trading_limit_live = False
        v = value(book.cash, book.positions, book.terms, settings.warning_rule)
    alert = _alert_type(v)
    figures = _snapshot_json(v, book)
    deadline = deadline_after(uow.now, settings.deadline_days)
    result = await uow.conn.execute(insert(margin_calls).values(
        client_id=book.client_id, alert_type=alert, status="OPEN", triggered_at=uow.now,
        force_at=uow.now if alert == "FORCE_CALL" else None, deadline=deadline, auto_liquidate_at=None,
        ended_at=None, end_reason="", remarks="", **_figures(v), trigger_figures=figures, valued_at=uow.now,
        prices_as_of=book.prices_as_of, last_liquidation_at=None, last_message_at=None, version=1))
    call_id = result.inserted_primary_key[0]
    await snapshot(uow, call_id, "TRIGGERED", figures)
    uow.record("margin.call.open", "margin_call", call_id, None,
               {"client": book.account_no, "alert_type": alert, "margin_to_collect": v.margin_to_collect,
                "deadline": deadline})
    await publish(uow, OPENED_TOPIC, f"Margin call: {book.account_no} {book.name}",
                  f"{book.account_no} is in {alert.replace('_', ' ').lower()}: net asset ratio "
                  f"{v.net_asset_ratio * 100:.2f} %, margin to be collected HKD {v.margin_to_collect:,}, "
                  f"deadline {deadline.astimezone(HONG_KONG):%Y-%m-%d %H:%M} HKT.",
                  source_type="margin_call", source_id=call_id)
    return "opened"


async def _update(uow: UnitOfWork, call: Any, book: Book, v: Valuation) -> str:  # noqa: ANN401
    values: dict[str, Any] = {}
    figures = _figures(v)
    if any(getattr(call, k) != figures[k] for k in figures):
        values.update(figures)
    overdue = uow.now >= call.deadline
    becomes_force = call.alert_type != "FORCE_CALL" and (v.force or overdue)
    if becomes_force:
        values.update(alert_type="FORCE_CALL", force_at=uow.now)
    if not values:
        return "unchanged"
    values["prices_as_of"] = book.prices_as_of
    # The version is what an Edit from the list checks: figures that moved with the market
    # leave it (a trader's open form stays valid); turning into a force call changes it.
    if becomes_force:
        values["version"] = margin_calls.c.version + 1
    await uow.conn.execute(update(margin_calls).where(margin_calls.c.id == call.id).values(
        **values, valued_at=uow.now))
    if becomes_force:
        why = "past its deadline" if overdue and not v.force else "net assets below the force requirement"
        await snapshot(uow, call.id, "FORCE_CALL", _snapshot_json(v, book, why=why))
        uow.record("margin.call.force", "margin_call", call.id, {"alert_type": call.alert_type},
                   {"alert_type": "FORCE_CALL", "why": why})
        await publish(uow, OPENED_TOPIC, f"Force call: {book.account_no} {book.name}",
                      f"{book.account_no}'s margin call turned into a force call ({why}); margin to be collected "
                      f"HKD {v.margin_to_collect:,}.", source_type="margin_call", source_id=call.id)
        return "force"
    return "updated"


async def _end(uow: UnitOfWork, call: Any, book: Book, v: Valuation, reason: str) -> None:  # noqa: ANN401
    figures = _snapshot_json(v, book)
    await uow.conn.execute(update(margin_calls).where(margin_calls.c.id == call.id).values(
        **_figures(v), status="ENDED", ended_at=uow.now, end_reason=reason, valued_at=uow.now,
        version=margin_calls.c.version + 1))
    await snapshot(uow, call.id, "ENDED", figures)
    uow.record("margin.call.end", "margin_call", call.id, {"status": call.status,
                                                           "margin_to_collect": call.margin_to_collect},
               {"status": "ENDED", "reason": reason, "margin_to_collect": v.margin_to_collect})


async def daily_snapshots(uow: UnitOfWork) -> int:
    """Today's record of every open call that has none yet (one per call and Hong Kong
    day, whichever console writes it first: the others find it there).  A call opened
    today has its trigger record already."""
    day = hk_day(uow.now)
    midnight = datetime.combine(uow.now.astimezone(HONG_KONG).date(), time(0), tzinfo=HONG_KONG)
    taken = select(margin_call_snapshots.c.call_id).where(margin_call_snapshots.c.reason == "DAILY",
                                                          margin_call_snapshots.c.day == day)
    rows = list(await uow.conn.execute(select(margin_calls).where(
        margin_calls.c.status != "ENDED", margin_calls.c.triggered_at < midnight, margin_calls.c.id.not_in(taken))))
    for call in rows:
        figures = {k: str(getattr(call, k)) for k in (*FIGURE_COLUMNS, "market_value")}
        await snapshot(uow, call.id, "DAILY", json.dumps({**figures, "alert_type": call.alert_type,
                                                          "status": call.status}, sort_keys=True))
    return len(rows)

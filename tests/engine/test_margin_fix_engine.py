"""The margin engine end to end over FIX 4.4, on SQLite and PostgreSQL: the desk's venue is
configured as a FIX venue (``ConfigureMarginFeeds``) pointing at a ``FixAcceptor`` on
127.0.0.1 served by a simulated venue (its own market: the quotes the plans were priced
on; 100 shares a fill, every 5 s of the test's clock).  The acceptor runs on the
test's event loop, where the engine's calls run too.

- A liquidation is sent over FIX (one NewOrderSingle per order), its fills come back as
  trade reports and are applied once each (positions and cash moved by exactly the
  venue's fills), and the call is re-valued until it is cured and ends.
- A connection dropped mid-order, with the order executed by the venue or never received:
  the order becomes UNKNOWN (a problem notification is published), and the next pass
  settles it by a status request after logging on again: the executed one is found and
  never sent again; the lost one is sent once more, only after the venue said it has no
  such order.  Either way the venue booked it once and every fill is applied once.
- An order whose connection fails before anything is written (the venue's gateway down)
  stays PENDING and is sent once, when the gateway is back.
- A trader's cancel of a partly filled order goes over FIX (OrderCancelRequest): the
  order ends CANCELLED with the fills made before it, applied once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_support import REPO, login, scalar
from sqlalchemy import select

from wbo_tui.engine import Engine, FixedClock
from wbo_tui.engine import margin
from wbo_tui.engine.fx.seed_data import seed_fx
from wbo_tui.engine.margin.orders import drive_due
from wbo_tui.engine.margin.revaluation import price_pass
from wbo_tui.engine.margin.seed_data import seed_margin
from wbo_tui.engine.margin.tables import liquidation_fills, liquidation_orders, market_prices
from wbo_tui.engine.margin.venue import FixAcceptor, SimulatedVenue, VenueSettings

VENUE_STORE = "wbo-fix-venue.sqlite"
STEP_S = 5
VENUE_LOT = 100  # the venue fills 100 shares an instant, whatever the stock's board lot
FINAL = ("FILLED", "CANCELLED", "REJECTED")


@dataclass
class FixDesk:
    engine: Engine
    clock: FixedClock
    acceptor: FixAcceptor
    venue: SimulatedVenue  # the venue's own side, on the acceptor's store: inspection
    served: SimulatedVenue  # the instance the acceptor serves
    trader: Any

    async def restart_acceptor(self) -> None:
        """The venue's FIX gateway stopped and started again on its port (a new process)."""
        await self.acceptor.stop()
        self.acceptor = acceptor_for(self.served, self.clock, port=self.acceptor.port)
        await self.acceptor.start()

    async def call(self, account: str) -> margin.MarginCallDTO:
        rows = (await self.engine.setup_query(margin.ListMarginCalls())).rows
        return next(c for c in rows if c.account_no == account)

    async def orders(self, call_id: int) -> list[Any]:
        o = liquidation_orders.c
        async with self.engine.db.connect() as conn:
            return list(await conn.execute(select(liquidation_orders).where(o.call_id == call_id).order_by(o.id)))

    async def settle(self, call_id: int, limit: int = 60) -> list[Any]:
        """Drive the call's orders until final, the clock moving a fill step each pass."""
        for _ in range(limit):
            orders = await self.orders(call_id)
            if all(o.state in FINAL for o in orders):
                return orders
            self.clock.advance(seconds=STEP_S)
            run = await drive_due(self.engine, "test")
            assert not run.failures, run.failures
        raise AssertionError(f"orders still open: {[(o.cl_ord_id, o.state) for o in await self.orders(call_id)]}")


def messages(log: Any, msg_type: str, **where: str) -> list[dict[int, str]]:  # noqa: ANN401
    """The FIX messages of ``msg_type`` whose fields match ``where`` (``t11="LQ-…"``)."""
    out = []
    for msg in log:
        if msg.message_type != msg_type.encode():
            continue
        fields: dict[int, str] = {}
        for tag, value in msg.pairs:
            fields.setdefault(int(tag), value.decode())
        if all(fields.get(int(k[1:])) == v for k, v in where.items()):
            out.append(fields)
    return out


def acceptor_for(served: SimulatedVenue, clock: FixedClock, port: int = 0) -> FixAcceptor:
    return FixAcceptor(served, comp_id="SIMVENUE", allowed_senders=frozenset({"WBO"}), port=port, poll_s=0.05,
                       clock=clock)


@pytest.fixture
async def fix_desk(engine: Engine, clock: FixedClock, tmp_path: Path) -> AsyncIterator[FixDesk]:
    await seed_fx(engine, json.loads((REPO / "data" / "demo_fx.json").read_text()), "test-setup", tmp_path)
    await seed_margin(engine, json.loads((REPO / "data" / "demo_margin.json").read_text()), "test-setup", tmp_path)
    await price_pass(engine, "test")
    async with engine.db.connect() as conn:
        market = {r.code: (r.bid, r.ask) for r in await conn.execute(select(
            market_prices.c.code, market_prices.c.bid, market_prices.c.ask))}
    async with SimulatedVenue(tmp_path / VENUE_STORE, prices=market.get, clock=clock) as side, \
            SimulatedVenue(tmp_path / VENUE_STORE, prices=market.get, clock=clock) as served:
        await side.configure(VenueSettings(max_lots_per_fill=1, board_lot=VENUE_LOT, fill_step_s=STEP_S))
        desk = FixDesk(engine, clock, acceptor_for(served, clock), side, served, await login(engine, "trader"))
        await desk.acceptor.start()
        try:
            feeds = await engine.setup_query(margin.GetMarginSettings())
            await engine.setup_execute(margin.ConfigureMarginFeeds(price_source=feeds.price_source, venue={
                "kind": "fix", "host": "127.0.0.1", "port": desk.acceptor.port, "sender_comp_id": "WBO",
                "target_comp_id": "SIMVENUE", "timeout_s": 3, "heartbeat_s": 30}), tool="test-setup")
            yield desk
        finally:
            await engine.margin_venues.aclose()  # the FIX client logs out before the acceptor stops
            await desk.acceptor.stop()


async def check_against_venue(desk: FixDesk, orders: list[Any]) -> None:
    """Each order booked once at the venue, in the venue's state, with the venue's fills
    applied once each."""
    held = {order.cl_ord_id: status for order, status in await desk.venue.orders()}
    async with desk.engine.db.connect() as conn:
        for o in orders:
            fills = sorted((f.exec_id, int(f.quantity), f.price) for f in await conn.execute(
                select(liquidation_fills).where(liquidation_fills.c.order_id == o.id)))
            status = held[o.cl_ord_id]
            assert status.state == o.state and status.filled_quantity == o.filled_quantity, (o, status)
            assert fills == sorted((f.exec_id, f.quantity, f.price) for f in status.fills), o.cl_ord_id
            assert await desk.venue.received(o.cl_ord_id, "submit", "accepted") == 1, o.cl_ord_id
            cash = await scalar(desk.engine, "SELECT count(*) FROM client_cash_movements WHERE kind = 'LIQUIDATION' "
                                             "AND ref IN (SELECT 'LQF-' || id FROM liquidation_fills "
                                             "WHERE order_id = :o)", o=o.id)
            assert cash == len(fills), o.cl_ord_id


async def fills_of(desk: FixDesk, *orders: Any) -> list[Any]:  # noqa: ANN401
    f = liquidation_fills.c
    async with desk.engine.db.connect() as conn:
        return list(await conn.execute(select(liquidation_fills).where(f.order_id.in_([o.id for o in orders]))))


def proceeds(fills: list[Any]) -> Decimal:
    """What the fills credit: each settled in cents (HKD)."""
    return sum(((f.price * f.quantity).quantize(Decimal("0.01")) for f in fills), Decimal(0))


async def holdings(desk: FixDesk, call_id: int) -> tuple[dict[str, int], Decimal]:
    details = await desk.engine.setup_query(margin.GetCallDetails(call_id=call_id))
    return {p.code: p.quantity for p in details.positions}, {c.currency: c.amount for c in details.cash}["HKD"]


async def test_a_liquidation_goes_over_fix_and_its_fills_cure_the_call(fix_desk: FixDesk) -> None:
    desk = fix_desk
    lau = await desk.call("M-300101")
    plan = await desk.engine.query(desk.trader, margin.PlanLiquidation(call_id=lau.id))
    assert plan.cures and plan.lines, plan
    held_before, hkd_before = await holdings(desk, lau.id)
    await desk.engine.execute(desk.trader, margin.Liquidate(call_id=lau.id, lines=tuple(
        margin.LineInput(code=line.code, quantity=line.quantity) for line in plan.lines)))
    sent = await desk.orders(lau.id)
    assert len(sent) == len(plan.lines)
    # Sent at once over FIX: acknowledged, the first lot filled at booking.
    assert {o.state for o in sent} <= {"PARTIALLY_FILLED", "FILLED"}, [(o.cl_ord_id, o.state) for o in sent]
    for o in sent:
        [order] = messages(desk.acceptor.received, "D", t11=o.cl_ord_id)
        assert (order[38], order[44], order[54]) == (str(o.quantity), format(o.limit_price, "f"), "2")
        assert messages(desk.acceptor.sent, "8", t11=o.cl_ord_id, t150="0"), "no acknowledgement"
    orders = await desk.settle(lau.id)
    assert all(o.state == "FILLED" and o.filled_quantity == o.quantity for o in orders), orders
    await check_against_venue(desk, orders)
    # Each fill came back as a trade report the engine applied once: the book moved by them.
    held_after, hkd_after = await holdings(desk, lau.id)
    sold = {o.code: int(o.filled_quantity) for o in orders}
    assert {c: q - sold.get(c, 0) for c, q in held_before.items()} == {c: held_after.get(c, 0) for c in held_before}
    fills = await fills_of(desk, *orders)
    assert sorted(f.quantity for f in fills) == [VENUE_LOT] * sum(o.quantity // VENUE_LOT for o in orders)
    # Every fill came over the wire more than once (pushed, then again in answer to each status
    # request, PossResend): each was applied once, under its exec id.
    trades = messages(desk.acceptor.sent, "8", t150="F")
    assert {t[17] for t in trades} == {f.exec_id for f in fills} and len(trades) > len(fills)
    assert any(t.get(97) == "Y" for t in trades)
    assert hkd_after == hkd_before + proceeds(fills)
    ended = await desk.engine.setup_query(margin.GetMarginCall(call_id=lau.id))
    assert (ended.status, ended.end_reason, ended.margin_to_collect) == ("ENDED", "CURED", 0), ended


@pytest.mark.parametrize("executed", [True, False], ids=["executed", "never-received"])
async def test_a_connection_dropped_mid_order_is_settled_by_status_and_never_trades_twice(
    fix_desk: FixDesk, executed: bool,
) -> None:
    desk = fix_desk
    ho = await desk.call("M-300102")
    plan = await desk.engine.query(desk.trader, margin.PlanLiquidation(call_id=ho.id))
    line = plan.lines[0]
    lot = line.lot_size
    quantity = min(line.quantity, 3 * lot)
    held_before, hkd_before = await holdings(desk, ho.id)
    desk.acceptor.drop_after_next_order(execute=executed)
    await desk.engine.execute(desk.trader, margin.Liquidate(call_id=ho.id, force_type="SINGLE", lines=(
        margin.LineInput(code=line.code, quantity=quantity),)))
    [order] = await desk.orders(ho.id)
    cl = order.cl_ord_id
    # The order was written to the wire and the connection dropped: its fate is unknown.
    assert order.state == "UNKNOWN" and order.filled_quantity == 0, order
    assert order.sent_at is not None
    assert await scalar(desk.engine, "SELECT count(*) FROM notifications WHERE topic = 'margin.order_problem'") == 1
    assert len(messages(desk.acceptor.received, "D", t11=cl)) == 1
    assert await desk.venue.received(cl, "submit") == (1 if executed else 0)

    # The next pass logs on again and asks; only an order the venue never got is sent again.
    orders = await desk.settle(ho.id)
    [done] = orders
    assert done.state == "FILLED" and done.filled_quantity == quantity, done
    logons = messages(desk.acceptor.received, "A")
    assert len(logons) == 2 and all(m[34] == "1" and m[141] == "Y" for m in logons)
    assert messages(desk.acceptor.received, "H", t11=cl), "no status request"
    assert len(messages(desk.acceptor.received, "D", t11=cl)) == (1 if executed else 2)
    log = [(e.call, e.outcome) for e in await desk.venue.request_log(cl)]
    assert log.count(("submit", "accepted")) == 1 and ("submit", "replayed") not in log, log
    if not executed:  # resent only once the venue said it had no such order
        assert log.index(("status", "unknown")) < log.index(("submit", "accepted")), log
    await check_against_venue(desk, orders)
    held_after, hkd_after = await holdings(desk, ho.id)
    assert held_after[line.code] == held_before[line.code] - quantity
    fills = await fills_of(desk, done)
    assert sorted(f.quantity for f in fills) == [VENUE_LOT] * (quantity // VENUE_LOT)  # each applied once
    assert hkd_after == hkd_before + proceeds(fills)


async def test_a_trader_cancels_a_partly_filled_order_over_fix(fix_desk: FixDesk) -> None:
    desk = fix_desk
    tse = await desk.call("M-300103")
    plan = await desk.engine.query(desk.trader, margin.PlanLiquidation(call_id=tse.id))
    line = next(line for line in plan.lines if line.quantity >= 3 * line.lot_size)
    held_before, hkd_before = await holdings(desk, tse.id)
    await desk.engine.execute(desk.trader, margin.Liquidate(call_id=tse.id, force_type="SINGLE", lines=(
        margin.LineInput(code=line.code, quantity=line.quantity),)))
    desk.clock.advance(seconds=STEP_S)  # a second lot falls due
    run = await drive_due(desk.engine, "test")
    assert not run.failures, run.failures
    [order] = await desk.orders(tse.id)
    assert order.state == "PARTIALLY_FILLED" and 0 < order.filled_quantity < order.quantity, order

    cancel = await desk.engine.execute(desk.trader, margin.CancelLiquidationOrder(order_id=order.id))
    assert cancel.state == "CANCEL_REQUESTED"
    [cancelled] = await desk.settle(tse.id)
    assert cancelled.state == "CANCELLED" and cancelled.cancelled_by == desk.trader.operator_id, cancelled
    [request] = messages(desk.acceptor.received, "F", t41=order.cl_ord_id)
    assert request[11] != order.cl_ord_id and request[38] == str(order.quantity)
    [report] = messages(desk.acceptor.sent, "8", t41=order.cl_ord_id, t150="4")
    assert report[39] == "4" and report[14] == str(cancelled.filled_quantity)
    # The fills made before the cancel stand, applied once; nothing after it.
    assert cancelled.filled_quantity >= order.filled_quantity and cancelled.filled_quantity < order.quantity
    await check_against_venue(desk, [cancelled])
    desk.clock.advance(seconds=STEP_S * 4)
    await drive_due(desk.engine, "test")
    await check_against_venue(desk, [cancelled])
    held_after, hkd_after = await holdings(desk, tse.id)
    assert held_after[line.code] == held_before[line.code] - cancelled.filled_quantity
    assert hkd_after == hkd_before + proceeds(await fills_of(desk, cancelled))


async def test_an_order_sent_while_the_venue_is_unreachable_stays_pending_and_is_sent_once_later(
    fix_desk: FixDesk,
) -> None:
    desk = fix_desk
    ho = await desk.call("M-300102")
    line = (await desk.engine.query(desk.trader, margin.PlanLiquidation(call_id=ho.id))).lines[0]
    await desk.acceptor.stop()  # nothing listens: the connection fails before anything is written
    await desk.engine.execute(desk.trader, margin.Liquidate(call_id=ho.id, force_type="SINGLE", lines=(
        margin.LineInput(code=line.code, quantity=line.lot_size),)))
    [order] = await desk.orders(ho.id)
    assert (order.state, order.sent_at, order.claimed_by) == ("PENDING", None, None), order
    assert "venue unavailable" in order.reason
    assert await desk.venue.request_log(order.cl_ord_id) == []
    desk.clock.advance(seconds=STEP_S)
    await drive_due(desk.engine, "test")  # still unreachable: still PENDING, still nothing sent
    assert [o.state for o in await desk.orders(ho.id)] == ["PENDING"]

    await desk.restart_acceptor()
    [done] = await desk.settle(ho.id)
    assert done.state == "FILLED" and done.filled_quantity == line.lot_size, done
    assert len(messages(desk.acceptor.received, "D", t11=order.cl_ord_id)) == 1
    assert [(e.call, e.outcome) for e in await desk.venue.request_log(order.cl_ord_id)][0] == ("submit", "accepted")
    await check_against_venue(desk, [done])

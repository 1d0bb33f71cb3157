"""A FIX 4.4 acceptor in front of a ``LiquidationVenue`` (the simulator): the venue side of
``FixVenue``, for the tests and the demo, on 127.0.0.1.

It accepts any number of sessions (SenderCompID checked against ``allowed_senders`` when
given) and serves each from the venue:

* NewOrderSingle: an acknowledgement (ExecType 0) or a rejection (8), then one trade
  report (F) per fill made at once.  The same ClOrdID again is the same order (the venue is
  idempotent); with other fields it is answered 150=8, 103=6 (duplicate).
* OrderCancelRequest: the trades not yet reported on this session, then the cancel (150=4),
  or an OrderCancelReject (too late / unknown order).
* OrderStatusRequest: one trade report per fill so far (150=F, PossResend 97=Y: the client
  may have had them already, and applies each ExecID once), then the status (150=I), every
  report echoing the OrdStatusReqID.  That is how a client rebuilds all fills of an order,
  even one sent by another process or before a reconnection.
* Fills that happen later (the simulator matches when asked) are pushed as trade reports
  by a poll of the session's live orders every ``poll_s`` seconds (0: no pushes; each poll
  is a status call, noted in the simulator's request log).
* A message it cannot read is a session Reject (35=3, naming the tag); one it does not
  serve, a BusinessMessageReject (380=3).
* A venue that is down is a BusinessMessageReject (380=4); an answer the venue lost
  (``VenueTimeout``) is no answer at all, as over a network.

Test hooks: ``drop_after_next_order(execute=...)`` closes the connection when the next
NewOrderSingle arrives, after or without executing it; ``skip_outgoing_seq(n)`` loses
sequence numbers on the live sessions.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import deque
from dataclasses import dataclass, field as dataclass_field

import simplefix

from ...clock import Clock, Seconds, SystemClock
from . import fix_wire as wire
from .fix_session import LOG_SIZE, FixSession, FixSessionError, SessionClosed, field
from .gateway import (
    CancelRejected,
    LiquidationVenue,
    UnknownVenueOrder,
    VenueError,
    VenueIdempotencyConflict,
    VenueOrder,
    VenueOrderStatus,
    VenueTimeout,
    VenueUnavailable,
)


@dataclass
class _Served:
    """One session's bookkeeping: the trades reported on it, the live orders it watches."""

    session: FixSession
    reported: set[str] = dataclass_field(default_factory=set)
    watched: set[str] = dataclass_field(default_factory=set)
    lock: asyncio.Lock = dataclass_field(default_factory=asyncio.Lock)


class FixAcceptor:
    """Serve ``venue`` over FIX 4.4 as ``comp_id`` on ``host``:``port`` (0: any free port,
    read ``port`` after ``start``)."""

    def __init__(
        self,
        venue: LiquidationVenue,
        *,
        comp_id: str = "SIMVENUE",
        allowed_senders: frozenset[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        poll_s: Seconds = 1.0,
        logon_timeout_s: Seconds = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self.venue = venue
        self.comp_id = comp_id
        self.allowed_senders = allowed_senders
        self.host, self.port = host, port
        self.poll_s = poll_s  # seconds
        self.logon_timeout_s = logon_timeout_s  # seconds
        self.sent: deque[simplefix.FixMessage] = deque(maxlen=LOG_SIZE)
        self.received: deque[simplefix.FixMessage] = deque(maxlen=LOG_SIZE)
        self._clock = clock or SystemClock()
        self._server: asyncio.Server | None = None
        self._served: list[_Served] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._orders: dict[str, VenueOrder] = {}  # the orders seen, for Account/Symbol/Side in reports
        self._exec_ids = itertools.count(1)
        self._token = secrets.token_hex(3).upper()
        self._drop_next: str | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening, drop every session, wait for their handlers."""
        if self._server is not None:
            self._server.close()
        for served in self._served:
            served.session.abort("the acceptor stopped")
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FixAcceptor:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def sessions(self) -> list[FixSession]:
        """The sessions logged on and still open."""
        return [s.session for s in self._served if s.session.is_open]

    # --- test hooks -----------------------------------------------------------------------------

    def drop_after_next_order(self, *, execute: bool) -> None:
        """Close the connection as the next NewOrderSingle arrives, without answering; with
        ``execute`` the venue gets the order first (a dropped answer), else never (a dropped
        request)."""
        self._drop_next = "execute" if execute else "discard"

    def skip_outgoing_seq(self, count: int) -> None:
        for session in self.sessions:
            session.skip_outgoing(count)

    # --- sessions ---------------------------------------------------------------------------------

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served: _Served | None = None

        async def on_message(msg: simplefix.FixMessage) -> None:
            assert served is not None
            await self._on_message(served, msg)

        session = FixSession(
            reader, writer, sender_comp_id=self.comp_id, target_comp_id=None, heartbeat_s=30,
            on_message=on_message, clock=self._clock, sent=self.sent, received=self.received,
        )
        try:
            logon = await asyncio.wait_for(session.read_message(), self.logon_timeout_s)
            session.target_comp_id = field(logon, 49)
            refusal = self._refusal(logon)
            if refusal:
                await session.send("5", [(58, refusal)])
            else:
                session.admit(logon)
                session.heartbeat_s = int(field(logon, 108) or 30)
                await session.send("A", [(98, 0), (108, session.heartbeat_s), (141, "Y")])
        except (TimeoutError, SessionClosed, FixSessionError) as exc:
            refusal = f"logon failed: {exc}"
        if refusal:
            session.abort(refusal)
            await session.wait_closed()
            return
        served = _Served(session)
        session.start_heartbeats()
        self._served.append(served)
        poll = asyncio.ensure_future(self._poll(served))
        try:
            await session.run()
        finally:
            poll.cancel()
            await asyncio.gather(poll, return_exceptions=True)
            await session.wait_closed()
            self._served.remove(served)

    def _refusal(self, logon: simplefix.FixMessage) -> str:
        if logon.message_type != b"A":
            return "the first message must be a Logon"
        if self.allowed_senders is not None and field(logon, 49) not in self.allowed_senders:
            return f"unknown SenderCompID {field(logon, 49)!r}"
        if field(logon, 141) != "Y":
            return "ResetSeqNumFlag (141=Y) is required: sequence numbers start at 1 on every logon"
        if not (field(logon, 108) or "").isdigit() or int(field(logon, 108) or 0) < 1:
            return "HeartBtInt (108) must be a whole number of seconds, 1 or more"
        if field(logon, 34) != "1":
            return "a Logon with ResetSeqNumFlag must be MsgSeqNum 1"
        return ""

    async def _on_message(self, served: _Served, msg: simplefix.FixMessage) -> None:
        handlers = {b"D": self._new_order, b"F": self._cancel, b"H": self._status}
        handler = handlers.get(msg.message_type or b"")
        if handler is None:
            if msg.message_type not in (b"3", b"j"):
                await served.session.send("j", wire.business_reject(
                    ref_seq=int(field(msg, 34) or 0), ref_msg_type=field(msg, 35) or "", ref_id="",
                    reason=wire.BIZ_UNSUPPORTED, text="unsupported message type"))
            return
        try:
            await handler(served, msg)
        except wire.FixWireError as exc:
            await served.session.send("3", [(45, field(msg, 34)), (371, exc.tag), (372, field(msg, 35)),
                                            (373, 1 if "missing" in str(exc) else 5), (58, wire.text_value(str(exc)))])
        except VenueUnavailable as exc:
            await served.session.send("j", wire.business_reject(
                ref_seq=int(field(msg, 34) or 0), ref_msg_type=field(msg, 35) or "", ref_id=field(msg, 11) or "",
                reason=wire.BIZ_UNAVAILABLE, text=str(exc)))
        except VenueTimeout:
            pass  # the venue lost its answer: so does the session
        except VenueError as exc:
            await served.session.send("j", wire.business_reject(
                ref_seq=int(field(msg, 34) or 0), ref_msg_type=field(msg, 35) or "", ref_id=field(msg, 11) or "",
                reason=wire.BIZ_OTHER, text=str(exc)))

    # --- the three requests -------------------------------------------------------------------------

    async def _new_order(self, served: _Served, msg: simplefix.FixMessage) -> None:
        order = wire.order_of(msg)
        if self._drop_next is not None:
            drop, self._drop_next = self._drop_next, None
            if drop == "execute":
                try:
                    await self.venue.submit(order)
                except VenueError:
                    pass
            served.session.abort("test hook: connection dropped mid-order")
            return
        async with served.lock:
            try:
                status = await self.venue.submit(order)
            except VenueIdempotencyConflict as exc:
                await served.session.send("8", self._report(
                    order.cl_ord_id, wire.NONE_ID, wire.EXEC_REJECTED, "REJECTED", None, 0, 0, [],
                    text=str(exc), rej_reason=wire.REJ_DUPLICATE))
                return
            self._orders.setdefault(order.cl_ord_id, order)
            if status.state == "REJECTED":
                await served.session.send("8", self._report(
                    order.cl_ord_id, status.venue_order_id, wire.EXEC_REJECTED, "REJECTED", order, 0, 0, [],
                    text=status.reason))
                return
            await served.session.send("8", self._report(
                order.cl_ord_id, status.venue_order_id, wire.EXEC_NEW, "NEW", order, 0, order.quantity, []))
            served.watched.add(order.cl_ord_id)
            await self._trades(served, status)

    async def _cancel(self, served: _Served, msg: simplefix.FixMessage) -> None:
        orig, cancel_id = wire.required(msg, 41), wire.required(msg, 11)
        async with served.lock:
            try:
                status = await self.venue.cancel(orig)
            except UnknownVenueOrder:
                await served.session.send("9", wire.cancel_reject(
                    cancel_id=cancel_id, orig_cl_ord_id=orig, venue_order_id=wire.NONE_ID, state="REJECTED",
                    reason_code=wire.CXL_UNKNOWN, text="Unknown order"))
                return
            except CancelRejected as exc:
                state = "FILLED"
                if exc.status is not None:
                    await self._trades(served, exc.status)
                    state = exc.status.state
                await served.session.send("9", wire.cancel_reject(
                    cancel_id=cancel_id, orig_cl_ord_id=orig,
                    venue_order_id=exc.status.venue_order_id if exc.status else wire.NONE_ID,
                    state=state, reason_code=wire.CXL_TOO_LATE if state == "FILLED" else wire.CXL_OTHER,
                    text=exc.reason))
                return
            await self._trades(served, status)
            await served.session.send("8", self._report(
                cancel_id, status.venue_order_id, wire.EXEC_CANCELLED, status.state, await self._order(orig),
                status.filled_quantity, status.leaves_quantity, status.fills, orig=orig, text=status.reason))

    async def _status(self, served: _Served, msg: simplefix.FixMessage) -> None:
        cl_ord_id, req_id = wire.required(msg, 11), wire.required(msg, 790)
        async with served.lock:
            try:
                status = await self.venue.status(cl_ord_id)
            except UnknownVenueOrder:
                await served.session.send("8", self._report(
                    cl_ord_id, wire.NONE_ID, wire.EXEC_STATUS, "REJECTED", None, 0, 0, [],
                    text="Unknown order", req_id=req_id, rej_reason=wire.REJ_UNKNOWN_ORDER))
                return
            order = await self._order(cl_ord_id)
            for i, fill in enumerate(status.fills):
                await served.session.send("8", self._trade(cl_ord_id, status, i, order, req_id), header=[(97, "Y")])
                served.reported.add(fill.exec_id)
            await served.session.send("8", self._report(
                cl_ord_id, status.venue_order_id, wire.EXEC_STATUS, status.state, order,
                status.filled_quantity, status.leaves_quantity, status.fills, text=status.reason, req_id=req_id))
            if not status.is_final:
                served.watched.add(cl_ord_id)

    # --- reports ----------------------------------------------------------------------------------

    async def _order(self, cl_ord_id: str) -> VenueOrder | None:
        """The order behind an id, for Account, Symbol and Side in the reports: seen in a
        NewOrderSingle here, or read from the venue when it can say (the simulator can)."""
        if cl_ord_id not in self._orders:
            lookup = getattr(self.venue, "order", None)
            found = await lookup(cl_ord_id) if lookup is not None else None
            if isinstance(found, VenueOrder):
                self._orders[cl_ord_id] = found
        return self._orders.get(cl_ord_id)

    async def _trades(self, served: _Served, status: VenueOrderStatus) -> None:
        """Report the fills of ``status`` this session has not reported yet, in order."""
        order = await self._order(status.cl_ord_id)
        for i, fill in enumerate(status.fills):
            if fill.exec_id not in served.reported:
                await served.session.send("8", self._trade(status.cl_ord_id, status, i, order, None))
                served.reported.add(fill.exec_id)

    def _trade(
        self, cl_ord_id: str, status: VenueOrderStatus, index: int, order: VenueOrder | None, req_id: str | None
    ) -> list[tuple[int, object]]:
        """The trade report of fill ``index``: quantities as they stood right after it."""
        fills = status.fills[: index + 1]
        cum = sum(f.quantity for f in fills)
        quantity = order.quantity if order else status.filled_quantity + status.leaves_quantity
        leaves = max(quantity - cum, 0)
        state = "FILLED" if leaves == 0 else "PARTIALLY_FILLED"
        return wire.execution_report(
            cl_ord_id=cl_ord_id, venue_order_id=status.venue_order_id, exec_id=fills[-1].exec_id,
            exec_type=wire.EXEC_TRADE, state=state, order=order, order_qty=quantity, cum_qty=cum, leaves_qty=leaves,
            avg_px=wire.average_price(fills), transact_time=fills[-1].at, fill=fills[-1], req_id=req_id,
        )

    def _report(
        self, cl_ord_id: str, venue_order_id: str, exec_type: str, state: str, order: VenueOrder | None,
        cum: int, leaves: int, fills: tuple | list, *, text: str = "", orig: str | None = None,
        req_id: str | None = None, rej_reason: str | None = None,
    ) -> list[tuple[int, object]]:
        """A report that is not a trade (its ExecID is the acceptor's own, never a fill's)."""
        quantity = order.quantity if order else cum + leaves
        return wire.execution_report(
            cl_ord_id=cl_ord_id, venue_order_id=venue_order_id, exec_id=f"ACK-{self._token}-{next(self._exec_ids)}",
            exec_type=exec_type, state=state, order=order, order_qty=quantity, cum_qty=cum, leaves_qty=leaves,
            avg_px=wire.average_price(fills), transact_time=self._clock.now(), text=text, orig_cl_ord_id=orig,
            req_id=req_id, rej_reason=rej_reason,
        )

    async def _poll(self, served: _Served) -> None:
        """Push the fills of the session's live orders as they happen."""
        if self.poll_s <= 0:
            return
        while served.session.is_open:
            await asyncio.sleep(self.poll_s)
            for cl_ord_id in sorted(served.watched):
                async with served.lock:
                    try:
                        status = await self.venue.status(cl_ord_id)
                        await self._trades(served, status)
                    except (VenueError, SessionClosed):
                        continue
                    if status.is_final:
                        served.watched.discard(cl_ord_id)

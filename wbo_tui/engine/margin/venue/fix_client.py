"""The liquidation venue over FIX 4.4 (implements ``LiquidationVenue``).

``FixVenue`` connects to ``host``:``port`` on its first call, logs on (ResetSeqNumFlag:
see ``fix_session``) and keeps the session; a dropped connection is reopened on the next
call, which first settles every order not yet final with an OrderStatusRequest.

How each call is answered:

* ``submit``: NewOrderSingle, then the acknowledgement (or rejection) for that ClOrdID
  within ``timeout_s``; then an OrderStatusRequest, so that the status returned carries the
  fills made at once, as the simulator's does.  No acknowledgement in time, or the
  connection dropping after the order was written: ``VenueTimeout`` (fate unknown: settle
  with ``status``).  The connection failing before anything was written:
  ``VenueUnavailable``.
* ``status``: OrderStatusRequest with a fresh OrdStatusReqID (790).  The acceptor answers
  with one trade report per fill (PossResend) and a final status report echoing 790; the
  reports arrive in order on one stream, so when the final one arrives every fill before it
  has been read.  The fills are rebuilt from those trade reports (ExecID 17, LastQty 32,
  LastPx 31, TransactTime 60), each ExecID kept once, and must add up to the CumQty (14)
  the final report states, else ``VenueProtocolError``.
* ``cancel``: OrderCancelRequest (41 the order, 11 a new id).  The cancel report (150=4)
  gives the CANCELLED status; an OrderCancelReject (35=9) becomes ``UnknownVenueOrder``
  (CxlRejReason 1) or ``CancelRejected`` with its Text (58) and the status after, asked at
  once (None if that failed).

Trade reports pushed between calls are kept too: an order's fills are accumulated per
ClOrdID across calls and reconnections, and an order's state never goes back from a final
one.  A sequence gap on the incoming side also triggers the settlement by status requests
(see ``fix_session`` for why nothing is resent).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import deque
from typing import Any

import simplefix

from ...clock import Clock, Seconds, SystemClock
from . import fix_wire as wire
from .fix_session import LOG_SIZE, FixSession, FixSessionError, NotSent, SessionClosed, field
from .fix_wire import ReportedOrder
from .gateway import (
    CancelRejected,
    UnknownVenueOrder,
    VenueIdempotencyConflict,
    VenueOrder,
    VenueOrderStatus,
    VenueProtocolError,
    VenueTimeout,
    VenueUnavailable,
    check_id,
)


KEEP_FINAL = 10_000
_UNSEEN_FILLS = object()  # a cancel's answer when the client has not seen every fill


class FixVenue:
    """A ``LiquidationVenue`` reached over FIX 4.4 as ``sender_comp_id`` to ``target_comp_id``.

    ``timeout_s`` bounds the connection, the logon and each answer (seconds, not money);
    ``heartbeat_s`` is the HeartBtInt asked at logon.  ``sent`` and ``received`` keep the
    last messages both ways, across reconnections."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender_comp_id: str,
        target_comp_id: str,
        timeout_s: Seconds = 5.0,
        heartbeat_s: int = 30,
        clock: Clock | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.sender_comp_id, self.target_comp_id = sender_comp_id, target_comp_id
        self.timeout_s = timeout_s
        self.heartbeat_s = heartbeat_s
        self.sent: deque[simplefix.FixMessage] = deque(maxlen=LOG_SIZE)
        self.received: deque[simplefix.FixMessage] = deque(maxlen=LOG_SIZE)
        self._clock = clock or SystemClock()
        self._session: FixSession | None = None
        self._lock = asyncio.Lock()
        self._orders: dict[str, ReportedOrder] = {}
        self._waiters: dict[str, tuple[FixSession, asyncio.Future[Any]]] = {}
        self._by_seq: dict[int, str] = {}
        self._bundles: dict[str, list[str]] = {}
        self._ids = itertools.count(1)
        self._token = secrets.token_hex(4).upper()
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False

    @property
    def session(self) -> FixSession | None:
        """The current session (tests use it to read sequence numbers)."""
        return self._session

    # --- the venue ----------------------------------------------------------------------------

    async def submit(self, order: VenueOrder) -> VenueOrderStatus:
        if not isinstance(order, VenueOrder):
            raise TypeError(f"submit takes a VenueOrder, got {type(order).__name__}")
        known = self._orders.get(order.cl_ord_id)
        if known is not None and known.order is not None and not known.order.same_order(order):
            raise VenueIdempotencyConflict(order.cl_ord_id, "this client sent other fields under it")
        session = await self._connected()
        self._prune()
        tracked = self._orders.setdefault(order.cl_ord_id, ReportedOrder(order))
        tracked.order, tracked.quantity = order, order.quantity
        try:
            report = await self._exchange(session, f"D:{order.cl_ord_id}", "D",
                                          wire.new_order_single(order, self._clock.now()), "order")
        except (VenueIdempotencyConflict, VenueUnavailable):
            if tracked.venue_order_id is None:
                self._orders.pop(order.cl_ord_id, None)  # the venue holds nothing of ours under it
            raise
        if report.exec_type == wire.EXEC_REJECTED:
            return tracked.snapshot(order.cl_ord_id)
        try:
            return await self.status(order.cl_ord_id)
        except (VenueTimeout, VenueUnavailable):
            return tracked.snapshot(order.cl_ord_id)  # acknowledged; later fills come with status

    async def status(self, cl_ord_id: str) -> VenueOrderStatus:
        check_id(cl_ord_id, "cl_ord_id")
        return await self._status(cl_ord_id, settle=True)

    async def _status(self, cl_ord_id: str, *, settle: bool) -> VenueOrderStatus:
        session = await self._connected(settle=settle)
        req_id = f"ST-{self._token}-{next(self._ids)}"
        tracked = self._orders.get(cl_ord_id)
        pairs: list[tuple[int, object]] = [(11, cl_ord_id), (790, req_id)]
        if tracked is not None and tracked.order is not None:
            pairs += [(55, tracked.order.code), (54, wire.SIDE_CODE[tracked.order.side])]
        try:
            status: VenueOrderStatus = await self._exchange(session, f"H:{req_id}", "H", pairs, "status request")
        finally:
            self._bundles.pop(req_id, None)
        return status

    async def cancel(self, cl_ord_id: str) -> VenueOrderStatus:
        check_id(cl_ord_id, "cl_ord_id")
        session = await self._connected()
        cancel_id = f"CX-{self._token}-{next(self._ids)}"
        pairs: list[tuple[int, object]] = [(41, cl_ord_id), (11, cancel_id)]
        tracked = self._orders.get(cl_ord_id)
        if tracked is not None and tracked.order is not None:
            order = tracked.order
            pairs += [(55, order.code), (54, wire.SIDE_CODE[order.side]), (38, order.quantity)]
        pairs.append((60, wire.utc_timestamp(self._clock.now())))
        answer = await self._exchange(session, f"F:{cancel_id}", "F", pairs, "cancel")
        if isinstance(answer, simplefix.FixMessage):  # OrderCancelReject
            if field(answer, 102) == wire.CXL_UNKNOWN:
                raise UnknownVenueOrder(cl_ord_id)
            try:
                after: VenueOrderStatus | None = await self.status(cl_ord_id)
            except (VenueTimeout, VenueUnavailable, VenueProtocolError):
                after = None
            raise CancelRejected(cl_ord_id, field(answer, 58) or "refused by the venue", after)
        if answer is _UNSEEN_FILLS:  # cancelled, with fills this client has not seen: ask for them
            return await self.status(cl_ord_id)
        return answer

    async def ping(self) -> None:
        """A TestRequest answered by a Heartbeat within ``timeout_s`` (else ``VenueTimeout``)."""
        session = await self._connected()
        try:
            await session.test_request(self.timeout_s)
        except TimeoutError as exc:
            raise VenueTimeout("The liquidation venue did not answer a test request in time.") from exc
        except SessionClosed as exc:
            raise VenueUnavailable(f"The connection to the liquidation venue failed: {exc}") from exc

    async def close(self) -> None:
        """Log out and close; the venue is unusable afterwards."""
        self._closed = True
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._session is not None:
            await self._session.logout(self.timeout_s)

    async def __aenter__(self) -> FixVenue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the connection -------------------------------------------------------------------------

    async def _connected(self, *, settle: bool = True) -> FixSession:
        """The live session, opening (and, unless told not to, settling) a new one when
        there is none."""
        if self._closed:
            raise RuntimeError("the FIX venue client is closed")
        async with self._lock:
            if self._session is not None and self._session.is_open:
                return self._session
            session = await self._logon()
            self._session = session
            self._keep(self._watch(session))
        if settle:
            await self._settle()
        return session

    async def _logon(self) -> FixSession:
        where = f"the liquidation venue at {self.host}:{self.port}"
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout_s)
        except (OSError, TimeoutError) as exc:
            raise VenueUnavailable(f"Cannot connect to {where}: {exc or type(exc).__name__}") from exc
        session = FixSession(
            reader, writer, sender_comp_id=self.sender_comp_id, target_comp_id=self.target_comp_id,
            heartbeat_s=self.heartbeat_s, on_message=self._on_message, on_gap=self._on_gap, clock=self._clock,
            sent=self.sent, received=self.received,
        )
        try:
            await session.send("A", [(98, 0), (108, self.heartbeat_s), (141, "Y")])
            reply = await asyncio.wait_for(session.read_message(), self.timeout_s)
            if reply.message_type == b"5":
                raise FixSessionError(f"the venue refused the logon: {field(reply, 58) or 'no reason given'}")
            if reply.message_type != b"A" or field(reply, 141) != "Y" or field(reply, 34) != "1":
                raise FixSessionError(f"the venue answered the logon with {reply}")
            session.admit(reply)
        except (SessionClosed, FixSessionError, TimeoutError) as exc:
            session.abort(str(exc))
            await session.wait_closed()
            raise VenueUnavailable(f"Cannot log on to {where}: {exc or type(exc).__name__}") from exc
        session.start()
        return session

    async def _settle(self) -> None:
        """Ask the status of every order not known to be final (after a reconnection or a
        gap: their reports may have been lost); an order the venue does not know and never
        acknowledged is forgotten."""
        outstanding = [cl for cl, tracked in self._orders.items() if not tracked.is_final]
        answers = await asyncio.gather(*(self._status(cl, settle=False) for cl in outstanding),
                                       return_exceptions=True)
        for cl_ord_id, answer in zip(outstanding, answers, strict=True):
            tracked = self._orders.get(cl_ord_id)
            if isinstance(answer, UnknownVenueOrder) and tracked is not None and tracked.venue_order_id is None:
                self._orders.pop(cl_ord_id, None)

    def _prune(self) -> None:
        """Forget the oldest final orders past ``KEEP_FINAL`` (a long-running console sends
        many; the venue still answers for them, and still refuses a reused id)."""
        final = [cl for cl, tracked in self._orders.items() if tracked.is_final]
        for cl_ord_id in final[: max(0, len(final) - KEEP_FINAL)]:
            del self._orders[cl_ord_id]

    def _on_gap(self, first: int, last: int) -> None:
        self._keep(self._settle())

    async def _watch(self, session: FixSession) -> None:
        """When the session ends, every answer still awaited on it is lost."""
        await session.closed.wait()
        lost = SessionClosed(session.close_reason or "the connection was lost")
        for _, (owner, waiter) in list(self._waiters.items()):
            if owner is session and not waiter.done():
                waiter.set_exception(lost)

    def _keep(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- requests and answers ----------------------------------------------------------------------

    async def _exchange(self, session: FixSession, key: str, msg_type: str, pairs: list[tuple[int, object]],
                        what: str) -> Any:
        """Send a request and wait for the answer the dispatcher files under ``key``."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters[key] = (session, waiter)
        seq = None
        try:
            try:
                sent = await session.send(msg_type, pairs)
            except NotSent as exc:
                raise VenueUnavailable(f"The connection to the liquidation venue was lost; the {what} was not sent.") \
                    from exc
            except SessionClosed as exc:
                raise VenueTimeout(f"The connection failed while sending the {what}; its fate is unknown.") from exc
            seq = int(sent.get(34))
            self._by_seq[seq] = key
            try:
                return await asyncio.wait_for(asyncio.shield(waiter), self.timeout_s)
            except TimeoutError as exc:
                raise VenueTimeout(f"The liquidation venue did not answer the {what} in time.") from exc
            except SessionClosed as exc:
                raise VenueTimeout(f"The connection dropped after the {what} was sent ({exc}); its fate is unknown.") \
                    from exc
        finally:
            self._waiters.pop(key, None)
            if seq is not None:
                self._by_seq.pop(seq, None)

    def _answer(self, key: str, value: Any = None, error: Exception | None = None) -> None:
        entry = self._waiters.get(key)
        if entry is not None and not entry[1].done():
            if error is not None:
                entry[1].set_exception(error)
            else:
                entry[1].set_result(value)

    async def _on_message(self, msg: simplefix.FixMessage) -> None:
        kind = msg.message_type
        if kind == b"8":
            try:
                report = wire.parse_execution_report(msg)
            except wire.FixWireError as exc:
                error = VenueProtocolError(f"A garbled execution report from the venue: {exc}")
                for key in (f"H:{field(msg, 790)}", f"D:{field(msg, 11)}", f"F:{field(msg, 11)}"):
                    self._answer(key, error=error)
                return
            self._on_report(report)
        elif kind == b"9":
            self._answer(f"F:{field(msg, 11)}", msg)
        elif kind in (b"3", b"j"):
            key = self._by_seq.get(int(field(msg, 45) or 0), "")
            text = field(msg, 58) or "no reason given"
            if kind == b"j" and field(msg, 380) == wire.BIZ_UNAVAILABLE:
                self._answer(key, error=VenueUnavailable(f"The liquidation venue is unavailable: {text}"))
            else:
                self._answer(key, error=VenueProtocolError(f"The venue refused the message: {text}"))

    def _on_report(self, report: wire.ExecReport) -> None:
        if report.exec_type == wire.EXEC_REJECTED and report.rej_reason == wire.REJ_DUPLICATE:
            self._answer(f"D:{report.cl_ord_id}", error=VenueIdempotencyConflict(report.cl_ord_id, report.text))
            return
        if report.exec_type == wire.EXEC_STATUS and report.rej_reason == wire.REJ_UNKNOWN_ORDER:
            self._answer(f"H:{report.req_id}", error=UnknownVenueOrder(report.cl_ord_id))
            return
        tracked = self._orders.setdefault(report.order_id, ReportedOrder())
        tracked.apply(report)
        if report.req_id is not None and report.fill is not None:
            self._bundles.setdefault(report.req_id, []).append(report.fill.exec_id)
        if report.exec_type in (wire.EXEC_NEW, wire.EXEC_REJECTED):
            self._answer(f"D:{report.cl_ord_id}", report)
        elif report.exec_type == wire.EXEC_CANCELLED:
            status = self._as_of(report, tracked)
            self._answer(f"F:{report.cl_ord_id}", _UNSEEN_FILLS if isinstance(status, Exception) else status)
        elif report.exec_type == wire.EXEC_STATUS and report.req_id is not None:
            tracked.reorder(self._bundles.pop(report.req_id, []))
            status = self._as_of(report, tracked)
            if isinstance(status, Exception):
                self._answer(f"H:{report.req_id}", error=status)
            else:
                self._answer(f"H:{report.req_id}", status)

    @staticmethod
    def _as_of(report: wire.ExecReport, tracked: ReportedOrder) -> VenueOrderStatus | VenueProtocolError:
        """The order's status as this report states it, taken as the report is read (a fill
        pushed right after must not count against its CumQty)."""
        try:
            status = tracked.snapshot(report.order_id)
        except VenueProtocolError as exc:
            return exc
        if status.filled_quantity != report.cum_qty:
            return VenueProtocolError(
                f"The venue reports {report.cum_qty} shares of order {report.order_id} filled "
                f"but fills of {status.filled_quantity}."
            )
        return status

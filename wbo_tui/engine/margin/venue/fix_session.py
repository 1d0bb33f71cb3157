"""A small FIX 4.4 session layer on asyncio streams, shared by the client (``fix_client``)
and the acceptor (``fix_acceptor``).  Messages are built and parsed with ``simplefix``
(``FixMessage``, ``FixParser``); this module adds what a session is: the header, sequence
numbers, logon, heartbeats and test requests, resend handling, logout.

Sequence numbers.  Both sides log on with ResetSeqNumFlag (141=Y) and keep their numbers
in memory, for that connection only.  A liquidation order's state lives at the venue and
is recovered with OrderStatusRequest (35=H), which answers with every fill; persisting
sequence numbers would only serve to replay old messages, which we never do (below).  So a
new connection always starts at 1 on both sides, and a stale number from an earlier
connection cannot confuse the new one.

Gaps.  A message numbered above the one expected reveals lost messages: the receiver
sends ResendRequest (35=2, 7=first missing, 16=0 "all after") and processes the message at
once.  The side asked answers with SequenceReset-GapFill (35=4, 123=Y, 36=its next number)
covering the whole range: we never resend application messages blind, because a replayed
NewOrderSingle or OrderCancelRequest is exactly the duplicate a broker must not send, and a
replayed ExecutionReport would be stale; the receiver recovers the orders' state with
status requests instead (the client does so on every gap).  A number below the one
expected, without PossDupFlag (43=Y), is fatal: Logout and disconnect.  Holding later
messages back until the gap is "filled" would gain nothing, since a gap fill brings no
message back.

Heartbeats.  Each side sends a Heartbeat (35=0) after HeartBtInt (108) seconds without
sending; after 1.2 intervals without hearing anything it sends a TestRequest (35=1), and
after 2.5 it considers the connection dead and closes it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

import simplefix
from simplefix.errors import ParsingError

from ...clock import Clock, Seconds, SystemClock

BEGIN_STRING = "FIX.4.4"
ADMIN_TYPES = frozenset({b"0", b"1", b"2", b"4", b"5", b"A"})
Pairs = Iterable[tuple[int, object]]
LOG_SIZE = 2000
MAX_BUFFERED = 1 << 20
_log = logging.getLogger(__name__)


class SessionClosed(Exception):
    """The connection ended (closed by the peer, dropped, or logged out)."""


class NotSent(SessionClosed):
    """The connection was closed before the message was written: nothing was sent."""


class FixSessionError(Exception):
    """The peer broke the session protocol (garbled message, wrong ids, sequence too low)."""


def utc_timestamp(moment: datetime) -> str:
    """A FIX UTCTimestamp with microseconds (the FIX 5.0 extension of 4.4's milliseconds:
    both ends here read it, and a fill's time survives the trip exactly)."""
    return moment.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S.%f")


def parse_utc_timestamp(text: str) -> datetime:
    for fmt in ("%Y%m%d-%H:%M:%S.%f", "%Y%m%d-%H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise FixSessionError(f"not a FIX UTCTimestamp: {text!r}")


def field(msg: simplefix.FixMessage, tag: int) -> str | None:
    value = msg.get(tag)
    return None if value is None else value.decode("utf-8", "replace")


class FixSession:
    """One FIX session on one connection: ``send`` application messages, and ``run`` the
    reading loop, which handles the session messages itself and hands the others to
    ``on_message`` (in order, one at a time).

    ``sent`` and ``received`` keep the last messages both ways (shared deques may be passed
    in, so that an owner keeps one log across reconnections): tests read the raw tags."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        sender_comp_id: str,
        target_comp_id: str | None,
        heartbeat_s: int,
        on_message: Callable[[simplefix.FixMessage], Awaitable[None]],
        on_gap: Callable[[int, int], None] | None = None,
        clock: Clock | None = None,
        sent: deque[simplefix.FixMessage] | None = None,
        received: deque[simplefix.FixMessage] | None = None,
    ) -> None:
        self.sender_comp_id = sender_comp_id
        self.target_comp_id = target_comp_id
        self.heartbeat_s = heartbeat_s
        self.next_out_seq = 1
        self.next_in_seq = 1
        self.sent = sent if sent is not None else deque(maxlen=LOG_SIZE)
        self.received = received if received is not None else deque(maxlen=LOG_SIZE)
        self._reader, self._writer = reader, writer
        self._on_message, self._on_gap = on_message, on_gap
        self._clock = clock or SystemClock()
        self._parser = simplefix.FixParser()
        self._write_lock = asyncio.Lock()
        self._tests: dict[str, asyncio.Future[None]] = {}
        self._test_ids = itertools.count(1)
        self._test_pending = False
        self._logout_sent = False
        self._tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()
        self.close_reason = ""
        loop = asyncio.get_running_loop()
        self._last_sent = self._last_received = loop.time()

    # --- sending ------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return not self.closed.is_set() and not self._writer.is_closing()

    async def send(self, msg_type: str, pairs: Pairs = (), *, seq: int | None = None,
                   header: Pairs = ()) -> simplefix.FixMessage:
        """Send one message; its MsgSeqNum is the next one, unless ``seq`` is given (a
        gap fill, which does not use a number up).  Raises ``SessionClosed``."""
        async with self._write_lock:
            if not self.is_open:
                raise NotSent(self.close_reason or "the connection is closed")
            msg = simplefix.FixMessage()
            msg.append_pair(8, BEGIN_STRING, header=True)
            msg.append_pair(35, msg_type, header=True)
            msg.append_pair(49, self.sender_comp_id, header=True)
            msg.append_pair(56, self.target_comp_id, header=True)
            msg.append_pair(34, self.next_out_seq if seq is None else seq, header=True)
            msg.append_pair(52, utc_timestamp(self._clock.now()), header=True)
            # FIX has no empty value (a peer's parser refuses "58="): an empty field is left out.
            for tag, value in header:
                if value is not None and value != "":
                    msg.append_pair(tag, value, header=True)
            for tag, value in pairs:
                if value is not None and value != "":
                    msg.append_pair(tag, value)
            if seq is None:
                self.next_out_seq += 1
            try:
                self._writer.write(msg.encode())
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                self._mark_closed(f"the connection failed while sending: {exc}")
                raise SessionClosed(self.close_reason) from exc
            self._last_sent = asyncio.get_running_loop().time()
            self.sent.append(msg)
            return msg

    def skip_outgoing(self, count: int) -> None:
        """Test hook: lose ``count`` outgoing sequence numbers, as if messages were lost."""
        self.next_out_seq += count

    # --- receiving ----------------------------------------------------------------------------

    async def read_message(self) -> simplefix.FixMessage:
        """The next whole message off the wire, checked for framing, checksum, version and
        the two CompIDs (the latter once ``target_comp_id`` is known)."""
        while True:
            try:
                msg = self._parser.get_message()
            except ParsingError as exc:
                raise FixSessionError(f"garbled FIX message: {exc!r}") from exc
            if msg is not None:
                self._check(msg)
                self._last_received = asyncio.get_running_loop().time()
                self.received.append(msg)
                return msg
            try:
                data = await self._reader.read(65536)
            except (ConnectionError, OSError) as exc:
                raise SessionClosed(f"the connection failed: {exc}") from exc
            if not data:
                raise SessionClosed("the peer closed the connection")
            self._parser.append_buffer(data)
            if len(self._parser.get_buffer()) > MAX_BUFFERED:  # no message ends: not FIX
                raise FixSessionError(f"more than {MAX_BUFFERED} bytes without a whole message")

    def _check(self, msg: simplefix.FixMessage) -> None:
        # simplefix frames on 10= but does not verify: re-encoding the fields it parsed
        # recomputes BodyLength and CheckSum, so equal bytes mean both were right.
        if msg.message_type is None or msg.encode() != msg.encode(raw=True):
            raise FixSessionError(f"bad BodyLength or CheckSum in {msg}")
        if field(msg, 8) != BEGIN_STRING:
            raise FixSessionError(f"BeginString must be {BEGIN_STRING}, got {field(msg, 8)!r}")
        if field(msg, 56) != self.sender_comp_id or (
            self.target_comp_id is not None and field(msg, 49) != self.target_comp_id
        ):
            raise FixSessionError(f"wrong CompIDs: {field(msg, 49)!r} to {field(msg, 56)!r}")
        if not (field(msg, 34) or "").isdigit():
            raise FixSessionError(f"MsgSeqNum missing or not a number in {msg}")

    def admit(self, msg: simplefix.FixMessage) -> bool:
        """Apply the message's sequence number: False when the message is to be ignored
        (a duplicate, or a SequenceReset, which this handles itself)."""
        seq = int(field(msg, 34) or 0)
        poss_dup = field(msg, 43) == "Y"
        if msg.message_type == b"4":
            new_seq = field(msg, 36) or ""
            if not new_seq.isdigit():
                raise FixSessionError("SequenceReset without a NewSeqNo")
            if field(msg, 123) != "Y":  # reset mode: the number is forced, whatever 34 says
                if int(new_seq) < self.next_in_seq:
                    raise FixSessionError(f"SequenceReset to {new_seq}, below {self.next_in_seq}")
            elif seq < self.next_in_seq and not poss_dup:
                raise FixSessionError(f"MsgSeqNum too low, expecting {self.next_in_seq} but received {seq}")
            self.next_in_seq = max(self.next_in_seq, int(new_seq))
            return False
        if seq == self.next_in_seq:
            self.next_in_seq += 1
            return True
        if seq > self.next_in_seq:
            first_missing = self.next_in_seq
            self.next_in_seq = seq + 1
            self._spawn(self._resend_request(first_missing))
            if self._on_gap is not None:
                self._on_gap(first_missing, seq - 1)
            return True
        if poss_dup:
            return False
        raise FixSessionError(f"MsgSeqNum too low, expecting {self.next_in_seq} but received {seq}")

    async def _resend_request(self, begin: int) -> None:
        try:
            await self.send("2", [(7, begin), (16, 0)])
        except SessionClosed:
            pass

    # --- the loop -----------------------------------------------------------------------------

    def start(self) -> None:
        """Run the reading loop and the heartbeats in the background (the logon is done)."""
        self._spawn(self.run())
        self.start_heartbeats()

    def start_heartbeats(self) -> None:
        self._spawn(self._heartbeats())

    async def run(self) -> None:
        """Read and dispatch until the connection ends; closes it on the way out."""
        try:
            while True:
                msg = await self.read_message()
                if not self.admit(msg):
                    continue
                if msg.message_type in ADMIN_TYPES:
                    if await self._on_admin(msg):
                        break
                else:
                    await self._on_message(msg)
        except SessionClosed as exc:
            self._mark_closed(str(exc))
        except FixSessionError as exc:
            await self._fatal(str(exc))
        except Exception as exc:  # a bug in a handler: end this session, keep the process
            _log.exception("FIX session %s -> %s failed", self.sender_comp_id, self.target_comp_id)
            await self._fatal(f"internal error: {type(exc).__name__}")
        finally:
            self._mark_closed("the session ended")

    async def _on_admin(self, msg: simplefix.FixMessage) -> bool:
        """Handle a session message; True when the session is over (Logout)."""
        kind = msg.message_type
        if kind == b"0":
            self._test_pending = False
            waiter = self._tests.pop(field(msg, 112) or "", None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        elif kind == b"1":
            await self.send("0", [(112, field(msg, 112) or "")])
        elif kind == b"2":
            begin = int(field(msg, 7) or 0)
            if 0 < begin < self.next_out_seq:  # a gap fill over the whole range: see the module
                await self.send(
                    "4", [(123, "Y"), (36, self.next_out_seq)], seq=begin,
                    header=[(43, "Y"), (122, utc_timestamp(self._clock.now()))],
                )
        elif kind == b"5":
            if not self._logout_sent:
                self._logout_sent = True
                await self.send("5")
            self.close_reason = field(msg, 58) or "the peer logged out"
            return True
        elif kind == b"A":
            raise FixSessionError("Logon received on a session already logged on")
        return False

    async def _fatal(self, text: str) -> None:
        """Log out with the reason, then close (no waiting for the answer)."""
        try:
            if self.is_open and not self._logout_sent:
                self._logout_sent = True
                await self.send("5", [(58, text[:200])])
        except SessionClosed:
            pass
        self._mark_closed(text)

    async def _heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        interval = Seconds(self.heartbeat_s)  # a duration, not money
        try:
            while self.is_open:
                await asyncio.sleep(interval / 5)
                now = loop.time()
                if now - self._last_sent >= interval:
                    await self.send("0")
                silence = now - self._last_received
                if silence >= 2.5 * interval:
                    self.abort(f"no message from the peer for {silence:.1f} s")
                elif silence >= 1.2 * interval and not self._test_pending:
                    self._test_pending = True
                    await self.send("1", [(112, f"HB-{next(self._test_ids)}")])
        except SessionClosed:
            pass

    async def test_request(self, timeout_s: Seconds) -> None:
        """Send a TestRequest and wait for its Heartbeat (raises ``TimeoutError``)."""
        test_id = f"TEST-{next(self._test_ids)}"
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tests[test_id] = waiter
        try:
            await self.send("1", [(112, test_id)])
            await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        finally:
            self._tests.pop(test_id, None)

    # --- ending ---------------------------------------------------------------------------------

    async def logout(self, timeout_s: Seconds, text: str = "") -> None:
        """Log out and wait (at most ``timeout_s``) for the peer's Logout, then close."""
        try:
            if self.is_open and not self._logout_sent:
                self._logout_sent = True
                await self.send("5", [(58, text)] if text else [])
                await asyncio.wait_for(self.closed.wait(), timeout_s)
        except (SessionClosed, TimeoutError):
            pass
        finally:
            self.abort("logged out")
            await self.wait_closed()

    def abort(self, reason: str) -> None:
        """Close the connection now, without a Logout (a dropped connection)."""
        self._mark_closed(reason)

    def _mark_closed(self, reason: str) -> None:
        if not self.closed.is_set():
            self.close_reason = self.close_reason or reason
            self.closed.set()
            self._writer.close()
            for waiter in self._tests.values():
                if not waiter.done():
                    waiter.set_exception(SessionClosed(reason))
            current = asyncio.current_task()
            for task in self._tasks:
                if task is not current:
                    task.cancel()

    async def wait_closed(self) -> None:
        current = asyncio.current_task()
        others = [t for t in self._tasks if t is not current]
        await asyncio.gather(*others, return_exceptions=True)
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    def _spawn(self, coro: Awaitable[None]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))
        self._tasks = [t for t in self._tasks if not t.done()]

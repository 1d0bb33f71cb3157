"""Any gateway served over its HTTP JSON contract, on 127.0.0.1 only: the reference each
contract's client is tested against, and a simulator run as its own process.

Requests are handled on threads (``ThreadingHTTPServer``); the gateway's coroutines run
on one event loop in a thread of the server's own, so a gateway written for asyncio is
served as is.  Each answer closes its connection, so stopping never waits on an idle
keep-alive client.

For tests of lost answers, ``inject_delay`` holds the next request(s) to an endpoint:
with ``execute=True`` the gateway acts and the answer is held back (lost on the way
back); with ``execute=False`` the request is held and then dropped without reaching the
gateway (lost on the way in).

A contract's server subclasses ``LoopbackJsonServer`` and gives it what is its own:

- ``ENDPOINTS``, the names of its endpoints (for delays and request counts);
- ``WIRE``, its JSON reader and writer and its error body (``JsonWire``);
- ``route(method, path)``, which names the endpoint and what the path carries, or
  raises ``Reply`` (404, 405, 400) for a request no endpoint takes;
- ``dispatch(endpoint, target, body)``, which calls the gateway through ``self.call``
  and answers ``(status, body)``;
- ``ERROR_ANSWERS``, the answer to each error of the gateway (or of reading the request)
  that the contract names; any other is a bug behind the server, answered 500.

Every contract here names a malformed request ``BAD_REQUEST`` and a failure of the
gateway behind the server ``INTERNAL``; those two answers are the base's own.  A new
integration's server is then about this much::

    class PriceFeedHttpServer(LoopbackJsonServer[PriceFeedGateway]):
        ENDPOINTS = ("quote",)
        WIRE = JsonWire(wire.loads, wire.dumps, wire.error_to_wire, wire.MAX_BODY_BYTES)
        NAME = "price-feed"
        ERROR_ANSWERS = ((PriceFeedTimeout, 504, "UPSTREAM_TIMEOUT"), (PriceFeedError, 502, "BAD_GATEWAY"))

        def route(self, method, path):  # 404 / 405 / 400 as ``Reply``, else:
            return "quote", symbol

        def dispatch(self, endpoint, symbol, body):
            return 200, wire.quote_to_wire(self.call(lambda: self.gateway.quote(symbol)))
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Generic, Self, TypeVar

from ..clock import Seconds

LOOPBACK = "127.0.0.1"
G = TypeVar("G")  # the gateway interface served
BAD_REQUEST = "BAD_REQUEST"
INTERNAL = "INTERNAL"


@dataclass(frozen=True, slots=True)
class JsonWire:
    """The parts of a contract's wire format the server itself needs."""

    loads: Callable[[bytes], Any]  # a request body; raises ValueError when it breaks the contract
    dumps: Callable[[Any], bytes]  # an answer body
    error: Callable[[str, str], dict[str, Any]]  # the error body of (code, message)
    max_body_bytes: int


class Reply(Exception):
    """Ends a request with this status and body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class Drop(Exception):
    """Ends a request without any answer (the connection is closed)."""


@dataclass
class _Delay:
    delay_s: Seconds
    execute: bool
    remaining: int


class LoopbackJsonServer(Generic[G]):
    """The HTTP face of a gateway.  ``start()`` binds 127.0.0.1 (port 0: any free port);
    ``base_url`` is then where a client reaches it; ``stop()`` ends everything."""

    ENDPOINTS: ClassVar[tuple[str, ...]] = ()
    WIRE: ClassVar[JsonWire]
    #: (error, HTTP status, error code), taken in order as ``except`` clauses would be: a
    #: subclass before its base.
    ERROR_ANSWERS: ClassVar[tuple[tuple[type[Exception], int, str], ...]] = ()
    #: Names the server's threads and its ``Server`` header.
    NAME: ClassVar[str] = "integration"

    def __init__(self, gateway: G, *, port: int = 0) -> None:
        self.gateway = gateway
        self._port = port
        self._httpd: _Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self._delays: dict[str, list[_Delay]] = {e: [] for e in self.ENDPOINTS}
        self._received: dict[str, int] = {e: 0 for e in self.ENDPOINTS}

    # --- what a contract's server gives ---------------------------------------------------

    def route(self, method: str, path: str) -> tuple[str, Any]:
        """``(endpoint, target)`` of a request, or raises ``Reply``."""
        raise NotImplementedError

    def dispatch(self, endpoint: str, target: Any, body: Any) -> tuple[int, dict[str, Any]]:  # noqa: ANN401
        """The answer to one routed request (``body`` is None but for a POST)."""
        raise NotImplementedError

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        self._loop = asyncio.new_event_loop()
        loop_thread = threading.Thread(target=self._run_loop, name=f"{self.NAME}-http-loop", daemon=True)
        loop_thread.start()
        self._httpd = _Server((LOOPBACK, self._port), _Handler, self)
        serve_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.NAME}-http", daemon=True
        )
        serve_thread.start()
        self._threads = [serve_thread, loop_thread]
        return self

    def _run_loop(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()
        # Cancelled gateway calls may leave worker threads finishing their SQL.
        self._loop.run_until_complete(self._loop.shutdown_default_executor())
        self._loop.close()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("not started")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def stop(self, timeout_s: Seconds = 5.0) -> None:
        """Stop accepting, cut injected delays short, cancel gateway calls in flight (a
        simulated hang among them), and wait (up to ``timeout_s``) for the request
        threads and the loop to finish."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        loop = self._loop
        assert loop is not None

        def cancel_all() -> None:
            for task in asyncio.all_tasks(loop):
                task.cancel()

        # Cancel repeatedly: a request thread may hand the loop a call just after a pass.
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._active and time.monotonic() < deadline:
                loop.call_soon_threadsafe(cancel_all)
                self._idle.wait(0.05)
        loop.call_soon_threadsafe(loop.stop)
        for thread in self._threads:
            thread.join(timeout_s)
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- injection and counting -------------------------------------------------------------

    def inject_delay(self, endpoint: str, delay_s: Seconds, *, execute: bool = True, count: int = 1) -> None:
        """Hold the next ``count`` requests to ``endpoint`` for ``delay_s`` (see module doc)."""
        if endpoint not in self.ENDPOINTS:
            raise ValueError(f"endpoint must be one of {self.ENDPOINTS}, got {endpoint!r}")
        if delay_s < 0 or count < 1:
            raise ValueError("delay_s must be >= 0 and count >= 1")
        with self._lock:
            self._delays[endpoint].append(_Delay(delay_s, execute, count))

    def clear_delays(self) -> None:
        with self._lock:
            for pending in self._delays.values():
                pending.clear()

    def received(self, endpoint: str | None = None) -> int:
        """Requests that arrived on the wire for an endpoint (before any injected drop)."""
        with self._lock:
            return self._received[endpoint] if endpoint else sum(self._received.values())

    def _arrive(self, endpoint: str) -> _Delay | None:
        with self._lock:
            self._received[endpoint] += 1
            pending = self._delays[endpoint]
            if not pending:
                return None
            delay = pending[0]
            delay.remaining -= 1
            if delay.remaining == 0:
                pending.pop(0)
            return delay

    def _enter(self) -> None:
        with self._lock:
            self._active += 1

    def _leave(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    def call(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:  # noqa: ANN401
        """Run a gateway coroutine on the server's loop and wait for it; a call cut short
        by ``stop()`` drops the request."""
        assert self._loop is not None
        if self._stopping.is_set():
            raise Drop()
        future = asyncio.run_coroutine_threadsafe(make(), self._loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError as exc:
            raise Drop() from exc

    # --- one request ----------------------------------------------------------------------

    def _handle_request(self, method: str, path: str, read_body: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
        """Route one request; returns ``(status, body)`` or raises ``Reply`` or ``Drop``."""
        endpoint, target = self.route(method, path)
        delay = self._arrive(endpoint)
        body = read_body() if method == "POST" else None
        if delay is not None and not delay.execute:
            self._stopping.wait(delay.delay_s)
            raise Drop()
        try:
            answer = self.dispatch(endpoint, target, body)
        except Reply as reply:
            answer = (reply.status, reply.body)
        except Drop:
            raise
        except Exception as exc:  # noqa: BLE001 - answered if the contract names it, else re-raised
            answer = self._error_answer(exc)
        if delay is not None:
            self._stopping.wait(delay.delay_s)
        return answer

    def _error_answer(self, exc: Exception) -> tuple[int, dict[str, Any]]:
        for error, status, code in self.ERROR_ANSWERS:
            if isinstance(exc, error):
                return status, self.WIRE.error(code, str(exc))
        raise exc


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: LoopbackJsonServer[Any]
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle or trickling client cannot hold a thread for long

    def version_string(self) -> str:
        return f"wbo-{self.server.owner.NAME}-sim/1 {self.sys_version}"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _read_body(self) -> Any:  # noqa: ANN401
        wire = self.server.owner.WIRE
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            raise Reply(400, wire.error(BAD_REQUEST, "a request body needs a Content-Length"))
        length = int(length_text)
        if length > wire.max_body_bytes:
            raise Reply(413, wire.error(BAD_REQUEST, "request body too large"))
        try:
            return wire.loads(self.rfile.read(length))
        except ValueError as exc:  # the wire's own format error: a body that breaks the contract
            raise Reply(400, wire.error(BAD_REQUEST, str(exc))) from exc

    def _serve(self, method: str) -> None:
        owner = self.server.owner
        wire = owner.WIRE
        owner._enter()
        self.close_connection = True
        try:
            try:
                try:
                    status, body = owner._handle_request(method, self.path, self._read_body)
                except Reply as reply:
                    status, body = reply.status, reply.body
                payload = wire.dumps(body)
            except Drop:
                return  # no answer at all: the connection closes
            except Exception as exc:  # noqa: BLE001 - a bug in the wrapped gateway: say so, don't die
                status = 500
                payload = wire.dumps(wire.error(INTERNAL, f"{type(exc).__name__}: {exc}"))
            self._send(status, payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timed out) before the answer came
        finally:
            owner._leave()

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002, ANN401 - the base class's name
        pass  # the request log of the gateway behind it is the record


# --- a simulator as its own process ---------------------------------------------------------


def simulator_arguments(description: str) -> argparse.ArgumentParser:
    """The command line every simulator's server takes: ``--store`` and ``--port``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--store", required=True, help="the simulator's SQLite file (created if missing)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    return parser


def serve_until_signalled(server: LoopbackJsonServer[Any]) -> None:
    """Start ``server``, print where it listens, and serve until SIGINT or SIGTERM."""
    server.start()
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    print(f"listening on {server.base_url}", flush=True)
    try:
        done.wait()
    finally:
        server.stop()

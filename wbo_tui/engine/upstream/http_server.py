"""Serve any ``UpstreamGateway`` (in practice the simulator) over the HTTP contract, on
127.0.0.1 only.  Used by the HTTP gateway's tests and to run a simulated bank as its own
process::

    python -m wbo_tui.engine.upstream.http_server --store bank.sqlite [--port 8765]

Requests are handled on threads (``ThreadingHTTPServer``); the gateway's coroutines run on
one event loop in a thread of the server's own.  Each response closes its connection, so
stopping never waits on an idle keep-alive client.

For timeout tests, ``inject_delay`` holds the next request(s) to an endpoint: with
``execute=True`` the gateway acts and the answer is held back (lost on the way back);
with ``execute=False`` the request is held and then dropped without ever reaching the
gateway (lost on the way in).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import unquote

from ..clock import Clock, Seconds, SystemClock
from . import wire
from .gateway import (
    IDEMPOTENCY_KEY,
    IdempotencyConflict,
    UnknownAccounts,
    UpstreamError,
    UpstreamGateway,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .wire import ErrorCode, WireFormatError

Endpoint = Literal["balances", "submit", "status"]
ENDPOINTS: tuple[str, ...] = ("balances", "submit", "status")
LOOPBACK = "127.0.0.1"


@dataclass
class _Delay:
    delay_s: Seconds
    execute: bool
    remaining: int


class _Reply(Exception):
    """Ends a request with this status and body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class _Drop(Exception):
    """Ends a request without any answer (the connection is closed)."""


class UpstreamHttpServer:
    """The HTTP face of a gateway.  ``start()`` binds 127.0.0.1 (port 0: any free port);
    ``base_url`` is then where a client reaches it; ``stop()`` ends everything."""

    def __init__(self, gateway: UpstreamGateway, *, port: int = 0, clock: Clock | None = None) -> None:
        self.gateway = gateway
        self.clock: Clock = clock or getattr(gateway, "clock", None) or SystemClock()
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._delays: dict[str, list[_Delay]] = {e: [] for e in ENDPOINTS}
        self._received: dict[str, int] = {e: 0 for e in ENDPOINTS}
        self._active = 0
        self._idle = threading.Condition(self._lock)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> UpstreamHttpServer:
        if self._httpd is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        self._loop = asyncio.new_event_loop()
        loop_thread = threading.Thread(target=self._run_loop, name="upstream-http-loop", daemon=True)
        loop_thread.start()
        self._httpd = _Server((LOOPBACK, self._port), _Handler, self)
        serve_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="upstream-http", daemon=True
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
        """Stop accepting, cut injected delays short, cancel gateway calls in flight, and
        wait (up to ``timeout_s``) for the request threads and the loop to finish."""
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

    def __enter__(self) -> UpstreamHttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- injection and counting -------------------------------------------------------------

    def inject_delay(self, endpoint: Endpoint, delay_s: Seconds, *, execute: bool = True, count: int = 1) -> None:
        """Hold the next ``count`` requests to ``endpoint`` for ``delay_s`` (see module doc)."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}, got {endpoint!r}")
        if delay_s < 0 or count < 1:
            raise ValueError("delay_s must be >= 0 and count >= 1")
        with self._lock:
            self._delays[endpoint].append(_Delay(delay_s, execute, count))

    def clear_delays(self) -> None:
        with self._lock:
            for pending in self._delays.values():
                pending.clear()

    def received(self, endpoint: Endpoint | None = None) -> int:
        """Requests that arrived on the wire (before any injected drop), per endpoint."""
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

    def _call(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        """Run a gateway coroutine on the server's loop and wait for it."""
        assert self._loop is not None
        if self._stopping.is_set():
            raise _Drop()
        future = asyncio.run_coroutine_threadsafe(make(), self._loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError as exc:
            raise _Drop() from exc

    # --- endpoints ------------------------------------------------------------------------------

    def _handle_request(self, method: str, path: str, read_body: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
        """Route one request; returns ``(status, body)`` or raises ``_Drop``."""
        endpoint, key = _route(method, path)
        delay = self._arrive(endpoint)
        body = read_body() if method == "POST" else None
        if delay is not None and not delay.execute:
            self._stopping.wait(delay.delay_s)
            raise _Drop()
        try:
            answer = self._dispatch(endpoint, key, body)
        except _Reply as reply:
            answer = (reply.status, reply.body)
        if delay is not None:
            self._stopping.wait(delay.delay_s)
        return answer

    def _dispatch(self, endpoint: str, key: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        try:
            if endpoint == "balances":
                account_nos = wire.balances_query_from_wire(body)
                try:
                    balances = self._call(lambda: self.gateway.fetch_balances(account_nos))
                    unknown: list[str] = []
                except UnknownAccounts as exc:
                    balances, unknown = exc.balances, list(exc.account_nos)
                return 200, wire.balances_answer_to_wire(balances, unknown, self.clock.now())
            if endpoint == "submit":
                request = wire.transfer_request_from_wire(body)
                status = self._call(lambda: self.gateway.submit_transfer(request))
                return 200, wire.status_to_wire(status)
            assert key is not None
            status = self._call(lambda: self.gateway.transfer_status(key))
            return 200, wire.status_to_wire(status)
        except WireFormatError as exc:
            return 400, wire.error_to_wire(ErrorCode.BAD_REQUEST, str(exc))
        except IdempotencyConflict as exc:
            return 409, wire.error_to_wire(ErrorCode.IDEMPOTENCY_CONFLICT, str(exc))
        except UpstreamTimeout as exc:
            return 504, wire.error_to_wire(ErrorCode.UPSTREAM_TIMEOUT, str(exc))
        except UpstreamUnavailable as exc:
            return 503, wire.error_to_wire(ErrorCode.UNAVAILABLE, str(exc))
        except UpstreamError as exc:  # a protocol error of a gateway behind this one
            return 502, wire.error_to_wire(ErrorCode.BAD_GATEWAY, str(exc))
        except ValueError as exc:
            return 400, wire.error_to_wire(ErrorCode.BAD_REQUEST, str(exc))


def _route(method: str, path: str) -> tuple[str, str | None]:
    path = path.split("?", 1)[0]
    if path == wire.BALANCES_PATH:
        endpoint, key = "balances", None
        allowed = "POST"
    elif path == wire.TRANSFERS_PATH:
        endpoint, key = "submit", None
        allowed = "POST"
    elif path.startswith(wire.TRANSFERS_PATH + "/") and path.count("/") == 3:
        endpoint, key = "status", unquote(path.rsplit("/", 1)[1])
        allowed = "GET"
        if not IDEMPOTENCY_KEY.fullmatch(key):
            raise _Reply(400, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"not an idempotency key: {key!r}"))
    else:
        raise _Reply(404, wire.error_to_wire(ErrorCode.NO_SUCH_ENDPOINT, f"no endpoint {path}"))
    if method != allowed:
        raise _Reply(405, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"{path} takes {allowed}, not {method}"))
    return endpoint, key


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: UpstreamHttpServer) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "wbo-upstream-sim/1"
    timeout = 10  # an idle or trickling client cannot hold a thread for long

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _read_body(self) -> Any:
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            raise WireFormatError("a request body needs a Content-Length")
        length = int(length_text)
        if length > wire.MAX_BODY_BYTES:
            raise _Reply(413, wire.error_to_wire(ErrorCode.BAD_REQUEST, "request body too large"))
        return wire.loads(self.rfile.read(length))

    def _serve(self, method: str) -> None:
        owner = self.server.owner
        owner._enter()
        self.close_connection = True
        try:
            try:
                status, body = owner._handle_request(method, self.path, self._read_body)
            except _Reply as reply:
                status, body = reply.status, reply.body
            except WireFormatError as exc:
                status, body = 400, wire.error_to_wire(ErrorCode.BAD_REQUEST, str(exc))
            except _Drop:
                return  # no answer at all: the connection closes
            except Exception as exc:  # noqa: BLE001 - a bug in the wrapped gateway: say so, don't die
                status, body = 500, wire.error_to_wire(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}")
            self._send(status, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timed out) before the answer came
        finally:
            owner._leave()

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = wire.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the request log of the gateway behind it is the record


# --- a simulated bank as its own process ------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from .simulator import SimulatedUpstream

    parser = argparse.ArgumentParser(description="Serve a simulated settlement channel over HTTP on 127.0.0.1.")
    parser.add_argument("--store", required=True, help="the simulator's SQLite file (created if missing)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--settle-delay-s", type=float, default=None, help="settle transfers after this many seconds")
    args = parser.parse_args(argv)

    simulator = SimulatedUpstream(args.store, settle_delay_s=args.settle_delay_s)
    simulator.open()
    server = UpstreamHttpServer(simulator, port=args.port).start()
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    print(f"listening on {server.base_url}", flush=True)
    try:
        done.wait()
    finally:
        server.stop()
        simulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Serve any ``BankExchangeGateway`` (in practice the simulator) over the HTTP contract
in ``docs/bank-exchange-http-contract.md``, on 127.0.0.1 only.  Used by the HTTP
gateway's tests, as the reference of the contract, and to run a simulated bank as its
own process::

    python -m wbo_tui.engine.fx.bank.http_server --store fx-bank.sqlite [--port 8766]

Built as the settlement channels' server is (``upstream/http_server.py``): requests are
handled on threads (``ThreadingHTTPServer``), the gateway's coroutines run on one event
loop in a thread of the server's own, and each answer closes its connection so stopping
never waits on an idle keep-alive client.

For tests of lost answers, ``inject_delay`` holds the next request(s) to an endpoint:
with ``execute=True`` the gateway acts and the answer is held back (lost on the way
back); with ``execute=False`` the request is held and then dropped without reaching the
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

from ...clock import Seconds
from . import wire
from .gateway import (
    ORDER_ID,
    BankChannelError,
    BankChannelTimeout,
    BankChannelUnavailable,
    BankExchangeGateway,
    ChannelIdempotencyConflict,
    UnknownChannelOrder,
)
from .wire import ErrorCode, WireFormatError

Endpoint = Literal["submit", "query"]
ENDPOINTS: tuple[str, ...] = ("submit", "query")
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


class BankExchangeHttpServer:
    """The HTTP face of a bank exchange gateway.  ``start()`` binds 127.0.0.1 (port 0:
    any free port); ``base_url`` is then where a client reaches it; ``stop()`` ends it."""

    def __init__(self, gateway: BankExchangeGateway, *, port: int = 0) -> None:
        self.gateway = gateway
        self._port = port
        self._httpd: _Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self._delays: dict[str, list[_Delay]] = {e: [] for e in ENDPOINTS}
        self._received: dict[str, int] = {e: 0 for e in ENDPOINTS}

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> BankExchangeHttpServer:
        if self._httpd is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        self._loop = asyncio.new_event_loop()
        loop_thread = threading.Thread(target=self._run_loop, name="fx-bank-http-loop", daemon=True)
        loop_thread.start()
        self._httpd = _Server((LOOPBACK, self._port), _Handler, self)
        serve_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fx-bank-http", daemon=True
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

    def __enter__(self) -> BankExchangeHttpServer:
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
        endpoint, order_id = _route(method, path)
        delay = self._arrive(endpoint)
        body = read_body() if method == "POST" else None
        if delay is not None and not delay.execute:
            self._stopping.wait(delay.delay_s)
            raise _Drop()
        answer = self._dispatch(endpoint, order_id, body)
        if delay is not None:
            self._stopping.wait(delay.delay_s)
        return answer

    def _dispatch(self, endpoint: str, order_id: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        try:
            if endpoint == "submit":
                order = wire.order_from_wire(body)
                state = self._call(lambda: self.gateway.submit(order))
            else:
                assert order_id is not None
                state = self._call(lambda: self.gateway.query(order_id))
            return 200, wire.state_to_wire(state)
        except WireFormatError as exc:
            return 400, wire.error_to_wire(ErrorCode.BAD_REQUEST, str(exc))
        except UnknownChannelOrder as exc:
            return 404, wire.error_to_wire(ErrorCode.UNKNOWN_ORDER, str(exc))
        except ChannelIdempotencyConflict as exc:
            return 409, wire.error_to_wire(ErrorCode.IDEMPOTENCY_CONFLICT, str(exc))
        except BankChannelTimeout as exc:
            return 504, wire.error_to_wire(ErrorCode.CHANNEL_TIMEOUT, str(exc))
        except BankChannelUnavailable as exc:
            return 503, wire.error_to_wire(ErrorCode.UNAVAILABLE, str(exc))
        except BankChannelError as exc:  # a protocol error of a gateway behind this one
            return 502, wire.error_to_wire(ErrorCode.BAD_GATEWAY, str(exc))


def _route(method: str, path: str) -> tuple[str, str | None]:
    path = path.split("?", 1)[0]
    prefix = wire.EXCHANGE_ORDERS_PATH
    if path == prefix:
        endpoint, order_id, allowed = "submit", None, "POST"
    elif path.startswith(prefix + "/") and path.count("/") == 2:
        endpoint, order_id, allowed = "query", unquote(path.rsplit("/", 1)[1]), "GET"
        if not ORDER_ID.fullmatch(order_id):
            raise _Reply(400, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"not an order id: {order_id!r}"))
    else:
        raise _Reply(404, wire.error_to_wire(ErrorCode.NO_SUCH_ENDPOINT, f"no endpoint {path}"))
    if method != allowed:
        raise _Reply(405, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"{path} takes {allowed}, not {method}"))
    return endpoint, order_id


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: BankExchangeHttpServer
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "wbo-fx-bank-sim/1"
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
    from .simulator import SimulatedBankChannel

    parser = argparse.ArgumentParser(description="Serve a simulated bank exchange channel over HTTP on 127.0.0.1.")
    parser.add_argument("--store", required=True, help="the simulator's SQLite file (created if missing)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    args = parser.parse_args(argv)

    simulator = SimulatedBankChannel(args.store)
    simulator.open()
    server = BankExchangeHttpServer(simulator, port=args.port).start()
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    print(f"listening on {server.base_url}", flush=True)
    try:
        done.wait()
    finally:
        server.stop()
        simulator.close_store()
    return 0


if __name__ == "__main__":
    sys.exit(main())

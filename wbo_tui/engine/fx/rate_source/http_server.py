"""Serve any ``RateSourceGateway`` (in practice the simulator) over the HTTP contract in
``docs/rate-source-http-contract.md``, on 127.0.0.1 only.  Used by the HTTP gateway's
tests and to run a simulated rate source as its own process::

    python -m wbo_tui.engine.fx.rate_source.http_server --store rates.sqlite [--port 8766]

The same technology as the upstream server: requests are handled on threads
(``ThreadingHTTPServer``); the gateway's coroutines run on one event loop in a thread of
the server's own.  Each response closes its connection, so stopping never waits on an
idle keep-alive client.

A gateway that can hand over its raw answer (``RateDocumentSource``: the simulator) has
that document served as is, malformed or not, so that the HTTP client's own checks are
what refuses a broken answer; any other gateway's snapshot is written with the wire
module.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote

from ...clock import Seconds
from . import wire
from .gateway import (
    CHANNEL_NAME,
    RATE_TYPE,
    RateSourceError,
    RateSourceGateway,
    RateSourceTimeout,
    RateSourceUnavailable,
    UnknownRateChannel,
)
from .wire import ErrorCode

LOOPBACK = "127.0.0.1"


@runtime_checkable
class RateDocumentSource(Protocol):
    async def answer_document(self, channel_name: str, rate_type: str) -> dict[str, Any]:
        """The answer as it goes on the wire, unchecked."""
        ...


class _Drop(Exception):
    """Ends a request without any answer (the connection is closed)."""


class RateSourceHttpServer:
    """The HTTP face of a rate source.  ``start()`` binds 127.0.0.1 (port 0: any free
    port); ``base_url`` is then where a client reaches it; ``stop()`` ends everything."""

    def __init__(self, gateway: RateSourceGateway, *, port: int = 0) -> None:
        self.gateway = gateway
        self._port = port
        self._httpd: _Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0
        self._received = 0

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> RateSourceHttpServer:
        if self._httpd is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        self._loop = asyncio.new_event_loop()
        loop_thread = threading.Thread(target=self._run_loop, name="rate-source-http-loop", daemon=True)
        loop_thread.start()
        self._httpd = _Server((LOOPBACK, self._port), _Handler, self)
        serve_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="rate-source-http", daemon=True
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
        """Stop accepting, cancel gateway calls in flight (a simulated hang among them), and
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

    def __enter__(self) -> RateSourceHttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def received(self) -> int:
        """Requests that arrived on the wire."""
        with self._lock:
            return self._received

    def _enter(self) -> None:
        with self._lock:
            self._active += 1
            self._received += 1

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

    # --- the endpoint ---------------------------------------------------------------------

    def handle(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        """Route one request; returns ``(status, body)`` or raises ``_Drop``."""
        parts = path.split("?", 1)[0].split("/")
        if len(parts) != 4 or parts[0] != "" or "/" + parts[1] != wire.RATES_PREFIX:
            return 404, wire.error_to_wire(ErrorCode.NO_SUCH_ENDPOINT, f"no endpoint {path}")
        if method != "GET":
            return 405, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"{wire.RATES_PREFIX} takes GET, not {method}")
        channel_name, rate_type = unquote(parts[2]), unquote(parts[3])
        if not CHANNEL_NAME.fullmatch(channel_name) or not RATE_TYPE.fullmatch(rate_type):
            return 400, wire.error_to_wire(
                ErrorCode.BAD_REQUEST, f"not a channel name and rate type: {channel_name!r} {rate_type!r}"
            )
        try:
            return 200, self._answer(channel_name, rate_type)
        except UnknownRateChannel as exc:
            return 404, wire.error_to_wire(ErrorCode.UNKNOWN_RATE_CHANNEL, str(exc))
        except RateSourceTimeout as exc:
            return 504, wire.error_to_wire(ErrorCode.UPSTREAM_TIMEOUT, str(exc))
        except RateSourceUnavailable as exc:
            return 503, wire.error_to_wire(ErrorCode.UNAVAILABLE, str(exc))
        except RateSourceError as exc:  # a protocol error of a source behind this one
            return 502, wire.error_to_wire(ErrorCode.BAD_GATEWAY, str(exc))

    def _answer(self, channel_name: str, rate_type: str) -> dict[str, Any]:
        gateway = self.gateway
        if isinstance(gateway, RateDocumentSource):
            return self._call(lambda: gateway.answer_document(channel_name, rate_type))
        snapshot = self._call(lambda: gateway.fetch(channel_name, rate_type))
        return wire.snapshot_to_wire(snapshot)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: RateSourceHttpServer
    ) -> None:
        self.owner = owner
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "wbo-rate-source-sim/1"
    timeout = 10  # an idle or trickling client cannot hold a thread for long

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        owner = self.server.owner
        owner._enter()
        self.close_connection = True
        try:
            try:
                status, body = owner.handle(method, self.path)
                payload = wire.dumps(body)
            except _Drop:
                return  # no answer at all: the connection closes
            except Exception as exc:  # noqa: BLE001 - a bug in the wrapped gateway: say so, don't die
                status = 500
                payload = wire.dumps(wire.error_to_wire(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}"))
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

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # the request log of the source behind it is the record


# --- a simulated rate source as its own process -----------------------------------------


def main(argv: list[str] | None = None) -> int:
    from .simulator import SimulatedRateSource

    parser = argparse.ArgumentParser(description="Serve a simulated reference-rate source over HTTP on 127.0.0.1.")
    parser.add_argument("--store", required=True, help="the simulator's SQLite file (created if missing)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    args = parser.parse_args(argv)

    simulator = SimulatedRateSource(args.store)
    simulator.open()
    server = RateSourceHttpServer(simulator, port=args.port).start()
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

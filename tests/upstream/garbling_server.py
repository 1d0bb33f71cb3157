"""A settlement channel on 127.0.0.1 whose every answer is garbled: a ``200`` that says
``Content-Encoding: gzip`` over a body that is not gzip, or JSON nested deeper than any
parser recurses (JSON merely cut short was already a malformed answer).  For the tests that an HTTP channel's garbled answer is
UNKNOWN (or a protocol error for a read) and never stops a pass."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Garble = Literal["gzip", "nested"]

_BODIES: dict[str, bytes] = {
    # Plain JSON labelled gzip: the client's decoder fails (httpx.DecodingError).
    "gzip": b'{"idempotency_key": "K", "state": "SUCCEEDED"}',
    # Deeper than json's recursion limit: RecursionError, not a ValueError.
    "nested": b"[" * 200_000,
}


class GarblingServer:
    """Answers every request with ``garble``; counts the requests by endpoint
    (``balances``, ``submit``, ``status``).  Use as a context manager."""

    def __init__(self, garble: Garble = "gzip") -> None:
        self.garble = garble
        self._received: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="garbling-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def received(self, endpoint: str | None = None) -> int:
        with self._lock:
            return sum(self._received.values()) if endpoint is None else self._received[endpoint]

    def _count(self, method: str, path: str) -> None:
        endpoint = "balances" if "balances" in path else "submit" if method == "POST" else "status"
        with self._lock:
            self._received[endpoint] += 1

    def __enter__(self) -> GarblingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler(owner: GarblingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _garble(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            owner._count(method, self.path)
            body = _BODIES[owner.garble]
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if owner.garble == "gzip":
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._garble("GET")

        def do_POST(self) -> None:
            self._garble("POST")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler

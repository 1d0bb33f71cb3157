"""Serve any ``UpstreamGateway`` (in practice the simulator) over the HTTP contract, on
127.0.0.1 only.  Used by the HTTP gateway's tests and to run a simulated bank as its own
process::

    python -m wbo_tui.engine.upstream.http_server --store bank.sqlite [--port 8765]

The threads, the event loop, the injected delays (``inject_delay``) and the request counts
are every integration's (``integration.http_server``); this module holds the contract's
routes and how the gateway's answers and errors go on the wire.
"""

from __future__ import annotations

import sys
from typing import Any, Literal
from urllib.parse import unquote

from ..clock import Clock, SystemClock
from ..integration.http_server import JsonWire, LoopbackJsonServer, Reply, serve_until_signalled, simulator_arguments
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


class UpstreamHttpServer(LoopbackJsonServer[UpstreamGateway]):
    """The HTTP face of a gateway.  ``start()`` binds 127.0.0.1 (port 0: any free port);
    ``base_url`` is then where a client reaches it; ``stop()`` ends everything."""

    ENDPOINTS = ENDPOINTS
    WIRE = JsonWire(wire.loads, wire.dumps, wire.error_to_wire, wire.MAX_BODY_BYTES)
    NAME = "upstream"
    ERROR_ANSWERS = (
        (WireFormatError, 400, ErrorCode.BAD_REQUEST),
        (IdempotencyConflict, 409, ErrorCode.IDEMPOTENCY_CONFLICT),
        (UpstreamTimeout, 504, ErrorCode.UPSTREAM_TIMEOUT),
        (UpstreamUnavailable, 503, ErrorCode.UNAVAILABLE),
        (UpstreamError, 502, ErrorCode.BAD_GATEWAY),  # a protocol error of a gateway behind this one
        (ValueError, 400, ErrorCode.BAD_REQUEST),
    )

    def __init__(self, gateway: UpstreamGateway, *, port: int = 0, clock: Clock | None = None) -> None:
        super().__init__(gateway, port=port)
        self.clock: Clock = clock or getattr(gateway, "clock", None) or SystemClock()

    def route(self, method: str, path: str) -> tuple[str, str | None]:
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
                raise Reply(400, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"not an idempotency key: {key!r}"))
        else:
            raise Reply(404, wire.error_to_wire(ErrorCode.NO_SUCH_ENDPOINT, f"no endpoint {path}"))
        if method != allowed:
            raise Reply(405, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"{path} takes {allowed}, not {method}"))
        return endpoint, key

    def dispatch(self, endpoint: str, key: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        if endpoint == "balances":
            account_nos = wire.balances_query_from_wire(body)
            try:
                balances = self.call(lambda: self.gateway.fetch_balances(account_nos))
                unknown: list[str] = []
            except UnknownAccounts as exc:
                balances, unknown = exc.balances, list(exc.account_nos)
            return 200, wire.balances_answer_to_wire(balances, unknown, self.clock.now())
        if endpoint == "submit":
            request = wire.transfer_request_from_wire(body)
            status = self.call(lambda: self.gateway.submit_transfer(request))
            return 200, wire.status_to_wire(status)
        assert key is not None
        status = self.call(lambda: self.gateway.transfer_status(key))
        return 200, wire.status_to_wire(status)


# --- a simulated bank as its own process ------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from .simulator import SimulatedUpstream

    parser = simulator_arguments("Serve a simulated settlement channel over HTTP on 127.0.0.1.")
    parser.add_argument("--settle-delay-s", type=float, default=None, help="settle transfers after this many seconds")
    args = parser.parse_args(argv)

    simulator = SimulatedUpstream(args.store, settle_delay_s=args.settle_delay_s)
    simulator.open()
    try:
        serve_until_signalled(UpstreamHttpServer(simulator, port=args.port))
    finally:
        simulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

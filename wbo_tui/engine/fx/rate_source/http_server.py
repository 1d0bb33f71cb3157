"""Serve any ``RateSourceGateway`` (in practice the simulator) over the HTTP contract in
``docs/rate-source-http-contract.md``, on 127.0.0.1 only.  Used by the HTTP gateway's
tests and to run a simulated rate source as its own process::

    python -m wbo_tui.engine.fx.rate_source.http_server --store rates.sqlite [--port 8766]

The threads, the event loop, the injected delays and the request counts are every
integration's (``integration.http_server``); this module holds the contract's one route
and how the source's answers and errors go on the wire.

A gateway that can hand over its raw answer (``RateDocumentSource``: the simulator) has
that document served as is, malformed or not, so that the HTTP client's own checks are
what refuses a broken answer; any other gateway's snapshot is written with the wire
module.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote

from ...integration.http_server import (
    JsonWire,
    LoopbackJsonServer,
    Reply,
    serve_until_signalled,
    simulator_arguments,
)
from ...upstream.wire import MAX_BODY_BYTES
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


@runtime_checkable
class RateDocumentSource(Protocol):
    async def answer_document(self, channel_name: str, rate_type: str) -> dict[str, Any]:
        """The answer as it goes on the wire, unchecked."""
        ...


class RateSourceHttpServer(LoopbackJsonServer[RateSourceGateway]):
    """The HTTP face of a rate source.  ``start()`` binds 127.0.0.1 (port 0: any free
    port); ``base_url`` is then where a client reaches it; ``stop()`` ends everything."""

    ENDPOINTS = ("rates",)
    # The contract takes no request body (one GET); the reader is there for the base's sake.
    WIRE = JsonWire(wire.loads, wire.dumps, wire.error_to_wire, MAX_BODY_BYTES)
    NAME = "rate-source"
    ERROR_ANSWERS = (
        (UnknownRateChannel, 404, ErrorCode.UNKNOWN_RATE_CHANNEL),
        (RateSourceTimeout, 504, ErrorCode.UPSTREAM_TIMEOUT),
        (RateSourceUnavailable, 503, ErrorCode.UNAVAILABLE),
        (RateSourceError, 502, ErrorCode.BAD_GATEWAY),  # a protocol error of a source behind this one
    )

    def route(self, method: str, path: str) -> tuple[str, tuple[str, str]]:
        parts = path.split("?", 1)[0].split("/")
        if len(parts) != 4 or parts[0] != "" or "/" + parts[1] != wire.RATES_PREFIX:
            raise Reply(404, wire.error_to_wire(ErrorCode.NO_SUCH_ENDPOINT, f"no endpoint {path}"))
        if method != "GET":
            raise Reply(405, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"{wire.RATES_PREFIX} takes GET, not {method}"))
        channel_name, rate_type = unquote(parts[2]), unquote(parts[3])
        if not CHANNEL_NAME.fullmatch(channel_name) or not RATE_TYPE.fullmatch(rate_type):
            raise Reply(400, wire.error_to_wire(
                ErrorCode.BAD_REQUEST, f"not a channel name and rate type: {channel_name!r} {rate_type!r}"
            ))
        return "rates", (channel_name, rate_type)

    def dispatch(self, endpoint: str, target: tuple[str, str], body: Any) -> tuple[int, dict[str, Any]]:
        channel_name, rate_type = target
        gateway = self.gateway
        if isinstance(gateway, RateDocumentSource):
            return 200, self.call(lambda: gateway.answer_document(channel_name, rate_type))
        snapshot = self.call(lambda: gateway.fetch(channel_name, rate_type))
        return 200, wire.snapshot_to_wire(snapshot)


# --- a simulated rate source as its own process -----------------------------------------


def main(argv: list[str] | None = None) -> int:
    from .simulator import SimulatedRateSource

    args = simulator_arguments("Serve a simulated reference-rate source over HTTP on 127.0.0.1.").parse_args(argv)
    simulator = SimulatedRateSource(args.store)
    simulator.open()
    try:
        serve_until_signalled(RateSourceHttpServer(simulator, port=args.port))
    finally:
        simulator.close_store()
    return 0


if __name__ == "__main__":
    sys.exit(main())

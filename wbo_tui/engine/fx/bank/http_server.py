"""Serve any ``BankExchangeGateway`` (in practice the simulator) over the HTTP contract
in ``docs/bank-exchange-http-contract.md``, on 127.0.0.1 only.  Used by the HTTP
gateway's tests, as the reference of the contract, and to run a simulated bank as its
own process::

    python -m wbo_tui.engine.fx.bank.http_server --store fx-bank.sqlite [--port 8766]

The threads, the event loop, the injected delays (``inject_delay``: an answer lost on
the way back, or a request lost on the way in) and the request counts are every
integration's (``integration.http_server``); this module holds the contract's routes and
how the gateway's answers and errors go on the wire.
"""

from __future__ import annotations

import sys
from typing import Any, Literal
from urllib.parse import unquote

from ...integration.http_server import (
    JsonWire,
    LoopbackJsonServer,
    Reply,
    serve_until_signalled,
    simulator_arguments,
)
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


class BankExchangeHttpServer(LoopbackJsonServer[BankExchangeGateway]):
    """The HTTP face of a bank exchange gateway.  ``start()`` binds 127.0.0.1 (port 0:
    any free port); ``base_url`` is then where a client reaches it; ``stop()`` ends it."""

    ENDPOINTS = ENDPOINTS
    WIRE = JsonWire(wire.loads, wire.dumps, wire.error_to_wire, wire.MAX_BODY_BYTES)
    NAME = "fx-bank"
    ERROR_ANSWERS = (
        (WireFormatError, 400, ErrorCode.BAD_REQUEST),
        (UnknownChannelOrder, 404, ErrorCode.UNKNOWN_ORDER),
        (ChannelIdempotencyConflict, 409, ErrorCode.IDEMPOTENCY_CONFLICT),
        (BankChannelTimeout, 504, ErrorCode.CHANNEL_TIMEOUT),
        (BankChannelUnavailable, 503, ErrorCode.UNAVAILABLE),
        (BankChannelError, 502, ErrorCode.BAD_GATEWAY),  # a protocol error of a gateway behind this one
    )

    def route(self, method: str, path: str) -> tuple[str, str | None]:
        path = path.split("?", 1)[0]
        prefix = wire.EXCHANGE_ORDERS_PATH
        if path == prefix:
            endpoint, order_id, allowed = "submit", None, "POST"
        elif path.startswith(prefix + "/") and path.count("/") == 2:
            endpoint, order_id, allowed = "query", unquote(path.rsplit("/", 1)[1]), "GET"
            if not ORDER_ID.fullmatch(order_id):
                raise Reply(400, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"not an order id: {order_id!r}"))
        else:
            raise Reply(404, wire.error_to_wire(ErrorCode.NO_SUCH_ENDPOINT, f"no endpoint {path}"))
        if method != allowed:
            raise Reply(405, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"{path} takes {allowed}, not {method}"))
        return endpoint, order_id

    def dispatch(self, endpoint: str, order_id: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        if endpoint == "submit":
            order = wire.order_from_wire(body)
            state = self.call(lambda: self.gateway.submit(order))
        else:
            assert order_id is not None
            state = self.call(lambda: self.gateway.query(order_id))
        return 200, wire.state_to_wire(state)


# --- a simulated bank as its own process ------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from .simulator import SimulatedBankChannel

    args = simulator_arguments("Serve a simulated bank exchange channel over HTTP on 127.0.0.1.").parse_args(argv)
    simulator = SimulatedBankChannel(args.store)
    simulator.open()
    try:
        serve_until_signalled(BankExchangeHttpServer(simulator, port=args.port))
    finally:
        simulator.close_store()
    return 0


if __name__ == "__main__":
    sys.exit(main())

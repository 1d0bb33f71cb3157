"""Serve any ``PriceGateway`` (in practice the simulator) over the HTTP contract described
in ``wire``, on 127.0.0.1 only.  Used by the HTTP gateway's tests and to run a simulated
market as its own process::

    python -m wbo_tui.engine.margin.prices.http_server --config market.json [--port 8767]

where ``market.json`` is a simulator's configuration (``registry``)::

    {"kind": "simulator", "seed": 7, "anchors": {"700.HK": "368.20", "5.HK": "62.50"}}

The threads, the event loop, the injected delays and the request counts are every
integration's (``integration.http_server``); this module holds the contract's one route
and how the feed's answers and errors go on the wire.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ...integration.http_server import JsonWire, LoopbackJsonServer, Reply, serve_until_signalled
from ...upstream.wire import MAX_BODY_BYTES
from . import wire
from .gateway import INSTRUMENT_CODE, PriceFeedError, PriceFeedTimeout, PriceFeedUnavailable, PriceGateway
from .wire import MAX_CODES_PER_REQUEST, ErrorCode


class PriceFeedHttpServer(LoopbackJsonServer[PriceGateway]):
    """The HTTP face of a price feed.  ``start()`` binds 127.0.0.1 (port 0: any free
    port); ``base_url`` is then where a client reaches it; ``stop()`` ends everything."""

    ENDPOINTS = ("quotes",)
    # The contract takes no request body (one GET); the reader is there for the base's sake.
    WIRE = JsonWire(wire.loads, wire.dumps, wire.error_to_wire, MAX_BODY_BYTES)
    NAME = "price-feed"
    ERROR_ANSWERS = (
        (PriceFeedTimeout, 504, ErrorCode.UPSTREAM_TIMEOUT),
        (PriceFeedUnavailable, 503, ErrorCode.UNAVAILABLE),
        (PriceFeedError, 502, ErrorCode.BAD_GATEWAY),  # a protocol error of a feed behind this one
    )

    def route(self, method: str, path: str) -> tuple[str, list[str]]:
        parts = urlsplit(path)
        if parts.path != wire.QUOTES_PATH:
            raise Reply(404, wire.error_to_wire(ErrorCode.NO_SUCH_ENDPOINT, f"no endpoint {parts.path}"))
        if method != "GET":
            raise Reply(405, wire.error_to_wire(ErrorCode.BAD_REQUEST, f"{wire.QUOTES_PATH} takes GET, not {method}"))
        return "quotes", _codes(parts.query)

    def dispatch(self, endpoint: str, target: list[str], body: Any) -> tuple[int, dict[str, Any]]:  # noqa: ANN401
        gateway = self.gateway
        quotes = self.call(lambda: gateway.quotes(target))
        return 200, wire.quotes_to_wire(quotes.values())


def _codes(query: str) -> list[str]:
    """The codes of a request's query, or a 400 saying what is wrong with it."""

    def refuse(message: str) -> Reply:
        return Reply(400, wire.error_to_wire(ErrorCode.BAD_REQUEST, message))

    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=True, max_num_fields=10)
    except ValueError as exc:
        raise refuse(f"not a query of this contract: {exc}") from exc
    if set(params) != {"codes"} or len(params["codes"]) != 1:
        raise refuse("the query takes one parameter, codes, once")
    codes = params["codes"][0].split(",")
    if len(codes) > MAX_CODES_PER_REQUEST:
        raise refuse(f"at most {MAX_CODES_PER_REQUEST} codes per request, got {len(codes)}")
    bad = next((code for code in codes if not INSTRUMENT_CODE.fullmatch(code)), None)
    if bad is not None:
        raise refuse(f"not an instrument code: {bad!r}")
    return list(dict.fromkeys(codes))


# --- a simulated market as its own process ----------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from .registry import build_price_gateway, check_price_gateway_config

    parser = argparse.ArgumentParser(description="Serve a simulated market's quotes over HTTP on 127.0.0.1.")
    parser.add_argument("--config", required=True, help="a JSON file: the simulator's configuration")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    args = parser.parse_args(argv)
    try:
        with open(args.config, encoding="utf-8") as file:
            config = check_price_gateway_config(json.load(file))
    except (OSError, ValueError) as exc:  # a config error is a ValueError too
        parser.error(f"{args.config}: {exc}")
    if config["kind"] != "simulator":
        parser.error(f"{args.config}: kind must be simulator for a server of its own")
    serve_until_signalled(PriceFeedHttpServer(build_price_gateway(config), port=args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The HTTP gateway: a bank exchange channel reached over the JSON contract in
``docs/bank-exchange-http-contract.md``.

The client never retries and never guesses.  Every failure is mapped to one of the
gateway's errors, and for a submit the mapping keeps one distinction that matters for
money: ``BankChannelUnavailable`` only when the order certainly was not taken (the
connection was never made, or the bank answered 503), ``BankChannelTimeout`` whenever
the request may have reached the bank and the answer was lost (no answer in time, the
connection dropped after sending, 504, or another 5xx after which the bank may have
acted).  The caller settles those with ``query``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from ...clock import Seconds
from . import wire
from .gateway import (
    BankChannelTimeout,
    BankChannelUnavailable,
    BankProtocolError,
    ChannelIdempotencyConflict,
    ChannelOrderState,
    ExchangeOrder,
    UnknownChannelOrder,
    check_order_id,
)
from .wire import ErrorCode, WireFormatError

# Failures before any byte of the request left: the bank certainly did not act.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_T = TypeVar("_T")


class HttpBankChannel:
    """A ``BankExchangeGateway`` over HTTP.

    ``timeout_s`` bounds each phase of every request (connecting, sending, waiting for
    and reading the answer).  The connection pool is created on first use in the running
    event loop; call ``close()`` when done.
    """

    def __init__(
        self, base_url: str, *, timeout_s: Seconds = 5.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be positive")
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=httpx.Timeout(self.timeout_s),
                transport=self._transport,
                headers={"Accept": "application/json"},
                follow_redirects=False,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> HttpBankChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- submit -------------------------------------------------------------------------------

    async def submit(self, order: ExchangeOrder) -> ChannelOrderState:
        if not isinstance(order, ExchangeOrder):
            raise TypeError(f"submit takes an ExchangeOrder, got {type(order).__name__}")
        order_id = order.order_id
        # Encoded before the try: an order that cannot be encoded was certainly not sent.
        content = wire.dumps(wire.order_to_wire(order))
        try:
            response = await self._http().post(
                wire.EXCHANGE_ORDERS_PATH, content=content, headers={"Content-Type": "application/json"}
            )
        except _NOT_SENT as exc:
            raise BankChannelUnavailable(
                f"The bank exchange channel is unreachable ({_describe(exc)}); order {order_id} was not sent."
            ) from exc
        except httpx.TimeoutException as exc:
            raise BankChannelTimeout(
                f"No answer for order {order_id} within {self.timeout_s:g} s; query the order before anything else."
            ) from exc
        except httpx.TransportError as exc:
            raise BankChannelTimeout(
                f"The connection dropped after order {order_id} was sent ({_describe(exc)}); query the order."
            ) from exc
        except Exception as exc:  # noqa: BLE001 - e.g. httpx.DecodingError: the order went, its answer is garbled
            raise BankProtocolError(
                f"Unreadable answer for order {order_id} ({_describe(exc)}); query the order."
            ) from exc
        if response.status_code == 200:
            return self._state(order_id, response, after_submit=True)
        code, message = _error_of(response)
        status_code = response.status_code
        if status_code == 409 and code == ErrorCode.IDEMPOTENCY_CONFLICT:
            raise ChannelIdempotencyConflict(order_id, message)
        if status_code == 503:
            raise BankChannelUnavailable(
                f"The bank exchange channel is unavailable; order {order_id} was not taken: {message}"
            )
        if status_code >= 500:
            # 504, and any other server failure: the bank may have booked the order before
            # the answer was lost, so this is settled by a query like a timeout.
            raise BankChannelTimeout(
                f"The bank exchange channel failed to answer order {order_id} (HTTP {status_code} {code}): "
                f"{message}; query the order."
            )
        raise BankProtocolError(
            f"The bank exchange channel refused order {order_id} (HTTP {status_code} {code}): {message}"
        )

    # --- query --------------------------------------------------------------------------------

    async def query(self, order_id: str) -> ChannelOrderState:
        check_order_id(order_id)
        try:
            response = await self._http().get(f"{wire.EXCHANGE_ORDERS_PATH}/{quote(order_id, safe='')}")
        except httpx.TimeoutException as exc:
            raise BankChannelTimeout(
                f"No answer to the query for order {order_id} within {self.timeout_s:g} s."
            ) from exc
        except httpx.TransportError as exc:
            raise BankChannelUnavailable(f"The bank exchange channel is unreachable: {_describe(exc)}.") from exc
        except Exception as exc:  # noqa: BLE001 - an answer came, but garbled
            raise BankProtocolError(f"Unreadable answer to the query for order {order_id}: {_describe(exc)}.") from exc
        if response.status_code == 200:
            return self._state(order_id, response, after_submit=False)
        code, message = _error_of(response)
        status_code = response.status_code
        # Only the bank's own "no such order" means it never got it; a bare 404 could come
        # from a proxy or a wrong base URL, and reading it as "never received" could lead
        # to converting twice.
        if status_code == 404 and code == ErrorCode.UNKNOWN_ORDER:
            raise UnknownChannelOrder(order_id)
        if status_code == 504 or code == ErrorCode.CHANNEL_TIMEOUT:
            raise BankChannelTimeout(
                f"The bank exchange channel timed out on the query for order {order_id}: {message}"
            )
        if status_code >= 500:
            raise BankChannelUnavailable(f"The bank exchange channel is unavailable (HTTP {status_code}): {message}")
        raise BankProtocolError(
            f"The bank exchange channel refused the query for order {order_id} (HTTP {status_code} {code}): {message}"
        )

    # --- answers ------------------------------------------------------------------------------

    @staticmethod
    def _state(order_id: str, response: httpx.Response, *, after_submit: bool) -> ChannelOrderState:
        then = "; query the order" if after_submit else ""
        state = _parsed(
            f"state of order {order_id}", lambda body: wire.state_from_wire(wire.loads(body)), response.content, then
        )
        if state.order_id != order_id:
            raise BankProtocolError(
                f"The bank exchange channel answered for order {state.order_id} when asked about {order_id}{then}."
            )
        return state


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _parsed(what: str, parse: Callable[[Any], _T], body: Any, hint: str = "") -> _T:
    """``parse(body)``; whatever it raises (a broken contract, or a shape the parser did
    not foresee) becomes ``BankProtocolError``."""
    try:
        return parse(body)
    except WireFormatError as exc:
        raise BankProtocolError(f"The bank exchange channel sent a malformed {what} ({exc}){hint}.") from exc
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on absurdly nested JSON
        raise BankProtocolError(
            f"The bank exchange channel sent an unreadable {what} ({_describe(exc)}){hint}."
        ) from exc


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The error body's code and message, or stand-ins when the body is not one."""
    try:
        return wire.error_from_wire(wire.loads(response.content))
    except Exception:  # noqa: BLE001 - not a contract error body, whatever is wrong with it
        snippet = response.content[:200].decode("utf-8", "replace")
        return "", f"HTTP {response.status_code} without a contract error body: {snippet!r}"

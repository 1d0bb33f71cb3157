"""The HTTP gateway: a bank exchange channel reached over the JSON contract in
``docs/bank-exchange-http-contract.md``.

The client never retries and never guesses.  Every failure is mapped to one of the
gateway's errors, and for a submit the mapping keeps one distinction that matters for
money: ``BankChannelUnavailable`` only when the order certainly was not taken (the
connection was never made, or the bank answered 503), ``BankChannelTimeout`` whenever
the request may have reached the bank and the answer was lost (no answer in time, the
connection dropped after sending, 504, or another 5xx after which the bank may have
acted).  The caller settles those with ``query``.  The client and the sorting of failures
are every integration's (``integration.http_client``); this module says what each means
for a bank exchange channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from ...integration.http_client import JsonHttpClient, RequestFailure, describe, error_of
from . import wire
from .gateway import (
    BankChannelError,
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

_T = TypeVar("_T")


class HttpBankChannel(JsonHttpClient):
    """A ``BankExchangeGateway`` over HTTP.

    ``timeout_s`` bounds each phase of every request (connecting, sending, waiting for
    and reading the answer).  The connection pool is created on first use in the running
    event loop; call ``close()`` when done.
    """

    async def close(self) -> None:
        """The gateway interface's name for ``aclose``."""
        await self.aclose()

    # --- submit -------------------------------------------------------------------------------

    async def submit(self, order: ExchangeOrder) -> ChannelOrderState:
        if not isinstance(order, ExchangeOrder):
            raise TypeError(f"submit takes an ExchangeOrder, got {type(order).__name__}")
        order_id = order.order_id
        # Encoded before sending: an order that cannot be encoded was certainly not sent.
        content = wire.dumps(wire.order_to_wire(order))
        response = await self._request(
            "POST", wire.EXCHANGE_ORDERS_PATH, content, failed=lambda failure: self._submit_failed(order_id, failure)
        )
        if response.status_code == 200:
            return self._state(order_id, response, after_submit=True)
        code, message = error_of(response, wire.loads, wire.error_from_wire)
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
        path = f"{wire.EXCHANGE_ORDERS_PATH}/{quote(order_id, safe='')}"
        response = await self._request("GET", path, failed=lambda failure: self._query_failed(order_id, failure))
        if response.status_code == 200:
            return self._state(order_id, response, after_submit=False)
        code, message = error_of(response, wire.loads, wire.error_from_wire)
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

    # --- no answer -----------------------------------------------------------------------------

    def _submit_failed(self, order_id: str, failure: RequestFailure) -> BankChannelError:
        if failure.not_sent:
            return BankChannelUnavailable(
                f"The bank exchange channel is unreachable ({failure.detail}); order {order_id} was not sent."
            )
        if failure.kind == "timeout":
            return BankChannelTimeout(
                f"No answer for order {order_id} within {self.timeout_s:g} s; query the order before anything else."
            )
        if failure.kind == "dropped":
            return BankChannelTimeout(
                f"The connection dropped after order {order_id} was sent ({failure.detail}); query the order."
            )
        return BankProtocolError(f"Unreadable answer for order {order_id} ({failure.detail}); query the order.")

    def _query_failed(self, order_id: str, failure: RequestFailure) -> BankChannelError:
        if failure.kind == "timeout":
            return BankChannelTimeout(f"No answer to the query for order {order_id} within {self.timeout_s:g} s.")
        if failure.kind == "dropped":
            return BankChannelUnavailable(f"The bank exchange channel is unreachable: {failure.detail}.")
        return BankProtocolError(f"Unreadable answer to the query for order {order_id}: {failure.detail}.")

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


def _parsed(what: str, parse: Callable[[Any], _T], body: Any, hint: str = "") -> _T:
    """``parse(body)``; whatever it raises (a broken contract, or a shape the parser did
    not foresee) becomes ``BankProtocolError``."""
    try:
        return parse(body)
    except WireFormatError as exc:
        raise BankProtocolError(f"The bank exchange channel sent a malformed {what} ({exc}){hint}.") from exc
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on absurdly nested JSON
        raise BankProtocolError(
            f"The bank exchange channel sent an unreadable {what} ({describe(exc)}){hint}."
        ) from exc

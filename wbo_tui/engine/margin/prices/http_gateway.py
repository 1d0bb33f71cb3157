"""The HTTP gateway: a price feed reached over the JSON contract described in ``wire``.

A request for more than ``MAX_CODES_PER_REQUEST`` codes goes out as several requests, one
after another: a price pass asks every few seconds at most, and one connection at a time
never floods the feed.  Each request is bounded by ``timeout_s``; a batch of n requests
by n times that.  The first request that fails fails the batch (a half-valued book is
not an answer: the price pass keeps the prices it has, which age).

Asking for quotes changes nothing at the feed, but the client still never retries on
its own: the price pass decides when to ask again, and a retry here would hide from it
that the feed is struggling.

Every failure of the transport or of decoding the answer is mapped, not only the ones
foreseen: no answer in time is ``PriceFeedTimeout``; a refused or dropped connection or a
5xx answer is ``PriceFeedUnavailable``; a body that is not what its ``Content-Encoding``
says, JSON cut short, a wrong shape, or anything else unreadable is
``PriceProtocolError``.  Nothing else escapes (cancellation does: it is not an
``Exception``).  The client and the sorting of failures are every integration's
(``integration.http_client``); this module says what each means for a price feed.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from ...clock import Seconds
from ...integration.http_client import JsonHttpClient, RequestFailure, describe, error_of
from . import wire
from .gateway import (
    PriceFeedError,
    PriceFeedTimeout,
    PriceFeedUnavailable,
    PriceProtocolError,
    Quote,
    check_codes,
)
from .wire import MAX_CODES_PER_REQUEST, ErrorCode


class HttpPriceGateway(JsonHttpClient):
    """A ``PriceGateway`` over HTTP.

    ``timeout_s`` (seconds, not money) bounds each phase of every request.
    ``max_codes_per_request`` is at most the contract's ``MAX_CODES_PER_REQUEST``; a
    smaller one suits a feed behind a proxy that limits URL length.  The connection pool
    is created on first use in the running event loop; call ``close()`` when done.
    ``transport`` is for tests (``httpx.MockTransport``).
    """

    def __init__(
        self,
        base_url: str,
        timeout_s: Seconds = 5.0,
        *,
        max_codes_per_request: int = MAX_CODES_PER_REQUEST,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, timeout_s=timeout_s, transport=transport)
        if (isinstance(max_codes_per_request, bool) or not isinstance(max_codes_per_request, int)
                or not 1 <= max_codes_per_request <= MAX_CODES_PER_REQUEST):
            raise ValueError(
                f"max_codes_per_request must be from 1 to {MAX_CODES_PER_REQUEST}, got {max_codes_per_request!r}"
            )
        self.max_codes_per_request = max_codes_per_request

    async def close(self) -> None:
        """The gateway interface's name for ``aclose``."""
        await self.aclose()

    async def quotes(self, codes: Sequence[str]) -> dict[str, Quote]:
        wanted = check_codes(codes)
        result: dict[str, Quote] = {}
        size = self.max_codes_per_request
        for first in range(0, len(wanted), size):
            result.update(await self._ask(wanted[first:first + size]))
        return result

    async def _ask(self, codes: list[str]) -> dict[str, Quote]:
        response = await self._request("GET", wire.quotes_path(codes), failed=self._failed)
        if response.status_code == 200:
            return _quotes(response.content, codes)
        raise _error(response)

    def _failed(self, failure: RequestFailure) -> PriceFeedError:
        if failure.kind == "timeout":
            return PriceFeedTimeout(f"The price feed did not answer within {self.timeout_s:g} s.")
        if failure.kind == "dropped":
            return PriceFeedUnavailable(f"The price feed is unreachable: {failure.detail}.")
        return PriceProtocolError(f"The price feed sent an unreadable answer: {failure.detail}.")


def _quotes(content: bytes, codes: list[str]) -> dict[str, Quote]:
    """The checked quotes of a 200 body; whatever is wrong with it (a broken contract, or
    a shape the parser did not foresee) becomes ``PriceProtocolError``."""
    try:
        return wire.quotes_from_wire(wire.loads(content), codes)
    except wire.PriceWireError as exc:
        raise PriceProtocolError(f"The price feed sent a malformed answer: {exc}.", exc.field) from exc
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on absurdly nested JSON
        raise PriceProtocolError(f"The price feed sent an unreadable answer: {describe(exc)}.") from exc


def _error(response: httpx.Response) -> PriceFeedError:
    code, message = error_of(response, wire.loads, wire.error_from_wire)
    status = response.status_code
    if status == 504 or code == ErrorCode.UPSTREAM_TIMEOUT:
        return PriceFeedTimeout(f"The price feed timed out: {message}")
    if status >= 500:
        return PriceFeedUnavailable(f"The price feed is unavailable (HTTP {status}): {message}")
    # A 4xx, a bare 404 from a proxy or a wrong base URL among them: the request or the
    # address is wrong, which no retry mends; the operator reads where to look.
    return PriceProtocolError(f"The price feed refused the request (HTTP {status}): {message}")

"""The HTTP gateway: a reference-rate source reached over the JSON contract in
``docs/rate-source-http-contract.md``.

Fetching rates changes nothing at the source, but the client still never retries on its
own: the refresh job decides when to ask again, and a retry here would hide from it that
the source is struggling.

Every failure of the transport or of decoding the answer is mapped, not only the ones
foreseen: no answer in time is ``RateSourceTimeout``; a refused or dropped connection or
a 5xx answer is ``RateSourceUnavailable``; a body that is not what its
``Content-Encoding`` says, JSON cut short, a wrong shape, or anything else unreadable is
``RateSourceProtocolError``.  Nothing else escapes (cancellation does: it is not an
``Exception``).  The client and the sorting of failures are every integration's
(``integration.http_client``); this module says what each means for a rate source.
"""

from __future__ import annotations

import httpx

from ...integration.http_client import JsonHttpClient, RequestFailure, describe, error_of
from . import wire
from .gateway import (
    CHANNEL_NAME,
    RATE_TYPE,
    RateSnapshot,
    RateSourceError,
    RateSourceProtocolError,
    RateSourceTimeout,
    RateSourceUnavailable,
    UnknownRateChannel,
    check_code,
)
from .wire import ErrorCode


class HttpRateSource(JsonHttpClient):
    """A ``RateSourceGateway`` over HTTP.

    ``timeout_s`` bounds each phase of every request (connecting, sending, waiting for
    and reading the answer).  The connection pool is created on first use in the running
    event loop; call ``close()`` when done.
    """

    async def close(self) -> None:
        """The gateway interface's name for ``aclose``."""
        await self.aclose()

    async def fetch(self, channel_name: str, rate_type: str) -> RateSnapshot:
        check_code(channel_name, CHANNEL_NAME, "channel_name")
        check_code(rate_type, RATE_TYPE, "rate_type")
        what = f"{channel_name} {rate_type}"
        response = await self._request(
            "GET", wire.rates_path(channel_name, rate_type), failed=lambda failure: self._failed(what, failure)
        )
        if response.status_code == 200:
            snapshot = _snapshot(response.content)
            if (snapshot.channel_name, snapshot.rate_type) != (channel_name, rate_type):
                raise RateSourceProtocolError(
                    f"Asked for {what}, the rate source answered {snapshot.channel_name} {snapshot.rate_type}.",
                    "channel_name",
                )
            return snapshot
        raise _error(response, channel_name, rate_type)

    def _failed(self, what: str, failure: RequestFailure) -> RateSourceError:
        if failure.kind == "timeout":
            return RateSourceTimeout(f"The rate source did not answer for {what} within {self.timeout_s:g} s.")
        if failure.kind == "dropped":
            return RateSourceUnavailable(f"The rate source is unreachable: {failure.detail}.")
        return RateSourceProtocolError(f"The rate source sent an unreadable answer: {failure.detail}.")


def _snapshot(content: bytes) -> RateSnapshot:
    """The checked snapshot of a 200 body; whatever is wrong with it (a broken contract,
    or a shape the parser did not foresee) becomes ``RateSourceProtocolError``."""
    try:
        return wire.snapshot_from_wire(wire.loads(content))
    except wire.RateWireError as exc:
        raise RateSourceProtocolError(f"The rate source sent a malformed answer: {exc}.", exc.field) from exc
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on absurdly nested JSON
        raise RateSourceProtocolError(f"The rate source sent an unreadable answer: {describe(exc)}.") from exc


def _error(response: httpx.Response, channel_name: str, rate_type: str) -> Exception:
    code, message = error_of(response, wire.loads, wire.error_from_wire)
    status = response.status_code
    # Only a 404 that says so in the contract's words is an unknown channel: a bare 404
    # from a proxy or a wrong base URL would otherwise read as "no such channel" for every
    # channel, and the operator would look in the wrong place.
    if status == 404 and code == ErrorCode.UNKNOWN_RATE_CHANNEL:
        return UnknownRateChannel(channel_name, rate_type)
    if status == 504 or code == ErrorCode.UPSTREAM_TIMEOUT:
        return RateSourceTimeout(f"The rate source timed out: {message}")
    if status >= 500:
        return RateSourceUnavailable(f"The rate source is unavailable (HTTP {status}): {message}")
    return RateSourceProtocolError(f"The rate source refused the request (HTTP {status}): {message}")

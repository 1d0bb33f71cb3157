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
``Exception``).
"""

from __future__ import annotations

from typing import Any

import httpx

from ...clock import Seconds
from . import wire
from .gateway import (
    CHANNEL_NAME,
    RATE_TYPE,
    RateSnapshot,
    RateSourceProtocolError,
    RateSourceTimeout,
    RateSourceUnavailable,
    UnknownRateChannel,
    check_code,
)
from .wire import ErrorCode


class HttpRateSource:
    """A ``RateSourceGateway`` over HTTP.

    ``timeout_s`` bounds each phase of every request (connecting, sending, waiting for
    and reading the answer).  The connection pool is created on first use in the running
    event loop; call ``close()`` when done.
    """

    def __init__(
        self, base_url: str, *, timeout_s: Seconds = 5.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        if timeout_s <= 0:
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

    async def __aenter__(self) -> HttpRateSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def fetch(self, channel_name: str, rate_type: str) -> RateSnapshot:
        check_code(channel_name, CHANNEL_NAME, "channel_name")
        check_code(rate_type, RATE_TYPE, "rate_type")
        what = f"{channel_name} {rate_type}"
        try:
            response = await self._http().get(wire.rates_path(channel_name, rate_type))
        except httpx.TimeoutException as exc:
            raise RateSourceTimeout(f"The rate source did not answer for {what} within {self.timeout_s:g} s.") from exc
        except httpx.TransportError as exc:
            raise RateSourceUnavailable(f"The rate source is unreachable: {_describe(exc)}.") from exc
        except Exception as exc:  # noqa: BLE001 - e.g. httpx.DecodingError: an answer, but garbled
            raise RateSourceProtocolError(f"The rate source sent an unreadable answer: {_describe(exc)}.") from exc
        if response.status_code == 200:
            snapshot = _snapshot(response.content)
            if (snapshot.channel_name, snapshot.rate_type) != (channel_name, rate_type):
                raise RateSourceProtocolError(
                    f"Asked for {what}, the rate source answered {snapshot.channel_name} {snapshot.rate_type}.",
                    "channel_name",
                )
            return snapshot
        raise _error(response, channel_name, rate_type)


def _snapshot(content: bytes) -> RateSnapshot:
    """The checked snapshot of a 200 body; whatever is wrong with it (a broken contract,
    or a shape the parser did not foresee) becomes ``RateSourceProtocolError``."""
    try:
        return wire.snapshot_from_wire(wire.loads(content))
    except wire.RateWireError as exc:
        raise RateSourceProtocolError(f"The rate source sent a malformed answer: {exc}.", exc.field) from exc
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on absurdly nested JSON
        raise RateSourceProtocolError(f"The rate source sent an unreadable answer: {_describe(exc)}.") from exc


def _error(response: httpx.Response, channel_name: str, rate_type: str) -> Exception:
    code, message = _error_of(response)
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


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """The error body's code and message, or stand-ins when the body is not one."""
    try:
        body: Any = wire.loads(response.content)
        return wire.error_from_wire(body)
    except Exception:  # noqa: BLE001 - not a contract error body, whatever is wrong with it
        snippet = response.content[:200].decode("utf-8", "replace")
        return "", f"HTTP {response.status_code} without a contract error body: {snippet!r}"


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

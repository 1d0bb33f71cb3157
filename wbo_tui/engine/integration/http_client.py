"""The client side of an integration's HTTP JSON contract: an httpx client made on first
use, and every failure of a request sorted by what it says about the far side.

The clients never retry and never guess.  What a failed request means depends on when it
failed, and for a write that is the difference between "not made" and "ask again before
anything else", so ``RequestFailure`` says it once for every integration:

- ``not_sent``: it failed before any byte left (no connection, no free connection in the
  pool, a URL the client cannot speak to), so the far side certainly did not act;
- ``kind`` "timeout": no answer in time; "dropped": the connection failed (after
  sending, unless ``not_sent``); "garbled": something came back that cannot be read (a
  body that is not what its ``Content-Encoding`` says, or anything else unforeseen).

Every exception is mapped, not only the ones foreseen; cancellation is not an
``Exception`` and goes through.  An integration's client subclasses ``JsonHttpClient``
and turns a ``RequestFailure`` into its own errors (``_request(…, failed=…)``); what an
answer's status and error body mean stays the integration's own, read with ``error_of``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Self

import httpx

from ..clock import Seconds

# Failures before any byte of the request left: the far side certainly did not act.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
_JSON = {"Content-Type": "application/json"}


def describe(exc: BaseException) -> str:
    """An exception as a message names it: its type, and its text when it has one."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(frozen=True, slots=True)
class RequestFailure:
    """A request that got no answer to read (see the module docstring)."""

    not_sent: bool
    kind: Literal["timeout", "dropped", "garbled"]
    detail: str  # the exception, described for a message

    @classmethod
    def of(cls, exc: Exception) -> RequestFailure:
        if isinstance(exc, httpx.TimeoutException):
            kind: Literal["timeout", "dropped", "garbled"] = "timeout"
        elif isinstance(exc, httpx.TransportError):
            kind = "dropped"
        else:  # e.g. httpx.DecodingError: an answer, but garbled
            kind = "garbled"
        return cls(isinstance(exc, NOT_SENT), kind, describe(exc))


class RequestFailed(Exception):
    """Raised by ``_request`` without ``failed``: for a caller that answers a failure
    rather than raising one (a submit whose answer is lost becomes UNKNOWN)."""

    def __init__(self, failure: RequestFailure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


def error_of(
    response: httpx.Response, loads: Callable[[bytes], Any], error_from_wire: Callable[[Any], tuple[str, str]]
) -> tuple[str, str]:
    """The error body's code and message, or stand-ins when the body is not one."""
    try:
        return error_from_wire(loads(response.content))
    except Exception:  # noqa: BLE001 - not a contract error body, whatever is wrong with it
        snippet = response.content[:200].decode("utf-8", "replace")
        return "", f"HTTP {response.status_code} without a contract error body: {snippet!r}"


class JsonHttpClient:
    """The httpx side of a contract's client.

    ``timeout_s`` bounds each phase of every request (connecting, sending, waiting for
    and reading the answer).  The connection pool is created on first use in the running
    event loop; ``aclose()`` (or leaving ``async with``) ends it.  ``transport`` is for
    tests (``httpx.MockTransport``).
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

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        content: bytes | None = None,
        *,
        failed: Callable[[RequestFailure], Exception] | None = None,
    ) -> httpx.Response:
        """The answer to one request, whatever its status.  A request that got none raises
        ``failed(failure)`` (chained from httpx's exception), or ``RequestFailed``.
        Encode ``content`` before calling: a body that cannot be encoded was not sent."""
        try:
            return await self._http().request(
                method, path, content=content, headers=_JSON if content is not None else None
            )
        except Exception as exc:  # noqa: BLE001 - every failure is mapped, not only the ones foreseen
            failure = RequestFailure.of(exc)
            raise (RequestFailed(failure) if failed is None else failed(failure)) from exc

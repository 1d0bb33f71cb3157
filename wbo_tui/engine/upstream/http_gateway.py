"""The HTTP gateway: a settlement channel reached over the JSON contract in
``docs/upstream-http-contract.md``.

The client never retries and never guesses.  A submit whose answer is lost (timeout,
connection dropped after sending, an answer that breaks the contract) comes back as
``UNKNOWN``; the caller resolves it with ``transfer_status``.

Every failure of the transport or of decoding the answer is mapped, not only the ones
foreseen: a body that is not what its ``Content-Encoding`` says (``httpx.DecodingError``),
JSON cut short, a wrong shape, or anything else raised while asking.  A submit then
returns ``UNKNOWN``; a read raises an ``UpstreamError``.  Nothing else escapes to the
caller's pass (cancellation does: it is not an ``Exception``).  The client and the sorting
of failures are every integration's (``integration.http_client``); this module says what
each means for a settlement channel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx

from ..clock import Clock, Seconds, SystemClock
from ..integration.http_client import JsonHttpClient, RequestFailed, RequestFailure, describe, error_of
from . import wire
from .gateway import (
    IDEMPOTENCY_KEY,
    IdempotencyConflict,
    ReasonCode,
    TransferRequest,
    TransferState,
    TransferStatus,
    UnknownAccounts,
    UpstreamBalance,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .wire import ErrorCode, WireFormatError

_T = TypeVar("_T")


class HttpGateway(JsonHttpClient):
    """An ``UpstreamGateway`` over HTTP.

    ``timeout_s`` bounds each phase of every request (connecting, sending, waiting for
    and reading the answer).  The underlying connection pool is created on first use
    in the running event loop; call ``aclose()`` when done.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: Seconds = 5.0,
        clock: Clock | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, timeout_s=timeout_s, transport=transport)
        self.clock: Clock = clock or SystemClock()

    # --- reads ------------------------------------------------------------------------------

    async def _read(self, method: str, path: str, body: Any = None) -> Any:
        """A read-only call: no answer raises, a contract answer is returned parsed."""
        content = wire.dumps(body) if body is not None else None
        response = await self._request(method, path, content, failed=self._read_failed)
        if response.status_code == 200:
            return _parsed("answer", wire.loads, response.content)
        code, message = error_of(response, wire.loads, wire.error_from_wire)
        status_code = response.status_code
        if code == ErrorCode.UPSTREAM_TIMEOUT or status_code == 504:
            raise UpstreamTimeout(f"The settlement channel timed out: {message}")
        if status_code >= 500:
            raise UpstreamUnavailable(f"The settlement channel is unavailable (HTTP {status_code}): {message}")
        raise UpstreamProtocolError(f"The settlement channel refused the request (HTTP {status_code}): {message}")

    def _read_failed(self, failure: RequestFailure) -> UpstreamError:
        if failure.kind == "timeout":
            return UpstreamTimeout(f"The settlement channel did not answer within {self.timeout_s:g} s.")
        if failure.kind == "dropped":
            return UpstreamUnavailable(f"The settlement channel is unreachable: {failure.detail}.")
        return UpstreamProtocolError(f"The settlement channel sent an unreadable answer: {failure.detail}.")

    async def fetch_balances(self, account_nos: Sequence[str]) -> list[UpstreamBalance]:
        if isinstance(account_nos, str):
            raise TypeError("fetch_balances takes a sequence of account numbers, not one string")
        wanted = sorted(set(account_nos))
        body = await self._read("POST", wire.BALANCES_PATH, wire.balances_query_to_wire(wanted))
        balances, unknown = _parsed("balance answer", wire.balances_answer_from_wire, body)
        strays = {b.account_no for b in balances} - set(wanted)
        if strays:
            raise UpstreamProtocolError(f"The settlement channel answered for accounts not asked for: {sorted(strays)}.")
        balances.sort(key=lambda b: (b.account_no, b.currency))
        if unknown:
            raise UnknownAccounts(sorted(unknown), balances)
        return balances

    async def transfer_status(self, idempotency_key: str) -> TransferStatus:
        if not isinstance(idempotency_key, str) or not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
            raise ValueError(f"not an idempotency key: {idempotency_key!r}")
        body = await self._read("GET", f"{wire.TRANSFERS_PATH}/{quote(idempotency_key, safe='')}")
        status = _parsed("status", wire.status_from_wire, body)
        if status.idempotency_key != idempotency_key or status.state is TransferState.UNKNOWN:
            raise UpstreamProtocolError(
                f"The settlement channel answered a status query for {idempotency_key} with "
                f"{status.state} for {status.idempotency_key}."
            )
        return status

    # --- the one write ---------------------------------------------------------------------

    async def submit_transfer(self, request: TransferRequest) -> TransferStatus:
        key = request.idempotency_key
        # Encoded before sending: a request that cannot be encoded was certainly not sent.
        content = wire.dumps(wire.transfer_request_to_wire(request))
        try:
            response = await self._request("POST", wire.TRANSFERS_PATH, content)
        except RequestFailed as lost:
            failure = lost.failure
            if failure.not_sent:
                raise UpstreamUnavailable(
                    f"The settlement channel is unreachable ({failure.detail}); transfer {key} was not sent."
                ) from lost.__cause__
            return self._lost(key, failure)
        try:
            return self._submit_answer(key, response)
        except (IdempotencyConflict, UpstreamUnavailable, UpstreamProtocolError):
            raise  # the answers that say for certain nothing was executed
        except Exception as exc:  # noqa: BLE001 - an answer this client cannot read is a lost answer
            return self._unknown(key, ReasonCode.BAD_RESPONSE, f"Malformed answer ({describe(exc)}); query the status.")

    def _submit_answer(self, key: str, response: httpx.Response) -> TransferStatus:
        status_code = response.status_code
        if status_code in (200, 201):
            try:
                status = wire.status_from_wire(wire.loads(response.content))
            except WireFormatError as exc:
                return self._unknown(key, ReasonCode.BAD_RESPONSE, f"Malformed answer ({exc}); query the status.")
            if status.idempotency_key != key or status.state is TransferState.NOT_FOUND:
                return self._unknown(
                    key, ReasonCode.BAD_RESPONSE, f"Answer for {status.idempotency_key} {status.state}; query the status."
                )
            return status
        code, message = error_of(response, wire.loads, wire.error_from_wire)
        # Only these answers say for certain that nothing was executed.
        if status_code == 409 and code == ErrorCode.IDEMPOTENCY_CONFLICT:
            raise IdempotencyConflict(key, message)
        if status_code == 503 and code == ErrorCode.UNAVAILABLE:
            raise UpstreamUnavailable(f"The settlement channel is unavailable; transfer {key} was not made: {message}")
        if status_code == 400 and code == ErrorCode.BAD_REQUEST:
            raise UpstreamProtocolError(f"The settlement channel refused transfer {key} as malformed: {message}")
        return self._unknown(
            key, ReasonCode.BAD_RESPONSE, f"Unexpected answer HTTP {status_code} {code}: {message}; query the status."
        )

    def _lost(self, key: str, failure: RequestFailure) -> TransferStatus:
        """A submit whose answer was lost: UNKNOWN, settled by asking (``transfer_status``)."""
        if failure.kind == "timeout":
            reason = f"No answer within {self.timeout_s:g} s; query the transfer's status."
            return self._unknown(key, ReasonCode.TIMEOUT, reason)
        if failure.kind == "dropped":
            reason = f"The connection dropped ({failure.detail}); query the transfer's status."
            return self._unknown(key, ReasonCode.CONNECTION_LOST, reason)
        reason = f"Unreadable answer ({failure.detail}); query the transfer's status."
        return self._unknown(key, ReasonCode.BAD_RESPONSE, reason)

    def _unknown(self, key: str, code: ReasonCode, reason: str) -> TransferStatus:
        return TransferStatus(key, TransferState.UNKNOWN, reason, None, self._now(), code)

    def _now(self) -> datetime:
        return self.clock.now()


def _parsed(what: str, parse: Callable[[Any], _T], body: Any) -> _T:
    """``parse(body)``; whatever it raises (a broken contract, or a shape the parser did not
    foresee) becomes ``UpstreamProtocolError``."""
    try:
        return parse(body)
    except WireFormatError as exc:
        raise UpstreamProtocolError(f"The settlement channel sent a malformed {what}: {exc}.") from exc
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on absurdly nested JSON
        raise UpstreamProtocolError(f"The settlement channel sent an unreadable {what}: {describe(exc)}.") from exc

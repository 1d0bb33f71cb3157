"""The wire format on its own: strict parsing, exact amounts, round trips."""

from __future__ import annotations

from datetime import timedelta, timezone
from decimal import Decimal

import pytest
from upstream_support import START

from wbo_tui.engine.upstream import ReasonCode, TransferRequest, TransferState, TransferStatus, UpstreamBalance, wire
from wbo_tui.engine.upstream.wire import WireFormatError


@pytest.mark.parametrize("text", ['{"a": 1}', '{"a": 1.5}', '{"a": NaN}', '{"a": Infinity}', '{"a": "1", "a": "2"}', "[1,"])
def test_strict_json_refuses(text: str) -> None:
    with pytest.raises(WireFormatError):
        wire.loads(text)


@pytest.mark.parametrize("text", ["1e3", "1,000", "+1", ".5", "1.", " 1", "1\n", "0x10", "", "١٢"])
def test_amounts_must_be_plain_decimal_text(text: str) -> None:
    with pytest.raises(WireFormatError):
        wire.amount_from_wire(text, "amount")


def test_amounts_round_trip_exactly() -> None:
    for amount in ["0", "-3.2", "1234.50", "0.000000000000000001", "123456789012345678901234567890.12"]:
        value = wire.amount_from_wire(amount, "amount")
        assert isinstance(value, Decimal)
        assert wire.amount_to_wire(value) == amount
    # An exponent-form Decimal still goes out in plain notation.
    assert wire.amount_to_wire(Decimal("1E+3")) == "1000"
    assert wire.amount_to_wire(Decimal("1E-8")) == "0.00000001"
    with pytest.raises(TypeError):
        wire.amount_to_wire(1.5)  # type: ignore[arg-type]


def test_times_are_utc_and_must_carry_an_offset() -> None:
    hong_kong = timezone(timedelta(hours=8))
    assert wire.time_from_wire("2026-11-20T17:30:00+08:00", "t") == START
    assert wire.time_to_wire(START.astimezone(hong_kong)) == "2026-11-20T09:30:00.000000Z"
    with pytest.raises(WireFormatError):
        wire.time_from_wire("2026-11-20T09:30:00", "t")


def test_balance_transfer_and_status_round_trip() -> None:
    balance = UpstreamBalance.of("HK-1", "HKD", Decimal("10.50"), Decimal("0.25"), START)
    request = TransferRequest("K-1", "HK-1", "HK-2", "USDT", Decimal("99.000001"))
    status = TransferStatus("K-1", TransferState.FAILED, "No.", "REF-1", START, ReasonCode.REJECTED)

    assert wire.loads(wire.dumps(wire.balance_to_wire(balance))) == wire.balance_to_wire(balance)
    assert wire.balance_from_wire(wire.loads(wire.dumps(wire.balance_to_wire(balance)))) == balance
    assert wire.transfer_request_from_wire(wire.loads(wire.dumps(wire.transfer_request_to_wire(request)))) == request
    assert wire.status_from_wire(wire.loads(wire.dumps(wire.status_to_wire(status)))) == status


def test_transfer_body_refusals_name_the_field() -> None:
    good = {"idempotency_key": "K-1", "from_account": "A", "to_account": "B", "currency": "HKD", "amount": "1"}
    with pytest.raises(WireFormatError, match="lacks amount"):
        wire.transfer_request_from_wire({k: v for k, v in good.items() if k != "amount"})
    with pytest.raises(WireFormatError, match="unknown field"):
        wire.transfer_request_from_wire({**good, "memo": "x"})
    with pytest.raises(WireFormatError, match="positive"):
        wire.transfer_request_from_wire({**good, "amount": "-1"})
    with pytest.raises(WireFormatError, match="state"):
        wire.status_from_wire({"idempotency_key": "K", "state": "DONE", "updated_at": "2026-11-20T09:30:00Z"})


def test_amounts_go_out_as_strings() -> None:
    body = wire.dumps(wire.transfer_request_to_wire(TransferRequest("K", "A", "B", "HKD", Decimal("0.1"))))
    assert b'"amount":"0.1"' in body


def test_keys_with_a_trailing_newline_are_refused() -> None:
    with pytest.raises(ValueError):
        TransferRequest("K-1\n", "A", "B", "HKD", Decimal("1"))

"""Review findings: one "reason is required" rule with each form's own wording, and
position precisions read with the rows (a currency added later shows its own)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engine_support import execute_raw
from positions_support import CHANNEL, open_desk

from wbo_tui.engine import Engine, RejectItem, ValidationFailed, build
from wbo_tui.engine.admin import RequestPermission
from wbo_tui.engine.permissions import BY_CODE
from wbo_tui.engine.positions import CreateChannelAccount, ListPositions, MarkWithdrawalFailed


@pytest.mark.parametrize(("command", "fields", "message"), [
    (RejectItem, {"approval_id": 1}, "Reason is required when rejecting."),
    (RequestPermission, {"permission_code": next(iter(BY_CODE))},
     "Reason is required: say why you need the permission."),
    (MarkWithdrawalFailed, {"withdrawal_ref": "WD-1", "part": "fee"},
     "Reason is required: say what the channel reported."),
])
@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_reason_is_refused_in_each_forms_words(command: Any, fields: dict, message: str,  # noqa: ANN401
                                                       blank: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        build(command, **fields, reason=blank)
    assert (caught.value.field, str(caught.value)) == ("Reason", message)
    assert build(command, **fields, reason="  the channel said no ").reason == "the channel said no"


async def test_positions_show_the_precision_of_a_currency_added_after_start(engine: Engine, tmp_path: Path) -> None:
    desk = await open_desk(engine, tmp_path / "bank.sqlite")
    try:
        before = await engine.query(desk.maker, ListPositions(currency="HKD"))
        assert {p.amount_precision for p in before.rows} == {2}
        await execute_raw(engine, "INSERT INTO currencies (code, name, kind, amount_precision, rounding, "
                          "exchange_enabled) VALUES ('XTS', 'Test units', 'fiat', 3, 'ROUND_HALF_UP', false)")
        await engine.execute(desk.maker, CreateChannelAccount(
            channel=CHANNEL, currency_type="fiat", currency="XTS", account_no="HK-XTS-1", scenario="trading"))
        await desk.bank.set_balance("HK-XTS-1", "XTS", Decimal("12.345"))
        await engine.poll_positions(slot="test:xts", holder="tests")
        page = await engine.query(desk.maker, ListPositions(currency="XTS"))
        assert [(p.account_no, p.available, p.amount_precision) for p in page.rows] == [
            ("HK-XTS-1", Decimal("12.345"), 3)]
    finally:
        desk.bank.close()

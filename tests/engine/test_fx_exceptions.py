"""Exception exchange records: a failed or unknown channel order is handled (mark
successful at the rate applied, mark failed, re-exchange), the handling reviewed by a
second person, one by one or in batch, and money moves exactly once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from engine_support import login, new_operator, scalar
from test_fx_bank_execution import DESK, bank, desk, submit, usd_hkd

from wbo_tui.engine import Engine, FixedClock, MakerCheckerViolation
from wbo_tui.engine.errors import Conflict, NotFound, ValidationFailed
from wbo_tui.engine.fx import (
    ApplyExceptionHandling,
    ListExceptionRecords,
    ReviewExceptionHandling,
)
from wbo_tui.engine.fx.exchanges import GetClientExchange

HANDLER = (*DESK, "fx.exchange_exception_operation")
CHECKER = ("fx.customer_exchange_approval", "fx.customer_exchange_inquiry")


async def failed_exchanges(engine: Engine, clock: FixedClock, tmp_path: Path, count: int):  # noqa: ANN201
    who = await desk(engine, clock, tmp_path)
    channel = bank(tmp_path)
    try:
        await channel.fail_next(count, "beneficiary bank rejected")
        sent = [await submit(engine, who, "1000") for _ in range(count)]
        await engine.after_commit_idle()
    finally:
        await channel.close()
    admin = await login(engine, "admin")
    handler = await new_operator(engine, admin, "fxhandler", HANDLER)
    checker = await new_operator(engine, admin, "fxexcheck", CHECKER)
    return who, handler, checker, sent


async def order_of(engine: Engine, forex_id: str) -> str:
    return await scalar(engine, "SELECT order_no FROM fx_channel_orders WHERE forex_id = :f ORDER BY id DESC",
                        f=forex_id)


async def test_mark_successful_settles_at_the_applied_rate_once(engine: Engine, clock: FixedClock,
                                                                tmp_path: Path) -> None:
    who, handler, checker, (sent,) = await failed_exchanges(engine, clock, tmp_path, 1)
    records = await engine.query(handler, ListExceptionRecords())
    assert [(r.forex_id, r.channel_status, r.origin_text) for r in records] == [
        (sent.forex_id, "FAILED", "beneficiary bank rejected")]
    order_no = records[0].order_no
    with pytest.raises(ValidationFailed, match="Apply channel rate is required to mark it successful"):
        await engine.execute(handler, ApplyExceptionHandling(order_no=order_no, apply_type="SUCCESS_APPLY",
                                                             apply_remark="bank confirmed by phone"))
    with pytest.raises(ValidationFailed, match="Apply remark is required for every handling"):
        await engine.execute(handler, ApplyExceptionHandling(order_no=order_no, apply_type="FAILURE_APPLY",
                                                             apply_remark=" "))
    await engine.execute(handler, ApplyExceptionHandling(order_no=order_no, apply_type="SUCCESS_APPLY",
                                                         apply_channel_rate="7.8110",
                                                         apply_remark="bank confirmed by phone"))
    with pytest.raises(Conflict, match="already has a handling awaiting review"):
        await engine.execute(handler, ApplyExceptionHandling(order_no=order_no, apply_type="FAILURE_APPLY",
                                                             apply_remark="changed my mind"))
    result = await engine.execute(checker, ReviewExceptionHandling(order_nos=(order_no,),
                                                                   review_type="REVIEW_APPROVED"))
    assert result.approved == (order_no,)
    done = await engine.query(who, GetClientExchange(exchange_id=sent.id))
    # 1,000 × 7.8110 = 7,811.00 from the bank; the executed-rate markup (0.1 % under 10,000):
    # 7.8110 × (1 − 0.1 %) = 7.8031 (cut); the client gets 7,803.10.
    assert (done.forex_status, done.rate, done.to_amount) == ("SUCCEEDED", Decimal("7.8031"), Decimal("7803.10"))
    assert (await usd_hkd(engine, who, done.client.id))["USD"] == (Decimal("11000.00"), Decimal("11000.00"))
    with pytest.raises(Conflict, match="has no handling awaiting review"):
        await engine.execute(checker, ReviewExceptionHandling(order_nos=(order_no,), review_type="REVIEW_APPROVED"))
    assert await engine.query(handler, ListExceptionRecords()) == ()
    assert await scalar(engine, "SELECT count(*) FROM fx_profit_loss WHERE forex_id = :f", f=sent.forex_id) == 1


async def test_the_applicant_never_reviews_and_a_batch_decides_together(engine: Engine, clock: FixedClock,
                                                                        tmp_path: Path) -> None:
    who, handler, checker, sent = await failed_exchanges(engine, clock, tmp_path, 2)
    admin = await login(engine, "admin")
    both = await new_operator(engine, admin, "fxboth", (*HANDLER, *CHECKER))
    orders = [await order_of(engine, s.forex_id) for s in sent]
    for order_no in orders:
        await engine.execute(both, ApplyExceptionHandling(order_no=order_no, apply_type="FAILURE_APPLY",
                                                          apply_remark="funds never left"))
    with pytest.raises(MakerCheckerViolation, match="another checker must review it"):
        await engine.execute(both, ReviewExceptionHandling(order_nos=tuple(orders), review_type="REVIEW_APPROVED"))
    with pytest.raises(ValidationFailed, match="Review remark is required when rejecting"):
        await engine.execute(checker, ReviewExceptionHandling(order_nos=tuple(orders), review_type="REVIEW_REJECTED"))
    result = await engine.execute(checker, ReviewExceptionHandling(order_nos=tuple(orders),
                                                                   review_type="REVIEW_APPROVED"))
    assert result.approved == tuple(orders)
    for s in sent:
        assert (await engine.query(who, GetClientExchange(exchange_id=s.id))).forex_status == "FAILED"
    # Both holds released, nothing paid.
    assert (await usd_hkd(engine, who, sent[0].client.id))["USD"] == (Decimal("12000.00"), Decimal("12000.00"))


async def test_re_exchange_sends_a_new_order_on_another_channel(engine: Engine, clock: FixedClock,
                                                               tmp_path: Path) -> None:
    who, handler, checker, (sent,) = await failed_exchanges(engine, clock, tmp_path, 1)
    first = await order_of(engine, sent.forex_id)
    with pytest.raises(ValidationFailed, match="Apply channel name must be one of"):
        await engine.execute(handler, ApplyExceptionHandling(order_no=first, apply_type="RETRY_APPLY",
                                                             apply_channel_name="NOPE", apply_remark="retry"))
    await engine.execute(handler, ApplyExceptionHandling(order_no=first, apply_type="RETRY_APPLY",
                                                         apply_channel_name="icbcasia", apply_remark="retry on ICBC"))
    await engine.execute(checker, ReviewExceptionHandling(order_nos=(first,), review_type="REVIEW_APPROVED"))
    await engine.after_commit_idle()
    done = await engine.query(who, GetClientExchange(exchange_id=sent.id))
    second = await order_of(engine, sent.forex_id)
    assert second != first and done.channel_name == "ICBCASIA"
    # ICBC fills at 7.8125; no executed-rate markup is set for ICBC: 1,000 × 7.8125.
    assert (done.forex_status, done.to_amount) == ("SUCCEEDED", Decimal("7812.50"))
    with pytest.raises(NotFound):
        await engine.execute(handler, ApplyExceptionHandling(order_no=first, apply_type="FAILURE_APPLY",
                                                             apply_remark="too late"))

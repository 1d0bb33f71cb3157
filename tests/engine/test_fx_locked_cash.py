"""A client's cash moved several times in one unit through one ``ledger.LockedCash`` (the
client's row locked once, each balance read once): what it says and what it writes agree
with the ledger read afresh, and a hold still settles exactly once."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engine_support import login, new_operator, scalar

from wbo_tui.engine import Engine
from wbo_tui.engine.errors import Conflict, NotFound, ValidationFailed
from wbo_tui.engine.fx import ImportClients, ListClients, ledger
from wbo_tui.engine.uow import Actor, write_unit

CLIENTS = ("fx.client_inquiry", "fx.client_operation")
IMPORT = """account_no,name,account_type,currency,opening_balance
C-30001,Lee Ka Yan,cash,HKD,"1,000.00"
C-30001,Lee Ka Yan,cash,USD,200.00
"""


async def _client(engine: Engine) -> int:
    admin = await login(engine, "admin")
    desk = await new_operator(engine, admin, "fxcash", CLIENTS)
    await engine.execute(desk, ImportClients(csv_text=IMPORT))
    return (await engine.query(desk, ListClients(search="C-30001")))[0].id


async def test_one_locked_cash_holds_posts_and_credits_as_the_ledger_reads_afresh(engine: Engine) -> None:
    client_id = await _client(engine)
    system = Actor.system("test")
    async with write_unit(engine.db, system, engine.services) as uow:
        cash = await ledger.open_cash(uow, client_id)
        assert cash.account_no == "C-30001"
        await cash.hold("USD", Decimal("150.00"), purpose="exchange", ref="FX-A")
        assert await cash.withdrawable("USD") == Decimal("50.00")
        with pytest.raises(ValidationFailed, match="withdrawable USD balance of 50.00"):
            await cash.hold("USD", Decimal("50.01"), purpose="exchange", ref="FX-B")
        assert await cash.post_hold("exchange", "FX-A", kind="exchange_out") == Decimal("150.00")
        assert await cash.post("HKD", Decimal("1170.00"), kind="exchange_in", ref="FX-A") == Decimal("2170.00")
        with pytest.raises(ValidationFailed, match="exceeds the client's withdrawable USD"):
            await cash.post("USD", Decimal("-50.01"), kind="withdrawal", ref="W-1")
        with pytest.raises(Conflict, match="already posted"):
            await cash.void_hold("exchange", "FX-A")
        with pytest.raises(NotFound, match="No hold for exchange FX-Z"):
            await cash.post_hold("exchange", "FX-Z", kind="exchange_out")
        # What the object kept agrees with the ledger read afresh in the same unit.
        for currency in ("USD", "HKD"):
            assert await cash.balance(currency) == await ledger.balance(uow, client_id, currency)
            assert await cash.held(currency) == await ledger.held(uow, client_id, currency)
        assert (await cash.balance("USD"), await cash.held("USD")) == (Decimal("50.00"), Decimal("0"))
    assert await scalar(engine, "SELECT status FROM client_cash_holds WHERE ref = 'FX-A'") == "POSTED"
    assert await scalar(engine, "SELECT count(*) FROM client_cash_holds WHERE ref = 'FX-B'") == 0
    assert await scalar(engine, "SELECT balance_after FROM client_cash_movements WHERE client_id = :c AND "
                                "currency = 'USD' ORDER BY id DESC LIMIT 1", c=client_id) in ("50.00", Decimal("50.00"))


async def test_a_locked_cash_of_a_client_that_does_not_exist_is_refused(engine: Engine) -> None:
    async with write_unit(engine.db, Actor.system("test"), engine.services) as uow:
        with pytest.raises(NotFound, match="Client 999999 does not exist"):
            await ledger.open_cash(uow, 999999)

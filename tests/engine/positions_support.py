"""A settlement channel on the built-in simulated upstream, with accounts, for the
position-management tests."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from engine_support import login

from wbo_tui.engine import Engine, SessionInfo
from wbo_tui.engine.positions import CreateChannelAccount, RegisterSettlementChannel
from wbo_tui.engine.upstream.simulator import SimulatedUpstream

CHANNEL = "settlement_hashkey_hk"


@dataclass
class Desk:
    engine: Engine
    maker: SessionInfo
    checker: SessionInfo
    admin: SessionInfo
    bank: SimulatedUpstream
    accounts: dict[str, int]
    """Channel account ids by name: hkd_principal, hkd_fee, hkd_deposit, usdt_principal, usdt_fee."""


ACCOUNTS = {
    "hkd_principal": ("fiat", "HKD", "HK-PRIN-001", "withdrawal_principal"),
    "hkd_fee": ("fiat", "HKD", "HK-FEE-001", "withdrawal_fee"),
    "hkd_deposit": ("fiat", "HKD", "HK-DEP-001", "deposit"),
    "usdt_principal": ("crypto", "USDT", "HK-PRIN-001", "withdrawal_principal"),
    "usdt_fee": ("crypto", "USDT", "HK-FEE-001", "withdrawal_fee"),
}


async def open_desk(engine: Engine, store: Path) -> Desk:
    maker = await login(engine, "maker")
    await engine.execute(maker, RegisterSettlementChannel(
        code=CHANNEL, name="HashKey HK settlement", gateway={"kind": "simulated", "store": str(store)},
    ))
    accounts = {}
    for name, (ctype, currency, account_no, scenario) in ACCOUNTS.items():
        dto = await engine.execute(maker, CreateChannelAccount(
            channel=CHANNEL, currency_type=ctype, currency=currency, account_no=account_no, scenario=scenario,
        ))
        accounts[name] = dto.id
    bank = SimulatedUpstream(store, clock=engine.clock)
    for name, (_, currency, account_no, _) in ACCOUNTS.items():
        await bank.set_balance(account_no, currency, Decimal("100000") if currency == "HKD" else Decimal("5000"))
    return Desk(engine, maker, await login(engine, "checker"), await login(engine, "admin"), bank, accounts)

"""Set-up for the withdrawal and deposit console tests: one settlement channel on the
simulated upstream with HKD principal, fee and deposit accounts (blocking threshold
20,000 on the principal and fee accounts), polled once, through a second engine."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from console_helpers import PASSWORDS, START, settle, type_into, wait_for_screen, wait_until
from sqlalchemy import select
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Select

from wbo_tui.engine import ApproveItem, CreateOperator, CreateRole, Engine, FixedClock, SequentialIds, SessionInfo
from wbo_tui.engine.passwords import fast_hasher
from wbo_tui.engine.positions import (
    CreateChannelAccount,
    ListWithdrawals,
    RegisterSettlementChannel,
    SetThresholds,
    SubmitWithdrawal,
    WithdrawalDTO,
)
from wbo_tui.engine.positions.tables import domain_events
from wbo_tui.engine.upstream.simulator import SimulatedUpstream
from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.screens.shell import ShellScreen

CHANNEL = "settlement_hashkey_hk"
ACCOUNTS = (
    ("HKD", "HK-PRIN-001", "withdrawal_principal"),
    ("HKD", "HK-FEE-001", "withdrawal_fee"),
    ("HKD", "HK-DEP-001", "deposit"),
)
BLOCKING = "20000"
PLENTY = Decimal("100000")
SUPERVISOR_PASSWORD = "Kowloon-Tong-77"


@dataclass
class Desk:
    engine: Engine
    bank: SimulatedUpstream
    polls: int = 0

    async def balances(self, principal: Decimal, fee: Decimal) -> None:
        """Set the upstream balances of the HKD principal and fee accounts and poll them."""
        await self.bank.set_balance("HK-PRIN-001", "HKD", principal)
        await self.bank.set_balance("HK-FEE-001", "HKD", fee)
        self.polls += 1
        await self.engine.poll_positions(slot=f"desk:{self.polls}", holder="test")

    async def session(self, username: str, password: str | None = None) -> SessionInfo:
        return await self.engine.login(username, password or PASSWORDS[username])

    async def submit(self, principal: str = "1000.00", fee: str = "10.00", *,
                     as_user: str = "maker", password: str | None = None) -> WithdrawalDTO:
        session = await self.session(as_user, password)
        try:
            return await self.engine.execute(session, SubmitWithdrawal(
                client_id="C-42", channel=CHANNEL, currency="HKD", principal=principal, fee=fee))
        finally:
            await self.engine.logout(session)

    async def approve(self, wd: WithdrawalDTO) -> None:
        session = await self.session("checker")
        try:
            await self.engine.execute(session, ApproveItem(approval_id=wd.approval_id))
        finally:
            await self.engine.logout(session)

    async def withdrawals(self) -> list[WithdrawalDTO]:
        return list(await self.engine.setup_query(tool="test", query=ListWithdrawals()))

    async def events(self, kind: str) -> list[dict]:
        async with self.engine.db.connect() as conn:
            rows = await conn.execute(select(domain_events.c.payload).where(domain_events.c.kind == kind)
                                      .order_by(domain_events.c.id))
            return [json.loads(r[0]) for r in rows]

    async def add_supervisor(self) -> None:
        """An operator who may both submit and approve withdrawals: maker-checker must
        still stop them approving their own."""
        # Test set-up, as a setup tool: an administrator's new operator would first have
        # to wait for a second administrator's approval and change its password.
        await self.engine.setup_execute(tool="test", command=CreateRole(name="r_supervisor", permissions=[
            "assets.position_anagement_inquiry_query", "atm.settle_chnl_bank_acct_inquiry",
            "assets.withdrawal_application_inquiry", "assets.withdrawal_application_operation",
            "assets.withdrawal_application_approval"]))
        await self.engine.setup_execute(tool="test", command=CreateOperator(
            username="supervisor", display_name="Supervisor", password=SUPERVISOR_PASSWORD, roles=["r_supervisor"]))


async def open_desk(engine: Engine, store_dir: Path) -> Desk:
    store = store_dir / f"{CHANNEL}.sqlite"
    await engine.setup_execute(tool="test", command=RegisterSettlementChannel(
        code=CHANNEL, name="HashKey HK settlement", gateway={"kind": "simulated", "store": str(store)}))
    for currency, account_no, scenario in ACCOUNTS:
        account = await engine.setup_execute(tool="test", command=CreateChannelAccount(
            channel=CHANNEL, currency_type="fiat", currency=currency, account_no=account_no, scenario=scenario))
        if scenario != "deposit":
            await engine.setup_execute(tool="test", command=SetThresholds(
                channel_account_id=account.id, threshold_alert="30000", threshold_blocking=BLOCKING))
    desk = Desk(engine, SimulatedUpstream(store, clock=engine.clock))
    await desk.bank.set_balance("HK-DEP-001", "HKD", PLENTY)
    await desk.balances(PLENTY, PLENTY)
    return desk


def seed_in_thread(db_url: str, store_dir: Path, then=None) -> None:  # noqa: ANN001
    """Seed a snapshot test's database from a sync test: its own engine and event loop.
    ``then`` is an async function of the desk for the test's own data."""

    async def run() -> None:
        engine = await Engine.open(db_url, hasher=fast_hasher(), clock=FixedClock(START), ids=SequentialIds(700_000))
        try:
            desk = await open_desk(engine, store_dir)
            if then is not None:
                await then(desk)
            desk.bank.close()
        finally:
            await engine.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


# --- driving the console -------------------------------------------------------------------

TAB_STEPS = {"withdrawals": 2, "deposits": 3}


async def open_tab(pilot: Pilot, tab: str) -> None:
    """From the Positions area as just logged in, Ctrl+T to the Withdrawals or Deposits tab."""
    await settle(pilot)
    for _ in range(TAB_STEPS[tab]):
        await pilot.press("ctrl+t")
        await settle(pilot)


def table_of(pilot: Pilot, tab: str) -> DataTable:
    return pilot.app.screen.query_one(f"#{tab}-pane DataTable", DataTable)


async def choose(pilot: Pilot, selector: str, value: str) -> None:
    """Pick ``value`` in a Select with the keyboard: open it, move down to it, Enter."""
    select = pilot.app.screen.query_one(selector, Select)
    values = [v for _, v in select._options]  # noqa: SLF001 - the options as the operator sees them
    select.focus()
    await pilot.press("enter")
    for _ in range(values.index(value)):
        await pilot.press("down")
    await pilot.press("enter")
    await settle(pilot)
    assert select.value == value


async def open_form(pilot: Pilot, screen_type: type[Screen], key: str = "n") -> None:
    await pilot.press(key)
    await wait_for_screen(pilot, screen_type)
    await settle(pilot)  # the channel choices load in a worker


async def fill_party(pilot: Pilot, prefix: str, client: str, currency: str) -> None:
    """Type the client id and currency and choose the channel, as an operator would."""
    await type_into(pilot, f"#{prefix}-client", client, keys=True)
    await choose(pilot, "#form-channel", CHANNEL)
    await type_into(pilot, f"#{prefix}-currency", currency, keys=True)


async def submit_and_close(pilot: Pilot) -> None:
    """Enter in the form's last field: the form submits and closes on success."""
    await pilot.press("enter")
    await wait_for_screen(pilot, ShellScreen)
    await settle(pilot)


async def confirm(pilot: Pilot) -> str:
    """Confirm the open ConfirmScreen with the keyboard; return what it said would happen."""
    await wait_for_screen(pilot, ConfirmScreen)
    text = str(pilot.app.screen.query_one("#confirm-consequences").content)
    screen = pilot.app.screen
    await wait_until(pilot, lambda: screen.focused is screen.query_one("#confirm"), "the focused action")
    await pilot.press("enter")  # an approval's dialog focuses its action: Enter does it
    await wait_for_screen(pilot, ShellScreen)
    await settle(pilot)
    return text


def notices(pilot: Pilot) -> list[str]:
    return [str(n.message) for n in pilot.app._notifications]  # noqa: SLF001

"""Forms of withdrawal applications and deposit records: submit a withdrawal, reject one,
mark one failed, record a deposit.  Every amount is passed to the engine as the text the
operator typed; the engine checks sign and the currency's precision and names the field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from textual import work
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from wbo_tui.engine import ListCurrencies, SessionInfo, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.positions import (
    DepositDTO,
    ListChannelAccounts,
    ListSettlementChannels,
    MarkWithdrawalFailed,
    RecordDeposit,
    SubmitWithdrawal,
    WithdrawalDTO,
)

from wbo_tui.widgets.forms import PositionForm, labelled, select_value

R = TypeVar("R")


def withdrawal_summary(w: WithdrawalDTO, money: str) -> str:
    """One line naming exactly what was submitted; ``money`` is the formatted principal + fee."""
    return (f"{w.ref} {w.status} ({w.approval_ref}): client {w.client_id}, {money} via {w.channel}; principal "
            f"from {w.principal_account}, fee from {w.fee_account}.")


class ChannelForm(PositionForm[R]):
    """A form for one client's movement on a settlement channel in one currency: client
    id, channel and currency fields (ids prefixed with ``PREFIX``).  The channel Select is
    filled from the engine when the form opens; a missing permission to list channels goes
    to the app (which offers a request)."""

    PREFIX = ""

    def party_fields(self) -> Iterable[Widget]:
        yield from labelled("Client id", Input(id=f"{self.PREFIX}-client"))
        yield from labelled("Settlement channel", Select([], id="form-channel", allow_blank=True,
                                                         prompt="Loading channels…"))
        yield from labelled("Currency", Input(id=f"{self.PREFIX}-currency", placeholder="e.g. HKD"))

    def party(self) -> tuple[str, str, str]:
        """Client id, channel and currency as entered; the channel and currency are required."""
        channel = select_value(self, "#form-channel", "Settlement channel")
        currency = self.value(f"#{self.PREFIX}-currency").strip().upper()
        if not currency:
            raise ValidationFailed("Currency", "is required")
        return self.value(f"#{self.PREFIX}-client").strip(), channel, currency

    def on_mount(self) -> None:
        self._load_channels()

    @work(exclusive=True, group="channels", exit_on_error=False)
    async def _load_channels(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        channels = [c for c in await engine.query(session, ListSettlementChannels()) if c.enabled]
        select = self.query_one("#form-channel", Select)
        select.prompt = "Choose a channel" if channels else "No settlement channels configured"
        select.set_options([(f"{c.code} ({c.name})", c.code) for c in channels])


class WithdrawalScreen(ChannelForm[WithdrawalDTO]):
    FORM_TITLE = "New withdrawal application"
    SUBMIT_LABEL = "Submit for approval"
    PREFIX = "withdrawal"
    HELP = (
        "A client's withdrawal: client id, settlement channel, currency, principal amount and "
        "fee (blank fee = 0). The principal account and the fee account are the channel's "
        "accounts for that currency with the withdrawal_principal and withdrawal_fee "
        "scenarios. Amounts are in the currency's precision (HKD 2 decimals, BTC 8). The "
        "application waits for another operator's approval."
    )

    def compose_fields(self) -> Iterable[Widget]:
        yield from self.party_fields()
        yield from labelled("Principal amount", Input(id="withdrawal-principal", placeholder="e.g. 1,000.00"))
        yield from labelled("Fee (blank = 0)", Input(id="withdrawal-fee", placeholder="0"))

    async def perform(self, engine: Engine, session: SessionInfo) -> WithdrawalDTO:
        client, channel, currency = self.party()
        command = build(SubmitWithdrawal, client_id=client, channel=channel, currency=currency,
                        principal=self.value("#withdrawal-principal").strip(),
                        fee=self.value("#withdrawal-fee").strip() or "0")
        return await engine.execute(session, command)


class MarkFailedScreen(PositionForm[WithdrawalDTO]):
    FORM_TITLE = "Mark withdrawal failed"
    SUBMIT_LABEL = "Mark failed"
    SUBMIT_VARIANT = "error"
    HELP = (
        "Record that the channel reported the principal or the fee leg of an approved "
        "withdrawal as failed, with what it reported. Each part can fail once; both parts "
        "failed shows as 'both'. The failure is recorded as a domain event that the fund "
        "allocation rules react to."
    )

    def __init__(self, withdrawal: WithdrawalDTO, money: str) -> None:
        super().__init__()
        self._withdrawal = withdrawal
        self._money = money

    def compose_fields(self) -> Iterable[Widget]:
        w = self._withdrawal
        parts = [(part, part) for part in ("principal", "fee") if part == "principal" or w.fee > 0]
        yield Static(withdrawal_summary(w, self._money), markup=False, classes="what-happens")
        yield from labelled("Part", Select(parts, id="failed-part", allow_blank=True, prompt="Principal or fee"))
        yield from labelled("Reason (what the channel reported)", Input(id="failed-reason"))

    async def perform(self, engine: Engine, session: SessionInfo) -> WithdrawalDTO:
        command = build(MarkWithdrawalFailed, withdrawal_ref=self._withdrawal.ref,
                        part=select_value(self, "#failed-part", "Part"), reason=self.value("#failed-reason"))
        return await engine.execute(session, command)


class DepositScreen(ChannelForm[DepositDTO]):
    FORM_TITLE = "Record deposit"
    SUBMIT_LABEL = "Record deposit"
    PREFIX = "deposit"
    HELP = (
        "A client's deposit as the channel reported it: client id, settlement channel, "
        "currency and amount in the currency's precision. It is credited to the channel's "
        "deposit account for that currency and stays pending until marked successful."
    )

    def compose_fields(self) -> Iterable[Widget]:
        yield from self.party_fields()
        yield from labelled("Amount", Input(id="deposit-amount", placeholder="e.g. 2,500.50"))

    async def _deposit_account(self, engine: Engine, session: SessionInfo, channel: str, code: str) -> int:
        """The channel's deposit account for the currency, refused with the field named."""
        if code not in {c.code for c in await engine.query(session, ListCurrencies())}:
            raise ValidationFailed("Currency", f"{code!r} is not a configured currency")
        accounts = await engine.query(session, ListChannelAccounts(channel=channel, currency=code, scenario="deposit"))
        if accounts:
            return accounts[0].id
        raise ValidationFailed(
            "Currency", f"{code} has no deposit account on {channel}; configure one under Settlement channel accounts")

    async def perform(self, engine: Engine, session: SessionInfo) -> DepositDTO:
        client, channel, currency = self.party()
        account_id = await self._deposit_account(engine, session, channel, currency)
        command = build(RecordDeposit, client_id=client, channel_account_id=account_id,
                        amount=self.value("#deposit-amount").strip())
        return await engine.execute(session, command)

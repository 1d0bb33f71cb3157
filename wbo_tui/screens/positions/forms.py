"""Forms of the Positions area: an account's thresholds, and a channel account."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.widget import Widget
from textual.widgets import Input, Select, Static

from wbo_tui.engine import SessionInfo, ValidationFailed, WboError, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.positions import (
    ChannelAccountDTO,
    ChannelAccountUsage,
    ChannelDTO,
    CreateChannelAccount,
    PositionDTO,
    SetThresholds,
    UpdateChannelAccount,
)

from wbo_tui.widgets.forms import SCENARIOS, ConfirmScreen, FormScreen, amount_text, labelled

CURRENCY_TYPES = ("fiat", "crypto")


class ThresholdsScreen(FormScreen[PositionDTO]):
    FORM_TITLE = "Set thresholds"
    SUBMIT_LABEL = "Save thresholds"
    HELP = (
        "Alert and blocking thresholds of one channel account, in its currency. Leave a field "
        "blank for 'not configured'. Blocking must not be above alert. A withdrawal's approval "
        "is refused when the account's available balance minus what is already committed out "
        "of it and not yet settled minus the withdrawal's own amount would fall below the "
        "blocking threshold (none configured: zero)."
    )

    def __init__(self, position: PositionDTO) -> None:
        super().__init__()
        self._position = position

    def compose_fields(self) -> Iterable[Widget]:
        p = self._position
        plain = lambda v: "" if v is None else f"{v:.{p.amount_precision}f}"  # noqa: E731
        yield Static(
            f"{p.channel} {p.account_no} ({p.scenario}), currency {p.currency} "
            f"({p.amount_precision} decimals). Available {amount_text(p.available, p.amount_precision)}; "
            f"now alert {amount_text(p.threshold_alert, p.amount_precision, blank='not configured')}, "
            f"blocking {amount_text(p.threshold_blocking, p.amount_precision, blank='not configured')}.",
            classes="what-happens", markup=False,
        )
        yield from labelled(f"Alert threshold ({p.currency}, blank = not configured)",
                            Input(plain(p.threshold_alert), id="threshold-alert"))
        yield from labelled(f"Blocking threshold ({p.currency}, blank = not configured)",
                            Input(plain(p.threshold_blocking), id="threshold-blocking"))

    async def perform(self, engine: Engine, session: SessionInfo) -> PositionDTO:
        alert = self.value("#threshold-alert").strip().replace(",", "")
        blocking = self.value("#threshold-blocking").strip().replace(",", "")
        command = build(SetThresholds, channel_account_id=self._position.channel_account_id,
                        threshold_alert=alert or None, threshold_blocking=blocking or None)
        return await engine.execute(session, command)


ACCOUNT_FIELDS = (("channel", "Settlement channel"), ("currency_type", "Currency type"), ("currency", "Currency"),
                  ("account_no", "Main account number"), ("scenario", "Business scenario"), ("remarks", "Remarks"))


class ChannelAccountScreen(FormScreen[ChannelAccountDTO]):
    """Create (``account`` None) or edit a channel account.  An edit lists its changes
    and what uses the account, and saves only once the operator confirms."""

    HELP = (
        "A settlement channel account: channel, currency type and currency, main account "
        "number, business scenario and remarks. One account per scenario and currency on a "
        "channel. Editing shows what changes and what uses the account before it is saved."
    )

    def __init__(self, channels: list[ChannelDTO], account: ChannelAccountDTO | None = None) -> None:
        super().__init__()
        self._channels = channels
        self._account = account
        self.FORM_TITLE = "New channel account" if account is None else f"Edit channel account {account.id}"
        self.SUBMIT_LABEL = "Create account" if account is None else "Review and save"

    def compose_fields(self) -> Iterable[Widget]:
        a = self._account
        channel_options = [(f"{c.code} ({c.name})", c.code) for c in self._channels]
        yield from labelled("Settlement channel", Select(channel_options, id="account-channel", allow_blank=True,
                                                         value=a.channel if a else Select.NULL))
        yield from labelled("Currency type", Select([(t, t) for t in CURRENCY_TYPES], id="account-currency-type",
                                                    value=a.currency_type if a else Select.NULL))
        yield from labelled("Currency", Input(a.currency if a else "", id="account-currency", placeholder="e.g. HKD"))
        yield from labelled("Main account number", Input(a.account_no if a else "", id="account-no"))
        yield from labelled("Business scenario", Select([(s, s) for s in SCENARIOS], id="account-scenario",
                                                        value=a.scenario if a else Select.NULL))
        yield from labelled("Remarks", Input(a.remarks if a else "", id="account-remarks"))

    def _select(self, selector: str) -> str | None:
        value = self.query_one(selector, Select).value
        return None if value is Select.NULL else str(value)

    def fields(self) -> dict[str, Any]:
        return {
            "channel": self._select("#account-channel"), "currency_type": self._select("#account-currency-type"),
            "currency": self.value("#account-currency").strip(), "account_no": self.value("#account-no").strip(),
            "scenario": self._select("#account-scenario"), "remarks": self.value("#account-remarks").strip(),
        }

    async def perform(self, engine: Engine, session: SessionInfo) -> ChannelAccountDTO:
        fields = self.fields()
        for name, label in ACCOUNT_FIELDS:
            if name != "remarks" and fields[name] in (None, ""):
                raise ValidationFailed(label, "is required")
        account = self._account
        if account is None:
            return await engine.execute(session, build(CreateChannelAccount, **fields))
        command = build(UpdateChannelAccount, account_id=account.id, expected_version=account.version, **fields)
        changes = edit_changes(account, command.model_dump())
        if not changes:
            raise ValidationFailed("Channel account", "is unchanged")
        usage = await engine.query(session, ChannelAccountUsage(account_id=account.id))
        lines = [*changes, usage_line(usage.pending_withdrawals),
                 f"Saved only if nobody changed the account since you opened it (version {account.version})."]
        if not await self.app.push_screen_wait(
            ConfirmScreen(f"Save changes to channel account {account.id}?", lines, "Save", danger=False)
        ):
            raise WboError("Not saved: you cancelled the confirmation.")
        return await engine.execute(session, command)


def edit_changes(account: ChannelAccountDTO, new: dict[str, Any]) -> list[str]:
    """``Field: old → new`` for each field the edit changes."""
    old = account.model_dump()
    return [f"{label}: {old[name] or '(blank)'} → {new[name] or '(blank)'}"
            for name, label in ACCOUNT_FIELDS if str(old[name]) != str(new[name])]


def usage_line(pending: tuple[str, ...]) -> str:
    if not pending:
        return "Used by pending withdrawals: none."
    return f"Used by {len(pending)} pending withdrawal(s): {', '.join(pending)}."

"""The margin desk's configuration forms (the WBO backend's part of margin-call.txt): the
desk's settings in one form, an instrument's status and margin factors, a client's terms,
and the renewal of a trading limit that expired with a margin call.  Each form is saved in
one command, only if nobody changed what it edits since it was opened (its version); the
engine checks every field and its refusal names the field as the form labels it.  A change
that acts on every trader or every holder (the liquidation toggle, suspending or delisting
a stock) is confirmed first, saying what it does."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from textual import on
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from wbo_tui.engine import SessionInfo, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.margin import (
    ClientTermsDTO,
    InstrumentDTO,
    MarginSettingsDTO,
    RenewTradingLimit,
    SetClientTerms,
    UpdateInstrument,
    UpdateMarginSettings,
)
from wbo_tui.engine.margin.instruments import FACTOR_LABELS
from wbo_tui.engine.margin.settings import ORDER_RULE_LABELS

from wbo_tui.widgets.forms import ConfirmScreen, PositionForm, amount_text, labelled

SETTING_LABELS = {
    "liquidation_enabled": "Batch liquidation", "order_rule": "Order of positions",
    "offset_steps": "Limit price offset", "buffer_pct": "Buffer",
    "cal_margin_owed": "Warning value: margin owed", "cal_interest": "Warning value: accrued interest",
    "cal_trading_limit": "Warning value: trading limit", "cal_over_finance": "Warning value: over-financing",
    "expire_trading_limit": "Trading limit expires when a call opens", "deadline_days": "Deadline",
    "stale_price_s": "Price stale after", "suspended_days": "Long-suspended after",
}
SWITCHES = ("liquidation_enabled", "cal_margin_owed", "cal_interest", "cal_trading_limit", "cal_over_finance",
            "expire_trading_limit")
NUMBERS = {"offset_steps": "price steps, 0-20", "buffer_pct": "%, 0-100", "deadline_days": "HK trading days, 1-30",
           "stale_price_s": "seconds, 5-86400", "suspended_days": "days, 0-365"}
TERM_LABELS = {
    "additional_margin": "Additional margin", "accrued_interest": "Accrued interest",
    "outstanding_deposit": "Outstanding deposit", "trading_limit": "Trading limit",
    "financing_limit": "Financing limit", "exempt": "Exempt from margin calls", "exempt_reason": "Exemption reason",
}
STATUS_LABELS = {"NORMAL": "Normal: traded and valued", "SUSPENDED": "Suspended: skipped by liquidation plans",
                 "DELISTED": "Delisted: never liquid, never sold"}
ON_OFF = [("On", "on"), ("Off", "off")]
# ``build`` names a field after its attribute ("Offset steps"); the form's label is said instead.
FIELD_NAMES = {name.replace("_", " ").capitalize(): label
               for name, label in (*SETTING_LABELS.items(), *TERM_LABELS.items(), *FACTOR_LABELS.items())}


def built(model: type, **fields: Any) -> Any:  # noqa: ANN401
    """``build``, with a refusal naming the field as the form labels it."""
    try:
        return build(model, **fields)
    except ValidationFailed as error:
        if error.field not in FIELD_NAMES:
            raise
        raise ValidationFailed(FIELD_NAMES[error.field], error.rule) from None


def money(text: str) -> str:
    """An amount as typed, digit grouping dropped (the engine takes plain decimals)."""
    return text.strip().replace(",", "")


def toggle_consequences(turn_on: bool) -> list[str]:
    """What switching batch liquidation on or off does, said before it is saved."""
    if turn_on:
        return ["Batch liquidation is enabled for every trader: any holder of RiskWarningFull may select open "
                "margin calls on the Risk Warning list and liquidate them all at once, each by its own plan.",
                "Calls set to Exception, ended calls and clients with orders in progress are skipped, naming why.",
                "Single and bulk liquidation from Details are not affected.",
                "The change is recorded in the audit log."]
    return ["Batch liquidation is refused for every trader until it is switched on again.",
            "Orders already sent are not cancelled; single and bulk liquidation from Details still work.",
            "The change is recorded in the audit log."]


class MarginSettingsScreen(PositionForm[MarginSettingsDTO]):
    """The desk's settings, all in one form."""

    HELP = (
        "The margin desk's settings, saved together and only if nobody saved them since you opened them. Batch "
        "liquidation is the liquidation toggle (switching it is confirmed first). Order of positions: which a "
        "liquidation plan sells first. Limit price offset: HKEX price steps from the best bid (or ask) toward a "
        "fill. Buffer: how far above the requirement a plan aims. The four warning-value switches choose the "
        "terms of Margin to Be Collected (the vendor's get_warning_val_cal_rule). Deadline, stale price and "
        "long-suspended days as labelled. The price source and venue are not set here. Escape changes nothing."
    )
    CANCEL_NOTICE = "Nothing was changed."
    SUBMIT_LABEL = "Save"

    def __init__(self, settings: MarginSettingsDTO) -> None:
        super().__init__()
        self._settings = settings
        self.FORM_TITLE = "Edit margin call settings"
        self._toggle_confirmed = False

    def compose_fields(self) -> Iterable[Widget]:
        s = self._settings
        state = f"Version {s.version}." if s.version else "Never saved: the defaults apply."
        yield Static(state, markup=False, classes="what-happens")
        for name, label in SETTING_LABELS.items():
            field_id = f"cfg-{name.replace('_', '-')}"
            value = getattr(s, name)
            if name in SWITCHES:
                widget: Widget = Select(ON_OFF, id=field_id, allow_blank=False, value="on" if value else "off")
            elif name == "order_rule":
                widget = Select([(text, rule) for rule, text in ORDER_RULE_LABELS.items()], id=field_id,
                                allow_blank=False, value=value)
            else:
                widget = Input(str(value), id=field_id)
                label = f"{label} ({NUMBERS[name]})"
            yield from labelled(label, widget)

    def _field(self, name: str) -> Any:  # noqa: ANN401
        field_id = f"#cfg-{name.replace('_', '-')}"
        if name in SWITCHES:
            return self.query_one(field_id, Select).value == "on"
        if name == "order_rule":
            return str(self.query_one(field_id, Select).value)
        return self.value(field_id).strip()

    def command(self) -> UpdateMarginSettings:
        return built(UpdateMarginSettings, **{name: self._field(name) for name in SETTING_LABELS},
                     expected_version=self._settings.version)

    @on(Select.Changed, "#cfg-liquidation-enabled")
    def _toggle_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._toggle_confirmed = False

    def submit(self) -> None:
        turn_on = self._field("liquidation_enabled")
        if turn_on != self._settings.liquidation_enabled and not self._toggle_confirmed:
            title = f"Switch batch liquidation {'on' if turn_on else 'off'} for every trader?"
            self.app.push_screen(ConfirmScreen(title, toggle_consequences(turn_on), "Switch and save",
                                               does="switches it and saves"), callback=self._toggle_decided)
            return
        super().submit()

    def _toggle_decided(self, yes: bool | None) -> None:
        if yes:
            self._toggle_confirmed = True
            self.submit()
        else:
            self.show_error("Not saved: you cancelled the change of the liquidation toggle.")

    async def perform(self, engine: Engine, session: SessionInfo) -> MarginSettingsDTO:
        return await engine.execute(session, self.command())


def status_consequences(i: InstrumentDTO, status: str, suspended_days: int | None) -> list[str]:
    """What changing ``i``'s status to ``status`` does, said before it is saved."""
    after = f"after {suspended_days} days" if suspended_days is not None else "after the desk's long-suspended days"
    return {
        "SUSPENDED": [f"{i.code} ({i.name}) is skipped by every liquidation plan from now on, naming why.",
                      f"{after.capitalize()} suspended its market value no longer counts as liquid net assets: "
                      "holders' calls may grow or open."],
        "DELISTED": [f"{i.code} ({i.name}) is never sold by a plan, and its market value stops counting as liquid "
                     "net assets at once: holders' calls may grow or open at the next valuation."],
        "NORMAL": [f"{i.code} ({i.name}) is traded and valued again: plans may sell it, and its value counts."],
    }[status] + ["The change is recorded in the audit log."]


class InstrumentScreen(PositionForm[InstrumentDTO]):
    """One instrument's status and margin factors."""

    HELP = (
        "An instrument's status and its margin factors, percentages of its market value as the vendor keeps them "
        "(instrument_stock_margin_ratios): initial, margin-call, maintenance and force, which must not rise from "
        "initial down to force (force ≤ maintenance ≤ margin-call ≤ initial). The margin-call factor is the one "
        "the margin-call requirement uses. Suspending or delisting is confirmed first, saying what it does to "
        "plans and valuations. Saved only if nobody changed the instrument since you opened it."
    )
    CANCEL_NOTICE = "Nothing was changed."
    SUBMIT_LABEL = "Save"
    FACTORS = ("im_factor", "mcm_factor", "mm_factor", "fm_factor")

    def __init__(self, instrument: InstrumentDTO, *, suspended_days: int | None = None) -> None:
        super().__init__()
        self._instrument = instrument
        self._suspended_days = suspended_days
        self._status_confirmed = False
        self.FORM_TITLE = f"Edit instrument {instrument.code} ({instrument.name})"

    def compose_fields(self) -> Iterable[Widget]:
        i = self._instrument
        yield Static(f"Version {i.version}; {i.market} market, {i.currency}, board lot {i.lot_size:,}; "
                     f"now {i.status.lower()}.", markup=False, classes="what-happens")
        yield from labelled("Status", Select([(text, code) for code, text in STATUS_LABELS.items()],
                                             id="instrument-status", allow_blank=False, value=i.status))
        for name in self.FACTORS:
            yield from labelled(f"{FACTOR_LABELS[name]} (%)",
                                Input(f"{getattr(i, name)}", id=f"instrument-{name.replace('_', '-')}"))

    def _status(self) -> str:
        return str(self.query_one("#instrument-status", Select).value)

    def command(self) -> UpdateInstrument:
        i = self._instrument
        return built(UpdateInstrument, code=i.code, status=self._status(), expected_version=i.version,
                     **{name: self.value(f"#instrument-{name.replace('_', '-')}").strip() for name in self.FACTORS})

    @on(Select.Changed, "#instrument-status")
    def _status_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._status_confirmed = False

    def submit(self) -> None:
        status = self._status()
        if status != self._instrument.status and not self._status_confirmed:
            i = self._instrument
            self.app.push_screen(ConfirmScreen(
                f"Make {i.code} {status.lower()}?", status_consequences(i, status, self._suspended_days),
                "Change and save", danger=status != "NORMAL", does="changes the status and saves"),
                callback=self._status_decided)
            return
        super().submit()

    def _status_decided(self, yes: bool | None) -> None:
        if yes:
            self._status_confirmed = True
            self.submit()
        else:
            self.show_error("Not saved: you cancelled the change of status.")

    async def perform(self, engine: Engine, session: SessionInfo) -> InstrumentDTO:
        return await engine.execute(session, self.command())


def hkd(value: Decimal | None, blank: str = "") -> str:
    return blank if value is None else amount_text(value, 2).replace(",", "")


class ClientTermsScreen(PositionForm[ClientTermsDTO]):
    """A client's margin terms (HKD): the terms of Margin to Be Collected and the exemption."""

    HELP = (
        "A client's margin terms, in HKD. Additional margin is added to the client's margin-call requirement. "
        "Accrued interest and outstanding deposit are added to Margin to Be Collected (when the desk's "
        "warning-value switches count them); the trading limit is subtracted; financing beyond the financing "
        "limit is over-financing (blank: no limit). An exempt client is never put in margin call; the reason is "
        "required. Saved only if nobody changed the terms since you opened them. Escape changes nothing."
    )
    CANCEL_NOTICE = "Nothing was changed."
    SUBMIT_LABEL = "Save"
    AMOUNTS = ("additional_margin", "accrued_interest", "outstanding_deposit", "trading_limit", "financing_limit")

    def __init__(self, terms: ClientTermsDTO) -> None:
        super().__init__()
        self._terms = terms
        self.FORM_TITLE = f"Margin terms of {terms.account_no} ({terms.name})"

    def compose_fields(self) -> Iterable[Widget]:
        t = self._terms
        state = f"Version {t.version}." if t.version else "No terms yet: all zero, no financing limit."
        if t.trading_limit_expired:
            state += " The trading limit expired when a margin call opened: saving keeps it expired (l renews it)."
        yield Static(state, markup=False, classes="what-happens")
        for name in self.AMOUNTS:
            label = TERM_LABELS[name] + (" (HKD; blank: no limit)" if name == "financing_limit" else " (HKD)")
            yield from labelled(label, Input(hkd(getattr(t, name)), id=f"terms-{name.replace('_', '-')}"))
        yield from labelled(TERM_LABELS["exempt"], Select([("No", "no"), ("Yes: never put in margin call", "yes")],
                                                          id="terms-exempt", allow_blank=False,
                                                          value="yes" if t.exempt else "no"))
        yield from labelled(TERM_LABELS["exempt_reason"], Input(
            t.exempt_reason, id="terms-exempt-reason", placeholder="Required to exempt (recorded in the audit log)"))

    def command(self) -> SetClientTerms:
        t = self._terms
        amounts: dict[str, Any] = {name: money(self.value(f"#terms-{name.replace('_', '-')}")) for name in self.AMOUNTS}
        amounts["financing_limit"] = amounts["financing_limit"] or None
        return built(SetClientTerms, client_id=t.client_id, **amounts,
                     exempt=self.query_one("#terms-exempt", Select).value == "yes",
                     exempt_reason=self.value("#terms-exempt-reason").strip(), expected_version=t.version)

    async def perform(self, engine: Engine, session: SessionInfo) -> ClientTermsDTO:
        return await engine.execute(session, self.command())


class RenewLimitScreen(PositionForm[ClientTermsDTO]):
    """A trading limit again for a client whose limit expired with a margin call."""

    HELP = ("A client's trading limit expires when a margin call opens (when the desk's setting says so). "
            "Renewing gives the client a limit again, with the reason recorded in the audit log. Escape changes "
            "nothing.")
    CANCEL_NOTICE = "Nothing was changed."
    SUBMIT_LABEL = "Renew"

    def __init__(self, terms: ClientTermsDTO) -> None:
        super().__init__()
        self._terms = terms
        self.FORM_TITLE = f"Renew the trading limit of {terms.account_no} ({terms.name})"

    def compose_fields(self) -> Iterable[Widget]:
        t = self._terms
        yield Static(f"Expired with a margin call; it was {amount_text(t.trading_limit, 2)} HKD.", markup=False,
                     classes="what-happens")
        yield from labelled("Trading limit (HKD)", Input(hkd(t.trading_limit), id="renew-limit"))
        yield from labelled("Reason", Input("", id="renew-reason", placeholder="Why (recorded in the audit log)"))

    async def perform(self, engine: Engine, session: SessionInfo) -> ClientTermsDTO:
        command = built(RenewTradingLimit, client_id=self._terms.client_id, trading_limit=money(
            self.value("#renew-limit")), reason=self.value("#renew-reason"))
        return await engine.execute(session, command)

"""Editing one currency's exchange settings (Service Parameter > Fund Parameter > Currency
Setup): every field in one form, checked by the engine and saved in one command, only if
nobody changed the currency since the form was opened.  Switching the exchange off is
confirmed first, with what it stops."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import on
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from wbo_tui.engine import SessionInfo, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.fx import CurrencySetupDTO, UpdateCurrencySetup
from wbo_tui.engine.fx.rate_math import ROUND_MODE_LABELS

from wbo_tui.widgets.forms import ConfirmScreen, PositionForm, amount_text, labelled

ROUNDING = {"round": f"{ROUND_MODE_LABELS['round']} (half up)",
            "truncate": f"{ROUND_MODE_LABELS['truncate']} (toward zero)"}
SWITCH = {"on": "On: clients may exchange it", "off": "Off: no exchange from or into it"}
YES_NO = {"no": "No", "yes": "Yes: the standard (base) currency"}
LABELS = {
    "support_exchange": "Exchange switch",
    "exchange_rate_precision": "Exchange rate precision (decimal places, 0-10)",
    "amount_precision": "Amount precision (decimal places, 0-2)",
    "amount_round_mode": "Retrieval logic (amount rounding)",
    "min_exchange_amount": "Minimum exchange amount",
    "standard_money": "Standard currency",
    "remarks": "Remarks",
}
# ``build`` names a field after its attribute ("Min exchange amount"); the form's label is said instead.
FIELD_NAMES = {name.replace("_", " ").capitalize(): label.split(" (")[0] for name, label in LABELS.items()}


def _options(labels: dict[str, str]) -> list[tuple[str, str]]:
    return [(label, value) for value, label in labels.items()]


def switch_off_consequences(s: CurrencySetupDTO) -> list[str]:
    """What switching ``s``'s exchange off does, said before it is done."""
    return [
        f"{s.currency} ({s.name}) no longer exchanges: a new client exchange from or into {s.currency} is refused at "
        "the first check (exchange switch), and no rate is quoted for its pairs.",
        f"Exchanges already submitted in {s.currency} are not cancelled: review, cancel or settle them as usual.",
        "Its pairs, strategies, markups and large-amount criterion stay as they are; switching it on again "
        "restores exchange.",
        "The change is recorded in the audit log.",
    ]


def setup_fields(s: CurrencySetupDTO, **changes: Any) -> dict[str, Any]:  # noqa: ANN401
    """The command's fields for ``s`` as it is, with ``changes``."""
    fields: dict[str, Any] = {
        "currency": s.currency, "support_exchange": s.support_exchange,
        "exchange_rate_precision": s.exchange_rate_precision, "amount_precision": s.amount_precision,
        "amount_round_mode": s.amount_round_mode, "min_exchange_amount": s.min_exchange_amount,
        "standard_money": s.standard_money, "remarks": s.remarks, "expected_version": s.version}
    fields.update(changes)
    return fields


def build_setup(**fields: Any) -> UpdateCurrencySetup:  # noqa: ANN401
    """``build``, with a refusal naming the field as the form labels it."""
    try:
        return build(UpdateCurrencySetup, **fields)
    except ValidationFailed as error:
        if error.field not in FIELD_NAMES:
            raise
        raise ValidationFailed(FIELD_NAMES[error.field], error.rule) from None


class CurrencySetupScreen(PositionForm[CurrencySetupDTO]):
    """Edit ``setup`` (a currency without exchange settings yet: set them up)."""

    HELP = (
        "Every setting of one currency for exchange, as the vendor's Currency Setup has them. Exchange rate "
        "precision: decimal places of its rates (0-10). Amount precision: decimal places of exchanged amounts "
        "(0-2, at most the currency's own). Retrieval logic: how amounts and rates are rounded to those places, "
        "Rounding Off (half up) or Truncate Without Rounding. Minimum exchange amount: the least a client may "
        "exchange from it. Standard currency: the base currency rates are quoted against (one at most). Save "
        "checks every field and saves all or nothing, only if nobody changed the currency since you opened "
        "it; switching the exchange off asks you to confirm first. Escape changes nothing."
    )
    CANCEL_NOTICE = "Nothing was changed."
    SUBMIT_LABEL = "Save"

    def __init__(self, setup: CurrencySetupDTO, *, currency_precision: int | None = None) -> None:
        super().__init__()
        self._setup = setup
        self._currency_precision = currency_precision
        verb = "Edit" if setup.configured else "Set up"
        self.FORM_TITLE = f"{verb} currency setup: {setup.currency} ({setup.name})"

    def compose_fields(self) -> Iterable[Widget]:
        s = self._setup
        state = (f"Version {s.version}; exchange switch {'on' if s.support_exchange else 'off'}."
                 if s.configured else "No exchange settings yet: the fields hold suggestions.")
        yield Static(state, markup=False, classes="what-happens")
        yield from labelled(LABELS["support_exchange"], Select(
            _options(SWITCH), id="setup-switch", allow_blank=False, value="on" if s.support_exchange else "off"))
        yield from labelled(LABELS["exchange_rate_precision"],
                            Input(str(s.exchange_rate_precision), id="setup-rate-precision"))
        places = "" if self._currency_precision is None else f"; {s.currency} itself has {self._currency_precision}"
        yield from labelled(LABELS["amount_precision"].replace(")", f"{places})"),
                            Input(str(s.amount_precision), id="setup-amount-precision"))
        yield from labelled(LABELS["amount_round_mode"], Select(
            _options(ROUNDING), id="setup-rounding", allow_blank=False, value=s.amount_round_mode))
        yield from labelled(f"{LABELS['min_exchange_amount']} ({s.currency})",
                            Input(amount_text(s.min_exchange_amount, s.amount_precision).replace(",", ""),
                                  id="setup-min-amount"))
        yield from labelled(LABELS["standard_money"], Select(
            _options(YES_NO), id="setup-standard", allow_blank=False, value="yes" if s.standard_money else "no"))
        yield from labelled(LABELS["remarks"], Input(s.remarks, id="setup-remarks"))

    def _choice(self, selector: str) -> str:
        return str(self.query_one(selector, Select).value)

    def command(self) -> UpdateCurrencySetup:
        return build_setup(**setup_fields(
            self._setup, support_exchange=self._choice("#setup-switch") == "on",
            exchange_rate_precision=self.value("#setup-rate-precision").strip(),
            amount_precision=self.value("#setup-amount-precision").strip(),
            amount_round_mode=self._choice("#setup-rounding"),
            min_exchange_amount=self.value("#setup-min-amount").strip(),
            standard_money=self._choice("#setup-standard") == "yes", remarks=self.value("#setup-remarks")))

    # Switching the exchange off is confirmed before the command runs (not from inside it:
    # the form's worker never waits on a dialog); once confirmed, until the switch changes.
    _off_confirmed = False

    @on(Select.Changed, "#setup-switch")
    def _switch_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._off_confirmed = False

    def submit(self) -> None:
        s = self._setup
        if s.support_exchange and self._choice("#setup-switch") == "off" and not self._off_confirmed:
            confirm = ConfirmScreen(f"Switch exchange off for {s.currency}?", switch_off_consequences(s),
                                    "Switch off and save", does="switches the exchange off and saves")
            self.app.push_screen(confirm, callback=self._off_decided)
            return
        super().submit()

    def _off_decided(self, yes: bool | None) -> None:
        if yes:
            self._off_confirmed = True
            self.submit()
        else:
            self.show_error("Not saved: you cancelled switching the exchange off.")

    async def perform(self, engine: Engine, session: SessionInfo) -> CurrencySetupDTO:
        return await engine.execute(session, self.command())

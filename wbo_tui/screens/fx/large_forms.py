"""Large-amount criteria (Service Parameter > Exchange > Large Amount Criteria Setting):
create or change a currency's Large amount starting point, and delete one (typed
confirmation).  Each is saved only if nobody changed the criterion since it was shown."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.widget import Widget
from textual.widgets import Input, Select, Static

from wbo_tui.engine import CurrencyDTO, SessionInfo, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.fx import AmountConfigDTO, DeleteAmountConfig, SetAmountConfig

from wbo_tui.widgets.forms import PositionForm, amount_text, labelled, select_value
from wbo_tui.widgets.typed_confirmation import TypedConfirmation, phrase

STARTING_POINT = "Large amount starting point"


def what_large_means(currency: str, amount: str) -> str:
    return (f"A client exchange selling {amount} {currency} or more is a Large Amount Exchange: a Large Amount "
            "Exchange strategy (or one of type None) serves it, and a checker reviews it before it executes.")


class AmountConfigScreen(PositionForm[AmountConfigDTO]):
    """Create a criterion (``config`` None: the currency is chosen among ``currencies``) or
    change ``config``'s amount."""

    CANCEL_NOTICE = "Nothing was changed."
    HELP = ("The Large amount starting point of a currency: a client exchange that sells this amount of the "
            "currency or more is a Large Amount Exchange (Large Amount strategies serve it, and it is reviewed). "
            "At the currency's precision, greater than 0. Escape changes nothing.")

    def __init__(self, config: AmountConfigDTO | None, currencies: Sequence[CurrencyDTO]) -> None:
        super().__init__()
        self._config = config
        self._currencies = list(currencies)
        if config is None:
            self.FORM_TITLE, self.SUBMIT_LABEL = "New large-amount criterion", "Create"
        else:
            self.FORM_TITLE, self.SUBMIT_LABEL = f"Large-amount criterion of {config.currency}", "Save"

    def compose_fields(self) -> Iterable[Widget]:
        c = self._config
        if c is None:
            yield from labelled("Currency", Select([(f"{x.code} {x.name}", x.code) for x in self._currencies],
                                                   id="large-currency"))
        else:
            places = next((x.amount_precision for x in self._currencies if x.code == c.currency), None)
            shown = f"{c.amount:,}" if places is None else amount_text(c.amount, places)
            yield Static(f"{c.currency} now: {shown} (version {c.version}). "
                         + what_large_means(c.currency, shown), markup=False, classes="what-happens")
        yield from labelled(f"{STARTING_POINT} (an amount of the currency)",
                            Input("" if c is None else str(c.amount), id="large-amount", placeholder="e.g. 100000"))

    async def perform(self, engine: Engine, session: SessionInfo) -> AmountConfigDTO:
        c = self._config
        currency = select_value(self, "#large-currency", "Currency") if c is None else c.currency
        try:
            command = build(SetAmountConfig, currency=currency, amount=self.value("#large-amount").strip(),
                            expected_version=0 if c is None else c.version)
        except ValidationFailed as error:
            if error.field != "Amount":
                raise
            raise ValidationFailed(STARTING_POINT, error.rule) from None
        return await engine.execute(session, command)


class DeleteAmountConfigScreen(PositionForm[str]):
    SUBMIT_VARIANT = "error"
    SUBMIT_LABEL = "Delete criterion"
    CANCEL_NOTICE = "Nothing was deleted."
    HELP = ("Type the confirmation shown to delete the currency's large-amount criterion; the button stays "
            "disabled until it matches. Escape changes nothing.")

    def __init__(self, config: AmountConfigDTO, shown: str) -> None:
        super().__init__()
        self._config = config
        self._shown = shown
        self.FORM_TITLE = f"Delete the large-amount criterion of {config.currency}"

    def compose_fields(self) -> Iterable[Widget]:
        c = self._config
        yield Static(f"{c.currency}: {STARTING_POINT} {self._shown}.", markup=False, classes="what-happens")
        yield Static("What will happen:", classes="modal-subtitle")
        yield Static("\n".join(f"• {line}" for line in (
            f"No exchange selling {c.currency} is a Large Amount Exchange any more, whatever its size: it is "
            "served as a small amount (the pool, or a bank beyond it), and reviewed only from the strategy's "
            "approval starting point.",
            "Exchanges already submitted keep the review they were given.",
            "Saved only if nobody changed the criterion since you opened it; recorded in the audit log.")),
            markup=False, classes="what-happens")
        yield TypedConfirmation(phrase("delete", 1), "deletes the criterion")

    async def perform(self, engine: Engine, session: SessionInfo) -> str:
        c = self._config
        await engine.execute(session, build(DeleteAmountConfig, currency=c.currency, expected_version=c.version))
        return f"{c.currency}: large-amount criterion deleted."

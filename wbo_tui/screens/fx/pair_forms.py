"""Currency pairs (Service Parameter > Exchange > Currency Pairs): adding one source currency
with one or more targets, choosing a card's default target, and deleting one pair (a
typed confirmation; a pair in use is refused by the engine, naming what uses it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual import on
from textual.widget import Widget
from textual.widgets import Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from wbo_tui.engine import CurrencyDTO, SessionInfo, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.fx import AddCurrencyPairs, CurrencyPairCardDTO, DeleteCurrencyPair, SetDefaultPair

from wbo_tui.widgets.forms import PositionForm, labelled, select_value
from wbo_tui.widgets.typed_confirmation import TypedConfirmation, phrase


def currency_label(c: CurrencyDTO) -> str:
    return f"{c.code} {c.name}" + ("" if c.exchange_enabled else " (exchange switch off)")


def targets_text(card: CurrencyPairCardDTO) -> str:
    """A card's targets, the default marked: ``CNH  EUR  HKD*``."""
    return "  ".join(f"{t.to_currency}{'*' if t.default_currency else ''}" for t in card.targets)


class AddPairsScreen(PositionForm[CurrencyPairCardDTO]):
    """One source currency and the targets to add to its card (a new card when it has none)."""

    FORM_TITLE = "Add currency pairs"
    SUBMIT_LABEL = "Add pairs"
    CANCEL_NOTICE = "No pair was added."
    HELP = (
        "Choose one source currency, then its target currencies (space toggles one; several may be chosen). "
        "Each target becomes a pair on the source's card; a new card's first target becomes its default. "
        "Targets the card has already are not offered. Escape changes nothing."
    )

    def __init__(self, currencies: Sequence[CurrencyDTO], cards: dict[str, CurrencyPairCardDTO],
                 source: str | None = None) -> None:
        super().__init__()
        self._currencies = list(currencies)
        self._cards = cards
        self._source = source

    def compose_fields(self) -> Iterable[Widget]:
        yield from labelled("Source currency (one)", Select(
            [(currency_label(c), c.code) for c in self._currencies], id="pair-source",
            value=self._source if self._source is not None else Select.NULL))
        yield Static("", id="pair-existing", classes="what-happens", markup=False)
        yield from labelled("Target currencies (space toggles; one or more)",
                            SelectionList[str](id="pair-targets"))

    def on_mount(self) -> None:
        self._offer_targets()

    @on(Select.Changed, "#pair-source")
    def _source_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._offer_targets()

    def _chosen_source(self) -> str | None:
        value = self.query_one("#pair-source", Select).value
        return None if value is Select.NULL else str(value)

    def _offer_targets(self) -> None:
        """The targets the chosen source may still get: not itself, not its card's targets."""
        source = self._chosen_source()
        card = self._cards.get(source) if source is not None else None
        existing = {t.to_currency for t in card.targets} if card is not None else set()
        targets = self.query_one("#pair-targets", SelectionList)
        kept = set(targets.selected)
        targets.clear_options()
        targets.add_options([Selection(currency_label(c), c.code, c.code in kept) for c in self._currencies
                             if c.code != source and c.code not in existing])
        if source is None:
            text = "Choose the source currency first."
        elif card is None:
            text = f"{source} has no card yet: the first target you choose becomes its default."
        else:
            text = f"{source}'s card has {targets_text(card)} (* default); choose targets to add."
        self.query_one("#pair-existing", Static).update(text)

    async def perform(self, engine: Engine, session: SessionInfo) -> CurrencyPairCardDTO:
        source = select_value(self, "#pair-source", "Source currency")
        targets = tuple(self.query_one("#pair-targets", SelectionList).selected)
        if not targets:
            raise ValidationFailed("Target currencies", "need at least one (space toggles a currency)")
        return await engine.execute(session, build(AddCurrencyPairs, from_currency=source, to_currencies=targets))


class DefaultTargetScreen(PositionForm[CurrencyPairCardDTO]):
    """Choose which target of a card is its default (preselected when exchanging)."""

    SUBMIT_LABEL = "Set default"
    CANCEL_NOTICE = "The default target was not changed."
    HELP = ("Choose the target to preselect when a client exchange starts from this source currency (the "
            "vendor's Set default currency pair). Escape changes nothing.")

    def __init__(self, card: CurrencyPairCardDTO) -> None:
        super().__init__()
        self._card = card
        self.FORM_TITLE = f"Default target of {card.from_currency}"

    def compose_fields(self) -> Iterable[Widget]:
        card = self._card
        now = card.default_target
        yield Static(f"{card.from_currency}'s targets: {targets_text(card)} (* the default now: {now or 'none'}).",
                     markup=False, classes="what-happens")
        choices = [t for t in card.targets if not t.default_currency]
        yield from labelled("New default target", Select(
            [(f"{card.from_currency} → {t.to_currency}", t.id) for t in choices], id="pair-default",
            value=choices[0].id if len(choices) == 1 else Select.NULL))

    async def perform(self, engine: Engine, session: SessionInfo) -> CurrencyPairCardDTO:
        pair_id = int(select_value(self, "#pair-default", "New default target"))
        return await engine.execute(session, build(SetDefaultPair, pair_id=pair_id))


class DeletePairScreen(PositionForm[str]):
    """Delete one target of a card, after the typed confirmation ``DELETE 1``.  A pair in use
    (a strategy, a markup, a pending exchange) is refused, and the refusal names them."""

    SUBMIT_VARIANT = "error"
    SUBMIT_LABEL = "Delete pair"
    CANCEL_NOTICE = "No pair was deleted."
    HELP = ("Choose the target whose pair to delete, then type the confirmation shown. A pair that an exchange "
            "strategy, a markup or a pending client exchange uses is not deleted: the refusal names them, so "
            "you can change those first. Escape changes nothing.")

    def __init__(self, card: CurrencyPairCardDTO) -> None:
        super().__init__()
        self._card = card
        self.FORM_TITLE = f"Delete a currency pair of {card.from_currency}"

    def compose_fields(self) -> Iterable[Widget]:
        card = self._card
        yield Static(f"{card.from_currency}'s targets: {targets_text(card)} (* default).", markup=False,
                     classes="what-happens")
        only = card.targets[0].id if len(card.targets) == 1 else Select.NULL
        yield from labelled("Pair to delete", Select(
            [(f"{card.from_currency} → {t.to_currency}{' (default)' if t.default_currency else ''}", t.id)
             for t in card.targets], id="pair-delete", value=only))
        yield Static("\n".join(f"• {line}" for line in (
            f"Client exchanges from {card.from_currency} into that target are refused from then on (no such pair).",
            "Deleting the default target makes the first remaining target the default; deleting the last one "
            "removes the card.",
            "Refused, and nothing changes, while a strategy, a markup or a pending exchange uses the pair.",
            "Recorded in the audit log.")), markup=False, classes="what-happens")
        yield TypedConfirmation(phrase("delete", 1), "deletes the pair")

    async def perform(self, engine: Engine, session: SessionInfo) -> str:
        """What was done, in words (the card may be gone with its last pair)."""
        pair_id = int(select_value(self, "#pair-delete", "Pair to delete"))
        target = next(t.to_currency for t in self._card.targets if t.id == pair_id)
        card = await engine.execute(session, build(DeleteCurrencyPair, pair_id=pair_id))
        pair = f"{self._card.from_currency} → {target}"
        if card is None:
            return f"{pair} deleted; {self._card.from_currency} has no targets left, so its card is gone."
        return f"{pair} deleted; {card.from_currency}'s default target is {card.default_target}."

"""Creating and editing an exchange strategy (Service Parameter > Exchange > Currency
Exchange Strategy), and asking which strategy applies to a request now.

The service periods are one field each, written as the console shows them: "HK trading
days 09:00-16:00", "Every day 00:00-24:00", "Mon-Fri 09:00-18:00" or "Weekly 1,3,5
09:00-12:00"; a field may also hold several periods separated by ";".  The engine checks
each period and refuses periods that overlap, within the strategy or with another
enabled strategy serving the same pairs and exchange type, naming both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

from textual import on
from textual.containers import VerticalGroup
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static
from textual.worker import Worker

from wbo_tui.engine import InvalidInput, SessionInfo, ValidationFailed, WboError, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.fx import (
    CreateExchangeStrategy,
    ListCurrencySetup,
    ListReferenceRates,
    PeriodInput,
    RouteDTO,
    StrategyDTO,
    UpdateExchangeStrategy,
    WhichStrategy,
)
from wbo_tui.engine.fx.markup_steps import pair_quote, target_amount
from wbo_tui.engine.fx.strategies import ALL_PAIRS, ALLOWED_TYPES, CHANGE_TYPES, CHANNELS, STRATEGY_LABELS

from wbo_tui.widgets.forms import PositionForm, labelled

REQUIRED = "Source, target and amount"
PERIOD_ROWS = 4
"""Service period fields a new strategy offers (an edit offers one more than it has)."""
PERIOD_EXAMPLE = "e.g. HK trading days 09:00-16:00, Every day 00:00-24:00, Mon-Fri 09:00-18:00"
PERIOD_PLACEHOLDER = "e.g. HK trading days 09:00-16:00 or Mon-Fri 09:00-18:00"
_WINDOW = re.compile(r"^(?P<days>.*?)\s*(?P<window>\d{1,2}:\d{2}(?::\d{2})?\s*-\s*\d{1,2}:\d{2}(?::\d{2})?)$")
_DAY_NAMES = {name: str(n) for n, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), start=1)}
_TRADING = ("hk trading days", "hk trading day", "trading days", "hk_trade_day")
_CALENDAR = ("every day", "calendar days", "calendar day", "daily", "calendar_day")


def parse_periods(text: str, label: str) -> list[PeriodInput]:
    """The periods in one field ("HK trading days 09:00-16:00; Sat 09:00-12:00"), or a
    refusal naming the field (``label``) and what is wrong."""
    periods = []
    for part in (p.strip() for p in text.replace("–", "-").split(";")):
        if not part:
            continue
        match = _WINDOW.match(" ".join(part.split()))
        if match is None:
            raise ValidationFailed(label, f"{part!r} must end with a window such as 09:00-16:00 ({PERIOD_EXAMPLE})")
        days, window = match["days"].lower().strip(), match["window"].replace(" ", "")
        if days in _TRADING:
            periods.append(build(PeriodInput, time_zones="hk_trade_day", time_rule=window))
        elif days in _CALENDAR:
            periods.append(build(PeriodInput, time_zones="calendar_day", time_rule=window))
        else:
            periods.append(build(PeriodInput, time_zones="week", time_rule=window,
                                 week_interval=_weekdays(days, label)))
    return periods


def _weekdays(days: str, label: str) -> str:
    """Weekdays as the engine reads them (1 = Monday: "1-5", "1,3,5") from "Mon-Fri",
    "Weekly 1,3,5" or "Weekdays"."""
    for prefix in ("weekly", "weekdays", "week"):
        if days.startswith(prefix):
            rest = days.removeprefix(prefix).strip()
            days = rest or ("mon-fri" if prefix == "weekdays" else "")
            break
    if not days:
        raise ValidationFailed(label, f"needs its days: HK trading days, Every day or weekdays ({PERIOD_EXAMPLE})")
    words = re.split(r"([,\-])", days.replace(" ", ""))
    if not all(w in (",", "-") or w.isdigit() or w[:3] in _DAY_NAMES for w in words if w):
        raise ValidationFailed(label, f"{days!r} is not HK trading days, Every day or weekdays ({PERIOD_EXAMPLE})")
    return "".join(w if w in (",", "-") or w.isdigit() else _DAY_NAMES[w[:3]] for w in words if w)


def pairs_of(text: str) -> tuple[str, ...]:
    return tuple(p for p in re.split(r"[,;\s]+", text.strip().upper()) if p)


class StrategyScreen(PositionForm[StrategyDTO]):
    """Create (``strategy`` None) or edit an exchange strategy."""

    HELP = (
        "Service strategy: Exchange Pool (from the broker's pool quotas) or Bank Exchange (at a bank channel, the "
        "only kind with a channel). Exchange type: a pool serves None or Small Amount within the pool; a bank None, "
        "Large Amount or Small Amount beyond the pool. Covered pairs: USD/HKD, HKD/USD … or ALL/ALL for every pair. "
        f"Service periods, one per field, in Hong Kong time ({PERIOD_EXAMPLE}; weekdays 1 = Monday); they must not "
        "overlap. Approval starting point: from this amount in the standard currency a checker reviews the exchange "
        "(0.01: every one; blank: none for the amount). Escape changes nothing."
    )
    CANCEL_NOTICE = "Nothing was saved."

    def __init__(self, strategy: StrategyDTO | None = None) -> None:
        super().__init__()
        self._strategy = strategy
        if strategy is None:
            self.FORM_TITLE, self.SUBMIT_LABEL = "New exchange strategy", "Create strategy"
        else:
            self.FORM_TITLE = f"Edit exchange strategy {strategy.id} ({strategy.strategy_label})"
            self.SUBMIT_LABEL = "Save strategy"

    def compose_fields(self) -> Iterable[Widget]:
        s = self._strategy
        service = s.service_strategy if s else "BATCH"
        yield from labelled("Service strategy", Select([(label, code) for code, label in STRATEGY_LABELS.items()],
                                                       id="strategy-service", allow_blank=False, value=service))
        yield from labelled("Exchange type", Select([(label, code) for code, label in CHANGE_TYPES.items()],
                                                    id="strategy-type", allow_blank=False,
                                                    value=s.change_type if s else 2))
        with VerticalGroup(id="strategy-channel-field"):
            yield from labelled("Channel (Bank Exchange only)", Select(
                [(c, c) for c in CHANNELS], id="strategy-channel",
                value=s.channel_name if s and s.channel_name else Select.NULL))
        yield from labelled(f"Covered currency pairs ({ALL_PAIRS} for every pair)", Input(
            ", ".join(s.support_currency) if s else "", id="strategy-pairs", placeholder="e.g. USD/HKD, HKD/USD"))
        periods = list(s.periods) if s else []
        for index in range(max(PERIOD_ROWS, len(periods) + 1)):
            yield from labelled(f"Service period {index + 1} (HKT{', optional' if index else ''})", Input(
                periods[index].replace("–", "-") if index < len(periods) else "", id=f"strategy-period-{index + 1}",
                placeholder=PERIOD_PLACEHOLDER if index == 0 else ""))
        start = s.approval_start_amount if s else None
        yield from labelled("Approval starting point (standard ccy; 0.01: every exchange; blank: none)", Input(
            "" if start is None else str(start), id="strategy-approval"))
        yield from labelled("Remarks", Input(s.remarks if s else "", id="strategy-remarks"))

    def on_mount(self) -> None:
        self._show_channel()

    @on(Select.Changed, "#strategy-service")
    def _service_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._show_channel()
        # An exchange type the new service strategy does not serve becomes the one it does.
        kind = self.query_one("#strategy-type", Select)
        if kind.value not in ALLOWED_TYPES.get(self._service(), ()):
            kind.value = 3 if self._service() == "SINGLE" else 2

    def _show_channel(self) -> None:
        """A channel is chosen for Bank Exchange only (and sent only then)."""
        self.query_one("#strategy-channel-field").display = self._service() == "SINGLE"

    def _service(self) -> str:
        return str(self.query_one("#strategy-service", Select).value)

    def fields(self) -> dict[str, object]:
        periods: list[PeriodInput] = []
        index = 1
        while self.query(f"#strategy-period-{index}"):
            periods += parse_periods(self.value(f"#strategy-period-{index}"), f"Service period {index}")
            index += 1
        if not periods:
            raise ValidationFailed("Service period 1", f"is required ({PERIOD_EXAMPLE})")
        channel = self.query_one("#strategy-channel", Select).value
        bank = self._service() == "SINGLE"
        approval = self.value("#strategy-approval").strip()
        return {"service_strategy": self._service(),
                "change_type": self.query_one("#strategy-type", Select).value,
                "channel_name": str(channel) if bank and channel is not Select.NULL else None,
                "support_currency": pairs_of(self.value("#strategy-pairs")), "service_time": tuple(periods),
                "approval_start_amount": approval or None, "remarks": self.value("#strategy-remarks")}

    async def perform(self, engine: Engine, session: SessionInfo) -> StrategyDTO:
        fields = self.fields()
        s = self._strategy
        if s is None:
            return await engine.execute(session, build(CreateExchangeStrategy, **fields))
        return await engine.execute(session, build(UpdateExchangeStrategy, strategy_id=s.id,
                                                   expected_version=s.version, **fields))


def route_text(route: RouteDTO) -> str:
    """The answer, as the operator reads it."""
    s = route.strategy
    served = f"strategy {s.id}: {s.strategy_label}{' via ' + s.channel_name if s.channel_name else ''}, " \
             f"{s.change_type_label}"
    review = ("a checker reviews it: " + "; ".join(route.review_reasons) if route.review_reasons
              else "it executes when submitted (no review)")
    large = " It is a large amount." if route.large else ""
    return f"Served by {served}.{large} Worth {route.standard_amount:,} in the standard currency; {review}."


class WhichStrategyScreen(PositionForm[RouteDTO]):
    """Which strategy would serve a request now: the answer shows in the form, which stays
    open for another question."""

    FORM_TITLE = "Which strategy applies now?"
    SUBMIT_LABEL = "Ask"
    SUBMIT_VARIANT = "default"
    HELP = (
        "Give the source and target currencies and the amount the client sells. The target amount is the source "
        "amount at the current reference rate (before markup) unless you give it; it decides whether the pool's "
        "quota covers the exchange. The answer names the strategy and whether a checker reviews the exchange, or "
        "why no strategy applies now (e.g. outside service hours, with the next window). Nothing is changed. "
        "Escape closes."
    )

    def compose_fields(self) -> Iterable[Widget]:
        yield from labelled("Source currency (the client sells)", Input(id="which-from", placeholder="e.g. USD"))
        yield from labelled("Target currency (the client buys)", Input(id="which-to", placeholder="e.g. HKD"))
        yield from labelled("Amount in the source currency", Input(id="which-amount"))
        yield from labelled("Target amount (blank: at the current reference rate)", Input(id="which-target"))
        yield Static("", id="which-answer", markup=False, classes="what-happens")

    async def perform(self, engine: Engine, session: SessionInfo) -> RouteDTO:
        source, target = self.value("#which-from").strip().upper(), self.value("#which-to").strip().upper()
        amount = self.value("#which-amount").strip()
        given = self.value("#which-target").strip()
        self._answer("")
        if not (source and target and amount):
            raise ValidationFailed(REQUIRED, "are required")
        if given:
            to_amount: Decimal | str = given
        else:
            query = build(WhichStrategy, from_currency=source, to_currency=target, from_amount=amount, to_amount="0")
            rates = await engine.query(session, ListReferenceRates())
            setups = await engine.query(session, ListCurrencySetup())
            quote = pair_quote(rates, setups, source, target, now=engine.clock.now())
            to_amount = target_amount(quote, setups, query.from_amount)
        return await engine.query(session, build(WhichStrategy, from_currency=source, to_currency=target,
                                                 from_amount=amount, to_amount=to_amount))

    def _answer(self, text: str) -> None:
        self.query_one("#which-answer", Static).update(text)
        self._fit_later()

    def dismiss_when_active(self, result: object) -> None:
        """The answer stays in the form: the operator may ask again with other figures."""
        if isinstance(result, RouteDTO):
            self._answer(route_text(result))
            self.query_one("#submit", Button).disabled = False
            return
        super().dismiss_when_active(result)

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        handled = super().handle_engine_error(worker, error)
        # A field typed wrong stays the form's refusal; any other refusal is the answer.
        typed_wrong = isinstance(error, InvalidInput) or getattr(error, "field", "") == REQUIRED
        if handled and isinstance(error, WboError) and not typed_wrong:
            self.show_error("")
            self._answer(f"No strategy applies: {error}")
        return handled

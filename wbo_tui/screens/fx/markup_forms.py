"""Adding and editing a markup (Service Parameter > Exchange > Markup Setting), and the
view of its calculation step by step.

A reference-rate markup is set per pair and rate source channel and applies when a request
is submitted; an executed-rate markup per pair and service strategy (and bank channel),
by amount tier of the source amount, in an effective period, and applies at execution.
Amount tiers are one field: "0-10000: 0.1; 10000+: 0.05" (from, to, markup; the last tier
has no upper limit).  As the manual has it, the form shows the pair's current reference
rate once the pair is typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalGroup, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static

from wbo_tui.engine import SessionInfo, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.fx import (
    AddExecutedMarkup,
    AddReferenceMarkup,
    MarkupDTO,
    TierInput,
    UpdateExecutedMarkup,
    UpdateReferenceMarkup,
)
from wbo_tui.engine.fx.markup_steps import MarkupStepsDTO, PairQuote, effective_text
from wbo_tui.engine.fx.strategies import CHANNELS, STRATEGY_LABELS
from wbo_tui.engine.fx.tables import RATE_CHANNELS

from wbo_tui.widgets.forms import PositionForm, fit_body, labelled

KINDS = {"REFERENCE": "Reference rate (applied at submission)", "EXECUTED": "Executed rate (applied at execution)"}
MODES = {"RATE": "Ratio (percent of the rate: 0.1 = 10 bp)", "VALUE": "Value (taken off the rate)"}
TIER_EXAMPLE = "e.g. 0-10000: 0.1; 10000+: 0.05"
_TIER = re.compile(r"^(?P<start>[\d,.]+)\s*(?:(?:-|–)\s*(?P<end>[\d,.]+)|\+|-|–)?\s*:\s*(?P<markup>\S+)$")
TIME_FORMAT = "%Y-%m-%d %H:%M"

Quote = Callable[[str, str, str], "PairQuote | str"]
"""(source, target, rate channel) → the pair's current reference rate, or why there is none."""


def tiers_text(markup: MarkupDTO) -> str:
    return "; ".join(f"{t['start_value']}-{t['end_value']}: {t['markup']}" if t["end_value"] is not None
                     else f"{t['start_value']}+: {t['markup']}" for t in markup.tiers)


def parse_tiers(text: str) -> tuple[TierInput, ...]:
    tiers = []
    for number, part in enumerate((p.strip() for p in text.split(";") if p.strip()), start=1):
        match = _TIER.match(part)
        if match is None:
            raise ValidationFailed(f"Tier {number}", f"{part!r} must read from-to: markup, or from+: markup "
                                                     f"for the last ({TIER_EXAMPLE})")
        tiers.append(build(TierInput, start_value=match["start"], end_value=match["end"], markup=match["markup"]))
    if not tiers:
        raise ValidationFailed("Amount tiers", f"are required ({TIER_EXAMPLE})")
    return tuple(tiers)


def parse_moment(text: str, label: str) -> datetime | None:
    if not text.strip():
        return None
    try:
        return datetime.strptime(" ".join(text.split()), TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed(label, "must be a UTC time such as 2026-12-01 09:00") from None


class MarkupScreen(PositionForm[MarkupDTO]):
    """Add a markup (``markup`` None) or edit one: its mode and markup, and for an
    executed-rate markup its tiers and effective period (the pair and channel stay)."""

    HELP = (
        "Kind: a reference-rate markup applies when a request is submitted, per pair and rate source channel; an "
        "executed-rate markup at execution, per pair and service strategy (Bank Exchange: its channel), by tier "
        f"of the source amount ({TIER_EXAMPLE}), in an effective period (UTC; both blank: long-term). Spread "
        "mode: Ratio takes a percent off the rate (0.1 = 10 bp), Value an amount; the markup is 0 to 100 with at "
        "most 4 decimals, and the result is cut toward the broker. Escape changes nothing."
    )
    CANCEL_NOTICE = "Nothing was saved."

    def __init__(self, quote: Quote, markup: MarkupDTO | None = None) -> None:
        super().__init__()
        self._quote = quote
        self._markup = markup
        if markup is None:
            self.FORM_TITLE, self.SUBMIT_LABEL = "New markup", "Add markup"
        else:
            kind = "reference-rate" if markup.kind == "REFERENCE" else "executed-rate"
            self.FORM_TITLE = f"Edit {kind} markup {markup.from_currency}→{markup.to_currency}"
            self.SUBMIT_LABEL = "Save markup"

    def compose_fields(self) -> Iterable[Widget]:
        m = self._markup
        if m is None:
            yield from labelled("Kind", Select([(v, k) for k, v in KINDS.items()], id="markup-kind",
                                               allow_blank=False, value="REFERENCE"))
            yield from labelled("Source currency", Input(id="markup-from", placeholder="e.g. USD"))
            yield from labelled("Target currency", Input(id="markup-to", placeholder="e.g. CNH"))
        else:
            yield Static(f"{KINDS[m.kind]}: {m.from_currency}→{m.to_currency}, {where_text(m)}.", markup=False,
                         classes="what-happens")
        with VerticalGroup(id="markup-reference-fields"):
            if m is None:
                yield from labelled("Rate source channel", Select([(v, k) for k, v in RATE_CHANNELS.items()],
                                                                  id="markup-rate-channel", allow_blank=False,
                                                                  value="HKEX"))
        with VerticalGroup(id="markup-executed-fields"):
            if m is None:
                yield from labelled("Service strategy", Select([(v, k) for k, v in STRATEGY_LABELS.items()],
                                                               id="markup-strategy", allow_blank=False,
                                                               value="SINGLE"))
                with VerticalGroup(id="markup-bank-field"):
                    yield from labelled("Bank exchange channel", Select([(c, c) for c in CHANNELS],
                                                                        id="markup-bank-channel"))
        yield Static("", id="markup-rate-now", markup=False, classes="what-happens")
        yield from labelled("Spread mode", Select([(v, k) for k, v in MODES.items()], id="markup-mode",
                                                  allow_blank=False, value=m.spread_mode if m else "RATE"))
        with VerticalGroup(id="markup-bp-field"):
            yield from labelled("Markup (0-100, at most 4 decimals)", Input(
                str(m.bp) if m and m.bp is not None else "", id="markup-bp"))
        with VerticalGroup(id="markup-tier-fields"):
            yield from labelled("Amount tiers in the source currency (from-to: markup)", Input(
                tiers_text(m) if m else "", id="markup-tiers", placeholder=TIER_EXAMPLE))
            start = "" if m is None or m.start_time is None else f"{m.start_time:{TIME_FORMAT}}"
            end = "" if m is None or m.end_time is None else f"{m.end_time:{TIME_FORMAT}}"
            yield from labelled("Effective from (UTC, YYYY-MM-DD HH:MM; blank: long-term)",
                                Input(start, id="markup-start"))
            yield from labelled("Effective until (UTC; blank: long-term)", Input(end, id="markup-end"))

    def on_mount(self) -> None:
        self._show_fields()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._show_fields()

    @on(Input.Changed, "#markup-from, #markup-to")
    def _pair_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show_rate()

    def _kind(self) -> str:
        return self._markup.kind if self._markup else str(self.query_one("#markup-kind", Select).value)

    def _show_fields(self) -> None:
        """Only the chosen kind's fields are shown (and sent)."""
        reference = self._kind() == "REFERENCE"
        self.query_one("#markup-reference-fields").display = reference
        self.query_one("#markup-bp-field").display = reference
        self.query_one("#markup-executed-fields").display = not reference
        self.query_one("#markup-tier-fields").display = not reference
        if self._markup is None:
            self.query_one("#markup-bank-field").display = self._select("#markup-strategy") == "SINGLE"
        self._show_rate()

    def _select(self, selector: str) -> str | None:
        value = self.query_one(selector, Select).value
        return None if value is Select.NULL else str(value)

    def _show_rate(self) -> None:
        """The pair's current reference rate (the manual: shown once the pair is chosen)."""
        m = self._markup
        if m is not None:
            source, target, channel = m.from_currency, m.to_currency, m.channel_name or "HKEX"
        else:
            source, target = self.value("#markup-from").strip().upper(), self.value("#markup-to").strip().upper()
            channel = self._select("#markup-rate-channel") or "HKEX"
        if self._kind() == "EXECUTED":
            channel = "HKEX"
        text = ""
        if source and target and source != target:
            quote = self._quote(source, target, channel)
            text = (f"Current reference rate: {quote.step()}" if isinstance(quote, PairQuote) else
                    f"Current reference rate: {quote}")
        self.query_one("#markup-rate-now", Static).update(text)
        self._fit_later()

    def _period(self) -> dict[str, object]:
        return {"start_time": parse_moment(self.value("#markup-start"), "Effective from"),
                "end_time": parse_moment(self.value("#markup-end"), "Effective until")}

    async def perform(self, engine: Engine, session: SessionInfo) -> MarkupDTO:
        m, mode = self._markup, self._select("#markup-mode")
        if m is not None and m.kind == "REFERENCE":
            command: object = build(UpdateReferenceMarkup, markup_id=m.id, spread_mode=mode,
                                    bp=self.value("#markup-bp"), expected_version=m.version)
        elif m is not None:
            command = build(UpdateExecutedMarkup, markup_id=m.id, spread_mode=mode,
                            tiers=parse_tiers(self.value("#markup-tiers")), expected_version=m.version,
                            **self._period())
        elif self._kind() == "REFERENCE":
            command = build(AddReferenceMarkup, from_currency=self.value("#markup-from"),
                            to_currency=self.value("#markup-to"), spread_mode=mode,
                            channel_name=self._select("#markup-rate-channel"), bp=self.value("#markup-bp"))
        else:
            strategy = self._select("#markup-strategy")
            command = build(AddExecutedMarkup, from_currency=self.value("#markup-from"),
                            to_currency=self.value("#markup-to"), spread_mode=mode, service_strategy=strategy,
                            channel_name=self._select("#markup-bank-channel") if strategy == "SINGLE" else None,
                            tiers=parse_tiers(self.value("#markup-tiers")), **self._period())
        return await engine.execute(session, command)  # type: ignore[arg-type]


class MarkupStepsScreen(ModalScreen[None]):
    """The calculation of one markup on its pair's current reference rate, line by line."""

    BINDINGS = [Binding("escape", "close", "Close", id="markup-steps-close")]
    HELP = ("Each step of the markup's calculation on the current reference rate, with the figures the engine uses "
            "when a client's exchange is quoted (a reference-rate markup) or executed (an executed-rate markup). "
            "Escape closes.")

    def __init__(self, title: str, steps: MarkupStepsDTO) -> None:
        super().__init__()
        self._title = title
        self._steps = steps

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(self._title, classes="modal-title", markup=False)
            with VerticalScroll(id="confirm-scroll"):
                yield Static("\n".join(self._steps.steps), id="markup-steps", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button("Close", id="close", variant="primary")

    def help_text(self) -> tuple[str, str]:
        return (self._title, self.HELP)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()
        self.call_after_refresh(fit_body, self.query_one("#confirm-scroll"))

    def on_resize(self) -> None:
        self.call_after_refresh(fit_body, self.query_one("#confirm-scroll"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


def markup_text(m: MarkupDTO) -> str:
    """The markup as the operator reads it: "ratio 0.1 %", "value 0.0020", or its tiers."""
    def one(value: object) -> str:
        return f"{value} %" if m.spread_mode == "RATE" else f"{value}"

    if m.kind == "REFERENCE":
        return f"{'ratio' if m.spread_mode == 'RATE' else 'value'} {one(m.bp)}"
    tiers = "; ".join(f"{_amount(t['start_value'])}+: {one(t['markup'])}" for t in m.tiers)
    return f"{'ratio' if m.spread_mode == 'RATE' else 'value'} {tiers}"


def _amount(value: object) -> str:
    return f"{Decimal(str(value)):,}"


def where_text(m: MarkupDTO) -> str:
    """The channel a markup is set for: its rate source (reference) or strategy and bank channel."""
    if m.kind == "REFERENCE":
        return RATE_CHANNELS.get(m.channel_name or "", m.channel_name or "—")
    return f"Bank {m.channel_name}" if m.service_strategy == "SINGLE" else "Pool"


def describe(m: MarkupDTO) -> str:
    if m.kind == "REFERENCE":
        return f"Reference-rate markup {m.from_currency}→{m.to_currency} ({where_text(m)}): {markup_text(m)}"
    period = "long-term" if m.default_effective else effective_text(m)
    return f"Executed-rate markup {m.from_currency}→{m.to_currency} ({where_text(m)}, {period}): {markup_text(m)}"


"""Risk Warning's dialogs and the words the Risk lists use for a margin call.

The filter form (client, alert type, status, holding), Edit (status Open or Exception and
remarks, saved only if the call did not change since it was shown), Set Auto-Liquidation
(at each call's deadline, or at a moment in Hong Kong time that must be in the future and
becomes the deadline), and the batch liquidation's outcome per call.  Times in the Risk
area are Hong Kong time: a call's deadline is the close of a Hong Kong trading day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static

from wbo_tui.engine import SessionInfo, ValidationFailed, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.hk_calendar import HONG_KONG
from wbo_tui.engine.margin import (BatchResultDTO, EditMarginCall, ListMarginCalls, MarginCallDTO,
                                   SetAutoLiquidation)
from wbo_tui.widgets.forms import ConfirmScreen, PositionForm, amount_text, fit_body, labelled, select_value
from wbo_tui.widgets.typed_confirmation import phrase

ALERT_WORDS = {"MARGIN_CALL": "Margin call", "FORCE_CALL": "Force call", "OVER_FINANCING": "Over-financing"}
STATUS_WORDS = {"OPEN": "Open", "EXCEPTION": "Exception", "ENDED": "Ended"}
END_WORDS = {"CURED": "cured"}
ANY = "ANY"
HKT_FORMAT = "%Y-%m-%d %H:%M"
REMARKS_SHOWN = 24
# The sort keys ``o`` cycles through, each first in the order an operator wants it.
SORTS = (("margin_to_collect", "margin to be collected", True, "largest first"),
         ("net_asset_ratio", "net asset ratio", False, "lowest first"),
         ("deadline", "deadline", False, "soonest first"), ("elapsed", "time since trigger", True, "longest first"),
         ("lna", "LNA", False, "lowest first"), ("equity", "equity", False, "lowest first"),
         ("triggered_at", "trigger time", True, "newest first"), ("account_no", "account no", False, "A to Z"))


# --- how a call is shown -----------------------------------------------------------------

def hkt(moment: datetime | None, fmt: str = HKT_FORMAT, blank: str = "—") -> str:
    """A stored (UTC) moment in Hong Kong time."""
    return blank if moment is None else moment.astimezone(HONG_KONG).strftime(fmt)


def hkd(amount: Decimal) -> str:
    return amount_text(amount, 2)


def ratio_text(ratio: Decimal) -> str:
    """The net asset ratio, a fraction, as a percentage."""
    return f"{ratio * 100:.2f} %"


def elapsed_text(hours: int) -> str:
    """The vendor's elapsed duration (whole hours, under one counts as one); past 48 hours
    as days and hours, which an operator reads faster than "2880 h"."""
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def age_text(seconds: float) -> str:
    """How old a price is: seconds, minutes, hours or days."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def client_text(call: MarginCallDTO) -> str:
    return f"{call.account_no} {call.name}"


def call_line(call: MarginCallDTO) -> str:
    """One line per call for a confirmation: who, what is owed, the kind of call and its deadline."""
    return (f"{client_text(call)}: margin to be collected HKD {hkd(call.margin_to_collect)} "
            f"({ALERT_WORDS.get(call.alert_type, call.alert_type)}, {STATUS_WORDS.get(call.status, call.status)}; "
            f"deadline {hkt(call.deadline)} HKT)")


def describe_filters(q: ListMarginCalls) -> str:
    parts = []
    if q.client:
        parts.append(f"client {q.client!r}")
    if q.alert_type:
        parts.append(ALERT_WORDS[q.alert_type].lower())
    if q.status:
        parts.append(STATUS_WORDS[q.status].lower())
    if q.holding:
        parts.append(f"holding {q.holding}")
    return "filters: " + (", ".join(parts) if parts else "none")


def sort_words(q: ListMarginCalls) -> str:
    """The list's order in words: "margin to be collected, largest first"."""
    _, words, descending, natural = next(s for s in SORTS if s[0] == q.sort)
    return f"{words}, {natural}" if descending == q.descending else f"{words}, {natural}, reversed"


def next_sort(q: ListMarginCalls) -> ListMarginCalls:
    """The next sort key, in its natural order, from the first page."""
    keys = [s[0] for s in SORTS]
    key, _, descending, _ = SORTS[(keys.index(q.sort) + 1) % len(SORTS)]
    return q.model_copy(update={"sort": key, "descending": descending, "offset": 0})


def clipped(text: str, most: int = REMARKS_SHOWN) -> str:
    """Remarks as a column shows them: their start (the detail line has them whole)."""
    return text if len(text) <= most else text[:most - 1].rstrip() + "…"


def call_detail(c: MarginCallDTO, now: datetime, price_age: str) -> str:
    """The selected call spelled out, everything a narrow table leaves out too."""
    passed = " (passed)" if c.deadline <= now else ""
    auto = f"auto-liquidation {hkt(c.auto_liquidate_at)} HKT" if c.auto_liquidate_at else "no auto-liquidation"
    prices = f"prices {price_age} old" if c.prices_as_of else "no positions priced"
    return (f"{client_text(c)} ({c.account_type}) · {ALERT_WORDS.get(c.alert_type, c.alert_type)}, "
            f"{STATUS_WORDS.get(c.status, c.status)} · triggered {hkt(c.triggered_at)} HKT, "
            f"{elapsed_text(c.elapsed_hours)} ago · deadline {hkt(c.deadline)} HKT{passed} · {auto} · ratio "
            f"{ratio_text(c.net_asset_ratio)}, LNA {hkd(c.lna)}, equity {hkd(c.equity)}, cash {hkd(c.cash_hkd)}, "
            f"market value {hkd(c.market_value)}, requirement {hkd(c.requirement)} · to collect HKD "
            f"{hkd(c.margin_to_collect)} · {prices} · last liquidation {hkt(c.last_liquidation_at)}, last message "
            f"{hkt(c.last_message_at)}, {c.open_orders} order(s) in progress · remarks: {c.remarks or '—'}")


def parse_hkt(field: str, text: str) -> datetime:
    """``YYYY-MM-DD HH:MM`` in Hong Kong time, as a UTC moment."""
    try:
        moment = datetime.strptime(text.strip(), HKT_FORMAT)
    except ValueError:
        raise ValidationFailed(field, "must be YYYY-MM-DD HH:MM (Hong Kong time)") from None
    return moment.replace(tzinfo=HONG_KONG).astimezone(UTC)


class CallTotals(Static):
    """The header above the Risk Warning list: the desk's totals."""

    SCOPED_CSS = False
    DEFAULT_CSS = """
    CallTotals { height: auto; padding: 0 1; text-style: bold; }
    .table-pane.-denied CallTotals { display: none; }
    """


class CallDetail(Static):
    """Under a Risk list's table: the selected call spelled out."""

    SCOPED_CSS = False
    DEFAULT_CSS = """
    CallDetail { height: auto; max-height: 7; padding: 0 1; border-top: solid $primary-darken-2; }
    .table-pane.-denied CallDetail { display: none; }
    """


# --- the forms ---------------------------------------------------------------------------

class CallFilterScreen(PositionForm[ListMarginCalls]):
    """The list's filters; dismissed with the query to read (paging from its first page)."""

    FORM_TITLE = "Filter the margin calls"
    SUBMIT_LABEL = "Apply"
    HELP = ("Every field is optional; an empty one does not filter. Client: part of an account number or a name. "
            "Holding: only clients holding this security (a code such as 700.HK). Escape keeps the filters as "
            "they were.")

    def __init__(self, current: ListMarginCalls) -> None:
        super().__init__()
        self._current = current

    def compose_fields(self) -> Iterable[Widget]:
        c = self._current
        yield from labelled("Client (part of the account no or name)", Input(c.client, id="call-filter-client"))
        yield from labelled("Alert type", Select([("Any", ANY), *((w, k) for k, w in ALERT_WORDS.items())],
                                                 value=c.alert_type or ANY, allow_blank=False,
                                                 id="call-filter-alert"))
        if not c.history:
            yield from labelled("Status", Select([("Open and Exception", ANY), ("Open", "OPEN"),
                                                  ("Exception", "EXCEPTION")], value=c.status or ANY,
                                                 allow_blank=False, id="call-filter-status"))
        yield from labelled("Holding (security code)", Input(c.holding, id="call-filter-holding",
                                                             placeholder="e.g. 700.HK"))

    async def perform(self, engine: Engine, session: SessionInfo) -> ListMarginCalls:
        alert = select_value(self, "#call-filter-alert", "Alert type")
        status = ANY if self._current.history else select_value(self, "#call-filter-status", "Status")
        return build(ListMarginCalls, **{
            **self._current.model_dump(exclude={"client", "alert_type", "status", "holding", "offset"}),
            "client": self.value("#call-filter-client").strip(), "alert_type": "" if alert == ANY else alert,
            "status": "" if status == ANY else status, "holding": self.value("#call-filter-holding").strip().upper()})


class EditCallScreen(PositionForm[MarginCallDTO]):
    """The list's Edit: status Open or Exception, and remarks."""

    SUBMIT_LABEL = "Save"
    CANCEL_NOTICE = "Nothing was changed."
    HELP = ("Exception moves the call to the Exception list and stops the daily client messages: for clients "
            "with debt and no positions, whom liquidation cannot cure. Open undoes it. Remarks are seen by the "
            "next handler (follow-up records are in Details). Saved only if the call did not change since it "
            "was shown; Escape changes nothing.")

    def __init__(self, call: MarginCallDTO) -> None:
        super().__init__()
        self._call = call
        self.FORM_TITLE = f"Edit the margin call of {client_text(call)}"

    def compose_fields(self) -> Iterable[Widget]:
        c = self._call
        yield Static(call_line(c) + ".", markup=False, classes="what-happens")
        yield from labelled("Status", Select([("Open", "OPEN"), ("Exception (stops client messages)", "EXCEPTION")],
                                             value=c.status, allow_blank=False, id="call-edit-status"))
        yield from labelled("Remarks", Input(c.remarks, id="call-edit-remarks", max_length=500))

    async def perform(self, engine: Engine, session: SessionInfo) -> MarginCallDTO:
        c = self._call
        return await engine.execute(session, build(
            EditMarginCall, call_id=c.id, status=select_value(self, "#call-edit-status", "Status"),
            remarks=self.value("#call-edit-remarks").strip(), expected_version=c.version))


AT_DEADLINE, AT_TIME = "DEADLINE", "CUSTOM"


class AutoLiquidationScreen(PositionForm[tuple[MarginCallDTO, ...]]):
    """Set Auto-Liquidation for the marked (or the selected) calls."""

    SUBMIT_LABEL = "Set"
    CANCEL_NOTICE = "Nothing was changed."
    HELP = ("When the desk liquidates these calls: at each call's own deadline, or at a moment you choose in Hong "
            "Kong time (YYYY-MM-DD HH:MM), which must be in the future and becomes each call's deadline too "
            "(extended or brought forward; messages stop at the deadline). Escape changes nothing.")

    def __init__(self, calls: Sequence[MarginCallDTO]) -> None:
        super().__init__()
        self._calls = tuple(calls)
        self.FORM_TITLE = f"Set auto-liquidation for {len(calls)} call(s)"

    def compose_fields(self) -> Iterable[Widget]:
        yield Static("\n".join(f"• {call_line(c)}" for c in self._calls), markup=False, classes="what-happens")
        yield from labelled("Liquidate", Select([("At each call's deadline", AT_DEADLINE),
                                                 ("At a time I choose (it becomes the deadline)", AT_TIME)],
                                                value=AT_DEADLINE, allow_blank=False, id="auto-when"))
        yield from labelled("Time (Hong Kong, YYYY-MM-DD HH:MM)", Input(id="auto-at", placeholder="2026-11-23 10:00"))

    async def perform(self, engine: Engine, session: SessionInfo) -> tuple[MarginCallDTO, ...]:
        at = None
        if select_value(self, "#auto-when", "Liquidate") == AT_TIME:
            at = parse_hkt("Time", self.value("#auto-at"))
        return await engine.execute(session, SetAutoLiquidation(call_ids=tuple(c.id for c in self._calls), at=at))


def batch_confirmation(calls: Sequence[MarginCallDTO]) -> ConfirmScreen:
    """Batch liquidation of the marked calls: each client and what it owes; typed to confirm."""
    lines = [call_line(c) for c in calls] + [
        "Each client's positions are sold by the engine's own plan (the desk's order rule, limits at the best "
        "bid or ask moved by its price steps, board lots), enough to cure the call plus the buffer.",
        "A call that is an Exception, has orders in progress or nothing to sell is skipped, and the result "
        "says why. The orders go to the venue once committed; Liquidation Orders shows their fills."]
    return ConfirmScreen(f"Liquidate {len(calls)} marked client(s)?", lines, "Liquidate",
                         typed=phrase("liquidate", len(calls)),
                         does=f"sends the liquidation orders of the {len(calls)} marked call(s)")


def message_confirmation(calls: Sequence[MarginCallDTO]) -> ConfirmScreen:
    lines = [call_line(c) for c in calls] + [
        "Each client gets the margin call message (what is owed, the net asset ratio, the deadline) through "
        "the desk's client channel, and a snapshot of the call is recorded.",
        "All or nothing: if any of them is past its deadline or an Exception, nothing is sent and you are told which."]
    return ConfirmScreen(f"Send the margin call message to {len(calls)} client(s)?", lines, "Send", danger=False,
                         does="sends the messages")


def outcome_lines(result: BatchResultDTO, names: dict[int, str]) -> list[str]:
    """Each call of a batch liquidation and what happened to it."""
    lines = []
    for o in result.outcomes:
        who = names.get(o.call_id, o.account_no)
        if o.skipped:
            lines.append(f"✘ {who}: skipped, {o.skipped}")
        else:
            cure = "cures the call" if o.cures else "does not cure the call on its own"
            lines.append(f"✔ {who}: {o.orders} order(s) sent; the plan {cure}")
    return lines


class BatchOutcomeScreen(ModalScreen[None]):
    """What a batch liquidation did to each call."""

    BINDINGS = [Binding("escape", "close", "Close", id="batch-outcome-close")]
    HELP = ("Each marked call and what the batch liquidation did: orders sent (Liquidation Orders shows their "
            "fills) or why it was skipped. Escape or Close returns to the list.")

    def __init__(self, result: BatchResultDTO, names: dict[int, str]) -> None:
        super().__init__()
        self._result = result
        self._names = names

    def compose(self) -> ComposeResult:
        sent = sum(1 for o in self._result.outcomes if not o.skipped)
        with Vertical(classes="modal-box"):
            yield Static(f"Batch liquidation {self._result.batch_ref}", classes="modal-title", markup=False)
            yield Static(f"{sent} of {len(self._result.outcomes)} call(s) liquidated. Enter or Escape closes.",
                         classes="modal-subtitle", markup=False)
            with VerticalScroll(classes="form-fields"):
                yield Static("\n".join(outcome_lines(self._result, self._names)), id="batch-outcomes", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button("Close", id="close", variant="primary")

    def help_text(self) -> tuple[str, str]:
        return ("Batch liquidation", self.HELP)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()
        self.on_resize()

    def on_resize(self) -> None:
        # The outcomes scroll on a short terminal; the Close button stays on screen.
        self.call_after_refresh(fit_body, self.query_one(".form-fields"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

"""The parts of a margin call's Details page (``details``): its sections (positions, cash,
the liquidation in progress, the follow-up records), each a table pane fed by the page's
one read of the call, the follow-up form, and the display text of figures (the close-out
dialog's what-if too).

A section never reads the engine itself: the page reads the whole call at one moment
(``GetCallDetails``) and hands each section its rows.  What a section's keys do beyond
the section (liquidate, cancel an order, a follow-up record saved) it asks of the page
with a message; the page runs it and reads the call again."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Static

from wbo_tui.engine import Command, SessionInfo, build
from wbo_tui.engine.api import Engine
from wbo_tui.engine.hk_calendar import HONG_KONG
from wbo_tui.engine.margin import (
    AddFollowUp,
    CancelLiquidationOrder,
    CashLineDTO,
    FiguresDTO,
    FollowUpDTO,
    LiquidationOrderDTO,
    LiquidationPlanDTO,
    MarginCallDTO,
    PositionDTO,
)
from wbo_tui.engine.margin.liquidation import FULL

from wbo_tui.widgets.forms import ConfirmScreen, FormScreen, labelled
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import TablePane, cell
from wbo_tui.widgets.typed_confirmation import phrase

CENT = Decimal("0.01")
ENDED = "the call has ended: there is nothing to liquidate"


# --- display text -----------------------------------------------------------------------


def amount(value: Decimal | None) -> str:
    """An engine amount as the engine scaled it, digits grouped."""
    return "—" if value is None else f"{value:,}"


def money(value: Decimal | None) -> Text:
    return Text(amount(value), justify="right", no_wrap=True)


def pct(fraction: Decimal) -> str:
    """A ratio (a fraction) as a percentage to the hundredth: 0.3586 → 35.86 %."""
    return f"{(fraction * 100).quantize(CENT, rounding=ROUND_HALF_UP)} %"


def moment(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A moment in Hong Kong time, as the whole Risk area shows them (the labels say HKT)."""
    return "—" if value is None else value.astimezone(HONG_KONG).strftime(fmt)


def seconds(value: datetime | None) -> str:
    return moment(value, "%Y-%m-%d %H:%M:%S")


def age_text(quoted_at: datetime | None, now: datetime | None) -> str:
    """How old a quote is: seconds under a minute, then minutes, hours, days."""
    if quoted_at is None:
        return "no quote"
    if now is None:
        return ""
    seconds = max(0, int((now - quoted_at).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def holding(quantity: int) -> str:
    return f"{abs(quantity):,} {'long' if quantity > 0 else 'short'}"


def needs_full(session: SessionInfo | None, wanted_for: str) -> Unavailable | None:
    """Why the operator may not ``wanted_for`` (without RiskWarningFull), or None."""
    if session is None:
        return Unavailable("you are logged out")
    if not session.can(FULL):
        return Unavailable(f"you need the permission {FULL} to {wanted_for} (R requests it)",
                           permission=FULL, wanted_for=wanted_for)
    return None


def cured(value: FiguresDTO, with_buffer: bool, buffer_pct: object) -> str:
    if not value.cured:
        return "no"
    return f"yes, with the {buffer_pct} % buffer" if with_buffer else "yes (without the buffer)"


def what_if(plan: LiquidationPlanDTO, buffer_pct: object) -> Table:
    """The close-out dialog's what-if: the call's figures now and if every line of ``plan`` fills."""
    before, after = plan.before, plan.after
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    rows = [("Margin to be collected", f"{before.margin_to_collect:,}", f"{after.margin_to_collect:,}"),
            ("Net asset ratio", pct(before.net_asset_ratio), pct(after.net_asset_ratio)),
            ("Liquid net assets", f"{before.lna:,}", f"{after.lna:,}"),
            ("Cured", cured(before, False, buffer_pct), cured(after, plan.with_buffer, buffer_pct))]
    grid.add_row("What-if", "Now", "", "If every line fills at its limit", style="bold")
    for row in rows:
        grid.add_row(row[0], row[1], "→", row[2])
    return grid


# --- what a section asks of the page ---------------------------------------------------


class LiquidateAsked(Message):
    """Liquidate ``codes`` (empty: the whole plan) of the page's call."""

    def __init__(self, codes: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.codes = codes


class CommandAsked(Message):
    """Run ``command`` for the page; ``done`` turns its result into what the operator is told."""

    def __init__(self, command: Command, done: Callable[[Any], str]) -> None:
        super().__init__()
        self.command = command
        self.done = done


# --- the sections ----------------------------------------------------------------------


class Section(TablePane):
    """One section of the page; ``show_rows`` hands it its rows (see the module)."""

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.rows: tuple[Any, ...] = ()
        self.now: datetime | None = None

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    def show_rows(self, rows: Iterable[Any], now: datetime | None) -> None:
        self.rows, self.now = tuple(rows), now
        self.load()

    async def fetch(self) -> Sequence[Any]:
        return self.rows

    def detail_text(self, item: Any) -> str:
        return ""

    def show_detail(self, item: Any) -> None:
        self.query_one(".pane-detail", Static).update("" if item is None else self.detail_text(item))


class PositionsSection(Section):
    COLUMNS = ("Code", "Name", "Quantity", "Lot", "Avg cost", "Last", "Bid", "Ask", "Quote age", "Status",
               "MV (HKD)", "P&L (HKD)", "MC factor")
    DROP_ORDER = ("Name", "Avg cost", "Ask", "Lot", "MC factor", "P&L (HKD)", "Last")
    NARROW = {"Name": 12}
    EMPTY = "The client holds no positions."
    HELP = ("Positions: each with its board lot, average cost, last price, best bid and ask and how old that "
            "quote is (stale ones are marked), its status (suspended and delisted stocks are never liquidated), "
            "its market value and unrealised profit or loss in HKD and its margin-call factor. l liquidates the "
            "selected position alone (the close-out dialog shows the plan and its what-if first).")
    BINDINGS = [Binding("l", "liquidate", "Liquidate position", id="risk-details-liquidate-one",
                        tooltip="Liquidate the selected position alone")]
    ROW_ACTIONS = frozenset({"liquidate"})
    ended = False
    """The call has ended (Details opened from History): nothing is liquidated."""

    def row_key(self, item: PositionDTO) -> str:
        return item.code

    def row_cells(self, p: PositionDTO) -> Sequence[object]:
        age = age_text(p.quoted_at, self.now)
        quote = Text(f"stale, {age}" if p.stale else age, style="bold yellow" if p.stale else "")
        status = Text(p.status.capitalize(), style="" if p.tradable else "bold red")
        return (cell(p.code), cell(p.name), Text(holding(p.quantity), justify="right"), money(Decimal(p.lot_size)),
                money(p.avg_cost), money(p.last), money(p.bid), money(p.ask), quote, status,
                money(p.market_value_hkd), Text(amount(p.unrealised_hkd), justify="right",
                                                style="red" if p.unrealised_hkd < 0 else ""),
                Text(f"{p.mcm_factor} %", justify="right"))

    def detail_text(self, p: PositionDTO) -> str:
        # What a narrow table leaves out first (name, lots, cost, ask, P&L, factor), in two lines at 80 columns.
        lots, odd = divmod(abs(p.quantity), p.lot_size)
        odd_text = f" + {odd} odd" if odd else ""
        return (f"{p.code} {p.name}: {lots:,} lots of {p.lot_size:,}{odd_text}; avg cost {amount(p.avg_cost)} "
                f"{p.currency}, last {amount(p.last)}, ask {amount(p.ask)}; P&L HKD {amount(p.unrealised_hkd)}; "
                f"MC factor {p.mcm_factor} %{'' if p.tradable else f'; {p.status.lower()}: never liquidated'}.")

    def status_text(self, items: Sequence[PositionDTO]) -> str:
        if not items:
            return self.EMPTY
        stale = [p.code for p in items if p.stale]
        halted = [p.code for p in items if not p.tradable]
        parts = [f"{len(items)} position{'s' if len(items) != 1 else ''}"]
        if stale:
            parts.append(f"stale quotes: {', '.join(stale)}")
        if halted:
            parts.append(f"suspended or delisted: {', '.join(halted)}")
        return " · ".join(parts)

    def why_not(self, action: str, item: PositionDTO | None) -> Unavailable | str | None:
        if item is None:
            return "no position is selected"
        if self.ended:
            return ENDED
        if not item.tradable:
            return f"{item.code} is {item.status.lower()}: it is never liquidated"
        return needs_full(self.wbo.session, "liquidate positions")

    def action_liquidate(self) -> None:
        position: PositionDTO = self.selected
        self.post_message(LiquidateAsked((position.code,)))


class CashSection(Section):
    COLUMNS = ("Currency", "Amount", "HKD mid", "HKD value")
    EMPTY = "The client holds no cash."
    HELP = "Cash: each currency's balance, the HKD mid rate it is valued at, and its value in HKD."

    def row_key(self, item: CashLineDTO) -> str:
        return item.currency

    def row_cells(self, c: CashLineDTO) -> Sequence[object]:
        return (cell(c.currency), money(c.amount), money(c.hkd_mid), money(c.hkd))

    def detail_text(self, c: CashLineDTO) -> str:
        return f"{c.currency} {amount(c.amount)} at {c.hkd_mid} HKD = HKD {amount(c.hkd)}."

    def status_text(self, items: Sequence[CashLineDTO]) -> str:
        if not items:
            return self.EMPTY
        total = sum((c.hkd for c in items), Decimal(0))
        return f"{len(items)} currenc{'ies' if len(items) != 1 else 'y'} · HKD {amount(total)} in all"


def order_text(o: LiquidationOrderDTO) -> str:
    return f"{o.side.capitalize()} {o.quantity:,} {o.code} at {amount(o.limit_price)} limit"


class OrdersSection(Section):
    COLUMNS = ("Order", "Code", "Side", "Quantity", "Limit", "Filled", "State", "By", "Sent (HKT)")
    DROP_ORDER = ("Sent (HKT)", "By")
    EMPTY = "Nothing is being liquidated for this client."
    HELP = ("Liquidation in progress: this call's orders not yet final, with what has filled. c cancels what is "
            "unfilled of the selected order (shares already filled stay sold). The Liquidation Orders tab lists "
            "every order.")
    BINDINGS = [Binding("c", "cancel_order", "Cancel order", id="risk-details-cancel-order",
                        tooltip="Cancel what is unfilled of the selected order")]
    ROW_ACTIONS = frozenset({"cancel_order"})

    def row_key(self, item: LiquidationOrderDTO) -> str:
        return str(item.id)

    def row_cells(self, o: LiquidationOrderDTO) -> Sequence[object]:
        return (cell(o.cl_ord_id), cell(o.code), cell(o.side.lower()), money(Decimal(o.quantity)),
                money(o.limit_price), money(Decimal(o.filled_quantity)),
                Text(o.state.replace("_", " ").lower(), style="bold yellow" if o.state == "UNKNOWN" else ""),
                cell(o.operator), cell(seconds(o.created_at)))

    def detail_text(self, o: LiquidationOrderDTO) -> str:
        filled = (f"{o.filled_quantity:,} filled at {amount(o.avg_fill_price)} on average"
                  if o.filled_quantity else "nothing filled yet")
        note = f"; {o.reason}" if o.reason else ""
        return (f"{o.cl_ord_id}: {order_text(o)} ({o.force_type.lower()}), sent by {o.operator} at "
                f"{seconds(o.created_at)} HKT; {filled}; {o.state.replace('_', ' ').lower()}{note}.")

    def status_text(self, items: Sequence[LiquidationOrderDTO]) -> str:
        if not items:
            return self.EMPTY
        return (f"{len(items)} order{'s' if len(items) != 1 else ''} in progress · no new liquidation of this "
                "client until they end")

    def why_not(self, action: str, item: LiquidationOrderDTO | None) -> Unavailable | str | None:
        if item is None:
            return "no order is selected"
        if item.state == "CANCEL_REQUESTED":
            return f"a cancel of {item.cl_ord_id} was already requested; the venue's answer is awaited"
        return needs_full(self.wbo.session, "cancel liquidation orders")

    def action_cancel_order(self) -> None:
        o: LiquidationOrderDTO = self.selected
        left = o.quantity - o.filled_quantity
        consequences = [
            f"Cancels what is unfilled of {o.cl_ord_id} ({order_text(o)}): {left:,} of {o.quantity:,} shares.",
            f"Shares already filled stay sold ({o.filled_quantity:,} so far); a fill that reaches the venue before "
            "the cancel counts too.",
            "An order the venue has not received yet is cancelled at once; otherwise the cancel is requested and the "
            "venue's answer is awaited.",
        ]

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.post_message(CommandAsked(CancelLiquidationOrder(order_id=o.id), lambda r: (
                    f"{r.cl_ord_id}: cancelled." if r.state == "CANCELLED"
                    else f"{r.cl_ord_id}: cancel requested; the venue's answer is awaited.")))

        self.app.push_screen(ConfirmScreen(f"Cancel {o.cl_ord_id}?", consequences, "Cancel order",
                                           typed=phrase("cancel", 1), does="cancels the order's unfilled part"),
                             callback=confirmed)


class FollowUpsSection(Section):
    COLUMNS = ("Time (HKT)", "Author", "Content")
    NARROW = {"Content": 20}
    EMPTY = "No follow-up records yet."
    HELP = ("Follow-up records: notes for whoever handles the call next, newest first, with their author and time. "
            "They are never edited or deleted. f adds one.")

    def row_key(self, item: FollowUpDTO) -> str:
        return str(item.id)

    def row_cells(self, f: FollowUpDTO) -> Sequence[object]:
        return (cell(seconds(f.created_at)), cell(f.author), cell(f.content))

    def detail_text(self, f: FollowUpDTO) -> str:
        return f"{f.author}, {seconds(f.created_at)} HKT: {f.content}"

    def show_rows(self, rows: Iterable[Any], now: datetime | None) -> None:
        super().show_rows(sorted(rows, key=lambda f: f.id, reverse=True), now)  # newest first

    def status_text(self, items: Sequence[FollowUpDTO]) -> str:
        if not items:
            return f"{self.EMPTY} f adds one."
        return f"{len(items)} record{'s' if len(items) != 1 else ''}, newest first · f adds one (append-only)"


# --- the follow-up form ------------------------------------------------------------------


class FollowUpScreen(FormScreen[FollowUpDTO]):
    SUBMIT_LABEL = "Add record"
    CANCEL_NOTICE = "No follow-up record was added."
    HELP = ("Write what was done or agreed, for whoever handles the call next. The record keeps your name and "
            "the time; it is never edited or deleted. Escape adds nothing.")

    def __init__(self, call: MarginCallDTO) -> None:
        super().__init__()
        self._call = call
        self.FORM_TITLE = f"Follow-up record: {call.account_no} {call.name}"

    def compose_fields(self) -> Iterable[Widget]:
        yield Static("Append-only: once added, the record cannot be edited or deleted.", markup=False,
                     classes="what-happens")
        yield from labelled("What was done or agreed (required)",
                            Input(id="follow-up-content", max_length=1000, compact=True))

    async def perform(self, engine: Engine, session: SessionInfo) -> FollowUpDTO:
        return await engine.execute(session, build(AddFollowUp, call_id=self._call.id,
                                                   content=self.value("#follow-up-content")))

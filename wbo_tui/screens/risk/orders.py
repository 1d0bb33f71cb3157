"""Risk › Liquidation Orders (the vendor's Close-Out Orders, ``risk_batch_force_close_logs``):
every liquidation order, newest first, its fills and status followed live as the venue
answers.  Typed filters (client, security, status, Hong Kong date, call id) and "open
only" narrow the list; c cancels the selected order, confirmed first with exactly what a
cancel does and does not undo (margin-call.txt 3.2)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, Static

from wbo_tui.engine import ValidationFailed
from wbo_tui.engine.hk_calendar import HONG_KONG
from wbo_tui.engine.margin import CancelLiquidationOrder, LiquidationOrderDTO, ListLiquidationOrders
from wbo_tui.engine.margin.liquidation import FULL
from wbo_tui.engine.margin.tables import OPEN_ORDER_STATES, ORDER_STATES

from wbo_tui.widgets.forms import ConfirmScreen
from wbo_tui.widgets.moments import when
from wbo_tui.widgets.row_actions import Unavailable
from wbo_tui.widgets.table_pane import TablePane, cell

PAGE_SIZE = 200
FORCE_TYPES = {"SINGLE": "Single", "BULK": "Bulk", "BATCH": "Batch"}
STATE_STYLE = {"FILLED": "green", "PARTIALLY_FILLED": "cyan", "CANCEL_REQUESTED": "yellow", "CANCELLED": "dim",
               "REJECTED": "bold red", "UNKNOWN": "bold yellow"}
FILTERS = ("client", "code", "state", "day", "call")
NEEDS = Unavailable(f"you need the permission {FULL} to cancel liquidation orders (R requests it)",
                    permission=FULL, wanted_for="cancel liquidation orders")


def state_words(state: str) -> str:
    return state.lower().replace("_", " ")


def price_text(price: Decimal | None) -> str:
    """A price as the desk reads it: at least two decimals, no trailing zeros beyond."""
    if price is None:
        return "—"
    places = max(2, -price.normalize().as_tuple().exponent)  # type: ignore[operator]
    return f"{price:,.{places}f}"


def align_right(labels: Sequence[str], rows: list[list[object]], right: frozenset[str]) -> list[list[object]]:
    """``rows`` with the cells of the ``right`` columns padded on the left to the column's
    widest cell or label: the table draws every cell from its left edge, so amounts line
    up on their last digit only when they are padded."""
    for index, label in enumerate(labels):
        if label not in right or not rows:
            continue
        cells = [row[index] if isinstance(row[index], Text) else cell(row[index]) for row in rows]
        width = max(len(label), *(c.cell_len for c in cells))
        for row, text in zip(rows, cells, strict=True):
            padded = text.copy()
            padded.pad_left(width - text.cell_len)
            row[index] = padded
    return rows


def parse_order_filters(client: str, code: str, state: str, day: str, call: str, *,
                        open_only: bool) -> ListLiquidationOrders:
    """The filter fields as the engine's query; a bad value is refused naming its field."""
    chosen = re.sub(r"[\s-]+", "_", state.strip()).upper()
    if chosen and chosen not in ORDER_STATES:
        raise ValidationFailed("Status", "must be one of " + ", ".join(state_words(s) for s in ORDER_STATES))
    day = day.strip()
    if day:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise ValidationFailed("Date", "must be a Hong Kong date such as 2026-11-20") from None
    call = call.strip()
    if call and not call.isdigit():
        raise ValidationFailed("Call id", "must be a whole number (the risk warning's id)")
    return ListLiquidationOrders(client=client.strip(), code=code.strip().upper(), state=chosen, day=day,
                                 call_id=int(call or 0), open_only=open_only, page_size=PAGE_SIZE)


def describe_filters(q: ListLiquidationOrders) -> str:
    parts = [f"{label} {value}" for label, value in (
        ("client", q.client), ("security", q.code), ("status", state_words(q.state)), ("HK date", q.day),
        ("call", q.call_id or "")) if value]
    if q.open_only:
        parts.append("open only")
    return "filters: " + ", ".join(parts) if parts else "no filters"


def cancel_consequences(o: LiquidationOrderDTO) -> list[str]:
    """What cancelling ``o`` does, said before it is done."""
    unfilled = o.quantity - o.filled_quantity
    verb = "sold" if o.side == "SELL" else "bought back"
    lines = [f"{o.cl_ord_id}: {o.side.lower()} {o.quantity:,} {o.code} for {o.account_no} at limit "
             f"{price_text(o.limit_price)}; {o.filled_quantity:,} filled so far, {unfilled:,} unfilled."]
    if o.state == "PENDING":
        lines.append(f"It has not been sent to the venue yet: it is cancelled at once and none of its {unfilled:,} "
                     "shares trade.")
    else:
        lines.append(f"A cancel of the unfilled {unfilled:,} shares is sent to the venue; the order shows cancel "
                     "requested until the venue answers, then cancelled.")
    if o.filled_quantity:
        lines.append(f"The {o.filled_quantity:,} shares already filled stay {verb}: a cancel never undoes a fill, "
                     "and the client's cash and position keep it.")
    lines += [
        f"A cancel can lose the race to a fill: shares the venue fills before it receives the cancel stay {verb}, "
        "and the order may end filled after all.",
        f"The margin call stays as it is. While the cancel is awaited {o.account_no} cannot be liquidated again "
        "(one liquidation per client at a time).",
        "The cancel is recorded in the audit log under your name.",
    ]
    return lines


class OrderFilters(Horizontal):
    """One line of typed filters above the orders; Enter in any of them applies them all."""

    DEFAULT_CSS = """
    OrderFilters { height: 1; }
    OrderFilters Input { width: 1fr; height: 1; border: none; padding: 0 1; }
    .table-pane.-denied OrderFilters { display: none; }
    """

    def compose(self) -> ComposeResult:
        for name, hint in zip(FILTERS, ("Client", "Security code", "Status", "HK date YYYY-MM-DD", "Call id"),
                              strict=True):
            yield Input(id=f"order-filter-{name}", placeholder=hint, compact=True)


class OrdersPane(TablePane):
    COLUMNS = ("Order", "Client", "Security", "Side", "Quantity", "Limit", "Filled", "Avg fill", "Status", "Type",
               "By", "Created (UTC)", "Reason")
    # At 80 columns: client, security, side, quantity, limit, filled and status; the detail
    # line spells the selected order out in full (its client order id, fills, who, when, reason).
    DROP_ORDER = ("Reason", "Created (UTC)", "By", "Order", "Type", "Avg fill")
    NARROW = {"Reason": 16}
    EMPTY = "No liquidation orders."
    TOPICS = frozenset({"liquidation_orders", "liquidation_fills"})
    HELP = (
        "Liquidation Orders: every liquidation order sent for a margin call, newest first, 200 a page (] older, "
        "[ newer), its status followed live as the venue answers: pending (not sent yet), sending, new (at the "
        "venue), partially filled, filled, cancel requested, cancelled, rejected, unknown (an answer was lost: a "
        "status request settles it). Type: Single (one position from Details), Bulk (Details' bulk liquidation) or "
        "Batch (the Risk Warning list). Type filters (client account or name, security code, status, Hong Kong "
        "date, call id) and press Enter; / jumps to them, f cycles the status filter, o shows only open orders. "
        "c cancels the selected open order after saying exactly what happens: the unfilled part is cancelled, "
        "shares already filled stay sold, and a cancel can lose the race to a fill. Needs RiskWarningReadOnly "
        f"(c: {FULL})."
    )
    BINDINGS = [
        Binding("c", "cancel_order", "Cancel order", id="risk-order-cancel",
                tooltip="Cancel the unfilled part of the selected order"),
        Binding("o", "toggle_open", "Open only", id="risk-order-open", tooltip="Show only open orders, or all"),
        Binding("f", "cycle_status", "Status filter", id="risk-order-status", tooltip="Cycle the status filter"),
        Binding("slash", "focus_filters", "Filters", key_display="/", id="risk-order-filters", show=False),
        Binding("left_square_bracket", "page(-1)", "Newer", key_display="[", id="risk-order-newer"),
        Binding("right_square_bracket", "page(1)", "Older", key_display="]", id="risk-order-older"),
    ]
    ROW_ACTIONS = frozenset({"cancel_order"})
    RIGHT = frozenset({"Quantity", "Limit", "Filled", "Avg fill"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.filters = ListLiquidationOrders(page_size=PAGE_SIZE)
        self.page_offset = 0
        self.full_page = False

    def compose(self) -> ComposeResult:
        yield OrderFilters()
        yield from super().compose()

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[LiquidationOrderDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        rows = await engine.query(session, self.filters.model_copy(update={"offset": self.page_offset}))
        self.full_page = len(rows) == PAGE_SIZE
        self.refresh_bindings()
        return rows

    def row_key(self, item: LiquidationOrderDTO) -> str:
        return str(item.id)

    def _rows(self, items: Sequence[LiquidationOrderDTO]) -> list[list[object]]:
        return align_right(self.COLUMNS, super()._rows(items), self.RIGHT)

    def row_cells(self, o: LiquidationOrderDTO) -> Sequence[object]:
        return (cell(o.cl_ord_id), cell(o.account_no), cell(o.code), cell(o.side.lower()), cell(f"{o.quantity:,}"),
                cell(price_text(o.limit_price)), cell(f"{o.filled_quantity:,}"),
                cell(price_text(o.avg_fill_price) if o.filled_quantity else "—"),
                Text(state_words(o.state), style=STATE_STYLE.get(o.state, ""), no_wrap=True),
                cell(FORCE_TYPES.get(o.force_type, o.force_type)), cell(o.operator), cell(when(o.created_at)),
                cell(o.reason))

    def status_text(self, items: Sequence[LiquidationOrderDTO]) -> str:
        start = self.page_offset + 1
        shown = f"{start}-{self.page_offset + len(items)} shown, newest first" if items else self.EMPTY.rstrip(".")
        more = "; ] older" if self.full_page else ""
        open_now = sum(1 for o in items if o.state in OPEN_ORDER_STATES)
        return f"{shown}, {open_now} open{more}; {describe_filters(self.filters)}."

    def show_detail(self, o: LiquidationOrderDTO | None) -> None:
        text = ""
        if o is not None:
            # Two lines at 80 columns: what the narrow table leaves out comes first after the
            # order itself (the reason), the moments last.
            fills = (f"{o.filled_quantity:,} filled at avg {price_text(o.avg_fill_price)}" if o.filled_quantity
                     else "nothing filled")
            reason = f" ({o.reason})" if o.reason else ""
            updated = "" if o.updated_at == o.created_at else (
                f", updated {o.updated_at:%H:%M:%S}" if o.updated_at.date() == o.created_at.date()
                else f", updated {when(o.updated_at)}")
            text = (f"{o.cl_ord_id} call {o.call_id}: {o.side.lower()} {o.quantity:,} {o.code} for {o.account_no} at "
                    f"{price_text(o.limit_price)}; {fills}; {state_words(o.state)}{reason}. "
                    f"{FORCE_TYPES.get(o.force_type, o.force_type)} by {o.operator}, {when(o.created_at)} UTC "
                    f"({o.created_at.astimezone(HONG_KONG):%H:%M} HK){updated}.")
        self.query_one(".pane-detail", Static).update(text)

    # --- filters and pages ----------------------------------------------------------------

    def _apply_filters(self, *, open_only: bool | None = None) -> bool:
        values = [self.query_one(f"#order-filter-{name}", Input).value for name in FILTERS]
        try:
            self.filters = parse_order_filters(
                *values, open_only=self.filters.open_only if open_only is None else open_only)
        except ValidationFailed as error:
            self.app.notify(str(error), title="Filter not applied", severity="error", markup=False)
            return False
        self.page_offset = 0
        self.load()
        return True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._apply_filters():
            self.focus_table()

    def action_focus_filters(self) -> None:
        self.query_one("#order-filter-client", Input).focus()

    def action_toggle_open(self) -> None:
        self._apply_filters(open_only=not self.filters.open_only)

    def action_cycle_status(self) -> None:
        choices = ["", *(state_words(s) for s in ORDER_STATES)]
        field = self.query_one("#order-filter-state", Input)
        now = state_words(self.filters.state)
        field.value = choices[(choices.index(now) + 1) % len(choices)] if now in choices else ""
        self._apply_filters()

    def action_page(self, step: int) -> None:
        self.page_offset = max(0, self.page_offset + step * PAGE_SIZE)
        self.load()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "page" and not self.has_class("-denied"):
            step = parameters[0] if parameters else 0
            return bool(self.page_offset) if step == -1 else self.full_page
        return super().check_action(action, parameters)

    # --- cancelling -----------------------------------------------------------------------

    def why_not(self, action: str, item: LiquidationOrderDTO | None) -> Unavailable | str | None:
        if item is None:
            return "no order is selected"
        session = self.wbo.session
        if session is None:
            return "you are logged out"
        if item.state not in OPEN_ORDER_STATES:
            return f"{item.cl_ord_id} is {state_words(item.state)}: there is nothing left to cancel"
        if item.state == "CANCEL_REQUESTED":
            return f"a cancel of {item.cl_ord_id} was already requested; the venue's answer is awaited"
        if not session.can(FULL):
            return NEEDS
        return None

    def action_cancel_order(self) -> None:
        o: LiquidationOrderDTO = self.selected

        def confirmed(yes: bool | None) -> None:
            if yes and not self.busy:
                self.busy = True
                self._cancel(o)

        self.app.push_screen(ConfirmScreen(f"Cancel liquidation order {o.cl_ord_id}?", cancel_consequences(o),
                                           "Cancel the order", does="cancels its unfilled part"),
                             callback=confirmed)

    @work(group="act", exit_on_error=False)
    async def _cancel(self, o: LiquidationOrderDTO) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        done = await engine.execute(session, CancelLiquidationOrder(order_id=o.id))
        self.busy = False
        said = ("cancelled (it had not been sent)." if done.state == "CANCELLED" else
                "cancel requested: the venue's answer is awaited; filled shares stay sold.")
        self.app.notify(f"{done.cl_ord_id} {said}", title="Liquidation order", markup=False)
        self.load()

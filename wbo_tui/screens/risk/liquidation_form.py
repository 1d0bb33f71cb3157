"""Risk › the close-out dialog for one margin call: the engine's liquidation plan (the whole
plan, or only the positions named, e.g. the one chosen on Details), each line's quantity
editable in place, the best bid and ask with a manual refresh (F5), the positions the plan
skips and why, and the what-if (margin to be collected, net asset ratio and whether the
call is cured, now and if every line fills).

Every edit is re-checked by the engine a moment after typing stops (``PlanLiquidation``
with the trader's lines): a quantity that is not a positive multiple of the board lot, or
more than is held, is refused naming the security and the rule, and Send stays disabled
until the lines are valid again.  Send asks for a typed confirmation that lists each order
exactly as it goes out; the engine then sends them, unless another trader's orders for
this client are still in progress (its refusal names them).

Each line is one row: the security, what is held, the board lot, the best bid and ask,
the limit the engine sets, and the quantity field; at 80 columns the name is left out (the
confirmation names it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button, Input, Static
from textual.worker import Worker

from wbo_tui.engine import Conflict, NotAuthenticated, NotFound, PermissionDenied, SessionInfo, ValidationFailed
from wbo_tui.engine import WboError
from wbo_tui.engine.api import Engine
from wbo_tui.engine.margin import (
    GetMarginSettings,
    LineInput,
    Liquidate,
    LiquidationPlanDTO,
    MarginCallDTO,
    PlanLineDTO,
    PlanLiquidation,
)
from wbo_tui.engine.margin.liquidation import FULL

from wbo_tui.widgets.forms import ConfirmScreen, FormFields, FormScreen
from wbo_tui.widgets.typed_confirmation import phrase
from wbo_tui.screens.risk.details_parts import pct, seconds, what_if

CHECK_DELAY_S = 0.3
"""How long after the last key an edit is re-checked (typing never waits for it)."""
Lines = tuple[tuple[str, int], ...]
"""(code, shares) of each line to send, in the plan's order."""


def price(value: object, stale: bool = False) -> str:
    return "—" if value is None else f"{value}{'*' if stale else ''}"


def numbers(line: PlanLineDTO) -> str:
    """Held, board lot, best bid and ask (``*``: stale) and the engine's limit, in columns."""
    return (f"{line.held:>8,} {line.lot_size:>5,} {price(line.bid, line.stale):>8} {price(line.ask, line.stale):>8} "
            f"{price(line.limit_price):>8}")


def lots_text(text: str, lot_size: int) -> str:
    quantity = int(text) if text.isdigit() else 0
    if not quantity:
        return "not sold"
    lots, odd = divmod(quantity, lot_size)
    return f"{lots} lot{'s' if lots != 1 else ''}" if not odd else "not lots"


def order_line(line: PlanLineDTO, quantity: int) -> str:
    """One order as it goes out.  The engine sets the limit from the quote it reads as it
    sends: the price shown is the limit at the quote just read, and says so."""
    touch = "bid" if line.side == "SELL" else "ask"
    return (f"{line.side.capitalize()} {quantity:,} {line.code} {line.name} at a limit set from the best {touch} "
            f"when sent: {line.limit_price} {line.currency} at the quote just read ({quantity // line.lot_size} lots "
            f"of {line.lot_size}; best bid {price(line.bid)}, ask {price(line.ask)})")


class LiquidationScreen(FormScreen[LiquidationPlanDTO | None]):
    """``codes``: only those securities (a single position from Details); empty: the plan's."""

    SUBMIT_LABEL = "Send orders"
    SUBMIT_VARIANT = "error"
    CANCEL_NOTICE = "No liquidation order was sent."
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    HELP = (
        "The engine's liquidation plan for this call: each line sells a long (or buys back a short) in whole "
        "board lots at a limit the engine sets from the best bid (ask) it reads. Change a quantity in its field "
        "(blank or 0 leaves the line out); the engine re-checks it as you pause and shows its refusal, or the "
        "new what-if. F5 reads the quotes again (your quantities stay). Send lists every order for a typed "
        "confirmation, then sends them. Nothing is sent while this client has orders in progress. Sending "
        "needs RiskWarningFull (R requests it). Escape sends nothing."
    )
    BINDINGS = [
        Binding("f5", "refresh_quotes", "Refresh quotes", key_display="F5", id="liquidation-refresh"),
        Binding("R", "request_permission", "Request permission", key_display="R", id="liquidation-request"),
    ]
    DEFAULT_CSS = """
    LiquidationScreen .liq-row { height: 1; }
    LiquidationScreen .liq-head { color: $text-muted; text-style: bold; }
    LiquidationScreen .liq-code { width: 13; }
    LiquidationScreen .liq-name { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; padding-right: 1; }
    LiquidationScreen .liq-nums { width: 42; }
    LiquidationScreen .liq-qty { width: 10; margin-left: 1; }
    LiquidationScreen .liq-lots { width: 10; padding-left: 1; }
    LiquidationScreen.-narrow .liq-name { display: none; }
    LiquidationScreen #liq-lines { height: auto; }
    LiquidationScreen #liq-skipped, LiquidationScreen #liq-quotes { height: auto; color: $text-muted; }
    LiquidationScreen #liq-what-if { height: auto; padding: 0 1; }
    LiquidationScreen #liq-note { height: auto; padding: 0 1; color: $text-warning; }
    """

    def __init__(self, call: MarginCallDTO, codes: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.call = call
        self.codes = codes
        what = f"{', '.join(codes)} of " if codes else ""
        self.FORM_TITLE = f"Liquidate {what}{call.account_no} {call.name}{'' if codes else ' by the plan'}"
        self.plan: LiquidationPlanDTO | None = None
        """The engine's last valid answer, for the lines in ``checked``."""
        self.checked: Lines | None = None
        self.lines: list[PlanLineDTO] = []
        """The rows, in the plan's order (their prices from the last answer)."""
        self.refusal = ""
        self.send_error = ""
        self.buffer_pct: object = ""
        self.stale_s = 0
        self._timer: Timer | None = None
        self._asked = 0
        self._answered = 0
        self._confirmed: Lines | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box"):
            yield Static(self.FORM_TITLE, classes="modal-title", markup=False)
            with FormFields(classes="form-fields"):
                with Horizontal(classes="liq-row liq-head"):
                    yield Static("Side Code", classes="liq-code")
                    yield Static("Name", classes="liq-name")
                    yield Static(f"{'Held':>8} {'Lot':>5} {'Bid':>8} {'Ask':>8} {'Limit':>8}", classes="liq-nums")
                    yield Static("Quantity", classes="liq-qty")
                    yield Static("", classes="liq-lots")
                yield Vertical(id="liq-lines")
                yield Static("", id="liq-skipped", markup=False)
                yield Static("", id="liq-quotes", markup=False)
            yield Static("Working out the plan…", id="liq-what-if")
            yield Static("", id="liq-note", markup=False)
            yield Static("", id="form-error", classes="form-error", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button(self.SUBMIT_LABEL, id="submit", variant="error", disabled=True)
                yield Button("Refresh quotes (F5)", id="refresh")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self._first_plan()

    # --- the plan ----------------------------------------------------------------------------

    @work(exclusive=True, group="plan", exit_on_error=False)
    async def _first_plan(self) -> None:
        engine, session = self._engine()
        settings = await engine.query(session, GetMarginSettings())
        self.buffer_pct, self.stale_s = settings.buffer_pct, settings.stale_price_s
        self._asked += 1
        asked = self._asked
        plan = await self._ask(asked, PlanLiquidation(call_id=self.call.id, codes=self.codes))
        if plan is None:
            return
        self.lines = list(plan.lines)
        rows = self.query_one("#liq-lines", Vertical)
        await rows.remove_children()
        await rows.mount_all(self._row(index, line) for index, line in enumerate(self.lines))
        if self.lines:
            self.set_focus(self.query_one("#liq-qty-0", Input), scroll_visible=False)
        self._answer(asked, plan, tuple((line.code, line.quantity) for line in plan.lines), engine.clock.now())

    def _row(self, index: int, line: PlanLineDTO) -> Horizontal:
        return Horizontal(
            Static(f"{line.side.capitalize():<4} {line.code}", classes="liq-code", markup=False),
            Static(line.name, classes="liq-name", markup=False),
            Static(numbers(line), classes="liq-nums", markup=False),
            Input(str(line.quantity), id=f"liq-qty-{index}", restrict=r"[0-9]*", max_length=9, compact=True,
                  classes="liq-qty", tooltip=f"Shares of {line.code}: whole lots of {line.lot_size}"),
            Static(lots_text(str(line.quantity), line.lot_size), classes="liq-lots", markup=False),
            classes="liq-row", id=f"liq-row-{index}")

    def typed_lines(self, typed: Mapping[Input, str] | None = None) -> Lines:
        """The lines as typed (``typed``: as they stood when submitted), blank and 0 left out."""
        lines = []
        for index, line in enumerate(self.lines):
            field = self.query_one(f"#liq-qty-{index}", Input)
            text = (typed.get(field, field.value) if typed is not None else field.value).strip()
            if text.isdigit() and int(text):
                lines.append((line.code, int(text)))
        return tuple(lines)

    def on_input_changed(self, event: Input.Changed) -> None:
        if not (event.input.id or "").startswith("liq-qty-"):
            return
        event.stop()
        index = int((event.input.id or "").removeprefix("liq-qty-"))
        row = self.query_one(f"#liq-row-{index}", Horizontal)
        row.query_one(".liq-lots", Static).update(lots_text(event.value.strip(), self.lines[index].lot_size))
        if self.typed_lines() == self.checked and self._timer is None:
            return  # as last checked (a field's first value, or typed back)
        self.send_error = ""
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(CHECK_DELAY_S, self._check_now)
        self._show_state()

    def _check_now(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._asked += 1
        self._check(self._asked, self.typed_lines())
        self._show_state()

    @work(exclusive=True, group="plan", exit_on_error=False)
    async def _check(self, asked: int, lines: Lines) -> None:
        engine, _ = self._engine()
        plan = await self._ask(asked, PlanLiquidation(
            call_id=self.call.id, lines=tuple(LineInput(code=code, quantity=q) for code, q in lines)))
        if plan is not None:
            self._answer(asked, plan, lines, engine.clock.now())

    async def _ask(self, asked: int, query: PlanLiquidation) -> LiquidationPlanDTO | None:
        """The engine's plan, or None when it refuses (said in place; a denial or an ended
        session goes on to the app's reporter as well)."""
        engine, session = self._engine()
        try:
            return await engine.query(session, query)
        except WboError as error:
            self._refused(asked, error)
            if isinstance(error, (ValidationFailed, Conflict, NotFound)):
                return None
            raise

    def _answer(self, asked: int, plan: LiquidationPlanDTO, lines: Lines, now: datetime) -> None:
        if asked != self._asked:
            return  # the trader typed on meanwhile: a newer check is on its way
        self._answered = asked
        self.plan, self.checked, self.refusal = plan, lines, ""
        fresh = {line.code: line for line in plan.lines}
        for index, line in enumerate(self.lines):
            self.lines[index] = line = fresh.get(line.code, line)
            self.query_one(f"#liq-row-{index}", Horizontal).query_one(".liq-nums", Static).update(numbers(line))
            self.query_one(f"#liq-qty-{index}", Input).remove_class("-invalid")
        skipped = "; ".join(f"{code}: {why}" for code, why in plan.skipped)
        self.query_one("#liq-skipped", Static).update(f"Skipped: {skipped}" if skipped else "")
        stale = f"; * marks a stale quote (older than {self.stale_s} s)" if any(x.stale for x in self.lines) else ""
        self.query_one("#liq-quotes", Static).update(
            f"Best bid and ask as of {seconds(now)} HKT{stale}; F5 reads them again." if self.lines
            else "No line to send: the plan has nothing this call can sell.")
        self.query_one("#liq-what-if", Static).update(what_if(plan, self.buffer_pct))
        self._show_state()

    def _refused(self, asked: int, error: WboError) -> None:
        if asked != self._asked:
            return
        self._answered = asked
        self.plan, self.checked, self.refusal = None, None, str(error)
        for index, line in enumerate(self.lines):  # the field of the security the refusal names
            named = str(error.rule if isinstance(error, ValidationFailed) else error).startswith(f"{line.code}:")
            self.query_one(f"#liq-qty-{index}", Input).set_class(named, "-invalid")
        self.query_one("#liq-what-if", Static).update("No what-if: the engine refuses these lines (below).")
        self._show_state()

    def action_refresh_quotes(self) -> None:
        """The quotes again: the lines as typed re-valued now (or the plan again, without lines)."""
        self.send_error = ""
        if self.lines:
            self._check_now()
        else:
            self._first_plan()

    # --- whether Send can go -------------------------------------------------------------------

    def send_blocker(self) -> str:
        """Why Send is disabled now ("" when it is not)."""
        session = self.wbo.session
        if session is None or not session.can(FULL):
            return f"Sending needs the permission {FULL} (R requests it); you can look at the plan."
        if self._timer is not None or self._answered != self._asked:
            return "Checking your edit…"
        if self.refusal or self.plan is None:
            return "Send is off: the engine refuses (below)." if self.refusal else "Working out the plan…"
        if self.plan.in_progress:
            n = self.plan.in_progress
            return (f"{n} order{'s' if n != 1 else ''} of {self.call.account_no} {'are' if n != 1 else 'is'} in "
                    "progress: one liquidation per client at a time (cancel them on Details, or wait).")
        if not self.checked:
            return "Nothing to send: every line is left out."
        return ""

    def typed_ok(self) -> bool:
        # FormScreen enables Send by this (after a refusal too).
        return not self.send_blocker()

    def _show_state(self) -> None:
        running = any(w.group == "form" and not w.is_finished for w in self.workers)
        self.query_one("#submit", Button).disabled = running or not self.typed_ok()
        note = self.query_one("#liq-note", Static)
        note.update(self.send_blocker())
        note.display = bool(self.send_blocker())  # at 80x24 every row counts
        self.show_error(self.refusal or self.send_error)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "request_permission":
            session = self.wbo.session
            return session is not None and not session.can(FULL)
        return True

    def action_request_permission(self) -> None:
        self.wbo.offer_permission_request(PermissionDenied(FULL, "liquidate positions"))

    # --- sending -------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        # Cancel is FormScreen's (Textual calls its handler next, unless prevented here).
        if event.button.id not in ("refresh", "submit"):
            return
        event.stop()
        event.prevent_default()
        if event.button.id == "refresh":
            self.action_refresh_quotes()
        else:
            self.submit_typed()

    def submit_typed(self) -> None:
        """Send (or Enter in the last field): the confirmation first, for the lines as typed."""
        if not self.send_blocker():
            self.read_after_typed_keys(self._confirm)

    def _confirm(self, typed: Mapping[Input, str]) -> None:
        lines = self.typed_lines(typed)
        if self.send_blocker() or self.plan is None:
            return
        if lines != self.checked:
            self._check_now()  # typed and sent at once: the engine checks the lines first
            return
        by_code = {line.code: line for line in self.lines}
        plan = self.plan
        consequences = [order_line(by_code[code], quantity) for code, quantity in lines]
        consequences += [
            f"If every line fills: margin to be collected {plan.before.margin_to_collect:,} → "
            f"{plan.after.margin_to_collect:,} HKD; net asset ratio {pct(plan.before.net_asset_ratio)} → "
            f"{pct(plan.after.net_asset_ratio)}; the call {'is cured' if plan.cures else 'is NOT cured'}.",
            f"The orders go to the venue at once, under your name. Until they end, nothing more can be sent for "
            f"{self.call.account_no}.",
            "What fills stays sold: cancelling (Details, or Liquidation Orders) stops only the unfilled part.",
        ]
        n = len(lines)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._confirmed = lines
                self.submit()

        self.app.push_screen(ConfirmScreen(
            f"Send {n} liquidation order{'s' if n != 1 else ''} for {self.call.account_no} {self.call.name}?",
            consequences, "Send orders", typed=phrase("liquidate", n),
            does=f"sends the order{'s' if n != 1 else ''}"), callback=confirmed)

    async def perform(self, engine: Engine, session: SessionInfo) -> LiquidationPlanDTO:
        lines = self.typed_lines({field: self.value(f"#{field.id}") for field in self.query(".liq-qty").results(Input)})
        if lines != self._confirmed:
            raise ValidationFailed("Quantities", "changed after you confirmed: press Send again to confirm them")
        plan: LiquidationPlanDTO = await engine.execute(session, Liquidate(
            call_id=self.call.id, lines=tuple(LineInput(code=code, quantity=q) for code, q in lines),
            force_type="SINGLE" if self.codes else "BULK"))
        sent = "; ".join(f"{line.side.lower()} {line.quantity:,} {line.code} at {line.limit_price}"
                         for line in plan.lines)
        self.app.notify(f"{len(plan.lines)} liquidation order(s) sent for {plan.account_no}: {sent}.",
                        title="Liquidation sent", markup=False)
        return plan

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        if worker.group != "form":
            return False
        handled = super().handle_engine_error(worker, error)
        if handled:
            self.send_error = str(error)
            if isinstance(error, Conflict):
                self.action_refresh_quotes()  # the orders in progress now show, and Send stays off
                self.send_error = str(error)
            self._show_state()
        return handled

    def _engine(self) -> tuple[Engine, SessionInfo]:
        engine, session = self.wbo.engine, self.wbo.session
        if engine is None or session is None:
            raise NotAuthenticated("You are logged out.")
        return engine, session

"""Forms of the allocation records: a manual allocation with both accounts' balances
before and after, a reason for rejecting several allocations at once, and the per-row
result of a bulk decision.  Amounts go to the engine as typed; it names the bad field."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static
from textual.worker import Worker

from wbo_tui.engine import ApprovalDTO, ListCurrencies, RejectItem, SessionInfo, ValidationFailed, build
from wbo_tui.engine.allocations import (
    AllocationDTO,
    BalancePreview,
    BalancePreviewDTO,
    CreateManualAllocation,
    GetAllocation,
)
from wbo_tui.engine.allocations.manual import SideDTO
from wbo_tui.engine.api import Engine
from wbo_tui.engine.positions import ListChannelAccounts
from wbo_tui.engine.positions.channel_accounts import ChannelAccountDTO

from wbo_tui.screens.allocations.preview_amount import PreviewAmount, preview_amount
from wbo_tui.widgets.forms import PositionForm, amount_text, labelled, select_value
from wbo_tui.widgets.typed_confirmation import TypedConfirmation, phrase


def account_label(account: ChannelAccountDTO) -> str:
    return f"{account.account_no} {account.currency} ({account.scenario})"


class ManualAllocationScreen(PositionForm[AllocationDTO]):
    FORM_TITLE = "New manual fund allocation"
    SUBMIT_LABEL = "Submit for approval"
    HELP = (
        "Move money between two channel accounts of the same currency: the initiating "
        "(outgoing) account pays, the receiving account is credited. The amount is in the "
        "currency's precision; remarks say why and are required. Both accounts' available "
        "balances are shown before and after (as last polled), with how much of each is "
        "already committed out of it and not yet settled (approved withdrawals, allocations in "
        "flight). The allocation waits for another operator's approval, which is refused when "
        "the outgoing account's available balance minus what is committed minus this amount "
        "would be below its blocking threshold; once approved, the transfer is sent to the "
        "settlement channel and the list shows its outcome when it arrives."
    )

    def __init__(self) -> None:
        super().__init__()
        self.accounts: dict[int, ChannelAccountDTO] = {}
        self.precision: dict[str, int] = {}

    def compose_fields(self) -> Iterable[Widget]:
        yield from labelled("Initiating (outgoing) account", Select(
            [], id="alloc-from", allow_blank=True, prompt="Loading accounts…"))
        yield from labelled("Receiving account", Select([], id="alloc-to", allow_blank=True, prompt="Loading accounts…"))
        yield from labelled("Currency", Input(id="alloc-currency", placeholder="e.g. HKD"))
        yield from labelled("Amount", Input(id="alloc-amount", placeholder="e.g. 10,000.00"))
        yield from labelled("Remarks (required)", Input(id="alloc-remarks", placeholder="why the money moves"))
        yield Static("Choose both accounts to see their balances.", id="alloc-balances", classes="what-happens",
                     markup=False)

    def on_mount(self) -> None:
        self._load_accounts()

    @work(exclusive=True, group="accounts", exit_on_error=False)
    async def _load_accounts(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        self.precision = {c.code: c.amount_precision for c in await engine.query(session, ListCurrencies())}
        accounts = await engine.query(session, ListChannelAccounts())
        self.accounts = {a.id: a for a in accounts}
        options = [(account_label(a), a.id) for a in accounts]
        for selector in ("#alloc-from", "#alloc-to"):
            select = self.query_one(selector, Select)
            select.prompt = "Choose an account" if accounts else "No channel accounts configured"
            select.set_options(options)

    def _account(self, selector: str) -> ChannelAccountDTO | None:
        value = self.query_one(selector, Select).value
        return self.accounts.get(value) if isinstance(value, int) else None

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        source = self._account("#alloc-from")
        currency = self.query_one("#alloc-currency", Input)
        if event.select.id == "alloc-from" and source is not None and not currency.value.strip():
            currency.value = source.currency  # The usual case; the operator may still change it.
        self._preview()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id in ("alloc-amount", "alloc-currency"):
            event.stop()
            self._preview()

    def _preview(self) -> None:
        source, target = self._account("#alloc-from"), self._account("#alloc-to")
        if source is None or target is None:
            self.query_one("#alloc-balances", Static).update("Choose both accounts to see their balances.")
            return
        # The balances after only for an amount the allocation could carry; otherwise the
        # balances before and why not (submitting names the field the same way).
        judged = preview_amount(self.value("#alloc-amount"), self.value("#alloc-currency"), source, target,
                                self.precision)
        self._run_preview(source, target, judged)

    @work(exclusive=True, group="preview", exit_on_error=False)
    async def _run_preview(self, source: ChannelAccountDTO, target: ChannelAccountDTO, judged: PreviewAmount) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        try:
            query = build(BalancePreview, from_account_id=source.id, to_account_id=target.id, amount=judged.amount)
        except ValidationFailed as error:  # beyond the engine's ceiling: no currency allows it
            query = BalancePreview(from_account_id=source.id, to_account_id=target.id)
            judged = PreviewAmount(None, f"{error.field}: {error.rule}")
        preview: BalancePreviewDTO = await engine.query(session, query)
        lines = [self._side("Outgoing", source, preview.outgoing), self._side("Incoming", target, preview.incoming)]
        if judged.reason:
            lines.append(f"Balances after not shown: {judged.reason}")
        self.query_one("#alloc-balances", Static).update("\n".join(lines))

    def _side(self, role: str, account: ChannelAccountDTO, side: SideDTO) -> str:
        places = self.precision.get(account.currency, 2)
        committed = amount_text(side.committed, places)
        if side.available is None:
            before = f"never polled, {committed} committed"
        else:
            # The polled balance still holds what is committed out of it: "of which", not "minus".
            before = f"{amount_text(side.available, places)} (of which {committed} committed)"
        shown_after = amount_text(side.after, places, blank="—")
        return f"{role} {account_label(account)}: available {before} → after {shown_after} {account.currency}"

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        if worker.group == "preview" and isinstance(error, ValidationFailed):
            self.query_one("#alloc-balances", Static).update(f"Balances not shown: {error}")
            return True
        return super().handle_engine_error(worker, error)

    async def perform(self, engine: Engine, session: SessionInfo) -> AllocationDTO:
        source = select_value(self, "#alloc-from", "Initiating account")
        target = select_value(self, "#alloc-to", "Receiving account")
        command = build(CreateManualAllocation, from_account_id=int(source), to_account_id=int(target),
                        currency=self.value("#alloc-currency"), amount=self.value("#alloc-amount").strip(),
                        remarks=self.value("#alloc-remarks"))
        return await engine.execute(session, command)


class BulkRejectScreen(PositionForm[str]):
    """One reason for every marked allocation; each is then rejected on its own."""

    FORM_TITLE = "Reject marked allocations"
    SUBMIT_LABEL = "Reject all"
    SUBMIT_VARIANT = "error"
    CANCEL_NOTICE = "Nothing was rejected; the rows stay marked."
    HELP = ("One reason for all marked allocations, then type the confirmation shown (REJECT and the number of "
            "rows): the button stays disabled until it matches. Each is rejected in its own transaction; the "
            "result lists every row. Escape cancels and changes nothing.")

    def __init__(self, rows: Sequence[AllocationDTO], approval_id: int) -> None:
        super().__init__()
        self._rows = rows
        self._approval_id = approval_id

    def compose_fields(self) -> Iterable[Widget]:
        yield Static("\n".join(f"• {allocation_line(a)}" for a in self._rows), id="bulk-reject-rows",
                     classes="what-happens", markup=False)
        yield Static("What will happen:", classes="modal-subtitle")
        yield Static("• Each pending allocation is marked rejected by you with this reason and nothing is paid.\n"
                     "• A rejected allocation can't be revived: a new one must be submitted.\n"
                     "• A row already decided, or one you submitted yourself, is refused and left as it is.",
                     classes="what-happens", markup=False)
        yield from labelled("Reason (required)", Input(id="bulk-reject-reason"))
        count = len(self._rows)
        yield TypedConfirmation(phrase("reject", count), f"rejects the {count} marked allocation(s), each on its own")

    async def perform(self, engine: Engine, session: SessionInfo) -> str:
        # The engine's own check of the reason, once, before any row is touched.
        command = build(RejectItem, approval_id=self._approval_id, reason=self.value("#bulk-reject-reason"))
        return command.reason


def allocation_line(a: AllocationDTO) -> str:
    """Exactly what was submitted, in one line."""
    return (f"{a.order_no} ({a.origin}, {a.status.replace('_', ' ')}): {a.amount_text} {a.currency} from "
            f"{a.from_account} to {a.to_account} via {a.channel}; maker {a.maker}; remarks: {a.remarks or '—'}")


class RowResult(NamedTuple):
    order_no: str
    outcome: str
    ok: bool


class BulkResultScreen(ModalScreen[None]):
    """What happened to each row of a bulk decision."""

    BINDINGS = [Binding("escape", "close", "Close", id="bulk-result-close")]
    HELP = "Each marked allocation and what happened to it. Escape or Close returns to the list."

    def __init__(self, title: str, results: Sequence[RowResult]) -> None:
        super().__init__()
        self._title = title
        self._results = results

    def compose(self) -> ComposeResult:
        done = sum(r.ok for r in self._results)
        with Vertical(classes="modal-box"):
            yield Static(self._title, classes="modal-title", markup=False)
            yield Static(f"{done} of {len(self._results)} done. Enter or Escape closes.", classes="modal-subtitle",
                         markup=False)
            with VerticalScroll(classes="form-fields"):
                yield Static("\n".join(f"{'✔' if r.ok else '✘'} {r.order_no}: {r.outcome}" for r in self._results),
                             id="bulk-results", markup=False)
            with Horizontal(classes="modal-buttons"):
                yield Button("Close", id="close", variant="primary")

    def help_text(self) -> tuple[str, str]:
        return (self._title, self.HELP)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)


SENT = "sent to the settlement channel; the list shows the outcome when it arrives"


def outcome_words(now: AllocationDTO) -> str:
    """An allocation's state right after a decision or a retry, in words.  The transfer runs
    after the decision commits (on the engine's own loop), so whether it has finished yet
    is a race: while it is at the channel the console says so, and the list shows the
    outcome live; a failure the engine already knows of is named."""
    if now.status in ("processing", "succeeded"):
        return SENT
    failed = f": {now.failure_reason}" if now.failure_reason else ""
    return f"{now.status.replace('_', ' ')}{failed}"


async def decision_outcome(engine: Engine, session: SessionInfo, a: AllocationDTO, item: ApprovalDTO) -> RowResult:
    """What an approval led to, read back once the decision committed."""
    if item.status != "APPROVED":
        return RowResult(a.order_no, f"approval {item.ref} {item.status.lower()}: {item.outcome}", False)
    now: AllocationDTO = await engine.query(session, GetAllocation(order_no=a.order_no))
    return RowResult(a.order_no, f"approved → {outcome_words(now)}", now.status in ("succeeded", "processing"))

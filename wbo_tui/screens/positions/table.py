"""Positions › Positions: balances per channel account, read again whenever another
console's poll or approval changes them (the live feed), filtered, sorted and paged in
the engine's query.  Beside the available
balance stands what is committed out of the account and not yet settled, and the detail
line says how much more an approval may commit: the figures an approval is judged by, so
an operator sees why one was refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Input, Static
from textual.worker import Worker

from wbo_tui.engine import ValidationFailed
from wbo_tui.engine.positions import ListPositions, PositionDTO, PositionPage

from wbo_tui.widgets.moments import parse_moment
from wbo_tui.widgets.table_pane import TablePane, cell
from wbo_tui.screens.positions.forms import ThresholdsScreen
from wbo_tui.widgets.forms import amount_text

SORT_KEYS = ("account", "currency", "available", "in_transit", "total", "updated", "level")
PAGE_SIZE = 50
PAGE_KEYS = Binding.Group("Page", compact=True)


def age_text(seconds: float) -> str:
    """A poll's age, as coarse as a 5-minute poll needs: "<1m" for its first minute (a
    seconds count would redraw the table every few seconds for nothing an operator acts on)."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return "<1m"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def position_status(p: PositionDTO, now: datetime, stale_after_s: float) -> str:
    """OK, FAILED, NEVER or STALE: a row not polled within twice the poll interval is
    never shown as current, and a failed poll is FAILED whether or not a balance ever came."""
    if p.poll_status == "FAILED":
        return "FAILED"
    if p.poll_status == "NEVER" or p.polled_at is None:
        return "NEVER"
    if (now - p.polled_at).total_seconds() > stale_after_s:
        return "STALE"
    return "OK"


def commitment_text(p: PositionDTO) -> str:
    """What is committed out of the account, and how much more an approval may commit above
    the blocking threshold (none configured: zero), as the engine judges it
    (``positions.reservations``): available − committed − amount must stay at or above it."""
    def shown(amount: Decimal) -> str:
        return f"{amount_text(amount, p.amount_precision)} {p.currency}"

    text = f" Committed, not yet settled: {shown(p.committed)}."
    if p.available is None:
        return text + " Never polled: withdrawals out of it are refused until a poll."
    floor = p.threshold_blocking if p.threshold_blocking is not None else Decimal(0)
    room = p.available - p.committed - floor
    basis = f"available − committed − blocking threshold {amount_text(floor, p.amount_precision)}"
    if p.threshold_blocking is None:
        basis += ", none configured"
    if room > 0:
        return text + f" Approvals may commit up to {shown(room)} more ({basis})."
    return text + f" Approvals may commit nothing more ({basis} = {amount_text(room, p.amount_precision)})."


def sentence(text: str) -> str:
    """``text`` ending in exactly one full stop (reasons from channels may bring their own)."""
    return text.rstrip().rstrip(".") + "."


def attempt_text(p: PositionDTO, status: str) -> str:
    """The last poll attempt of one account: when, its outcome and its reason."""
    at = f" at {p.attempted_at:%Y-%m-%d %H:%M:%S} UTC" if p.attempted_at is not None else ""
    if status == "FAILED":
        return sentence(f"Last poll{at} failed: {p.poll_error or 'no detail'}")
    if status == "NEVER":
        return "Not polled yet."
    if status == "STALE":
        return "Not polled for more than twice the poll interval: the balance may be out of date."
    return ""  # OK: the balance's time follows


def thresholds_text(p: PositionDTO) -> str:
    """The alert threshold, for a table too narrow to show its column."""
    alert = "none" if p.threshold_alert is None else f"{amount_text(p.threshold_alert, p.amount_precision)} {p.currency}"
    return f" Alert threshold {alert}."


def last_poll_text(page: PositionPage) -> str:
    """The last poll that ran, whatever its outcome: a failure after a success is never
    shown as the success."""
    if page.last_attempt_at is None:
        return "Last poll: never."
    at = f"{page.last_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
    if not page.last_attempt_failed:
        return f"Last poll {at}: {page.last_attempt_ok} answered."
    success = (f"; last answer {page.last_poll_at:%Y-%m-%d %H:%M:%S} UTC" if page.last_poll_at else
               "; no answer yet")
    return (f"Last poll {at}: {page.last_attempt_failed} FAILED, {page.last_attempt_ok} answered"
            f"{success}.")


@dataclass(frozen=True, slots=True)
class PositionFilters:
    currency: str | None = None
    currency_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_position_filters(currency: str, currency_type: str, since: str, until: str) -> PositionFilters:
    kind = currency_type.strip().lower() or None
    if kind not in (None, "fiat", "crypto"):
        raise ValidationFailed("Currency type", "must be fiat or crypto")
    start = parse_moment("Updated since", since, upper=False)
    end = parse_moment("Updated until", until, upper=True)
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("Updated until", "must not be before Updated since")
    return PositionFilters(currency=currency.strip().upper() or None, currency_type=kind, since=start, until=end)


class PositionsPane(TablePane):
    # Status and age come first: a stale or failed balance must be seen even on a narrow terminal;
    # Committed next to Available, still on screen at 80 columns, as approvals count both.
    COLUMNS = ("Account", "Ccy", "Status", "Age", "Available", "Committed", "In transit", "Total", "Alert",
               "Blocking", "Level", "Updated (UTC)", "Scenario", "Channel")
    # At 80 columns: account, currency, status, age, available, committed, the blocking
    # threshold and the level (approvals are judged by available − committed − blocking); the
    # alert threshold when it fits, and always in the detail line below the table, with the
    # update time to the second and the rest.
    DROP_ORDER = ("Channel", "Scenario", "In transit", "Total", "Updated (UTC)", "Age", "Alert", "Level")
    EMPTY = "No positions: configure channel accounts, then wait for a poll or press r."
    TOPICS = frozenset({"positions", "poll_runs", "channel_accounts", "settlement_channels", "withdrawals",
                        "allocations", "currencies"})
    HELP = (
        "Balances of each channel account as last polled from the upstream, shown again as "
        "soon as any console's poll or approval changes them. Status: OK, FAILED "
        "(the error is in the line below the table), NEVER polled, or STALE when the last poll "
        "is older than twice the poll interval. Committed: what is committed out of the account "
        "and not yet settled (approved withdrawals, allocations in flight, settlements no poll "
        "shows yet); an approval is refused when available minus committed minus its own amount "
        "would be below the blocking threshold, and the line below the table says how much more "
        "may be committed. Filter by currency, type (fiat/crypto) and update "
        "time (YYYY-MM-DD [HH:MM] UTC; Enter applies). s cycles the sort column, S reverses it; "
        "[ and ] page. r polls the upstream now; t sets the selected account's thresholds."
    )
    AGE_EVERY_S = 5.0
    BINDINGS = [
        Binding("r", "refresh_now", "Refresh", id="positions-refresh", tooltip="Poll the upstream now"),
        Binding("t", "thresholds", "Thresholds", id="positions-thresholds", tooltip="Set thresholds"),
        Binding("s", "sort", "Sort", id="positions-sort", tooltip="Next sort column"),
        Binding("S", "reverse", "Reverse", key_display="S", id="positions-reverse", tooltip="Reverse the sort"),
        Binding("left_square_bracket", "page(-1)", "Prev page", key_display="[", id="positions-prev",
                group=PAGE_KEYS),
        Binding("right_square_bracket", "page(1)", "Next page", key_display="]", id="positions-next",
                group=PAGE_KEYS),
    ]
    ROW_ACTIONS = frozenset({"thresholds"})

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.filters = PositionFilters()
        self.sort_by = "account"
        self.descending = False
        self.page_offset = 0
        self.page: PositionPage | None = None
        self._timer: Timer | None = None
        self._clock_texts_shown: tuple[tuple[str, str], ...] = ()

    def compose(self) -> ComposeResult:
        with Horizontal(classes="position-filters"):
            yield Input(id="filter-currency", placeholder="Currency")
            yield Input(id="filter-currency-type", placeholder="Type fiat/crypto")
            yield Input(id="filter-since", placeholder="Updated since")
            yield Input(id="filter-until", placeholder="Updated until")
        yield from super().compose()

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    # --- loading ------------------------------------------------------------------------

    def _query(self) -> ListPositions:
        f = self.filters
        return ListPositions(currency=f.currency, currency_type=f.currency_type, updated_since=f.since,
                             updated_until=f.until, sort_by=self.sort_by, descending=self.descending,
                             offset=self.page_offset, limit=PAGE_SIZE)

    async def fetch(self) -> Sequence[PositionDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        page = await engine.query(session, self._query())
        if page.offset >= page.total_rows > 0 and self.page_offset > 0:
            self.page_offset = max(0, (page.total_rows - 1) // PAGE_SIZE * PAGE_SIZE)
            page = await engine.query(session, self._query())
        self.page = page
        return page.rows

    def after_load(self) -> None:
        self._arm()

    def _arm(self) -> None:
        """Age and staleness move with the clock, not with the database: re-draw them from
        the rows in memory every ``AGE_EVERY_S``.  The rows themselves are read again when
        a poll, a threshold or a commitment changes them (``TOPICS``, the live feed)."""
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.AGE_EVERY_S, self._tick)

    def _tick(self) -> None:
        # Only while the operator sees the table, and only when an age or a status moved
        # (ages count minutes: most ticks change nothing, and building
        # and measuring every row to find that out was most of an idle console's work);
        # then only the cells whose text moved, laid out again only when a width moved.
        if self.items and self.shown_now() and not self.has_class("-denied"):
            if self._clock_texts() != self._clock_texts_shown:
                self._show(list(self.items.values()))
        self._arm()

    def _clock_texts(self) -> tuple[tuple[str, str], ...]:
        """What moves with the clock alone: each row's status and age."""
        now, stale_after_s = self._now(), 2 * self.wbo.settings.poll_interval_s
        return tuple((position_status(p, now, stale_after_s),
                      age_text((now - p.polled_at).total_seconds()) if p.polled_at else "—")
                     for p in self.items.values())

    def _now(self) -> datetime:
        engine = self.wbo.engine
        assert engine is not None
        return engine.clock.now()

    def _show(self, items: Sequence[Any]) -> None:
        """Rows are keyed by channel account id: the same accounts are updated cell by cell,
        a different set of rows is laid out again (``TablePane._show``)."""
        super()._show(items)
        self._clock_texts_shown = self._clock_texts()
        self.refresh_bindings()

    def row_key(self, item: PositionDTO) -> str:
        return str(item.channel_account_id)

    def row_cells(self, item: PositionDTO) -> Sequence[object]:
        return self._cells(item, self._now(), 2 * self.wbo.settings.poll_interval_s)

    def _cells(self, p: PositionDTO, now: datetime, stale_after_s: float) -> list[Text]:
        def money(amount: Any) -> Text:
            return Text(amount_text(amount, p.amount_precision), justify="right", no_wrap=True)

        status = position_status(p, now, stale_after_s)
        status_style = {"OK": "green", "FAILED": "bold red", "STALE": "bold yellow", "NEVER": "dim"}[status]
        level_style = {"ALERT": "bold black on yellow", "BLOCKING": "bold white on red"}.get(p.level, "")
        # The year is in the detail line; the table keeps its columns for the figures.
        updated = f"{p.polled_at:%m-%d %H:%M:%S}" if p.polled_at else "never"
        age = age_text((now - p.polled_at).total_seconds()) if p.polled_at else "—"
        return [cell(p.account_no), cell(p.currency), Text(status, style=status_style), Text(age, justify="right"),
                money(p.available), money(p.committed), money(p.in_transit), money(p.total), money(p.threshold_alert),
                money(p.threshold_blocking), Text(p.level, style=level_style), cell(updated), cell(p.scenario),
                cell(p.channel)]

    def status_text(self, items: Sequence[Any]) -> str:
        page = self.page
        if page is None or page.total_rows == 0:
            return self.EMPTY
        order = f"sorted by {self.sort_by}{' (descending)' if self.descending else ''}"
        return (f"Rows {page.offset + 1}–{page.offset + len(page.rows)} of {page.total_rows}, {order}. "
                f"{last_poll_text(page)}")

    def show_detail(self, p: PositionDTO | None) -> None:
        text = ""
        if p is not None:
            status = position_status(p, self._now(), 2 * self.wbo.settings.poll_interval_s)
            text = f"{p.channel} {p.account_no} {p.currency} ({p.scenario}): {status}."
            attempt = attempt_text(p, status)
            text += f" {attempt}" if attempt else ""
            if p.as_of is not None:
                text += f" Balance as of {p.as_of:%Y-%m-%d %H:%M:%S} UTC."
            elif status == "FAILED":
                text += " No balance received yet."
            if not self.columns.is_shown("Alert"):
                text += thresholds_text(p)  # left out of a narrow table
            text += commitment_text(p)
        self.query_one(".pane-detail", Static).update(text)

    # --- filters, sort, pages -------------------------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.filters = parse_position_filters(
                self.query_one("#filter-currency", Input).value, self.query_one("#filter-currency-type", Input).value,
                self.query_one("#filter-since", Input).value, self.query_one("#filter-until", Input).value,
            )
        except ValidationFailed as error:
            self.app.notify(str(error), title="Filter not applied", severity="error", markup=False)
            return
        self.page_offset = 0
        self.load()

    def action_sort(self) -> None:
        self.sort_by = SORT_KEYS[(SORT_KEYS.index(self.sort_by) + 1) % len(SORT_KEYS)]
        self.page_offset = 0
        self.load()

    def action_reverse(self) -> None:
        self.descending = not self.descending
        self.page_offset = 0
        self.load()

    def action_page(self, step: int) -> None:
        total = self.page.total_rows if self.page else 0
        offset = self.page_offset + step * PAGE_SIZE
        if 0 <= offset < max(total, 1):
            self.page_offset = offset
            self.load()

    # --- acting ---------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if not allowed:
            return allowed
        # A missing permission does not disable the key: the engine refuses, and the
        # operator is told which permission and offered a request for it.
        if action == "refresh_now" and self.busy:
            return None
        if action == "page":
            total = self.page.total_rows if self.page else 0
            forward = bool(parameters) and int(parameters[0]) > 0  # type: ignore[call-overload]
            possible = self.page_offset + PAGE_SIZE < total if forward else self.page_offset > 0
            return True if possible else None
        return True

    def action_refresh_now(self) -> None:
        if self.busy:
            return
        self.busy = True
        self._refresh_now()

    @work(group="act", exit_on_error=False)
    async def _refresh_now(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        report = await engine.refresh_positions(session, holder=f"console:{session.username}")
        self.busy = False
        if not report.polled:
            message = "Another console is polling right now; its results appear here shortly."
        else:
            failed = f" Failed channels: {', '.join(report.failed_channels)}." if report.failed_channels else ""
            message = f"Refreshed: {report.accounts_ok} account(s) OK, {report.accounts_failed} failed.{failed}"
        self.app.notify(message, title="Refresh", markup=False,
                        severity="warning" if report.accounts_failed else "information")
        self.load()

    def action_thresholds(self) -> None:
        position = self.selected
        if position is not None:
            self.app.push_screen(ThresholdsScreen(position), callback=self._thresholds_set)

    def _thresholds_set(self, position: PositionDTO | None) -> None:
        if position is not None:
            self.app.notify(f"Thresholds of {position.channel} {position.account_no} {position.currency} saved; "
                            f"level {position.level}.", markup=False)
            self.load()

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        if worker.group == "act":
            self.busy = False
        return super().handle_engine_error(worker, error)

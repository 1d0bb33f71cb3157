"""The operator's inbox: alerts delivered to the console, newest first, unread marked.

A modal over the shell, so the area the operator was working in stays where it was.
Every operator reads and marks only their own messages; no permission is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from wbo_tui.engine import InboxMessageDTO, ListInbox, MarkInboxRead, UnreadCount, build

from wbo_tui.widgets.table_pane import TablePane

# Messages listed at once, newest first; marking all read covers every unread one.
INBOX_PAGE = 200
# MarkInboxRead takes at most this many ids per command.
MARK_BATCH = 1000


class InboxPane(TablePane):
    COLUMNS = ("", "Received (UTC)", "Topic", "Subject")
    NARROW = {"Subject": 20, "Topic": 12}  # the whole message is in the detail line
    EMPTY = "Your inbox is empty. Alerts you are subscribed to arrive here."
    TOPICS = frozenset({"inbox_messages", "notifications"})
    HELP = (
        "Alerts delivered to your console inbox, newest first; unread ones are marked ● and "
        "bold. Enter or m marks the selected message read; M marks every message read. The "
        "unread count in the header follows at once. Which alerts reach you is set under "
        "Admin, Subscriptions."
    )
    BINDINGS = [
        Binding("m", "mark_read", "Mark read", id="inbox-mark-read"),
        Binding("M", "mark_all", "Mark all read", key_display="M", id="inbox-mark-all"),
    ]
    ROW_ACTIONS = frozenset({"mark_read"})

    class UnreadChanged(Message):
        """The inbox counted the operator's unread messages again."""

        def __init__(self, count: int) -> None:
            super().__init__()
            self.count = count
            """Unread messages of the operator, all of them (not only those listed)."""

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.unread = 0

    def compose_detail(self) -> ComposeResult:
        yield Static("", classes="pane-detail", markup=False)

    async def fetch(self) -> Sequence[InboxMessageDTO]:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        messages = await engine.query(session, ListInbox(limit=INBOX_PAGE))
        self.unread = await engine.query(session, UnreadCount())
        self.post_message(self.UnreadChanged(self.unread))
        return messages

    def row_key(self, item: InboxMessageDTO) -> str:
        return str(item.id)

    def row_cells(self, m: InboxMessageDTO) -> Sequence[object]:
        style = "bold" if m.read_at is None else ""
        marker = Text("●" if m.read_at is None else "", style="bold yellow")
        return (marker, f"{m.created_at:%Y-%m-%d %H:%M:%S}", m.topic,
                Text(m.subject, style=style, no_wrap=True, overflow="ellipsis"))

    def status_text(self, items: Sequence[Any]) -> str:
        if not items:
            return self.EMPTY
        more = f" (the newest {INBOX_PAGE})" if len(items) >= INBOX_PAGE else ""
        return f"{len(items)} messages{more}, {self.unread} unread."

    def show_detail(self, m: InboxMessageDTO | None) -> None:
        text = "" if m is None else (
            f"{m.subject}\n{m.body}\n"
            + (f"Read {m.read_at:%Y-%m-%d %H:%M} UTC." if m.read_at else "Unread: Enter or m marks it read.")
        )
        self.query_one(".pane-detail", Static).update(text)

    def applies(self, action: str, m: InboxMessageDTO | None) -> bool:
        return m is not None and m.read_at is None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if self.check_action("mark_read", ()):
            self.action_mark_read()

    def action_mark_read(self) -> None:
        m: InboxMessageDTO = self.selected
        self.run_command(build(MarkInboxRead, message_ids=[m.id]), f"Marked read: {m.subject}")

    def action_mark_all(self) -> None:
        if self.busy:
            return
        if self.unread == 0:
            self.app.notify("Nothing unread.", markup=False)
            return
        self.busy = True
        self._mark_all()

    @work(group="act", exit_on_error=False)
    async def _mark_all(self) -> None:
        engine, session = self.wbo.engine, self.wbo.session
        assert engine is not None and session is not None
        marked = 0
        while unread := await engine.query(session, ListInbox(unread_only=True, limit=MARK_BATCH)):
            marked += await engine.execute(session, MarkInboxRead(message_ids=[m.id for m in unread]))
        self.busy = False
        self.app.notify(f"{marked} message(s) marked read.", markup=False)
        self.load()


class InboxScreen(ModalScreen[None]):
    """``on_unread`` receives each new unread count, so the header behind follows at once."""

    BINDINGS = [Binding("escape", "close", "Close", key_display="Esc", id="inbox-close")]

    def __init__(self, on_unread: Callable[[int], None] | None = None) -> None:
        super().__init__()
        self._on_unread = on_unread

    def compose(self) -> ComposeResult:
        with Vertical(classes="modal-box", id="inbox-box"):
            yield Static("Inbox", classes="modal-title", id="inbox-title", markup=False)
            yield InboxPane(id="inbox-pane")
            yield Static("Enter/m mark read · M mark all read · Esc close · F1 help", id="inbox-keys",
                         markup=False)

    def on_mount(self) -> None:
        pane = self.query_one(InboxPane)
        pane.load()
        pane.focus_table()

    def help_text(self) -> tuple[str, str]:
        return ("Inbox", InboxPane.HELP)

    def on_inbox_pane_unread_changed(self, event: InboxPane.UnreadChanged) -> None:
        event.stop()
        self.query_one("#inbox-title", Static).update(f"Inbox: {event.count} unread")
        if self._on_unread is not None:
            self._on_unread(event.count)

    def action_close(self) -> None:
        self.dismiss(None)

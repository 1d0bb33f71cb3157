"""One place where failed engine calls become something the operator can read.

Textual posts ``Worker.StateChanged`` to the node that started the worker and does not
bubble it, so every node that runs engine calls mixes this in.  A node may claim an error
first (a login form shows it beside the field, a pane shows a permission denial in
place); everything else goes to the app's single reporter, which turns ``WboError`` into
an error notification, ``PermissionDenied`` into the permission-request modal and any
other exception into "Internal error …, see the log file" with the traceback logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from wbo_tui.app import WboApp


class EngineWorkers:
    """Mixin for DOM nodes that call the engine in ``@work(exit_on_error=False)`` workers."""

    @property
    def wbo(self) -> WboApp:
        """The console app, typed (``self.app`` is typed as a plain ``App``)."""
        return cast("WboApp", self.app)  # type: ignore[attr-defined]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        if not isinstance(error, Exception):
            return
        if self.handle_engine_error(event.worker, error):
            return
        self.wbo.report_error(error)

    def handle_engine_error(self, worker: Worker, error: Exception) -> bool:
        """Show ``error`` in place and return True, or return False to let the app report it."""
        return False

"""Keeping the garbage collector's full collections short.

A full collection walks every container object the collector tracks, holding the GIL
throughout, so it stalls the event loop whichever thread triggered it.  On a console
that has started and logged in those objects are mostly Textual's (widgets, their
styles, rendered strips) and live as long as the shell.  ``bench stall`` measured one
full collection of that heap, triggered by an allocation batch on the engine's thread,
at 25-53 ms: a frozen frame.  So what has proved long-lived is frozen
(``gc.freeze``: out of the collector's sight, still freed by reference counting), and
a full collection only walks what came since:

* ``settle_start``: once the console has started, before the shell is composed (no
  collection at all before: ``pause``).
* ``settle_session``: once the shell is shown, and once each list on it has shown its
  first rows (a pane is mounted when its tab is first shown, and lives as long as the
  shell).
* ``HeapKeeper``: after each automatic full collection, its survivors (checked once a
  second on the event loop).  A console that visits more areas keeps more widgets; each
  survives one full collection and is frozen after it.

What is frozen is only freed by reference counting: a cycle (a widget and its parent)
that dies after it was frozen waits for ``release``, which thaws everything, collects it
all (one full collection, 50-100 ms) and freezes the survivors again.  That runs when
no work list is on screen: at logout and when the idle lock covers the console.

``gc.collect(1)`` before a later freeze collects the young generations only (a few ms):
what is frozen is what survived them.
"""

from __future__ import annotations

import gc


def pause() -> None:
    """As the console starts: no collection until ``settle_start``.  The engine's
    libraries are imported behind the login screen, on a worker thread; a full collection
    meanwhile walks the growing heap with the GIL held, and froze the login screen for
    65-85 ms while the operator typed (measured)."""
    gc.disable()


def settle_start() -> None:
    """After start-up, while the operator types at the login screen: everything start-up
    built is frozen as it is, without a collection (one would walk it all: the stall
    ``pause`` avoids); what start-up left as garbage cycles waits for the first
    ``release``."""
    gc.freeze()
    gc.enable()


def settle_session() -> None:
    """Once the operator's shell is shown, and once each of its lists has first loaded."""
    gc.collect(1)
    gc.freeze()


def release() -> None:
    """Thaw, collect everything, freeze the survivors (no work list on screen)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def thaw() -> None:
    """At exit: let the collector see everything again (and collect, should start-up
    not have finished)."""
    gc.unfreeze()
    gc.enable()


class HeapKeeper:
    """Freezes the survivors of each automatic full collection (``settle``, called
    once a second by the app)."""

    def __init__(self) -> None:
        self._collected = False

    def install(self) -> None:
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def uninstall(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        # Any thread, inside the collector: only note it.
        if phase == "stop" and info["generation"] == 2:
            self._collected = True

    def settle(self) -> None:
        if self._collected:
            self._collected = False
            gc.freeze()

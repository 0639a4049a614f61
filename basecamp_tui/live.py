"""The store watcher: one thread that asks the store what changed, every POLL_SECONDS
and, on PostgreSQL, as soon as a change is committed (LISTEN/NOTIFY:
:class:`~daemon.read.wakeup.ChangeListener`; polling alone while that is down).

It owns its own database connection (peewee connections are per thread) and a
:class:`~daemon.read.changes.StoreReader`; it posts :class:`StoreLoaded` to the app only
when something changed, so an idle dashboard costs a few index look-ups per poll and no
repaint. ``post_message`` is thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from textual.message import Message

from daemon.read.changes import Changes, StoreReader
from daemon.read.wakeup import ChangeListener
from daemon.store.db import close_connection

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25
BURST_GAP = 0.05
"""Seconds at least between two looks woken by commits: a busy daemon's stream of commits
costs at most 20 looks a second."""
HISTORY_HOLD = 0.5
"""Seconds after a keystroke without pieces of the runs' history (see ``hold_history``)."""


@dataclass
class StoreLoaded(Message):
    """What one look at the store found (the first load has ``changes.first``)."""

    changes: Changes


@dataclass
class StoreFailed(Message):
    """Reading the store failed (the watcher keeps trying)."""

    error: str


class Watcher:
    """Polls in a thread until :meth:`stop`; errors are reported once and retried."""

    def __init__(self, app: object, reader: StoreReader, interval: float = POLL_SECONDS,
                 listener: ChangeListener | None = None) -> None:
        self.app = app
        self.reader = reader
        self.interval = interval
        self.listener = listener or ChangeListener(None)
        """Wakes the watcher on a committed change (PostgreSQL) or a :meth:`poke`."""
        self._stop = threading.Event()
        self.history_done = threading.Event()
        """Set once the runs' history has been posted (all of it, or the watch stopped)."""
        self.history_wanted: deque[str] = deque(maxlen=1000)
        """Datasets whose rows were painted before their history came (appended by the
        UI thread): the next piece of the history loads them first, the latest first."""
        self._held_until = 0.0

    def stop(self) -> None:
        self._stop.set()
        self.listener.wake()

    def poke(self) -> None:
        """Look now instead of at the next interval (after queueing an action)."""
        self.listener.wake()

    def hold_history(self) -> None:
        """The user is typing: no piece of the history for HISTORY_HOLD seconds (reading
        and applying one would hold up the keystrokes' frames)."""
        self._held_until = time.monotonic() + HISTORY_HOLD

    def _wanted(self, limit: int) -> list[str]:
        wanted = self.history_wanted
        return [wanted.pop() for _ in range(min(limit, len(wanted)))]  # only this thread pops

    def _load_history(self, pieces: Iterator[Changes]) -> Iterator[Changes] | None:
        """Post pieces of the runs' history for half a poll interval, then let the next
        look come (it reads every run: in pieces, from the look after the first load, so
        the screen stays responsive and changes keep coming), none while the user types;
        None once all is posted."""
        until = time.monotonic() + self.interval / 2
        while self._held_until <= time.monotonic() < until:
            piece = next(pieces, None)
            if piece is None:
                self.history_done.set()
                return None
            self.app.post_message(StoreLoaded(piece))  # type: ignore[attr-defined]
        return pieces

    def run(self) -> None:
        failing = False
        first = True
        history: Iterator[Changes] | None = None
        next_at = woken_at = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    changes = self.reader.first_load() if first else self.reader.poll()
                    if changes:
                        self.app.post_message(StoreLoaded(changes))  # type: ignore[attr-defined]
                    if first:
                        first = False
                        history = self.reader.load_history(wanted=self._wanted)
                    elif history is not None:
                        history = self._load_history(history)
                    failing = False
                except Exception as exc:  # noqa: BLE001 - one bad look must not end the watch
                    if not failing:
                        log.exception("reading the store failed")
                        self.app.post_message(StoreFailed(str(exc)))  # type: ignore[attr-defined]
                    failing = True
                # Drift-corrected: poll on a fixed grid, skipping missed slots; a look woken
                # in between keeps the grid, so looks are never further apart than it.
                now = time.monotonic()
                if next_at <= now:
                    next_at += self.interval
                    if next_at < now:
                        next_at = now + self.interval
                if self.listener.wait(next_at - now):
                    self._stop.wait(max(0.0, woken_at + BURST_GAP - time.monotonic()))
                    woken_at = time.monotonic()
        finally:
            self.history_done.set()
            self.listener.close()
            close_connection()

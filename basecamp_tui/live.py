"""The store watcher: one thread that asks the store what changed, every POLL_SECONDS.

It owns its own database connection (peewee connections are per thread) and a
:class:`~daemon.read.changes.StoreReader`; it posts :class:`StoreLoaded` to the app only
when something changed, so an idle dashboard costs a few index look-ups per poll and no
repaint. ``post_message`` is thread-safe.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from textual.message import Message

from daemon.read.changes import Changes, StoreReader
from daemon.store.db import close_connection

log = logging.getLogger(__name__)
POLL_SECONDS = 0.25
HISTORY_PAUSE = 0.1
"""Seconds between two pieces of the runs' history load (see ``_load_history``)."""


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

    def __init__(self, app: object, reader: StoreReader, interval: float = POLL_SECONDS) -> None:
        self.app = app
        self.reader = reader
        self.interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.history_done = threading.Event()
        """Set once the runs' history has been posted (all of it, or the watch stopped)."""

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def poke(self) -> None:
        """Look now instead of at the next interval (after queueing an action)."""
        self._wake.set()

    def _load_history(self) -> None:
        """After the first load has been painted: the runs' history, in pieces with a
        pause between them (it reads every run; the screen stays responsive)."""
        self._stop.wait(self.interval)
        try:
            for piece in self.reader.load_history():
                if self._stop.is_set():
                    return
                if piece:
                    self.app.post_message(StoreLoaded(piece))  # type: ignore[attr-defined]
                self._stop.wait(HISTORY_PAUSE)
        finally:
            self.history_done.set()

    def run(self) -> None:
        failing = False
        first = True
        next_at = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    changes = self.reader.first_load() if first else self.reader.poll()
                    if changes:
                        self.app.post_message(StoreLoaded(changes))  # type: ignore[attr-defined]
                    if first:
                        first = False
                        self._load_history()
                    failing = False
                except Exception as exc:  # noqa: BLE001 - one bad look must not end the watch
                    if not failing:
                        log.exception("reading the store failed")
                        self.app.post_message(StoreFailed(str(exc)))  # type: ignore[attr-defined]
                    failing = True
                # Drift-corrected: poll on a fixed grid, skipping missed slots.
                next_at += self.interval
                now = time.monotonic()
                if next_at < now:
                    next_at = now + self.interval
                self._wake.wait(next_at - now)
                self._wake.clear()
        finally:
            close_connection()

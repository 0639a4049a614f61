"""Waking the dashboard when the store changes: PostgreSQL LISTEN/NOTIFY.

On PostgreSQL every statement that changes a table the dashboard shows notifies channel
``basecamp_changes`` when it commits (triggers, migration 10). :class:`ChangeListener`
keeps one dedicated connection (autocommit, ``LISTEN basecamp_changes``) and waits on its
socket with ``select()``, so the dashboard's watcher (``basecamp_tui/live.py``) runs its
change poll within milliseconds of a commit instead of at its next interval. LISTEN
needs no privilege: the least-privilege reader roles (``contrib/postgres/readers.sql``)
listen too.

A lost connection (server restart, ``pg_terminate_backend``, a dropped network) is logged
once; until a reconnect succeeds, waits just time out and the watcher polls at its
interval as it does on SQLite, where there is nothing to listen to. No Textual here.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from psycopg2.extensions import connection

log = logging.getLogger(__name__)

CHANNEL = "basecamp_changes"
"""The channel migration 10's triggers notify."""
RECONNECT_SECONDS = 5.0
"""After a lost connection, how long the listener waits before it tries again."""
CONNECT_OPTIONS = {
    "application_name": "basecamp dashboard listener",
    "connect_timeout": 2,  # the watcher waits for it: an unreachable server costs 2 s
    # A connection whose network silently went away is noticed within about a minute
    # (a LISTEN connection sends nothing, so nothing else would notice it).
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


class ChangeListener:
    """Waits until the store changed, another thread called :meth:`wake`, or a timeout.

    Call :meth:`wait` and :meth:`close` from one thread (the watcher's); :meth:`wake`
    from any. The connection is opened by the first :meth:`wait`, not here, so building
    a listener does no IO. ``url`` is the store's; one that does not notify (SQLite, or
    ``None``) makes :meth:`wait` a sleep that :meth:`wake` cuts short."""

    def __init__(self, url: str | None, reconnect_after: float = RECONNECT_SECONDS) -> None:
        self.url = url if url and urlparse(url).scheme in ("postgres", "postgresql") else None
        self.reconnect_after = reconnect_after
        self.listening = False
        """True while a LISTEN connection is up (False on SQLite and after a loss)."""
        self._conn: connection | None = None
        self._retry_at = 0.0
        self._lost = False
        # wake() writes a byte here; wait() selects on it beside the database's socket
        self._wakeup_in, self._wakeup_out = socket.socketpair()
        self._wakeup_in.setblocking(False)
        self._wakeup_out.setblocking(False)

    def wake(self) -> None:
        """Make the current (or next) :meth:`wait` return now; safe from any thread."""
        try:
            self._wakeup_out.send(b"\0")
        except OSError:  # the buffer is full (a wake is pending anyway) or it was closed
            pass

    def wait(self, timeout: float) -> bool:
        """True as soon as a change was committed or :meth:`wake` was called, False when
        ``timeout`` seconds passed without either."""
        deadline = time.monotonic() + max(0.0, timeout)
        if self.url is not None and self._conn is None and time.monotonic() >= self._retry_at:
            self._listen()
        while True:
            sockets: list[object] = [self._wakeup_in]
            if self._conn is not None:
                sockets.append(self._conn)
            ready, _, _ = select.select(sockets, [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return False
            woken = self._wakeup_in in ready
            if woken:
                self._drain_wakes()
            if self._conn is not None and self._conn in ready:
                woken = self._notified(self._conn) or woken
            if woken:
                return True

    def close(self) -> None:
        self._disconnect()
        self._wakeup_in.close()
        self._wakeup_out.close()

    def _listen(self) -> None:
        import psycopg2  # optional (basecamp[postgres]); the store's URL needed it already

        try:
            self._conn = psycopg2.connect(self.url, **CONNECT_OPTIONS)
            self._conn.autocommit = True  # notifications arrive between transactions only
            with self._conn.cursor() as cursor:
                cursor.execute(f"LISTEN {CHANNEL}")
        except psycopg2.Error as exc:
            self._lose(exc)
            return
        self.listening = True
        if self._lost:
            log.info("listening for store changes again: the dashboard follows the store at once")
            self._lost = False

    def _notified(self, conn: connection) -> bool:
        """Read what arrived on the LISTEN connection; True when it held a notification."""
        import psycopg2

        try:
            conn.poll()
        except psycopg2.Error as exc:
            self._lose(exc)
            return False
        if not conn.notifies:
            return False
        conn.notifies.clear()
        return True

    def _lose(self, exc: Exception) -> None:
        """Fall back to polling: drop the connection, say so once, try again later."""
        if not self._lost:
            log.warning("no change notifications from the store (%s): the dashboard polls "
                        "until they are back (retrying every %g s)",
                        " ".join(str(exc).split()) or type(exc).__name__, self.reconnect_after)
            self._lost = True
        self._disconnect()
        self._retry_at = time.monotonic() + self.reconnect_after

    def _disconnect(self) -> None:
        self.listening = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _drain_wakes(self) -> None:
        try:
            while self._wakeup_in.recv(4096):
                pass
        except BlockingIOError:
            pass

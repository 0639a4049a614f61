"""A tiny sd_notify client: tells systemd that the daemon is ready, alive, reloading or
stopping (``Type=notify`` and ``Type=notify-reload`` units, see sd_notify(3)).

No libsystemd binding: the protocol is one ``KEY=VALUE`` line per field in a single
AF_UNIX datagram sent to ``$NOTIFY_SOCKET``. Outside systemd (no ``$NOTIFY_SOCKET``)
every method is a no-op, so the runtime calls them unconditionally. Notifying must
never take the daemon down, so sending never raises: the first failure is logged at
debug level and later ones are not (a unit that stops sending WATCHDOG=1 is killed by
systemd anyway, which says why).

Who sends what (``daemon.runtime.daemon``): the main loop sends READY=1, WATCHDOG=1,
RELOADING=1 and STOPPING=1; the heartbeat thread sends the periodic STATUS= lines.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Mapping

log = logging.getLogger(__name__)

#: STATUS= is shown by ``systemctl status`` on one line; longer text is cut.
MAX_STATUS_CHARS = 256
#: Longest wait for room in the notify socket's queue before a message is dropped.
SEND_TIMEOUT_S = 2.0


def _clean_status(text: str) -> str:
    """One line (a newline would start a new, bogus assignment), at most
    ``MAX_STATUS_CHARS`` characters."""
    line = " ".join(text.splitlines()).strip()
    if len(line) > MAX_STATUS_CHARS:
        line = line[: MAX_STATUS_CHARS - 1] + "…"
    return line


def _socket_address(value: str) -> str | bytes | None:
    """The sendto() address for ``$NOTIFY_SOCKET``; None when unsupported.

    Like libsystemd, only absolute paths and ``@name`` (Linux abstract namespace,
    written with a leading NUL byte on the wire) are accepted.
    """
    if value.startswith("@") and len(value) > 1:
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return value
    return None


class SystemdNotifier:
    """Sends sd_notify messages to the socket systemd passed in ``$NOTIFY_SOCKET``.

    The environment is read once, at construction. Thread-safe: each message is one
    datagram on a short-lived socket, so the main loop and the heartbeat thread can
    both notify.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._socket_value = env.get("NOTIFY_SOCKET", "")
        self._address = _socket_address(self._socket_value) if self._socket_value else None
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")
        self._failure_logged = False

    @property
    def enabled(self) -> bool:
        """True when systemd asked for notifications (``$NOTIFY_SOCKET`` is set)."""
        return bool(self._socket_value)

    def ready(self, status: str | None = None) -> None:
        """Startup finished (``READY=1``); with ``status`` in the same datagram."""
        self._send("READY=1", status)

    def status(self, text: str) -> None:
        """Free-form one-line status shown by ``systemctl status``."""
        self._send(None, text)

    def watchdog(self) -> None:
        """Keep-alive ping (``WATCHDOG=1``); send every :meth:`watchdog_interval` s."""
        self._send("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> None:
        """Shutdown began (``STOPPING=1``)."""
        self._send("STOPPING=1", status)

    def reloading(self) -> None:
        """A config reload began. ``MONOTONIC_USEC`` is required by systemd >= 253 for
        ``Type=notify-reload``; older versions and ``Type=notify`` ignore it."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send(f"RELOADING=1\nMONOTONIC_USEC={usec}")

    def reloaded(self, status: str | None = None) -> None:
        """The reload finished (``READY=1`` again)."""
        self._send("READY=1", status)

    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings: half of ``$WATCHDOG_USEC``, as sd_watchdog_enabled(3)
        recommends; None when the watchdog is off or meant for another process (a child
        that inherited the environment)."""
        if not self._watchdog_usec:
            return None
        if self._watchdog_pid:
            try:
                if int(self._watchdog_pid) != os.getpid():
                    return None
            except ValueError:
                return None
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        if usec <= 0:
            return None
        return usec / 2 / 1_000_000

    def _send(self, fields: str | None, status: str | None = None) -> None:
        if not self._socket_value:
            return
        lines = [fields] if fields else []
        if status is not None:
            lines.append("STATUS=" + _clean_status(status))
        if not lines:
            return
        message = "\n".join(lines).encode("utf-8")
        if self._address is None:
            self._log_failure("unsupported address (not absolute, not @abstract)")
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                # A blocked notify socket must not hang the daemon (or its shutdown).
                sock.settimeout(SEND_TIMEOUT_S)
                sock.sendto(message, self._address)
        except OSError as exc:
            self._log_failure(str(exc))

    def _log_failure(self, reason: str) -> None:
        """Once per notifier: a broken socket would otherwise log every watchdog ping."""
        if not self._failure_logged:
            self._failure_logged = True
            log.debug("sd_notify to %s failed: %s", self._socket_value, reason)

"""``basecamp demo`` in a pseudo-terminal, as a user starts it: for the demo's tests and
its benchmark."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import sqlite3
import struct
import sys
import termios
import time
from pathlib import Path

from basecamp_cli.demo.airflow import alive, processes_in


class Demo:
    """``basecamp demo`` in a pseudo-terminal of its own, as a user starts it."""

    def __init__(self, cache: Path, size: tuple[int, int] = (120, 40),
                 env: dict[str, str] | None = None) -> None:
        self.cache = cache
        self.pid, self.terminal = pty.fork()
        if self.pid == 0:  # the child: the terminal's session leader
            os.environ.update(env or {})
            os.environ["XDG_CACHE_HOME"] = str(cache)
            os.environ["TERM"] = "xterm-256color"
            os.execv(sys.executable, [sys.executable, "-m", "basecamp_cli.main", "demo"])
        columns, rows = size
        fcntl.ioctl(self.terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.output = bytearray()

    def read(self) -> None:
        """Drain what the demo printed (a pty whose buffer fills would block it)."""
        while True:
            try:
                ready, _, _ = select.select([self.terminal], [], [], 0)
                if not ready:
                    return
                chunk = os.read(self.terminal, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.output.extend(chunk)

    def runs(self) -> int:
        return self.count_runs(self.cache)

    @staticmethod
    def count_runs(cache: Path) -> int:
        """Runs in the demo store of ``cache`` (0 before there is one)."""
        store = cache / "basecamp" / "demo" / "basecamp.db"
        if not store.exists():
            return 0
        try:
            with sqlite3.connect(store) as db:
                return db.execute("SELECT count(*) FROM run").fetchone()[0]
        except sqlite3.Error:
            return 0

    def wait_exit(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            pid, code = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return code
            time.sleep(0.2)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"the demo did not end; it printed:\n{self.output[-3000:]!r}")


def started_by(cache: Path) -> list[int]:
    """Processes of this demo: those whose environment names its cache (the daemon, the
    reaper, Airflow's standalone and most of its children), and those working in its
    directory (task processes that cleared their environment)."""
    marker = f"XDG_CACHE_HOME={cache}".encode()
    found = set(processes_in(cache))
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0") and alive(int(entry)):
                found.add(int(entry))
    return sorted(found)

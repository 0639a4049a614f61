"""One active daemon per store, and the heartbeat that tells the CLI and the dashboard
whether it is running.

The lease is one row. A daemon takes it when there is none, when its holder stopped
cleanly, or when the holder's heartbeat is older than ``stale_after`` seconds (the
holder died); the take-over is a compare-and-set on (holder, heartbeat_at), so two
daemons starting at once cannot both win. A daemon whose heartbeat update finds another
holder has lost the store and must stop.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from peewee import IntegrityError

from daemon.core.errors import DaemonUnavailable, UserError
from daemon.store.models import DaemonLease, utcnow

LEASE_KEY = "daemon"


def ago(seconds: float) -> str:
    """``42 s ago`` / ``3 min ago`` / ``5 h ago`` / ``2 days ago``."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


@dataclass(frozen=True)
class DaemonStatus:
    running: bool
    holder: str | None = None
    heartbeat_at: datetime | None = None
    started_at: datetime | None = None
    status: str | None = None
    stopped: bool = False

    def describe(self, now: datetime | None = None) -> str:
        if self.heartbeat_at is None:
            return "daemon not running (never started on this store)"
        age = ((now or utcnow()) - self.heartbeat_at).total_seconds()
        if self.running:
            return f"daemon running on {self.holder} (heartbeat {ago(age)})"
        return f"daemon not running (last seen {ago(age)})"


class StoreHeld(UserError):
    """Another daemon holds this store's lease."""


def daemon_status(stale_after: float, now: datetime | None = None) -> DaemonStatus:
    row = DaemonLease.get_or_none(DaemonLease.key == LEASE_KEY)
    if row is None:
        return DaemonStatus(running=False)
    now = now or utcnow()
    fresh = row.stopped_at is None and now - row.heartbeat_at <= timedelta(seconds=stale_after)
    return DaemonStatus(running=fresh, holder=row.holder, heartbeat_at=row.heartbeat_at,
                        started_at=row.started_at, status=row.status,
                        stopped=row.stopped_at is not None)


def require_daemon(stale_after: float) -> DaemonStatus:
    """The running daemon's status, or DaemonUnavailable (exit 3) saying when it was last seen."""
    status = daemon_status(stale_after)
    if not status.running:
        raise DaemonUnavailable(
            f"{status.describe()}. Nothing was queued. Start it with `basecamp daemon` "
            "(or `systemctl start basecamp-daemon`)."
        )
    return status


class Lease:
    """This process's claim on the store."""

    def __init__(self, stale_after: float, version: str) -> None:
        self.stale_after = stale_after
        self.version = version
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.holder = f"{self.hostname}:{self.pid}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> None:
        """Take the lease, or raise StoreHeld naming the daemon that has it."""
        for _ in range(3):
            now = utcnow()
            row = DaemonLease.get_or_none(DaemonLease.key == LEASE_KEY)
            if row is None:
                try:
                    DaemonLease.create(key=LEASE_KEY, holder=self.holder, hostname=self.hostname,
                                       pid=self.pid, version=self.version, started_at=now,
                                       heartbeat_at=now, status="starting")
                    return
                except IntegrityError:
                    continue  # another daemon created it first: look again
            age = (now - row.heartbeat_at).total_seconds()
            if row.stopped_at is None and age <= self.stale_after and not self._died(row):
                raise StoreHeld(
                    f"Another daemon holds this store: {row.hostname} pid {row.pid} "
                    f"(started {row.started_at:%Y-%m-%d %H:%M:%S}Z, heartbeat {ago(age)}). "
                    "Stop it first; only one daemon may run per store."
                )
            taken = DaemonLease.update(
                holder=self.holder, hostname=self.hostname, pid=self.pid, version=self.version,
                started_at=now, heartbeat_at=now, status="starting", stopped_at=None,
            ).where(
                (DaemonLease.key == LEASE_KEY) & (DaemonLease.holder == row.holder)
                & (DaemonLease.heartbeat_at == row.heartbeat_at)
            ).execute()
            if taken:
                return
        raise StoreHeld("Another daemon took this store while this one was starting.")

    def _died(self, row: DaemonLease) -> bool:
        """A holder on this host whose process is gone (killed: systemd restarts us at
        once, long before its heartbeat goes stale)."""
        if row.hostname != self.hostname or row.pid == self.pid:
            return False
        try:
            os.kill(row.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False

    def heartbeat(self, status: str) -> bool:
        """Refresh the heartbeat; False when another daemon has taken the lease."""
        return bool(DaemonLease.update(heartbeat_at=utcnow(), status=status[:500]).where(
            (DaemonLease.key == LEASE_KEY) & (DaemonLease.holder == self.holder)
        ).execute())

    def release(self) -> None:
        DaemonLease.update(stopped_at=utcnow(), status="stopped").where(
            (DaemonLease.key == LEASE_KEY) & (DaemonLease.holder == self.holder)
        ).execute()

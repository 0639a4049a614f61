"""One active daemon per store, and the heartbeat that tells the CLI and the dashboard
whether it is running.

The lease is one row. A daemon takes it when there is none, when its holder stopped
cleanly, or when the holder's heartbeat is older than ``stale_after`` seconds (the
holder died); the take-over is a compare-and-set on (holder, heartbeat_at), so two
daemons starting at once cannot both win. A daemon whose heartbeat update finds another
holder has lost the store and must stop. Readers ask ``daemon.read.status``.
"""

from __future__ import annotations

import os
import socket
import uuid

from peewee import IntegrityError

from daemon.core.errors import UserError
from daemon.core.timefmt import ago, utcnow
from daemon.store.models import DaemonLease

LEASE_KEY = "daemon"


class StoreHeld(UserError):
    """Another daemon holds this store's lease."""


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

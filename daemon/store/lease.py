"""Which daemons run on a store, and the heartbeat that tells the CLI and the dashboard
whether one is running.

SQLite (:class:`Lease`): one active daemon per store. The lease is one row. A daemon
takes it when there is none, when its holder stopped cleanly, or when the holder's
heartbeat is older than ``stale_after`` seconds (the holder died); the take-over is a
compare-and-set on (holder, heartbeat_at), so two daemons starting at once cannot both
win. A daemon whose heartbeat update finds another holder has lost the store and must
stop. Readers ask ``daemon.read.status``.

PostgreSQL (:class:`SharedLease`): several daemons share the store and split its work
(``daemon.runtime.ownership``). Each has a row of its own (``daemon:<holder>``: who it is,
its heartbeat) and every heartbeat also refreshes the store's row (``daemon``), which
readers ask as before: a store is running while any of its daemons beats.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from peewee import Database, IntegrityError, PostgresqlDatabase

from daemon.core.errors import UserError
from daemon.core.timefmt import ago, utcnow
from daemon.store.models import DaemonLease

LEASE_KEY = "daemon"
SHARED_KEY_PREFIX = "daemon:"
FORGET_AFTER = timedelta(days=1)
"""A shared store forgets a daemon's row this long after its last heartbeat."""


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
                    "Stop it first: a SQLite store has one daemon (several daemons can share "
                    "a PostgreSQL store)."
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


class SharedLease(Lease):
    """A daemon's row on a shared (PostgreSQL) store; it never refuses to start: the
    advisory locks of ``daemon.runtime.ownership`` decide who does what."""

    @property
    def key(self) -> str:
        return SHARED_KEY_PREFIX + self.holder

    def acquire(self) -> None:
        now = utcnow()
        DaemonLease.delete().where(DaemonLease.key.startswith(SHARED_KEY_PREFIX)
                                   & (DaemonLease.heartbeat_at < now - FORGET_AFTER)).execute()
        DaemonLease.create(key=self.key, holder=self.holder, hostname=self.hostname, pid=self.pid,
                           version=self.version, started_at=now, heartbeat_at=now, status="starting")
        self._beat_for_the_store(now, "starting")

    def heartbeat(self, status: str) -> bool:
        now = utcnow()
        DaemonLease.update(heartbeat_at=now, status=status[:500]).where(
            DaemonLease.key == self.key).execute()
        self._beat_for_the_store(now, status)
        return True

    def _beat_for_the_store(self, now: datetime, status: str) -> None:
        """The store's row says: running, last heard from this daemon."""
        DaemonLease.insert(
            key=LEASE_KEY, holder=self.holder, hostname=self.hostname, pid=self.pid,
            version=self.version, started_at=now, heartbeat_at=now, status=status[:500],
        ).on_conflict(conflict_target=[DaemonLease.key], update={
            DaemonLease.holder: self.holder, DaemonLease.hostname: self.hostname,
            DaemonLease.pid: self.pid, DaemonLease.version: self.version,
            DaemonLease.heartbeat_at: now, DaemonLease.status: status[:500],
            DaemonLease.stopped_at: None,
        }).execute()

    def release(self) -> None:
        """This daemon's row says stopped; the store's row too when no other daemon
        has beaten since ``stale_after`` seconds."""
        now = utcnow()
        DaemonLease.update(stopped_at=now, status="stopped").where(DaemonLease.key == self.key).execute()
        others = DaemonLease.select().where(
            DaemonLease.key.startswith(SHARED_KEY_PREFIX) & DaemonLease.stopped_at.is_null()
            & (DaemonLease.heartbeat_at >= now - timedelta(seconds=self.stale_after))).exists()
        if not others:
            DaemonLease.update(stopped_at=now, status="stopped").where(
                DaemonLease.key == LEASE_KEY).execute()


def lease_for(db: Database, stale_after: float, version: str) -> Lease:
    """Several daemons on PostgreSQL, one on SQLite."""
    kind = SharedLease if isinstance(db, PostgresqlDatabase) else Lease
    return kind(stale_after, version)

"""Is the daemon running? The heartbeat of the store's lease, for the CLI and the
dashboard ("daemon not running (last seen 3 min ago)")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from daemon.core.errors import DaemonUnavailable
from daemon.core.timefmt import ago, utcnow
from daemon.store.lease import LEASE_KEY
from daemon.store.models import DaemonLease


@dataclass(frozen=True)
class DaemonStatus:
    running: bool
    holder: str | None = None
    heartbeat_at: datetime | None = None
    started_at: datetime | None = None
    status: str | None = None
    stopped: bool = False

    def last_seen(self, now: datetime | None = None) -> str:
        """``last seen 3 min ago`` / ``never started on this store``."""
        if self.heartbeat_at is None:
            return "never started on this store"
        return f"last seen {ago(((now or utcnow()) - self.heartbeat_at).total_seconds())}"

    def describe(self, now: datetime | None = None) -> str:
        if self.running and self.heartbeat_at is not None:
            age = ((now or utcnow()) - self.heartbeat_at).total_seconds()
            return f"daemon running on {self.holder} (heartbeat {ago(age)})"
        return f"daemon not running ({self.last_seen(now)})"


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

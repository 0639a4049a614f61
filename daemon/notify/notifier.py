"""The notifier: one ``run_once`` derives SLA/outage events, queues outbox rows for new
events and delivers the rows that are due. The runtime calls it every few seconds from
its own thread; each step and each row fails on its own, logged, and the next call goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import httpx

from daemon.core.config import NotificationsConfig
from daemon.core.states import NotificationState
from daemon.core.timefmt import utcnow
from daemon.notify import deliver
from daemon.notify.channels import Channels, RedactingFilter, redact
from daemon.notify.outbox import queue_notifications
from daemon.notify.watch import check_clusters, check_slas
from daemon.store.models import Notification

log = logging.getLogger(__name__)

# Rows delivered per call, so one call stays short even with a large backlog.
DELIVERY_BATCH = 50
# httpx logs every request URL at INFO; webhook URLs are secrets.
_SCRUBBED_LOGGERS = ("httpx", __name__)


@dataclass
class NotifyReport:
    """What one ``run_once`` did."""

    sla_events: int = 0
    """``sla_exceeded`` events recorded."""
    outage_events: int = 0
    """``cluster_outage`` events recorded."""
    events_scanned: int = 0
    """Events read from the event log (each exactly once over the store's life)."""
    queued: int = 0
    """Outbox rows queued for new events."""
    skipped: int = 0
    """Targets dropped because their channel has no URL configured."""
    sent: int = 0
    retried: int = 0
    """Attempts that failed and were rescheduled."""
    failed: int = 0
    """Rows that ran out of attempts (each recorded as ``notification_failed``)."""
    errors: int = 0
    """Steps or rows that raised unexpectedly (logged with a traceback)."""


class Notifier:
    def __init__(self, config: NotificationsConfig, *, client: httpx.Client | None = None) -> None:
        self.config = config
        self.channels = Channels.from_config(config)
        self._owns_client = client is None
        self.client = client or httpx.Client(timeout=deliver.TIMEOUT_SECONDS)
        self._filter = RedactingFilter(self.channels.secrets)
        for name in _SCRUBBED_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)

    def run_once(self, now: datetime | None = None) -> NotifyReport:
        now = now or utcnow()
        report = NotifyReport()
        try:
            report.sla_events = check_slas(now)
        except Exception:
            report.errors += 1
            log.exception("notifier: SLA check failed")
        try:
            report.outage_events = check_clusters(self.config.cluster_unreachable_minutes, now)
        except Exception:
            report.errors += 1
            log.exception("notifier: cluster outage check failed")
        try:
            self._queue(now, report)
        except Exception:
            report.errors += 1
            log.exception("notifier: queueing notifications failed")
        try:
            rows = deliver.due(now, DELIVERY_BATCH)
        except Exception:
            report.errors += 1
            log.exception("notifier: reading the outbox failed")
            rows = []
        for row in rows:
            self._deliver(row, now, report)
        return report

    def _queue(self, now: datetime, report: NotifyReport) -> None:
        queued = queue_notifications(self.channels, now)
        report.events_scanned, report.queued = queued.scanned, queued.queued
        report.skipped = sum(queued.skipped.values())
        if queued.skipped:
            log.info(
                "notifications not queued for %d target(s), channel not configured: %s",
                report.skipped,
                "; ".join(self.channels.describe_missing(c) for c in sorted(queued.skipped)),
            )

    def _deliver(self, row: Notification, now: datetime, report: NotifyReport) -> None:
        where = f"notification {row.id} ({row.channel} {row.target or 'default'})"
        try:
            if not deliver.claim(row, now):
                return  # another daemon sends it
        except Exception:
            report.errors += 1
            log.exception("%s: claiming it failed", where)
            return
        try:
            attempt = deliver.post(self.client, self.channels, row, now)
        except Exception as exc:
            # A bug, not IO; still an attempt, so a row that always raises gives up in the end.
            report.errors += 1
            log.exception("%s: delivery failed unexpectedly", where)
            error = redact(f"{type(exc).__name__}: {exc}", self.channels.secrets())
            attempt = deliver.Attempt(False, error)
        try:
            outcome = deliver.record(row, attempt, self.config.max_attempts, now)
        except Exception:
            report.errors += 1
            log.exception("%s: recording the outcome failed", where)
            return
        if outcome == NotificationState.SENT:
            report.sent += 1
            log.info("%s of event %d sent", where, row.event_id)
        elif outcome == "retry":
            report.retried += 1
            log.warning("%s failed (attempt %d of %d, next at %s): %s", where, row.attempts,
                        self.config.max_attempts, f"{row.next_attempt_at:%H:%M:%S}", row.last_error)
        else:
            report.failed += 1
            log.error("%s gave up after %d attempts: %s", where, row.attempts, row.last_error)

    def close(self) -> None:
        for name in _SCRUBBED_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)
        if self._owns_client:
            self.client.close()

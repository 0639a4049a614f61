"""Notifications delivered from an outbox (SPEC §6): Slack and generic JSON webhooks for
failed runs, source changes, SLA misses and long cluster outages."""

from daemon.notify.notifier import Notifier, NotifyReport

__all__ = ["Notifier", "NotifyReport"]

"""Turning the event log into outbox rows, each event exactly once.

The event-log cursor (SyncState ``notify:events``, the last event id handled) advances in
the same transaction that inserts the event's rows, and rows are insert-or-ignore on
(event_id, channel, target): a crash before commit redoes the batch, a crash after it
never sees those events again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from peewee import fn

from daemon.core.states import NotificationState
from daemon.notify.channels import SLACK, WEBHOOK, Channels, payload
from daemon.notify.store import effective_specs, spec_targets
from daemon.notify.watch import CLUSTER_OUTAGE, SLA_EXCEEDED
from daemon.run_sync.hitl import INPUT_WAITING
from daemon.run_sync.slow import RUN_SLOW
from daemon.store.events import sync_state
from daemon.store.models import Event, Notification, database_proxy

CURSOR_KEY = "notify:events"
BATCH = 500
# Event kind → the spec's list of targets; CLUSTER_OUTAGE goes to every configured channel.
ROUTES = {"run_failed": "on_failure", SLA_EXCEEDED: "on_failure", INPUT_WAITING: "on_failure",
          RUN_SLOW: "on_failure", "source_change": "on_source_change"}
# With no cursor yet (a store older than the notifier), older events are not announced:
# a first start must not replay weeks of history into Slack.
FIRST_START_LOOKBACK = timedelta(minutes=15)


@dataclass
class Queued:
    """What one pass over the event log did; ``skipped`` counts targets per unconfigured
    channel."""

    scanned: int = 0
    queued: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def queue_notifications(channels: Channels, now: datetime) -> Queued:
    """Handle every event after the cursor, one short transaction per batch."""
    result = Queued()
    configured = set(channels.configured())
    while True:
        with database_proxy.atomic():
            handled = _queue_batch(configured, now, result)
        if handled < BATCH:
            return result


def _queue_batch(configured: set[str], now: datetime, result: Queued) -> int:
    state = sync_state(CURSOR_KEY)
    after = int(state.cursor) if state.cursor else _first_cursor(now)
    events = list(Event.select().where(Event.id > after).order_by(Event.id).limit(BATCH))
    if not events:
        if state.cursor is None:
            state.cursor, state.updated_at = str(after), now
            state.save()
        return 0
    specs = effective_specs(_dataset(e) for e in events if e.kind in ROUTES)
    rows = []
    for event in events:
        for channel, target in _targets(event, specs, configured):
            if channel not in configured:
                result.skipped[channel] += 1
                continue
            rows.append({"event_id": event.id, "channel": channel, "target": target,
                         "payload": payload(channel, target, event), "state": NotificationState.PENDING,
                         "next_attempt_at": now, "created_at": now})
    for start in range(0, len(rows), 200):
        Notification.insert_many(rows[start : start + 200]).on_conflict_ignore().execute()
    state.cursor, state.updated_at = str(events[-1].id), now
    state.save()
    result.scanned += len(events)
    result.queued += len(rows)
    return len(events)


def _first_cursor(now: datetime) -> int:
    older = Event.select(fn.MAX(Event.id)).where(Event.at < now - FIRST_START_LOOKBACK).scalar()
    return older or 0


def _dataset(event: Event) -> str:
    return (event.data or {}).get("dataset_name") or event.subject


def _targets(
    event: Event, specs: dict[str, dict[str, Any]], configured: set[str]
) -> list[tuple[str, str]]:
    """(channel, target) pairs, deduplicated; target "" is the webhook's default channel.
    A webhook target's ``url`` in a spec is not used: specs are untrusted and URLs live
    only in env vars, so a webhook target means "the configured generic webhook"."""
    if event.kind == CLUSTER_OUTAGE:
        return [(channel, "") for channel in (SLACK, WEBHOOK) if channel in configured]
    route = ROUTES.get(event.kind)
    if route is None:
        return []
    pairs: list[tuple[str, str]] = []
    for target in spec_targets(specs.get(_dataset(event)), route):
        if target.get("type") == SLACK and target.get("channel"):
            pair = (SLACK, str(target["channel"]))
        elif target.get("type") == WEBHOOK:
            pair = (WEBHOOK, "")
        else:
            continue
        if pair not in pairs:
            pairs.append(pair)
    return pairs

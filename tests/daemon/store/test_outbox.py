"""The notification outbox's store side on SQLite and PostgreSQL: events become outbox rows
exactly once (insert-or-ignore on (event, channel, target), the cursor committed with the
rows), due rows come out oldest first, and an outcome only ever moves a pending row.
Delivery over HTTP and routing in depth: ``tests/daemon/notify``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from peewee import Database

from daemon.core.states import SourceType
from daemon.notify import outbox
from daemon.notify.channels import SLACK, WEBHOOK, Channels
from daemon.notify.deliver import NOTIFICATION_FAILED, Attempt, due, record
from daemon.notify.outbox import CURSOR_KEY, queue_notifications
from daemon.notify.watch import CLUSTER_OUTAGE
from daemon.store.models import Event, Notification, SyncState, Workflow

NOW = datetime(2026, 11, 23, 8, 0, 0, 500000, tzinfo=timezone.utc)


@pytest.fixture
def channels(monkeypatch: pytest.MonkeyPatch) -> Channels:
    """Both channels configured; nothing here sends, so the URLs are never used."""
    monkeypatch.setenv("BC_TEST_SLACK_URL", "http://127.0.0.1:9/slack")
    monkeypatch.setenv("BC_TEST_HOOK_URL", "http://127.0.0.1:9/hook")
    return Channels({SLACK: "BC_TEST_SLACK_URL", WEBHOOK: "BC_TEST_HOOK_URL"})


def workflow(name: str, source: SourceType, *targets: dict[str, str],
             status: str = "active") -> None:
    spec = {"name": name, "schedule": {"notifications": {"on_failure": list(targets)}}}
    Workflow.create(dataset_name=name, source_type=source, status=status, spec=spec)


def event(kind: str, subject: str, at: datetime = NOW, **data: Any) -> int:
    return Event.create(at=at, kind=kind, severity="error", subject=subject,
                        message=f"{kind}: {subject}", data=data or None).id


def outbox_rows() -> set[tuple[int, str, str | None, str]]:
    return {(n.event_id, n.channel, n.target, n.state) for n in Notification.select()}


def cursor() -> str | None:
    return SyncState.get(SyncState.key == CURSOR_KEY).cursor


@pytest.fixture
def log() -> dict[str, int]:
    """Two datasets (ds.a has a code and a manual spec: the code one is in force, the
    manual one overridden), a cluster outage, two failed runs and an event no one is
    notified of."""
    workflow("ds.a", SourceType.CODE, {"type": "slack", "channel": "#from-code"}, {"type": "webhook"})
    workflow("ds.a", SourceType.MANUAL, {"type": "slack", "channel": "#from-manual"},
             status="overridden")
    workflow("ds.b", SourceType.MANUAL, {"type": "slack", "channel": "#b"})
    return {"outage": event(CLUSTER_OUTAGE, "dp-airflow"),
            "a": event("run_failed", "ds.a/r1", dataset_name="ds.a"),
            "b": event("run_failed", "ds.b/r1", dataset_name="ds.b"),
            "quiet": event("spec_sync", "specs")}


def expected(log: dict[str, int], state: str = "pending") -> set[tuple[int, str, str, str]]:
    return {(log["outage"], SLACK, "", state), (log["outage"], WEBHOOK, "", state),
            (log["a"], SLACK, "#from-code", state), (log["a"], WEBHOOK, "", state),
            (log["b"], SLACK, "#b", state)}


def test_each_event_is_queued_once_per_target_and_the_cursor_passes_it(
    db_store: Database, channels: Channels, log: dict[str, int]
) -> None:
    queued = queue_notifications(channels, NOW)
    assert (queued.scanned, queued.queued) == (4, 5)
    assert outbox_rows() == expected(log)
    assert cursor() == str(log["quiet"])
    slack_a = Notification.get((Notification.event_id == log["a"]) & (Notification.channel == SLACK))
    assert slack_a.payload["channel"] == "#from-code"
    assert slack_a.next_attempt_at == NOW
    again = queue_notifications(channels, NOW + timedelta(minutes=1))
    assert (again.scanned, again.queued) == (0, 0)
    assert len(outbox_rows()) == 5


def test_a_batch_handled_again_adds_nothing_and_changes_nothing(
    db_store: Database, channels: Channels, log: dict[str, int]
) -> None:
    queue_notifications(channels, NOW)
    Notification.update(state="sent").execute()
    SyncState.update(cursor="0").where(SyncState.key == CURSOR_KEY).execute()
    queue_notifications(channels, NOW + timedelta(minutes=1))  # each insert meets its row
    assert outbox_rows() == expected(log, state="sent")
    assert cursor() == str(log["quiet"])


def test_a_failing_batch_keeps_neither_its_rows_nor_its_cursor(
    db_store: Database, channels: Channels, log: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "BATCH", 2)  # outage and a | b and quiet
    real_payload = outbox.payload

    def payload(channel: str, target: str, ev: Event) -> dict[str, Any]:
        if ev.id == log["b"]:
            raise RuntimeError("payload failed")
        return real_payload(channel, target, ev)

    monkeypatch.setattr(outbox, "payload", payload)
    with pytest.raises(RuntimeError):
        queue_notifications(channels, NOW)
    assert cursor() == str(log["a"])
    assert {row[0] for row in outbox_rows()} == {log["outage"], log["a"]}
    monkeypatch.setattr(outbox, "payload", real_payload)
    queued = queue_notifications(channels, NOW)
    assert (queued.scanned, queued.queued) == (2, 1)
    assert outbox_rows() == expected(log)


def test_a_first_start_announces_only_recent_events(db_store: Database, channels: Channels) -> None:
    queued = queue_notifications(channels, NOW)  # an empty log: the cursor starts at 0
    assert (queued.scanned, cursor()) == (0, "0")
    SyncState.delete().execute()  # a store older than the notifier: no cursor
    old = event(CLUSTER_OUTAGE, "old", at=NOW - outbox.FIRST_START_LOOKBACK - timedelta(seconds=1))
    recent = event(CLUSTER_OUTAGE, "recent", at=NOW - timedelta(minutes=1))
    assert queue_notifications(channels, NOW).scanned == 1
    assert {row[0] for row in outbox_rows()} == {recent}
    assert old < recent and cursor() == str(recent)


def notification(event_id: int, next_attempt_at: datetime, state: str = "pending") -> int:
    return Notification.create(event_id=event_id, channel=WEBHOOK, target="", payload={"n": event_id},
                               state=state, next_attempt_at=next_attempt_at).id


def test_due_rows_come_oldest_first_to_the_microsecond(db_store: Database) -> None:
    late = notification(1, NOW - timedelta(seconds=1))
    now = notification(2, NOW)
    notification(3, NOW + timedelta(microseconds=1))
    notification(4, NOW - timedelta(hours=1), state="sent")
    earliest = notification(5, NOW - timedelta(minutes=1))
    assert [row.id for row in due(NOW, limit=10)] == [earliest, late, now]
    assert [row.id for row in due(NOW, limit=1)] == [earliest]


def test_an_outcome_moves_only_a_pending_row(db_store: Database) -> None:
    row_id = notification(1, NOW)
    [row] = due(NOW, limit=1)
    assert record(row, Attempt(False, "HTTP 500"), max_attempts=3, now=NOW) == "retry"
    retried = Notification.get_by_id(row_id)
    assert (retried.state, retried.attempts, retried.last_error) == ("pending", 1, "HTTP 500")
    assert NOW <= retried.next_attempt_at <= NOW + timedelta(seconds=30)
    stale = Notification.get_by_id(row_id)  # a copy read before the row was sent
    assert record(retried, Attempt(True), max_attempts=3, now=NOW) == "sent"
    record(stale, Attempt(False, "HTTP 503"), max_attempts=3, now=NOW + timedelta(seconds=1))
    sent = Notification.get_by_id(row_id)
    assert (sent.state, sent.attempts, sent.last_error, sent.sent_at) == ("sent", 2, None, NOW)


def test_the_last_failed_attempt_fails_the_row_and_records_why(db_store: Database) -> None:
    row_id = notification(7, NOW)
    [row] = due(NOW, limit=1)
    assert record(row, Attempt(False, "HTTP 404"), max_attempts=1, now=NOW) == "failed"
    assert Notification.get_by_id(row_id).state == "failed"
    failed = Event.get(Event.kind == NOTIFICATION_FAILED)
    assert failed.data["notification_id"] == row_id and failed.at == NOW

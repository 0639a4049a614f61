"""The notifier against real webhook receivers on loopback: routing, exactly-once delivery
across restarts, retries and giving up, SLA and cluster-outage events, and secrecy of the
webhook URLs. Time is driven by passing ``now``; nothing sleeps."""

from __future__ import annotations

import json
import logging
import socket
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from daemon.core.config import NotificationsConfig
from daemon.notify import Notifier
from daemon.run_sync.slow import SlowRule, flag_slow_runs
from daemon.specs import parse_spec
from daemon.store.events import record_events
from daemon.store.models import Cluster, Event, Notification, Run, SyncState, Workflow
from tests.specs import spec_yaml

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
SECRET = "XoXb-s3cr3t-T0K3N"
CONFIG = NotificationsConfig(slack_webhook_url_env="TEST_SLACK_URL", webhook_url_env="TEST_HOOK_URL",
                             cluster_unreachable_minutes=10, max_attempts=3)


class Receiver:
    """A webhook receiver: records every POST, answers with the queued statuses (then 200).
    Error answers echo the request path, as careless servers do, secret and all."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": json.loads(body)})
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                text = b"ok" if status < 300 else f"no such hook {self.path}".encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/{SECRET}"

    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack(monkeypatch) -> Iterator[Receiver]:
    receiver = Receiver()
    monkeypatch.setenv("TEST_SLACK_URL", receiver.url)
    yield receiver
    receiver.close()


@pytest.fixture
def hook(monkeypatch) -> Iterator[Receiver]:
    receiver = Receiver()
    monkeypatch.setenv("TEST_HOOK_URL", receiver.url)
    yield receiver
    receiver.close()


@pytest.fixture
def notifier(store) -> Iterator[Notifier]:
    notifier = Notifier(CONFIG)
    yield notifier
    notifier.close()


BOTH = '[{type: slack, channel: "#data-alerts"}, {type: webhook, url: "https://x.test/h"}]'


def workflow(name: str, source: str = "code", *, sla: int | None = None, on_failure: str = BOTH,
             on_source_change: str = '[{type: slack, channel: "#spec-changes"}]') -> Workflow:
    text = spec_yaml(name).decode() + (f"  sla_minutes: {sla}\n" if sla else "") + (
        f"  notifications:\n    on_failure: {on_failure}\n    on_source_change: {on_source_change}\n"
    )
    spec = parse_spec(text.encode(), f"{source}/{name}.yaml").spec
    return Workflow.create(dataset_name=name, source_type=source, status="active",
                           spec=spec.to_json(), team=spec.team)


def event(kind: str, subject: str, at: datetime = NOW, **data: Any) -> Event:
    return Event.create(at=at, kind=kind, severity="error", subject=subject,
                        message=f"{kind} of {subject}", data=data or None)


def failed_run_event(name: str = "ds.a", run_id: str = "scheduled__1") -> Event:
    return event("run_failed", f"{name}/{run_id}", dataset_name=name, dag_id=f"bc__{name}",
                 dag_run_id=run_id, cluster="dp")


def test_a_failed_run_is_delivered_once_to_slack_and_the_generic_webhook(store, notifier, slack, hook):
    workflow("ds.a")
    ev = failed_run_event()
    report = notifier.run_once(NOW)
    assert (report.events_scanned, report.queued, report.sent, report.retried) == (1, 2, 2, 0)
    [to_slack] = slack.bodies()
    assert to_slack["channel"] == "#data-alerts"
    assert to_slack["text"].startswith(":red_circle: *Run failed*: ds.a/scheduled__1\n")
    assert "• cluster: dp" in to_slack["text"]
    [request] = hook.requests
    assert request["body"] == {
        "event_id": ev.id, "kind": "run_failed", "severity": "error", "subject": "ds.a/scheduled__1",
        "message": "run_failed of ds.a/scheduled__1", "at": NOW.isoformat(), "channel": None,
        "data": {"dataset_name": "ds.a", "dag_id": "bc__ds.a", "dag_run_id": "scheduled__1",
                 "cluster": "dp"},
    }
    assert request["headers"]["Idempotency-Key"] == f"basecamp-{ev.id}-webhook-"
    assert {(n.channel, n.target, n.state) for n in Notification.select()} == {
        ("slack", "#data-alerts", "sent"), ("webhook", "", "sent")}
    later = notifier.run_once(NOW + timedelta(hours=2))
    assert (later.events_scanned, later.queued, later.sent) == (0, 0, 0)
    assert len(slack.requests) == len(hook.requests) == 1


def test_a_500_is_retried_with_backoff_and_then_delivered(store, notifier, slack, hook):
    workflow("ds.a")
    failed_run_event()
    slack.answers = [(500, {})]
    report = notifier.run_once(NOW)
    assert (report.sent, report.retried) == (1, 1)
    row = Notification.get(Notification.channel == "slack")
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("HTTP 500: no such hook")
    assert NOW <= row.next_attempt_at <= NOW + timedelta(seconds=30)
    report = notifier.run_once(NOW + timedelta(seconds=31))
    assert (report.sent, report.retried) == (1, 0)
    assert Notification.get_by_id(row.id).state == "sent"
    assert len(slack.requests) == 2 and len(hook.requests) == 1


def test_429_honours_retry_after(store, notifier, slack):
    workflow("ds.a")
    failed_run_event()
    slack.answers = [(429, {"Retry-After": "120"})]
    notifier.run_once(NOW)
    row = Notification.get()
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.next_attempt_at == NOW + timedelta(seconds=120)
    assert notifier.run_once(NOW + timedelta(seconds=119)).sent == 0
    assert notifier.run_once(NOW + timedelta(seconds=120)).sent == 1


def test_a_restarted_notifier_delivers_what_is_pending_and_nothing_twice(store, slack, hook):
    workflow("ds.a")
    failed_run_event(run_id="r1")
    failed_run_event(run_id="r2")
    slack.answers = [(200, {}), (503, {})]
    first = Notifier(CONFIG)
    assert first.run_once(NOW).sent == 3
    first.close()
    second = Notifier(CONFIG)
    report = second.run_once(NOW + timedelta(hours=1))
    second.close()
    assert (report.events_scanned, report.queued, report.sent) == (0, 0, 1)
    subjects = [b["text"].split("\n")[0] for b in slack.bodies()]
    assert subjects == [":red_circle: *Run failed*: ds.a/r1", ":red_circle: *Run failed*: ds.a/r2",
                        ":red_circle: *Run failed*: ds.a/r2"]
    assert len(hook.requests) == 2
    assert Notification.select().where(Notification.state == "sent").count() == 4


def test_source_change_goes_to_the_effective_specs_on_source_change_targets(store, notifier, slack, hook):
    workflow("ds.a", "code", on_source_change='[{type: slack, channel: "#from-code"}]')
    workflow("ds.a", "manual", on_source_change='[{type: slack, channel: "#from-manual"}]')
    event("source_change", "ds.a", dataset_name="ds.a", **{"from": "manual", "to": "code"})
    report = notifier.run_once(NOW)
    assert (report.queued, report.sent) == (1, 1)
    assert [b["channel"] for b in slack.bodies()] == ["#from-code"]
    assert hook.requests == []


def test_events_without_targets_or_routes_queue_nothing(store, notifier, slack, hook):
    workflow("ds.a", on_failure="[]")
    failed_run_event()
    failed_run_event("ds.unknown")
    event("sync_error", "specs")
    event("cluster_unreachable", "dp")  # health.py's instant event: only the outage notifies
    report = notifier.run_once(NOW)
    assert (report.events_scanned, report.queued) == (4, 0)
    assert slack.requests == hook.requests == []


def test_sla_exceeded_once_per_run(store, notifier, slack, hook):
    workflow("ds.a", sla=30)
    workflow("ds.b")  # no SLA
    common = {"cluster": "dp", "dag_id": "bc__ds.a"}
    Run.create(dataset_name="ds.a", dag_run_id="late", status="RUNNING",
               started_at=NOW - timedelta(minutes=20), **common)
    Run.create(dataset_name="ds.a", dag_run_id="queued", status="PENDING",
               queued_at=NOW - timedelta(minutes=25), **common)
    Run.create(dataset_name="ds.a", dag_run_id="done", status="SUCCESS",
               started_at=NOW - timedelta(hours=5), **common)
    Run.create(dataset_name="ds.b", dag_run_id="slow", status="RUNNING",
               started_at=NOW - timedelta(hours=5), cluster="dp", dag_id="bc__ds.b")
    assert notifier.run_once(NOW).sla_events == 0
    report = notifier.run_once(NOW + timedelta(minutes=11))
    assert (report.sla_events, report.sent) == (2, 4)
    [late] = Event.select().where(Event.kind == "sla_exceeded", Event.subject == "ds.a/late")
    assert late.data["sla_minutes"] == 30 and late.data["dag_run_id"] == "late"
    assert "has been RUNNING for 31 min" in late.message
    assert sorted(b["channel"] for b in slack.bodies()) == ["#data-alerts", "#data-alerts"]
    assert notifier.run_once(NOW + timedelta(hours=3)).sla_events == 0
    restarted = Notifier(CONFIG)
    assert restarted.run_once(NOW + timedelta(hours=4)).sla_events == 0
    restarted.close()
    assert Event.select().where(Event.kind == "sla_exceeded").count() == 2
    assert len(slack.requests) == len(hook.requests) == 2


def test_a_slow_run_goes_to_the_on_failure_targets(store, notifier, slack, hook):
    workflow("ds.a")
    Workflow.update(usual_seconds=600.0).execute()
    Run.create(dataset_name="ds.a", dag_run_id="hangs", status="RUNNING", cluster="dp",
               dag_id="bc__ds.a", started_at=NOW - timedelta(minutes=20))
    record_events(flag_slow_runs("dp", [], SlowRule(), NOW), NOW)
    report = notifier.run_once(NOW)
    assert (report.events_scanned, report.queued, report.sent) == (1, 2, 2)
    [to_slack] = slack.bodies()
    assert to_slack["channel"] == "#data-alerts"
    assert to_slack["text"].startswith(":warning: *Run slower than usual*: ds.a/hangs\n"
                                       "Run hangs of ds.a has been running for 20m 00s on dp, "
                                       "2.0× longer than usual (p90 10m 00s).")
    [request] = hook.requests
    assert request["body"]["kind"] == "run_slow"
    assert request["body"]["data"]["usual_seconds"] == 600.0


def set_health(name: str, healthy: bool, last_ok_at: datetime | None) -> None:
    Cluster.update(healthy=healthy, last_ok_at=last_ok_at, last_error="connection refused").where(
        Cluster.name == name).execute()


def outages() -> list[Event]:
    return list(Event.select().where(Event.kind == "cluster_outage").order_by(Event.id))


def test_cluster_outage_once_per_outage_and_again_after_recovery(store, notifier, slack, hook):
    Cluster.create(name="dp", team="@dp", url="http://dp.test")
    set_health("dp", False, NOW - timedelta(minutes=5))
    assert notifier.run_once(NOW).outage_events == 0
    report = notifier.run_once(NOW + timedelta(minutes=6))
    assert (report.outage_events, report.sent) == (1, 2)
    [first] = outages()
    assert first.subject == "dp" and first.severity == "error"
    assert "unreachable for 11 min" in first.message and "connection refused" in first.message
    assert "channel" not in slack.bodies()[0]
    assert hook.bodies()[0]["kind"] == "cluster_outage"
    assert notifier.run_once(NOW + timedelta(minutes=30)).outage_events == 0

    set_health("dp", True, NOW + timedelta(minutes=40))
    assert notifier.run_once(NOW + timedelta(minutes=40)).outage_events == 0
    set_health("dp", False, NOW + timedelta(minutes=40))
    assert notifier.run_once(NOW + timedelta(minutes=45)).outage_events == 0
    assert notifier.run_once(NOW + timedelta(minutes=51)).outage_events == 1
    assert len(outages()) == 2 and len(slack.requests) == len(hook.requests) == 2


def test_a_recovery_between_two_cycles_still_rearms_the_outage_alert(store, notifier, slack):
    Cluster.create(name="dp", team="@dp", url="http://dp.test")
    set_health("dp", False, NOW - timedelta(minutes=30))
    assert notifier.run_once(NOW).outage_events == 1
    set_health("dp", False, NOW + timedelta(minutes=1))  # was ok again, unseen by us
    assert notifier.run_once(NOW + timedelta(minutes=5)).outage_events == 0
    assert notifier.run_once(NOW + timedelta(minutes=12)).outage_events == 1


def test_a_cluster_never_reached_alerts_after_the_threshold_from_first_seen(store, notifier, slack):
    Cluster.create(name="dp", team="@dp", url="http://dp.test", healthy=False)
    assert notifier.run_once(NOW).outage_events == 0
    assert notifier.run_once(NOW + timedelta(minutes=9)).outage_events == 0
    report = notifier.run_once(NOW + timedelta(minutes=10))
    assert (report.outage_events, report.queued, report.skipped, report.sent) == (1, 1, 0, 1)
    assert outages()[0].data["last_ok_at"] is None  # only Slack is configured: one row


def test_giving_up_after_max_attempts_records_notification_failed(store, notifier, slack, hook):
    workflow("ds.a", on_failure='[{type: slack, channel: "#data-alerts"}]')
    failed_run_event()
    slack.answers = [(500, {})] * 10
    for hours in range(5):
        notifier.run_once(NOW + timedelta(hours=hours))
    row = Notification.get()
    assert (row.state, row.attempts) == ("failed", 3)
    assert len(slack.requests) == 3
    [failed] = Event.select().where(Event.kind == "notification_failed")
    assert failed.severity == "error" and failed.subject == "slack #data-alerts"
    assert failed.data["event_id"] == row.event_id and failed.data["attempts"] == 3
    assert "after 3 attempts: HTTP 500" in failed.message
    assert Notification.select().count() == 1  # the failure event notifies no one


def test_an_unset_env_var_queues_nothing_and_says_so_once(store, notifier, monkeypatch, caplog):
    monkeypatch.delenv("TEST_SLACK_URL", raising=False)
    monkeypatch.setenv("TEST_HOOK_URL", "")
    workflow("ds.a")
    failed_run_event(run_id="r1")
    failed_run_event(run_id="r2")
    caplog.set_level(logging.INFO, logger="daemon.notify")
    report = notifier.run_once(NOW)
    assert (report.events_scanned, report.queued, report.skipped, report.errors) == (2, 0, 4, 0)
    assert Notification.select().count() == 0
    [message] = [r.getMessage() for r in caplog.records if "not configured" in r.getMessage()]
    assert "TEST_SLACK_URL is unset or empty" in message and "TEST_HOOK_URL" in message
    assert notifier.run_once(NOW + timedelta(minutes=1)).skipped == 0


def test_old_events_are_not_replayed_on_a_first_start(store, notifier, slack):
    workflow("ds.a", on_failure='[{type: slack, channel: "#data-alerts"}]')
    event("run_failed", "ds.a/old", at=NOW - timedelta(days=3), dataset_name="ds.a")
    event("run_failed", "ds.a/new", at=NOW - timedelta(minutes=1), dataset_name="ds.a")
    assert notifier.run_once(NOW).sent == 1
    assert "ds.a/new" in slack.bodies()[0]["text"]


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/T0/B0/{SECRET}"


def test_no_webhook_url_reaches_events_rows_or_logs(store, notifier, slack, monkeypatch, caplog):
    monkeypatch.setenv("TEST_HOOK_URL", closed_port_url())  # connection refused, every time
    caplog.set_level(logging.DEBUG)
    workflow("ds.a")
    failed_run_event()
    Cluster.create(name="dp", team="@dp", url="http://dp.test", healthy=False,
                   last_ok_at=NOW - timedelta(hours=1))
    slack.answers = [(500, {}), (404, {})] * 3
    for hours in range(6):
        notifier.run_once(NOW + timedelta(hours=hours))
    assert Event.select().where(Event.kind == "notification_failed").count() == 4
    assert any("HTTP Request: POST" in r.getMessage() for r in caplog.records)  # httpx did log
    stored = [
        *(f"{e.subject} {e.message} {json.dumps(e.data)}" for e in Event.select()),
        *(f"{n.target} {json.dumps(n.payload)} {n.last_error}" for n in Notification.select()),
        *(f"{s.cursor} {json.dumps(s.data)}" for s in SyncState.select()),
    ]
    logged = [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
    assert [text for text in stored + logged if SECRET in text or "/services/" in text] == []
    assert any("ConnectError" in (n.last_error or "") for n in Notification.select())


def test_of_two_daemons_one_claims_a_notification_and_a_dead_claimer_lets_go(store, notifier, slack):
    from daemon.notify import deliver

    workflow("ds.a", on_failure='[{type: slack, channel: "#data-alerts"}]')
    failed_run_event()
    slack.answers = [(503, {})]  # the first round fails: the row stays in the outbox
    notifier.run_once(NOW)
    later = NOW + timedelta(hours=2)
    [seen_by_one] = deliver.due(later, 10)  # both daemons read the same due row
    [seen_by_other] = deliver.due(later, 10)
    assert deliver.claim(seen_by_one, later) is True
    assert deliver.claim(seen_by_other, later) is False  # it sends nothing
    assert deliver.due(later, 10) == []  # claimed: due for nobody while it is sent
    # the claimer died before recording: once the claim runs out it is due again
    [again] = deliver.due(later + deliver.CLAIM, 10)
    assert again.id == seen_by_one.id and deliver.claim(again, later + deliver.CLAIM)

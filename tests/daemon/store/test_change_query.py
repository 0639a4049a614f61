"""The dashboard's change query (``daemon.read.changes.StoreReader``) on SQLite and
PostgreSQL: a first load of everything, then per poll only the rows that changed.

The stamps it compares come back raw from one hand-built statement (text on SQLite,
naive datetimes on PostgreSQL), so the arithmetic on them is what differs per backend.
How the dashboard shows the changes: ``tests/tui/test_live.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from peewee import Database

from daemon.core.states import SourceType
from daemon.read.changes import OVERLAP, StoreReader
from daemon.store.models import (
    Action,
    Cluster,
    DaemonLease,
    Event,
    Run,
    SyncState,
    Workflow,
)

NOW = datetime(2026, 11, 23, 8, 0, 0, 250000, tzinfo=timezone.utc)
STAMP = NOW - timedelta(hours=1)
"""When the seeded rows the tests change last changed: the newest stamp of each table."""
OLDER = STAMP - timedelta(minutes=1)
"""The other seeded rows: beyond ``OVERLAP`` of the newest, so a poll does not read them."""
STALE_AFTER = 60.0
RUNNING_A = "ds.a/scheduled__2026-11-23T07:55:00+00:00"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def workflow(name: str, source: SourceType, status: str = "active", **values: object) -> None:
    Workflow.create(dataset_name=name, source_type=source, status=status, cron="0 9 * * *",
                    timezone="UTC", **{"next_run": NOW + timedelta(hours=1), "updated_at": OLDER,
                                       "created_at": STAMP, **values})


def run(name: str, dag_run_id: str, status: str, **values: object) -> None:
    Run.create(cluster="dp", dag_id=f"bc__{name}", dag_run_id=dag_run_id, dataset_name=name,
               status=status, total=3, created_at=STAMP - timedelta(days=2),
               **{"updated_at": OLDER, **values})


@pytest.fixture
def reader(db_store: Database) -> tuple[StoreReader, Clock]:
    Cluster.create(name="dp", team="@dp", url="http://dp.test", healthy=True, updated_at=STAMP)
    Cluster.create(name="old", team="@old", url="http://old.test", configured=False, updated_at=STAMP)
    SyncState.create(key="runs:dp", last_ok_at=NOW - timedelta(seconds=20), updated_at=STAMP)
    workflow("ds.a", SourceType.CODE)
    workflow("ds.a", SourceType.MANUAL, "overridden", overridden_by=SourceType.CODE)
    workflow("ds.b", SourceType.CODE, next_run=NOW - timedelta(days=3),  # the daemon was down
             updated_at=STAMP)
    run("ds.a", "scheduled__2026-11-22T07:55:00+00:00", "SUCCESS",
        started_at=NOW - timedelta(days=1), ended_at=NOW - timedelta(days=1, minutes=-3))
    run("ds.a", "scheduled__2026-11-23T07:55:00+00:00", "RUNNING",
        started_at=NOW - timedelta(minutes=5), running=1, updated_at=STAMP)
    run("ds.b", "manual__1", "PENDING", queued_at=NOW - timedelta(minutes=15))
    for minutes, kind in ((30, "spec_sync"), (20, "source_change"), (10, "cluster_unreachable")):
        Event.create(at=NOW - timedelta(minutes=minutes), kind=kind, severity="info",
                     subject="s", message=kind)
    Action.create(kind="pause", target="ds.a", requested_by="bob", updated_at=STAMP)
    Action.create(kind="run", target="ds.b", requested_by="bob", state="done", updated_at=OLDER)
    DaemonLease.create(key="daemon", holder="host:1:abc", hostname="host", pid=1, version="0",
                       started_at=STAMP, heartbeat_at=NOW - timedelta(seconds=3), status="idle")
    clock = Clock()
    return StoreReader(clock, stale_after=STALE_AFTER), clock


def test_the_first_load_has_everything(reader: tuple[StoreReader, Clock]) -> None:
    store_reader, _ = reader
    first = store_reader.first_load()
    assert [row.key for row in first.workflows] == ["ds.a\x00code", "ds.a\x00manual", "ds.b\x00code"]
    assert first.workflows[2].next_run == datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
    at = {row.run_id: row.at for row in first.runs}
    assert at == {RUNNING_A: NOW - timedelta(minutes=5),
                  "ds.b/manual__1": NOW - timedelta(minutes=15),
                  "ds.a/scheduled__2026-11-22T07:55:00+00:00": NOW - timedelta(days=1)}
    assert all(value.tzinfo == timezone.utc for value in at.values())
    assert {name: (last.run_id, last.status, last.at) for name, last in first.last_runs.items()} == {
        "ds.a": (RUNNING_A, "RUNNING", NOW - timedelta(minutes=5)),
        "ds.b": ("ds.b/manual__1", "PENDING", NOW - timedelta(minutes=15))}
    assert first.clusters is not None
    assert [(c.name, c.runs_synced_at) for c in first.clusters] == [("dp", NOW - timedelta(seconds=20))]
    assert [e.kind for e in first.events] == ["spec_sync", "source_change", "cluster_unreachable"]
    assert [(a.target, a.state) for a in first.actions] == [("ds.a", "pending")]  # open ones
    assert first.daemon is not None and first.daemon.running


def test_an_idle_store_gives_empty_polls(reader: tuple[StoreReader, Clock]) -> None:
    store_reader, clock = reader
    store_reader.first_load()
    for _ in range(2):
        clock.tick()
        changes = store_reader.poll()
        assert not changes and changes.tables == frozenset()


def test_a_poll_has_what_changed_and_nothing_else(reader: tuple[StoreReader, Clock]) -> None:
    store_reader, clock = reader
    store_reader.first_load()
    now = clock.tick()
    Workflow.update(status="paused", is_paused=True, updated_at=now).where(
        Workflow.dataset_name == "ds.b").execute()
    Run.update(status="SUCCESS", running=0, succeeded=3, ended_at=now, updated_at=now).where(
        Run.dag_run_id == "scheduled__2026-11-23T07:55:00+00:00").execute()
    Action.update(state="done", updated_at=now).where(Action.target == "ds.a").execute()
    Event.create(at=now, kind="action", severity="info", subject="ds.a", message="paused")
    changes = store_reader.poll()
    assert changes.tables == {"workflows", "runs", "events", "actions"}
    assert [(w.key, w.status) for w in changes.workflows] == [("ds.b\x00code", "paused")]
    assert [(r.run_id, r.status) for r in changes.runs] == [(RUNNING_A, "SUCCESS")]
    assert changes.last_runs["ds.a"].status == "SUCCESS" and set(changes.last_runs) == {"ds.a"}
    assert [e.kind for e in changes.events] == ["action"]
    assert [(a.target, a.state) for a in changes.actions] == [("ds.a", "done")]
    clock.tick()
    assert not store_reader.poll()


def test_rows_stamped_just_before_the_last_seen_change_are_read_again(
    reader: tuple[StoreReader, Clock],
) -> None:
    """A writer stamps ``updated_at`` before it commits: a row can appear after a row
    stamped later. The next poll reads from ``OVERLAP`` before the last stamp it saw."""
    store_reader, clock = reader
    store_reader.first_load()
    seen = clock.tick(10)
    Workflow.update(owner="x", updated_at=seen).where(Workflow.dataset_name == "ds.b").execute()
    assert [w.key for w in store_reader.poll().workflows] == ["ds.b\x00code"]
    late = seen - OVERLAP + timedelta(microseconds=1)  # committed after the poll, stamped before
    too_late = seen - OVERLAP - timedelta(microseconds=1)
    Workflow.update(owner="y", updated_at=late).where(
        (Workflow.dataset_name == "ds.a") & (Workflow.source_type == SourceType.CODE)).execute()
    Workflow.update(owner="z", updated_at=too_late).where(
        (Workflow.dataset_name == "ds.a") & (Workflow.source_type == SourceType.MANUAL)).execute()
    assert not store_reader.poll()  # MAX(updated_at) did not move: nothing is read yet
    Cluster.update(healthy=False, updated_at=clock.tick()).execute()  # another table moving
    assert store_reader.poll().tables == {"clusters"}
    Workflow.update(owner="w", updated_at=clock.tick()).where(Workflow.dataset_name == "ds.b").execute()
    assert {w.key: w.owner for w in store_reader.poll().workflows} == {
        "ds.a\x00code": "y", "ds.b\x00code": "w"}


def test_the_daemon_status_follows_the_heartbeat_and_the_clock(
    reader: tuple[StoreReader, Clock],
) -> None:
    store_reader, clock = reader
    assert store_reader.first_load().daemon.running
    clock.tick(STALE_AFTER - 10)
    assert store_reader.poll().daemon is None  # still fresh: nothing to tell
    clock.tick(20)  # no write, but the heartbeat is now older than stale_after
    changes = store_reader.poll()
    assert changes.tables == {"daemon"} and not changes.daemon.running
    assert store_reader.poll().daemon is None
    DaemonLease.update(heartbeat_at=clock.tick(), status="syncing").execute()
    assert store_reader.poll().daemon.running
    SyncState.update(last_ok_at=clock.now, updated_at=clock.tick()).execute()
    clusters = store_reader.poll().clusters
    assert clusters is not None and clusters[0].runs_synced_at == clock.now - timedelta(seconds=1)


def test_the_runs_history_comes_once_in_full_then_for_changed_datasets(
        reader: tuple[StoreReader, Clock]) -> None:
    store_reader, clock = reader
    store_reader.first_load()
    [history] = list(store_reader.load_history())
    assert history.tables == {"workflows"} and set(history.history) >= {"ds.a"}
    assert len(list(store_reader.load_history(chunk=1))) == len(
        {w.dataset_name for w in Workflow.select()})  # a piece per dataset
    now = clock.tick()
    Run.update(status="SUCCESS", running=0, succeeded=3, ended_at=now, updated_at=now).where(
        Run.dag_run_id == "scheduled__2026-11-23T07:55:00+00:00").execute()
    changes = store_reader.poll()
    assert list(changes.history) == ["ds.a"] and changes.history["ds.a"][-1].status == "SUCCESS"

"""The run read API on both backends: ``history --since/--until`` bounds, the latest run
of each workflow, and the source filter by the spec in force."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from daemon.core.states import RunStatus, SourceType, WorkflowStatus
from daemon.read.runs import RunFilter, last_runs, list_runs
from daemon.store.models import Run, Workflow

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)


def add_run(name: str, dag_run_id: str, started: datetime | None, **values: object) -> Run:
    return Run.create(cluster="c", dag_id=f"bc__{name}", dag_run_id=dag_run_id,
                      dataset_name=name, status=values.pop("status", RunStatus.SUCCESS),
                      started_at=started, queued_at=values.pop("queued_at", None), **values)


def ids(runs) -> list[str]:
    return [run.dag_run_id for run in runs]


def test_since_includes_and_until_excludes_the_exact_second(db_store):
    for minutes in (-1, 0, 1):
        add_run("ds.a", f"at{minutes:+d}", T0 + timedelta(minutes=minutes))
    assert ids(list_runs(RunFilter(since=T0))) == ["at+1", "at+0"]
    assert ids(list_runs(RunFilter(until=T0))) == ["at-1"]
    assert ids(list_runs(RunFilter(since=T0, until=T0 + timedelta(minutes=1)))) == ["at+0"]


def test_a_run_not_started_yet_is_placed_by_when_it_was_queued(db_store):
    add_run("ds.a", "started", T0)
    add_run("ds.a", "queued", None, queued_at=T0 + timedelta(minutes=5), status=RunStatus.PENDING)
    assert ids(list_runs(RunFilter())) == ["queued", "started"]
    latest = last_runs(["ds.a"])["ds.a"]
    assert (latest.run_id, latest.status, latest.at) == ("ds.a/queued", "PENDING",
                                                          T0 + timedelta(minutes=5))


def test_the_source_filter_follows_the_spec_in_force(db_store):
    spec = {"name": "x"}
    Workflow.create(dataset_name="ds.a", source_type=SourceType.CODE,
                    status=WorkflowStatus.ACTIVE, spec=spec)
    Workflow.create(dataset_name="ds.a", source_type=SourceType.MANUAL,
                    status=WorkflowStatus.OVERRIDDEN, spec=spec)
    Workflow.create(dataset_name="ds.b", source_type=SourceType.MANUAL,
                    status=WorkflowStatus.ACTIVE, spec=spec)
    add_run("ds.a", "a1", T0)
    add_run("ds.b", "b1", T0)
    assert ids(list_runs(RunFilter(source="code"))) == ["a1"]
    assert ids(list_runs(RunFilter(source="manual"))) == ["b1"]

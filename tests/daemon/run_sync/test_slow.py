"""Runs far slower than usual: the usual duration kept from successful runs, running and
finished runs flagged once, one ``run_slow`` event each (through the real client against
the simulated Airflow; the store queries also on PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from daemon.airflow import AirflowClient
from daemon.read.changes import load_runs
from daemon.read.runs import RunFilter, list_runs
from daemon.run_sync import RunSync
from daemon.run_sync.slow import SlowRule, flag_slow_runs, percentile, refresh_usual
from daemon.store.models import Event, Run, Workflow
from tests.daemon.run_sync.test_run_sync import CLUSTER, TASKS, Clock, simulated
from tests.sim_airflow import SimAirflow

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
RULE = SlowRule(factor=1.5, percentile=90, sample_runs=3, min_runs=3)


@pytest.fixture(autouse=True)
def password(monkeypatch) -> None:
    monkeypatch.setenv("SIM_PASSWORD", "admin")


def make_sync(store, sim: SimAirflow, clock: Clock, rule: SlowRule = RULE) -> RunSync:
    client = AirflowClient(CLUSTER, transport=sim.transport(), sleep=lambda s: None)
    return RunSync(store, CLUSTER, client, lookback_hours=24, stale_threshold_hours=1,
                   clock=clock, slow=rule)


def ended(sim: SimAirflow, clock: Clock, dag_run_id: str, minutes: float,
          state: str = "success", dag_id: str = "bc__ds.a") -> None:
    """A run that ends now, having run ``minutes``."""
    run = sim.add_run(dag_id, dag_run_id, state, TASKS, task_state=state)
    run.start_date = clock() - timedelta(minutes=minutes)


def usual(name: str) -> set[float | None]:
    return {w.usual_seconds for w in Workflow.select().where(Workflow.dataset_name == name)}


def slow_events() -> list[Event]:
    return list(Event.select().where(Event.kind == "run_slow").order_by(Event.id))


def cycle(sync: RunSync, clock: Clock, seconds: float = 2) -> None:
    report = sync.run()
    assert report.ok, report.error
    clock.tick(seconds)  # the cursor has one-second resolution (HTTP Date header)


def test_the_usual_duration_comes_from_the_latest_successful_runs_only(store):
    clock = Clock(T0)
    sim = simulated(store, clock)
    sync = make_sync(store, sim, clock)
    ended(sim, clock, "s1", 10, dag_id="bc__ds.b")
    ended(sim, clock, "s2", 12, dag_id="bc__ds.b")
    ended(sim, clock, "f1", 60, state="failed", dag_id="bc__ds.b")
    cycle(sync, clock, seconds=1800)
    assert usual("ds.b") == {None}  # two successful runs: below the minimum sample
    ended(sim, clock, "s3", 11, dag_id="bc__ds.b")
    cycle(sync, clock, seconds=1800)
    assert usual("ds.b") == {12 * 60.0}  # p90 of 10, 12, 11 (code and manual rows alike)
    assert usual("ds.a") == {None}
    ended(sim, clock, "s4", 5, dag_id="bc__ds.b")
    ended(sim, clock, "s5", 6, dag_id="bc__ds.b")
    cycle(sync, clock)
    assert usual("ds.b") == {11 * 60.0}  # the latest three: 11, 5, 6
    assert not slow_events() and not Run.select().where(Run.slow).exists()


def test_a_running_run_is_flagged_while_it_runs_and_only_once(store):
    clock = Clock(T0)
    sim = simulated(store, clock)
    sync = make_sync(store, sim, clock)
    for i in range(3):
        ended(sim, clock, f"s{i}", 10)
    cycle(sync, clock)
    assert usual("ds.a") == {600.0}
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    started = clock()
    cycle(sync, clock, seconds=14 * 60)
    cycle(sync, clock, seconds=60)  # at 14 min: not yet 1.5 × 10 min
    assert not run_row("manual__1").slow and not slow_events()
    clock.now = started + timedelta(minutes=16)
    cycle(sync, clock)
    row = run_row("manual__1")
    assert row.slow and row.status == "RUNNING" and row.updated_at == started + timedelta(minutes=16)
    [event] = slow_events()
    assert (event.severity, event.subject) == ("warning", "ds.a/manual__1")
    assert event.message == ("Run manual__1 of ds.a has been running for 16m 00s on sim, "
                             "1.6× longer than usual (p90 10m 00s).")
    assert {k: event.data[k] for k in ("dataset_name", "dag_run_id", "cluster",
                                       "duration_seconds", "usual_seconds")} == {
        "dataset_name": "ds.a", "dag_run_id": "manual__1", "cluster": "sim",
        "duration_seconds": 960.0, "usual_seconds": 600.0}
    for _ in range(3):
        cycle(sync, clock, seconds=60)
    sim.touch(sim.runs[("bc__ds.a", "manual__1")], state="success", end_date=clock())
    cycle(sync, clock)
    assert run_row("manual__1").status == "SUCCESS" and run_row("manual__1").slow
    assert len(slow_events()) == 1


def test_a_finished_run_is_judged_against_the_usual_duration_before_it(store):
    clock = Clock(T0)
    sim = simulated(store, clock)
    sync = make_sync(store, sim, clock, SlowRule(sample_runs=20, min_runs=3))
    for i in range(3):
        ended(sim, clock, f"s{i}", 10)
    cycle(sync, clock)
    ended(sim, clock, "late", 20)
    ended(sim, clock, "fine", 14)
    ended(sim, clock, "broken", 30, state="failed")  # run_failed speaks for it
    cycle(sync, clock)
    assert {r.dag_run_id for r in Run.select().where(Run.slow)} == {"late"}
    [event] = slow_events()
    assert event.message == ("Run late of ds.a took 20m 00s on sim, 2.0× longer than usual "
                             "(p90 10m 00s).")
    assert usual("ds.a") == {20 * 60.0}  # now with the slow run: p90 of 10, 10, 10, 14, 20
    cycle(sync, clock)
    assert len(slow_events()) == 1


def run_row(dag_run_id: str) -> Run:
    return Run.get(Run.dag_run_id == dag_run_id)


def test_percentile_is_a_duration_that_happened():
    assert percentile([10, 12, 11], 90) == 12
    assert percentile(range(1, 21), 90) == 18
    assert percentile([5, 1], 1) == 1
    assert percentile([5, 1], 100) == 5


def test_the_slow_check_reads_the_same_on_both_backends(db_store):
    """A code and a manual workflow of one dataset: one usual duration, one event."""
    for source in ("code", "manual"):
        Workflow.create(dataset_name="ds.a", source_type=source, status="active", team="@t")

    def add(dag_run_id: str, status: str, minutes: float, running: bool = False,
            cluster: str = "sim") -> Run:
        start = T0 - timedelta(minutes=minutes)
        return Run.create(cluster=cluster, dag_id="bc__ds.a", dag_run_id=dag_run_id,
                          dataset_name="ds.a", status=status, started_at=start,
                          ended_at=None if running else T0, updated_at=start)

    for i, minutes in enumerate((8, 9, 10, 7)):
        add(f"s{i}", "SUCCESS", minutes)
    add("failed", "FAILED", 40)
    assert refresh_usual(["ds.a"], RULE, T0) == 2
    assert usual("ds.a") == {540.0}  # the latest three started: 7, 8, 9 min
    assert refresh_usual(["ds.a"], RULE, T0) == 0  # unchanged: no write, no stamp
    add("hangs", "RUNNING", 16, running=True)
    add("quick", "RUNNING", 5, running=True)
    add("other", "RUNNING", 60, running=True, cluster="elsewhere")
    done = add("done", "SUCCESS", 30)
    events = flag_slow_runs("sim", [done.id], RULE, T0)
    assert sorted(e["subject"] for e in events) == ["ds.a/done", "ds.a/hangs"]
    assert {r.dag_run_id for r in Run.select().where(Run.slow)} == {"done", "hangs"}
    assert flag_slow_runs("sim", [done.id], RULE, T0) == []
    views = {r.dag_run_id: r for r in list_runs(RunFilter(dataset="ds.a", limit=20))}
    assert {name for name, view in views.items() if view.slow} == {"done", "hangs"}
    assert views["hangs"].as_json()["slow"] is True and views["quick"].as_json()["slow"] is False
    assert {r.run_id for r in load_runs(since=T0) if r.slow} == {"ds.a/done", "ds.a/hangs"}

"""The run sync through the real Airflow client against the simulated Airflow 3 API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest

from daemon.airflow import AirflowClient
from daemon.core.config import ClusterConfig
from daemon.core.timefmt import utcnow
from daemon.run_sync import RunSync
from daemon.spec_store import MemorySpecStore
from daemon.spec_sync import SpecSync
from daemon.store.clusters import upsert_clusters
from daemon.store.models import Event, Run, TaskInstance, Workflow
from tests.sim_airflow import SimAirflow
from tests.specs import spec_yaml

TASKS = ["prepare", "run_query", "publish"]
CLUSTER = ClusterConfig(
    name="sim", team="@t", url="http://sim.test", dag_name_prefix="bc", api_version="v2",
    auth="jwt", username="admin", password_env="SIM_PASSWORD",
)


class Clock:
    """A cluster clock the test moves forward."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def password(monkeypatch) -> None:
    monkeypatch.setenv("SIM_PASSWORD", "admin")


@pytest.fixture
def sim(store) -> SimAirflow:
    return simulated(store)


def simulated(store, clock: Callable[[], datetime] | None = None) -> SimAirflow:
    """Two workflows (a code spec, and a code/manual pair) on a simulated cluster."""
    upsert_clusters([CLUSTER])
    specs = MemorySpecStore({
        "code/a.yaml": spec_yaml("ds.a", team="@t"),
        "code/b.yaml": spec_yaml("ds.b", team="@t"),
        "manual/ds.b.yaml": spec_yaml("ds.b", team="@t"),
    })
    SpecSync(store, specs, max_spec_bytes=4096, max_delete_fraction=0.5).run()
    sim = SimAirflow(clock=clock) if clock else SimAirflow()
    for dag in ("bc__ds.a", "bc__ds.b", "other_dag"):
        sim.add_dag(dag)
    return sim


def make_sync(store, sim: SimAirflow, stale_hours: float = 1) -> RunSync:
    client = AirflowClient(CLUSTER, transport=sim.transport(), sleep=lambda s: None)
    return RunSync(store, CLUSTER, client, lookback_hours=24, stale_threshold_hours=stale_hours)


def run(dag_run_id: str) -> Run:
    return Run.get(Run.dag_run_id == dag_run_id)


def test_initial_sync_imports_managed_runs_with_status_and_progress(store, sim):
    sim.add_run("bc__ds.a", "scheduled__1", "success", TASKS, task_state="success")
    sim.add_run("bc__ds.a", "scheduled__2", "failed", TASKS, task_state="failed")
    running = sim.add_run("bc__ds.b", "manual__3", "running", TASKS)
    sim.advance("bc__ds.b", "manual__3")
    sim.add_run("other_dag", "scheduled__9", "running", TASKS)
    sim.add_run("bc__ds.a", "scheduled__old", "success", TASKS,
                when=datetime.now(timezone.utc) - timedelta(days=3))
    report = make_sync(store, sim).run()
    assert report.ok, report.error
    assert sorted(r.dag_run_id for r in Run.select()) == ["manual__3", "scheduled__1", "scheduled__2"]
    ok, failed, live = run("scheduled__1"), run("scheduled__2"), run("manual__3")
    assert (ok.status, ok.succeeded, ok.total, ok.dataset_name) == ("SUCCESS", 3, 3, "ds.a")
    assert (failed.status, failed.failed) == ("FAILED", 3)
    assert (live.status, live.running, live.queued, live.current_task) == ("RUNNING", 1, 2, "prepare")
    assert live.public_id == "ds.b/manual__3" and running.dag_run_id == "manual__3"
    assert TaskInstance.select().where(TaskInstance.run_id == live.id).count() == 3
    assert Event.select().where(Event.kind == "run_failed").count() == 1


def test_a_cycle_with_no_change_costs_two_requests(store, sim):
    sim.add_run("bc__ds.a", "scheduled__1", "success", TASKS, task_state="success")
    sync = make_sync(store, sim)
    sync.run()
    sim.requests.clear()
    report = sync.run()
    assert report.ok and report.runs_written == 0
    assert sum(sim.requests.values()) == 2, sim.requests


def test_progress_follows_the_running_runs(store, sim):
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    sync = make_sync(store, sim)
    sync.run()
    for step, expected in enumerate([(0, "prepare"), (1, "run_query"), (2, "publish")]):
        sim.advance("bc__ds.a", "manual__1")
        sync.run()
        row = run("manual__1")
        assert (row.succeeded, row.current_task) == expected, step
    sim.advance("bc__ds.a", "manual__1")
    sync.run()
    row = run("manual__1")
    assert (row.status, row.succeeded, row.current_task, row.ended_at is not None) == ("SUCCESS", 3, None, True)


def test_pause_state_comes_from_airflow(store, sim):
    sync = make_sync(store, sim)
    sim.dags["bc__ds.b"] = True
    sync.run()
    rows = {(w.dataset_name, w.source_type): w for w in Workflow.select()}
    assert (rows[("ds.b", "code")].status, rows[("ds.b", "code")].next_run) == ("paused", None)
    assert rows[("ds.b", "manual")].status == "overridden"
    assert rows[("ds.a", "code")].status == "active"
    sim.dags["bc__ds.b"] = False
    sync.run()
    code_b = Workflow.get((Workflow.dataset_name == "ds.b") & (Workflow.source_type == "code"))
    assert code_b.status == "active" and code_b.next_run is not None


def test_an_idle_cycle_writes_no_pause_states_until_airflow_or_the_store_moves(store, sim, monkeypatch):
    """A team of 2,000 workflows made every idle cycle read and compare them all; now an
    unchanged store and an unchanged list of paused DAGs skip that."""
    from daemon.run_sync import engine

    calls = []
    real = engine.write_pause_states
    monkeypatch.setattr(engine, "write_pause_states", lambda *a, **k: calls.append(1) or real(*a, **k))
    sync = make_sync(store, sim)
    for _ in range(2):  # the first write moves the store: the second cycle looks once more
        sync.run()
    settled = len(calls)
    sync.run()
    sync.run()
    assert len(calls) == settled
    sim.dags["bc__ds.a"] = True  # paused in Airflow's UI
    sync.run()
    assert len(calls) == settled + 1 and Workflow.get(Workflow.dataset_name == "ds.a").status == "paused"
    sync.run()  # its own write moved the store: one more look, nothing to change
    sync.run()
    assert len(calls) == settled + 2
    Workflow.update(status="active", is_paused=False, updated_at=utcnow()).where(
        Workflow.dataset_name == "ds.a").execute()  # someone else's write to the store
    sync.run()
    assert len(calls) == settled + 3 and Workflow.get(Workflow.dataset_name == "ds.a").status == "paused"


def test_a_dead_cluster_loses_nothing_and_leaves_no_gap(store, sim):
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    sync = make_sync(store, sim)
    sync.run()
    sim.down = True
    for _ in range(2):
        report = sync.run()
        assert not report.ok and "sim" in report.error
    assert run("manual__1").status == "RUNNING"
    assert Event.select().where(Event.kind == "sync_error").count() == 1
    for _ in range(4):
        sim.advance("bc__ds.a", "manual__1")  # finishes while we cannot see it
    sim.add_run("bc__ds.b", "manual__2", "success", TASKS, task_state="success")
    sim.down = False
    assert sync.run().ok
    assert run("manual__1").status == "SUCCESS" and run("manual__1").succeeded == 3
    assert run("manual__2").status == "SUCCESS"


def test_a_run_gone_from_airflow_becomes_unknown_after_the_threshold(store, sim):
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    sync = make_sync(store, sim, stale_hours=0)
    sync.run()
    del sim.runs[("bc__ds.a", "manual__1")]
    Run.update(last_seen_at=datetime.now(timezone.utc) - timedelta(minutes=1)).execute()
    sync.run()
    assert run("manual__1").status == "UNKNOWN"


def test_a_stop_shows_stopping_then_stopped(store, sim):
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    sync = make_sync(store, sim)
    sync.run()
    Run.update(status="STOPPING").execute()
    sim.touch(sim.runs[("bc__ds.a", "manual__1")])
    sync.run()
    assert run("manual__1").status == "STOPPING"
    sim.touch(sim.runs[("bc__ds.a", "manual__1")], state="failed")
    sync.run()
    assert run("manual__1").status == "STOPPED"
    assert Event.select().where(Event.kind == "run_failed").count() == 0


def test_task_changes_before_the_run_moves_are_not_missed(store):
    """Airflow 2 moves a run's updated_at only on some task changes: a task that ended
    before the cycle that finally returns its run must still be picked up."""
    clock = Clock(datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc))
    sim = simulated(store, clock)
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    sim.advance("bc__ds.a", "manual__1")
    sync = make_sync(store, sim)
    for _ in range(2):  # the second cycle moves the cursor past the run's last change
        sync.run()
        clock.tick(2)  # the cursor has one-second resolution (HTTP Date header)
    for task in sim.tasks[("bc__ds.a", "manual__1")]:  # the run does not move
        task.state, task.end_date, task.updated_at = "success", clock(), clock()
    clock.tick(2)
    sync.run()  # sees no changed run
    clock.tick(2)
    sim.touch(sim.runs[("bc__ds.a", "manual__1")], state="success", end_date=clock())
    sync.run()
    row = run("manual__1")
    assert (row.status, row.succeeded, row.total) == ("SUCCESS", 3, 3)


def test_a_task_end_is_synced_in_the_next_cycle_before_its_run_moves(store):
    """Airflow 3 moves a run only when its scheduler next writes it: while runs are
    active each cycle also asks for the tasks changed since the cursor (freshness)."""
    clock = Clock(datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc))
    sim = simulated(store, clock)
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    sim.advance("bc__ds.a", "manual__1")
    sync = make_sync(store, sim, stale_hours=10_000)  # the test's clock is in the past
    sync.run()
    clock.tick(20)
    sync.run()  # the cursor is now past the run's last change, overlap included
    clock.tick(2)
    [first, *_] = sim.tasks[("bc__ds.a", "manual__1")]
    first.state, first.end_date, first.updated_at = "success", clock(), clock()  # the run stays
    sim.requests.clear()
    sync.run()
    assert run("manual__1").succeeded == 1
    # changed runs (none), changed tasks, paused DAGs, and the questions waiting for people
    assert sum(sim.requests.values()) == 4, sim.requests


def test_a_change_committed_after_the_cycle_that_passed_its_stamp_is_not_missed(store):
    """Airflow stamps ``updated_at`` before its transaction commits: a run stamped just
    before a cycle's server time but visible only after that cycle is still found."""
    clock = Clock(datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc))
    sim = simulated(store, clock)
    sync = make_sync(store, sim)
    sync.run()
    late = sim.add_run("bc__ds.a", "manual__late", "success", TASKS, task_state="success")
    del sim.runs[("bc__ds.a", "manual__late")]  # stamped now, not committed yet
    clock.tick(3)
    sync.run()  # its cursor is 3 s past the run's stamp
    sim.runs[("bc__ds.a", "manual__late")] = late  # the scheduler's transaction commits
    clock.tick(1)
    sync.run()
    assert run("manual__late").status == "SUCCESS"


def test_a_pause_carried_out_during_a_cycle_is_not_undone_by_it(store, sim):
    """The cycle asked Airflow which DAGs are paused just before an action paused one:
    its (older) answer must not set the workflow back to active."""
    import httpx

    from daemon.run_sync.write import write_dataset_paused

    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    transport = sim.transport()

    def handler(request: httpx.Request) -> httpx.Response:
        answer = transport.handle_request(request)
        if request.url.path == "/api/v2/dags" and request.url.params.get("paused") == "true":
            sim.dags["bc__ds.a"] = True  # the pause action, between the listing and the write
            write_dataset_paused("ds.a", True, datetime.now(timezone.utc))
        return answer

    sync = make_sync(store, sim)
    sync.client = AirflowClient(CLUSTER, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    assert sync.run().ok
    assert Workflow.get((Workflow.dataset_name == "ds.a") & (Workflow.source_type == "code")).status == "paused"
    assert make_sync(store, sim).run().ok  # the next cycle agrees
    assert Workflow.get((Workflow.dataset_name == "ds.a") & (Workflow.source_type == "code")).is_paused


def test_a_stop_confirmed_during_a_cycle_is_not_undone_by_it(store, sim):
    """The cycle listed the run as running just before a stop action wrote the run
    Airflow confirmed failed: its older answer must not set the run back to STOPPING."""
    import httpx

    from daemon.run_sync.write import write_confirmed_run

    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    make_sync(store, sim).run()
    Run.update(status="STOPPING").execute()
    sim.touch(sim.runs[("bc__ds.a", "manual__1")])
    transport = sim.transport()
    stopper = AirflowClient(CLUSTER, transport=transport, sleep=lambda s: None)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = transport.handle_request(request)
        if request.method == "GET" and request.url.path == "/api/v2/dags/~/dagRuns":
            # the stop action, between the listing and the write
            stopped = stopper.set_dag_run_state("bc__ds.a", "manual__1", "failed")
            write_confirmed_run(utcnow(), "sim", "ds.a", stopped)
        return answer

    sync = make_sync(store, sim)
    sync.client = AirflowClient(CLUSTER, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    assert sync.run().ok
    assert run("manual__1").status == "STOPPED"
    assert make_sync(store, sim).run().ok  # the next cycle agrees
    assert run("manual__1").status == "STOPPED"

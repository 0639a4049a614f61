"""The run sync, pause state and cluster health against a real Airflow, with DAGs built
by contrib/airflow/basecamp_dag_factory.py from spec files.

Airflow 3.3 runs under the ``airflow`` marker, Airflow 2.11 under ``airflow2``; CI runs both.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from daemon.airflow import AirflowClient, AirflowConflict, AirflowServerError
from daemon.run_sync import RunSync
from daemon.run_sync.health import check_cluster
from daemon.spec_store import LocalSpecStore
from daemon.spec_sync import SpecSync
from daemon.store.clusters import upsert_clusters
from daemon.store.models import Cluster, Run, TaskInstance, Workflow
from tests.airflow_server import restart_airflow, wait_for_dag
from tests.integration.conftest import POLL, TEAM, cluster_for
from tests.specs import spec_yaml
from tests.waiting import wait_until

PARAMS = (
    "parameters:\n"
    "  - {name: fail, type: bool, required: false, default: false}\n"
    "  - {name: demo_seconds, type: int, required: false, default: 0}\n"
)

@pytest.fixture
def world(store, airflow, monkeypatch, request):
    """Specs in the server's spec folder, synced into a fresh store; a client and run sync."""
    suffix = request.node.name.split("[")[0].removeprefix("test_")[:20]
    names = {"ok": f"it.{suffix}.ok", "fail": f"it.{suffix}.fail"}
    for name in names.values():
        path = airflow.spec_dir / "code" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(spec_yaml(name, team=TEAM, parameters=PARAMS))
    monkeypatch.setenv("IT_AIRFLOW_PASSWORD", airflow.password)
    cluster = cluster_for(airflow)
    upsert_clusters([cluster])
    SpecSync(store, LocalSpecStore(airflow.spec_dir), max_spec_bytes=1 << 20, max_delete_fraction=1).run()
    client = AirflowClient(cluster)
    sync = RunSync(store, cluster, client, lookback_hours=1, stale_threshold_hours=1)
    dag_ids = {key: f"bc__{name}" for key, name in names.items()}
    for dag_id in dag_ids.values():
        wait_for_dag(airflow, dag_id, timeout=180)
    yield {"cluster": cluster, "client": client, "sync": sync, "dags": dag_ids, "names": names}
    client.close()

def stored(dag_id: str, dag_run_id: str) -> Run | None:
    return Run.get_or_none((Run.dag_id == dag_id) & (Run.dag_run_id == dag_run_id))

def test_runs_that_succeed_and_fail_are_synced_with_status_and_tasks(world):
    client, sync, dags = world["client"], world["sync"], world["dags"]
    stamp = datetime.now(timezone.utc).strftime("%H%M%S")
    client.trigger_dag_run(dags["ok"], f"it_ok_{stamp}", {})
    client.trigger_dag_run(dags["fail"], f"it_fail_{stamp}", {"fail": True})

    def done() -> bool:
        ok, bad = stored(dags["ok"], f"it_ok_{stamp}"), stored(dags["fail"], f"it_fail_{stamp}")
        return bool(ok and bad and ok.status == "SUCCESS" and bad.status == "FAILED")

    wait_until(done, 240, "one run to succeed and one to fail", step=sync.run, interval=POLL)
    ok, bad = stored(dags["ok"], f"it_ok_{stamp}"), stored(dags["fail"], f"it_fail_{stamp}")
    assert (ok.total, ok.succeeded, ok.failed) == (3, 3, 0)
    assert ok.dataset_name == world["names"]["ok"] and ok.started_at and ok.ended_at
    assert bad.failed >= 1 and bad.airflow_state == "failed"
    tasks = {t.task_id: t for t in TaskInstance.select().where(TaskInstance.run_id == ok.id)}
    assert set(tasks) == {"prepare", "run_query", "publish"}
    assert all(t.state == "success" and t.try_number >= 1 and t.duration_seconds is not None
               for t in tasks.values())

def test_a_task_starting_shows_within_two_sync_cycles(world):
    """Airflow 2 does not move a run's updated_at when a task starts: the run sync must
    still show run_query running within two cycles of Airflow reporting it."""
    client, sync, dag_id = world["client"], world["sync"], world["dags"]["ok"]
    dag_run_id = f"it_slow_{datetime.now(timezone.utc):%H%M%S}"
    client.trigger_dag_run(dag_id, dag_run_id, {"demo_seconds": 90})
    try:
        def airflow_runs_the_query() -> bool:
            tasks = client.list_task_instances([(dag_id, dag_run_id)])
            return any(t.task_id == "run_query" and t.state == "running" for t in tasks)

        # Sync once a second, as the daemon would, until Airflow itself reports the task.
        wait_until(airflow_runs_the_query, 120, "Airflow to run run_query", step=sync.run, interval=POLL)
        for _ in range(2):
            sync.run()
        run = stored(dag_id, dag_run_id)
        task = TaskInstance.get_or_none((TaskInstance.run_id == run.id)
                                        & (TaskInstance.task_id == "run_query"))
        assert task is not None and task.state == "running", (
            f"store shows run_query {task and task.state} two cycles after Airflow ran it")
        assert (run.running, run.current_task) == (1, "run_query")
    finally:
        client.set_dag_run_state(dag_id, dag_run_id, "failed")


def test_a_dag_paused_in_airflow_shows_paused(world):
    client, sync = world["client"], world["sync"]
    name = world["names"]["ok"]
    client.set_dag_paused(world["dags"]["ok"], True)
    sync.run()
    row = Workflow.get((Workflow.dataset_name == name) & (Workflow.source_type == "code"))
    assert row.status == "paused" and row.is_paused
    client.set_dag_paused(world["dags"]["ok"], False)
    sync.run()
    row = Workflow.get((Workflow.dataset_name == name) & (Workflow.source_type == "code"))
    assert row.status == "active" and row.next_run is not None

def test_health_records_versions_and_latency(world, airflow):
    assert check_cluster(world["cluster"].name, world["client"], datetime.now(timezone.utc))
    row = Cluster.get(Cluster.name == world["cluster"].name)
    assert row.healthy and row.detected_api_version == airflow.api_version
    assert row.airflow_version.startswith("3." if airflow.api_version == "v2" else "2.")
    assert row.latency_ms > 0 and row.last_error is None

@pytest.mark.airflow
def test_a_wrong_password_is_unhealthy_with_the_reason(store, airflow3, monkeypatch):
    """GET /version needs no auth: health must authenticate, or a cluster whose data
    never arrives shows green."""
    monkeypatch.setenv("IT_AIRFLOW_PASSWORD", "not-the-password")
    cluster = cluster_for(airflow3)
    upsert_clusters([cluster])
    client = AirflowClient(cluster)
    try:
        assert not check_cluster(cluster.name, client, datetime.now(timezone.utc))
    finally:
        client.close()
    row = Cluster.get(Cluster.name == cluster.name)
    assert row.healthy is False and row.airflow_version is None
    assert row.last_error == (
        f"Airflow cluster {cluster.name} refused to issue a token: check username/password_env "
        f"for cluster {cluster.name}")


def trigger_when_ready(client: AirflowClient, dag_id: str, dag_run_id: str) -> None:
    """Trigger right after a restart: Airflow's own SQLite database answers 500
    ("Database error") while the restarted scheduler and DAG processor start up."""
    for _ in range(10):
        try:
            client.trigger_dag_run(dag_id, dag_run_id, {})
            return
        except AirflowConflict:  # an earlier attempt went through after all
            return
        except AirflowServerError:
            time.sleep(3)
    client.trigger_dag_run(dag_id, dag_run_id, {})


def test_a_killed_cluster_recovers_with_nothing_lost_and_no_gap(world, airflow):
    client, sync, dags = world["client"], world["sync"], world["dags"]
    stamp = datetime.now(timezone.utc).strftime("%H%M%S")
    client.trigger_dag_run(dags["ok"], f"it_before_{stamp}", {})
    wait_until(lambda: stored(dags["ok"], f"it_before_{stamp}") is not None, 60, "the first run", step=sync.run, interval=POLL)
    airflow.stop()
    report = sync.run()
    assert not report.ok and world["cluster"].name in report.error
    assert not check_cluster(world["cluster"].name, client, datetime.now(timezone.utc))
    assert stored(dags["ok"], f"it_before_{stamp}") is not None  # nothing lost
    restart_airflow(airflow)
    trigger_when_ready(client, dags["ok"], f"it_after_{stamp}")

    def both_done() -> bool:
        runs = [stored(dags["ok"], f"it_{w}_{stamp}") for w in ("before", "after")]
        return all(r is not None and r.status in ("SUCCESS", "FAILED") for r in runs)

    wait_until(both_done, 240, "both runs to finish after the restart", step=sync.run, interval=POLL)
    assert check_cluster(world["cluster"].name, client, datetime.now(timezone.utc))

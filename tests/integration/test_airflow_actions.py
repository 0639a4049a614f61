"""Actions carried out by the daemon's executor against a real Airflow: pause, unpause,
run with parameters, stop, backfill of a 3-day range, register and unregister, clear (a
retry) and mark.

Airflow 3.3 runs under the ``airflow`` marker, Airflow 2.11 under ``airflow2``.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from daemon.airflow import AirflowClient
from daemon.read.runs import run_detail
from daemon.store.models import Run, TaskInstance, TaskTry, Workflow
from tests.airflow_server import wait_for_dag
from tests.integration.conftest import POLL, TEAM, carried_out, operated
from tests.specs import spec_yaml
from tests.waiting import wait_until

PARAMS = (
    "parameters:\n"
    "  - {name: demo_seconds, type: int, required: false, default: 0}\n"
    "  - {name: day, type: date, required: false}\n"
    "  - {name: fail_tries, type: int, required: false, default: 0}\n"
)


@pytest.fixture
def world(store, airflow, monkeypatch, request):
    suffix = request.node.name.split("[")[0].removeprefix("test_")[:16]
    name = f"act.{suffix}.{airflow.api_version}"
    (airflow.spec_dir / "code").mkdir(parents=True, exist_ok=True)
    (airflow.spec_dir / "manual").mkdir(parents=True, exist_ok=True)
    (airflow.spec_dir / "code" / f"{name}.yaml").write_bytes(spec_yaml(name, team=TEAM, parameters=PARAMS))
    world = operated(store, airflow, monkeypatch, [f"bc__{name}"])
    yield {**world, "name": name, "dag_id": f"bc__{name}"}
    world["client"].close()


def test_pause_and_unpause(world):
    client, name, dag_id = world["client"], world["name"], world["dag_id"]
    assert carried_out(world, "pause", name).message.startswith(f"Paused {name}")
    assert client.dag_is_paused(dag_id) is True
    assert Workflow.get(Workflow.dataset_name == name).status == "paused"
    assert carried_out(world, "pause", name).message == f"{name} is already paused; nothing to do."
    carried_out(world, "unpause", name)
    assert client.dag_is_paused(dag_id) is False
    assert Workflow.get(Workflow.dataset_name == name).status == "active"


def test_run_with_parameters_then_stop_a_running_run(world):
    client, name, dag_id, sync = world["client"], world["name"], world["dag_id"], world["run_sync"]
    done = carried_out(world, "run", name, params={"parameters": {"day": "2024-01-02"}})
    assert done.message == f"Run started: {done.result['run_id']}"
    dag_run_id = done.result["dag_run_id"]
    assert client.get_dag_run(dag_id, dag_run_id).conf == {"demo_seconds": 0, "day": "2024-01-02", "fail_tries": 0}
    wait_until(lambda: Run.get(Run.dag_run_id == dag_run_id).status == "SUCCESS", 180,
               "the run to succeed", step=sync.run, interval=POLL)

    slow = carried_out(world, "run", name, params={"parameters": {"demo_seconds": "120"}})
    slow_id = slow.result["dag_run_id"]
    # Asked of Airflow itself: on Airflow 2 a task starting does not move its run's
    # updated_at, so the store may only learn of it with the run's next change.
    def airflow_tasks() -> dict[str, str | None]:
        return {t.task_id: t.state for t in client.list_task_instances([(dag_id, slow_id)])}

    wait_until(lambda: airflow_tasks().get("run_query") == "running", 180,
               "run_query to be running", show=airflow_tasks, interval=POLL)
    stopped = carried_out(world, "stop", slow.result["run_id"], reason="integration test")
    assert stopped.result["status"] == "STOPPED", stopped.message
    assert client.get_dag_run(dag_id, slow_id).state == "failed"
    sync.run()
    assert Run.get(Run.dag_run_id == slow_id).status == "STOPPED"
    again = carried_out(world, "stop", slow.result["run_id"])
    assert again.message.endswith("already finished (failed); nothing to stop.")


def test_backfill_of_a_three_day_range(world):
    name, client, dag_id = world["name"], world["client"], world["dag_id"]
    start = date.today() - timedelta(days=5)
    end = start + timedelta(days=2)
    request = {"start": start.isoformat(), "end": end.isoformat()}
    # Airflow 3.3.2's scheduler dies (StaleDataError on dag_run) when a backfill is created
    # while it creates a new DAG's first scheduled run (tests/AIRFLOW_FACTS.md): that run first.
    wait_until(lambda: Run.select().where(Run.dataset_name == name).exists(), 120,
               "the DAG's first scheduled run", step=world["run_sync"].run, interval=POLL)
    preview = carried_out(world, "backfill", name, params={**request, "dry_run": True})
    expected = [f"{start + timedelta(days=i)}T09:00:00Z" for i in range(3)]
    assert preview.result["logical_dates"] == expected
    done = carried_out(world, "backfill", name, params=request)
    assert (done.result["total"], done.result["succeeded"]) == (3, 3), done.message
    assert (done.progress_done, done.progress_total) == (3, 3)
    for dag_run_id in done.result["dag_run_ids"]:
        assert client.get_dag_run(dag_id, dag_run_id).state == "success"


def test_register_and_unregister(world):
    airflow, client = world["airflow"], world["client"]
    name = f"act.reg.{airflow.api_version}"
    text = spec_yaml(name, team=TEAM).decode()
    done = carried_out(world, "register", name, params={"spec_yaml": text})
    assert done.message == f"Registered {name} (manual/{name}.yaml); status active."
    assert (airflow.spec_dir / "manual" / f"{name}.yaml").read_text() == text
    wait_for_dag(airflow, f"bc__{name}", timeout=180)
    gone = carried_out(world, "unregister", name)
    assert gone.result["paused_dag_id"] == f"bc__{name}"
    assert client.dag_is_paused(f"bc__{name}") is True
    assert not (airflow.spec_dir / "manual" / f"{name}.yaml").exists()
    assert Workflow.get(Workflow.dataset_name == name).status == "removed"


def test_clear_retries_a_failed_run_until_it_succeeds_and_mark_sets_states(world):
    name, client, dag_id, sync = world["name"], world["client"], world["dag_id"], world["run_sync"]
    started = carried_out(world, "run", name, params={"parameters": {"fail_tries": "1"}})
    run_id, dag_run_id = started.result["run_id"], started.result["dag_run_id"]
    wait_until(lambda: Run.get(Run.dag_run_id == dag_run_id).status == "FAILED", 180,
               "the first try to fail", step=sync.run, interval=POLL)

    preview = carried_out(world, "clear", run_id, params={"dry_run": True})
    assert set(preview.result["task_instances"]) >= {"run_query", "publish"}  # and downstream
    assert client.get_dag_run(dag_id, dag_run_id).state == "failed"  # a dry run changes nothing

    cleared = carried_out(world, "clear", run_id)
    assert cleared.result["changed"] is True
    assert Run.get(Run.dag_run_id == dag_run_id).status in ("PENDING", "RUNNING")  # at once
    wait_until(lambda: Run.get(Run.dag_run_id == dag_run_id).status == "SUCCESS", 180,
               "the retry to succeed", step=sync.run, interval=POLL)
    tries = {t.task_id: t.try_number for t in client.list_task_instances([(dag_id, dag_run_id)])}
    assert tries["run_query"] >= 2
    check_tries_and_queued_times(client, dag_id, dag_run_id, run_id)

    carried_out(world, "mark", run_id, params={"state": "failed"})
    assert client.get_dag_run(dag_id, dag_run_id).state == "failed"
    assert Run.get(Run.dag_run_id == dag_run_id).status == "FAILED"
    carried_out(world, "mark", run_id, params={"state": "success", "task_id": "publish"})
    states = {t.task_id: t.state for t in client.list_task_instances([(dag_id, dag_run_id)])}
    assert states["publish"] == "success"


def check_tries_and_queued_times(client: AirflowClient, dag_id: str, dag_run_id: str,
                                 run_id: str) -> None:
    """run_query failed its first try and the clear's second try succeeded: the store has
    both, with the times Airflow has (the first from its task-instance history), and when
    each was queued."""
    airflow_tries = client.task_instance_tries(dag_id, dag_run_id, "run_query")
    latest = airflow_tries[-1]
    assert [(t.try_number, t.state) for t in airflow_tries][-2:] == [
        (latest.try_number - 1, "failed"), (latest.try_number, "success")]
    run = Run.get(Run.dag_run_id == dag_run_id)
    row = TaskInstance.get((TaskInstance.run_id == run.id) & (TaskInstance.task_id == "run_query"))
    assert (row.try_number, row.tries_synced) == (latest.try_number, latest.try_number)
    assert row.queued_at == latest.queued_when is not None
    assert row.queued_at <= row.started_at
    stored = list(TaskTry.select().where((TaskTry.run_id == run.id)
                                         & (TaskTry.task_id == "run_query"))
                  .order_by(TaskTry.try_number))
    assert [(t.try_number, t.state, t.queued_at, t.started_at, t.ended_at) for t in stored] == [
        (t.try_number, t.state, t.queued_when, t.start_date, t.end_date)
        for t in airflow_tries[:-1]]
    failed = stored[-1]
    assert failed.queued_at is not None and failed.queued_at <= failed.started_at
    assert failed.ended_at <= row.queued_at  # the retry was queued after the try before ended
    [task] = [t for t in run_detail(run_id).tasks if t.task_id == "run_query"]
    assert [(t.try_number, t.state) for t in task.tries][-2:] == [
        (latest.try_number - 1, "failed"), (latest.try_number, "success")]

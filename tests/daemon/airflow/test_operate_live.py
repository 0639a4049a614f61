"""Clear, mark, human-in-the-loop and import errors against a real Airflow 3.3.2
(``/api/v2``) and 2.11.2 (``/api/v1``), started once per session by
``tests/airflow_server.py``."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

import pytest

from daemon.airflow import (
    AirflowClient,
    AirflowConflict,
    AirflowUnsupported,
    HitlRequest,
    ImportErrorInfo,
)
from daemon.core.config import ClusterConfig
from tests.airflow_server import AirflowServer, wait_for_dag
from tests.specs import spec_yaml

NAME = "operate.live_probe"
DAG_ID = f"bc__{NAME}"
HITL_DAG_ID = "bc__hitl_probe"
T = TypeVar("T")

HITL_DAG = f'''"""A first task, then a person approves (Airflow >= 3.1)."""
import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, task

with DAG("{HITL_DAG_ID}", schedule=None, catchup=False, is_paused_upon_creation=False,
         start_date=pendulum.datetime(2025, 1, 1, tz="UTC")):
    @task(task_id="first")
    def first():
        return 1

    @task(task_id="after")
    def after():
        return 2

    approve = ApprovalOperator(task_id="approve", subject="Ship {{{{ run_id }}}}?",
                               body="Numbers look fine")
    first() >> approve >> after()
'''

BROKEN_DAG = "# an airflow DAG file that does not parse\nfrom airflow import DAG\ndef broken(:\n"


def _client(server: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> AirflowClient:
    monkeypatch.setenv("LIVE_AF_PASSWORD", server.password)
    return AirflowClient(ClusterConfig(
        name="live", team="@data-engineering", url=server.url, api_version="auto",
        auth="jwt" if server.api_version == "v2" else "basic", username=server.username,
        password_env="LIVE_AF_PASSWORD", timeout_seconds=30))


def _until(what: str, probe: Callable[[], T | None], timeout: float = 120.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def _finished(client: AirflowClient, dag_id: str, run_id: str) -> str:
    def probe() -> str | None:
        state = client.get_dag_run(dag_id, run_id).state
        return state if state in ("success", "failed") else None
    return _until(f"run {run_id} finished", probe, timeout=180)


def _tis(client: AirflowClient, dag_id: str, run_id: str) -> dict[str, tuple[str | None, int]]:
    return {t.task_id: (t.state, t.try_number)
            for t in client.list_task_instances([(dag_id, run_id)])}


def _exercise_clear_and_mark(server: AirflowServer, client: AirflowClient) -> None:
    (server.spec_dir / "code").mkdir(parents=True, exist_ok=True)
    (server.spec_dir / "code" / "operate_probe.yaml").write_bytes(spec_yaml(NAME))
    wait_for_dag(server, DAG_ID, timeout=120)
    client.set_dag_paused(DAG_ID, False)
    run_id = f"basecamp:{server.api_version}+fail"  # ':' and '+' survive the paths
    client.trigger_dag_run(DAG_ID, run_id, {"fail": True})
    assert _finished(client, DAG_ID, run_id) == "failed"
    assert _tis(client, DAG_ID, run_id) == {"prepare": ("success", 1),
                                            "run_query": ("failed", 1),
                                            "publish": ("upstream_failed", 0)}

    # the preview: Airflow's own dry run, which changes nothing
    preview = client.clear_task_instances(DAG_ID, run_id, task_ids=["run_query"],
                                          only_failed=True, include_downstream=True,
                                          dry_run=True)
    assert {t.task_id: t.state for t in preview} == {"run_query": "failed",
                                                     "publish": "upstream_failed"}
    assert all((t.dag_id, t.dag_run_id, t.map_index) == (DAG_ID, run_id, -1) for t in preview)
    everything = client.clear_task_instances(DAG_ID, run_id, task_ids=None, only_failed=False,
                                             include_downstream=False, dry_run=True)
    assert {t.task_id for t in everything} == {"prepare", "run_query", "publish"}
    without_downstream = client.clear_task_instances(
        DAG_ID, run_id, task_ids=["run_query"], only_failed=True, include_downstream=False,
        dry_run=True)
    assert [t.task_id for t in without_downstream] == ["run_query"]
    assert client.get_dag_run(DAG_ID, run_id).state == "failed"

    # the real clear: the run is queued again and run_query runs a second try (and fails
    # again: the conf still says so)
    cleared = client.clear_task_instances(DAG_ID, run_id, task_ids=["run_query"],
                                          only_failed=True, include_downstream=True,
                                          dry_run=False)
    assert {t.task_id for t in cleared} == {"run_query", "publish"}
    assert client.get_dag_run(DAG_ID, run_id).state in ("queued", "running")
    assert _finished(client, DAG_ID, run_id) == "failed"
    tis = _tis(client, DAG_ID, run_id)
    assert tis["prepare"] == ("success", 1)  # not cleared
    assert tis["run_query"] == ("failed", 2)
    assert tis["publish"][0] == "upstream_failed"

    # mark: run_query success makes Airflow clear its failed downstream tasks and queue
    # the run again, so publish runs and the run succeeds
    client.set_task_instance_state(DAG_ID, run_id, "run_query", "success")
    assert _tis(client, DAG_ID, run_id)["run_query"][0] == "success"
    client.set_task_instance_state(DAG_ID, run_id, "run_query", "success")  # again: done
    assert _finished(client, DAG_ID, run_id) == "success"
    assert {t: s for t, (s, _) in _tis(client, DAG_ID, run_id).items()} == {
        "prepare": "success", "run_query": "success", "publish": "success"}
    # a finished run: marking a task failed changes the task only; then the run
    client.set_task_instance_state(DAG_ID, run_id, "publish", "failed")
    assert _tis(client, DAG_ID, run_id)["publish"][0] == "failed"
    assert client.set_dag_run_state(DAG_ID, run_id, "failed").state == "failed"
    assert client.get_dag_run(DAG_ID, run_id).state == "failed"


def _exercise_import_errors(server: AirflowServer, client: AirflowClient) -> None:
    broken = server.dags_dir / "broken_dag.py"
    broken.write_text(BROKEN_DAG)
    try:
        def mine() -> ImportErrorInfo | None:
            return next((e for e in client.list_import_errors(page_size=1)
                         if e.filename.endswith("broken_dag.py")), None)

        error = _until("the import error of broken_dag.py", mine)
        assert "SyntaxError" in error.stack_trace and error.timestamp is not None
        if server.api_version == "v2":  # relative to the bundle
            assert (error.filename, error.bundle_name) == ("broken_dag.py", "dags-folder")
        else:
            assert error.filename == str(broken) and error.bundle_name is None
    finally:
        broken.unlink()
    _until("the import error gone with its file", lambda: not any(
        e.filename.endswith("broken_dag.py") for e in client.list_import_errors()) or None)


def _exercise_hitl(server: AirflowServer, client: AirflowClient) -> None:
    assert client.supports_hitl()
    (server.dags_dir / "hitl_probe.py").write_text(HITL_DAG)
    wait_for_dag(server, HITL_DAG_ID, timeout=120)
    client.set_dag_paused(HITL_DAG_ID, False)
    run_id = "basecamp:hitl+1"
    client.trigger_dag_run(HITL_DAG_ID, run_id, {})

    def waiting() -> HitlRequest | None:
        return next((r for r in client.list_hitl_requests(dag_id_prefix="bc__hitl")
                     if r.dag_run_id == run_id), None)

    request = _until("the approval request", waiting)
    assert (request.dag_id, request.task_id, request.map_index) == (HITL_DAG_ID, "approve", -1)
    assert request.subject == f"Ship {run_id}?"  # a template field, rendered
    assert (request.body, request.options, request.multiple) == (
        "Numbers look fine", ("Approve", "Reject"), False)
    assert (request.response_received, request.chosen_options, request.responded_by) == (
        False, None, None)
    assert request.created_at is not None and request.task_state == "awaiting_input"
    assert client.get_dag_run(HITL_DAG_ID, run_id).state == "running"
    assert not client.list_hitl_requests(dag_id_prefix="bc__nope")

    # A person answers after seconds. Airflow 3.3 fails a task answered within a few
    # hundred milliseconds of its request: the executor's late report of the pause meets
    # the task already queued again ("state changed externally").
    time.sleep(3)
    answered = client.respond_hitl(HITL_DAG_ID, run_id, "approve", chosen_options=["Approve"])
    assert (answered.response_received, answered.chosen_options, answered.responded_by) == (
        True, ("Approve",), server.username)
    assert answered.responded_at is not None and answered.subject == request.subject
    assert _finished(client, HITL_DAG_ID, run_id) == "success", _tis(client, HITL_DAG_ID, run_id)
    assert _tis(client, HITL_DAG_ID, run_id)["after"][0] == "success"
    assert run_id not in {r.dag_run_id for r in client.list_hitl_requests()}
    [done] = [r for r in client.list_hitl_requests(waiting_only=False) if r.dag_run_id == run_id]
    assert (done.response_received, done.chosen_options, done.task_state) == (
        True, ("Approve",), "success")

    with pytest.raises(AirflowConflict, match="already been updated") as info:
        client.respond_hitl(HITL_DAG_ID, run_id, "approve", chosen_options=["Reject"])
    assert info.value.status == 409


@pytest.mark.airflow
def test_operate_live_airflow3(airflow3: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with _client(airflow3, monkeypatch) as client:
        _exercise_clear_and_mark(airflow3, client)
        _exercise_import_errors(airflow3, client)
        _exercise_hitl(airflow3, client)


@pytest.mark.airflow2
def test_operate_live_airflow2(airflow2: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with _client(airflow2, monkeypatch) as client:
        _exercise_clear_and_mark(airflow2, client)
        _exercise_import_errors(airflow2, client)
        assert client.supports_hitl() is False
        with pytest.raises(AirflowUnsupported, match="2.11.2.*3.1"):
            client.list_hitl_requests()
        with pytest.raises(AirflowUnsupported, match="human-in-the-loop"):
            client.respond_hitl(DAG_ID, "r", "run_query", chosen_options=["Approve"])

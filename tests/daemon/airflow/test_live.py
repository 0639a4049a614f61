"""The client against a real Airflow 3.3.2 (``/api/v2``, JWT) and 2.10.5 (``/api/v1``,
basic auth), started once per session by ``tests/airflow_server.py``."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from daemon.airflow import (
    AirflowAuthError,
    AirflowClient,
    AirflowConflict,
    AirflowNotFound,
    AirflowPermissionError,
)
from daemon.core.config import ClusterConfig
from tests.airflow_server import AirflowServer, wait_for_dag
from tests.specs import spec_yaml

NAME = "client.live_probe"
DAG_ID = f"bc__{NAME}"  # a dot in the DAG id, as basecamp's own DAGs have


def _client(server: AirflowServer, monkeypatch: pytest.MonkeyPatch,
            password: str | None = None) -> AirflowClient:
    monkeypatch.setenv("LIVE_AF_PASSWORD", password or server.password)
    return AirflowClient(ClusterConfig(
        name="live", team="@data-engineering", url=server.url, api_version="auto",
        auth="jwt" if server.api_version == "v2" else "basic", username=server.username,
        password_env="LIVE_AF_PASSWORD", timeout_seconds=30))


def _wait_finished(client: AirflowClient, run_id: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get_dag_run(DAG_ID, run_id).state
        if state in ("success", "failed"):
            return state
        time.sleep(1)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


def _exercise(server: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    (server.spec_dir / "code").mkdir(parents=True, exist_ok=True)
    (server.spec_dir / "code" / "client_probe.yaml").write_bytes(spec_yaml(NAME))
    wait_for_dag(server, DAG_ID, timeout=120)
    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    with _client(server, monkeypatch) as client:
        assert client.api_version == server.api_version
        assert client.airflow_version[0] == ("3" if server.api_version == "v2" else "2")
        assert isinstance(client.health(), dict)

        client.set_dag_paused(DAG_ID, True)
        assert DAG_ID in client.list_paused_dag_ids(dag_id_prefix="bc__")
        client.set_dag_paused(DAG_ID, False)
        assert DAG_ID not in client.list_paused_dag_ids(dag_id_prefix="bc__")

        run_id = f"basecamp:{server.api_version}+1"  # ':' and '+' must survive the path
        run = client.trigger_dag_run(DAG_ID, run_id, {"k": "v"}, note="from test")
        assert (run.dag_id, run.dag_run_id, run.conf) == (DAG_ID, run_id, {"k": "v"})
        with pytest.raises(AirflowConflict):
            client.trigger_dag_run(DAG_ID, run_id, {})
        assert _wait_finished(client, run_id) == "success"

        runs, cursor = client.list_dag_runs(updated_at_gte=started, page_size=2)
        assert run_id in {r.dag_run_id for r in runs}
        assert cursor is not None and abs(cursor - datetime.now(timezone.utc)) < timedelta(
            minutes=5)

        tis = client.list_task_instances([(DAG_ID, run_id), ("bc__nope", run_id)])
        assert {t.task_id: t.state for t in tis} == {
            "prepare": "success", "run_query": "success", "publish": "success"}
        assert all(t.try_number >= 1 and t.start_date is not None for t in tis)
        log = client.task_log(DAG_ID, run_id, "prepare", 1)
        assert "parameters: {'k': 'v'}" in log and "INFO" in log

        stop_id = f"basecamp:{server.api_version}+stop"
        client.trigger_dag_run(DAG_ID, stop_id, {})
        assert client.set_dag_run_state(DAG_ID, stop_id, "failed").state == "failed"

        with pytest.raises(AirflowNotFound):
            client.get_dag_run(DAG_ID, "no_such_run")
    with _client(server, monkeypatch, password="wrong") as client:
        client.version()
        # Airflow 2.11 answers 403 to wrong basic-auth credentials (2.10 answered 401).
        wrong = AirflowAuthError if server.api_version == "v2" else AirflowPermissionError
        with pytest.raises(wrong, match="check username/password_env"):
            client.get_dag_run(DAG_ID, run_id)


@pytest.mark.airflow
def test_live_airflow3(airflow3: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _exercise(airflow3, monkeypatch)


@pytest.mark.airflow2
def test_live_airflow2(airflow2: AirflowServer, monkeypatch: pytest.MonkeyPatch) -> None:
    _exercise(airflow2, monkeypatch)


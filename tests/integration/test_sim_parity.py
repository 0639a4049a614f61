"""The simulated Airflow (tests/sim_airflow.py, used by bench/run_sync.py) answers the
queries basecamp makes with the same filter and pagination semantics as a real Airflow 3:
one scenario, run through the real client against both, must observe the same things."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from daemon.airflow import AirflowClient, AirflowConflict, AirflowNotFound
from daemon.core.config import ClusterConfig
from tests.airflow_server import AirflowServer, wait_for_dag
from tests.sim_airflow import SimAirflow
from tests.specs import spec_yaml

TEAM = "@data-engineering"
NAMES = ("parity.alpha", "parity.beta")
DAGS = tuple(f"bc__{n}" for n in NAMES)
RUN = "parity_run_1"


def scenario(client: AirflowClient, raw: httpx.Client, start: datetime) -> dict[str, Any]:
    """Queries basecamp relies on; returns what was observed (backend-independent)."""
    seen: dict[str, Any] = {}
    for dag in DAGS:
        client.trigger_dag_run(dag, RUN, {})
    try:
        client.trigger_dag_run(DAGS[0], RUN, {})
        seen["duplicate_trigger"] = "accepted"
    except AirflowConflict:
        seen["duplicate_trigger"] = "409"
    try:
        client.get_dag_run(DAGS[0], "no_such_run")
    except AirflowNotFound:
        seen["unknown_run"] = "404"

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(client.list_task_instances([(d, RUN) for d in DAGS])) < 6:
        time.sleep(1)
    runs, server_time = client.list_dag_runs(updated_at_gte=start)
    seen["runs_since_start"] = sorted((r.dag_id, r.dag_run_id) for r in runs if r.dag_id in DAGS)
    seen["cursor_is_server_time"] = server_time is not None
    future = datetime.now(timezone.utc) + timedelta(days=1)
    seen["runs_since_tomorrow"] = len(client.list_dag_runs(updated_at_gte=future)[0])
    seen["tasks_changed_since_tomorrow"] = len(client.list_changed_task_instances(updated_at_gte=future))

    one = raw.get("dags/~/dagRuns", params={"limit": 1, "order_by": "updated_at",
                                             "updated_at_gte": start.isoformat().replace("+00:00", "Z")}).json()
    seen["page_of_one"] = (len(one["dag_runs"]), one["total_entries"] >= 2)
    cross = raw.post("dags/~/dagRuns/~/taskInstances/list",
                     json={"dag_ids": list(DAGS), "dag_run_ids": [RUN], "page_limit": 100}).json()
    seen["batch_is_cross_product"] = sorted({t["dag_id"] for t in cross["task_instances"]})
    only = raw.post("dags/~/dagRuns/~/taskInstances/list",
                    json={"dag_ids": [DAGS[0]], "dag_run_ids": [RUN], "page_limit": 2}).json()
    seen["batch_page"] = (len(only["task_instances"]), only["total_entries"])
    seen["tasks"] = sorted(t.task_id for t in client.list_task_instances([(DAGS[0], RUN)]))

    client.set_dag_paused(DAGS[1], True)
    seen["paused_by_substring"] = sorted(client.list_paused_dag_ids(dag_id_prefix="bc__parity.be"))
    seen["paused_other_pattern"] = sorted(client.list_paused_dag_ids(dag_id_prefix="no-such-dag"))
    client.set_dag_paused(DAGS[1], False)
    seen["paused_after_unpause"] = sorted(client.list_paused_dag_ids(dag_id_prefix="bc__parity."))
    return seen


def cluster(url: str) -> ClusterConfig:
    return ClusterConfig(name="parity", team=TEAM, url=url, dag_name_prefix="bc", api_version="v2",
                         auth="jwt", username="admin", password_env="PARITY_PASSWORD")


@pytest.mark.airflow
def test_the_simulator_behaves_like_airflow_3(airflow3: AirflowServer, monkeypatch):
    monkeypatch.setenv("PARITY_PASSWORD", airflow3.password)
    for name in NAMES:
        path = airflow3.spec_dir / "code" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(spec_yaml(name, team=TEAM, enabled=False))
    for dag in DAGS:
        wait_for_dag(airflow3, dag, timeout=180)
    start = datetime.now(timezone.utc) - timedelta(seconds=2)
    with AirflowClient(cluster(airflow3.url)) as client, airflow3.client() as raw:
        raw.base_url = f"{airflow3.url}/api/v2/"
        real = scenario(client, raw, start)

    sim = SimAirflow()
    for dag in DAGS:
        sim.add_dag(dag)
    transport = sim.transport()
    with AirflowClient(cluster("http://sim.test"), transport=transport) as client, \
            httpx.Client(base_url="http://sim.test/api/v2/", transport=transport) as raw:
        simulated = scenario(client, raw, start)

    assert real["duplicate_trigger"] == "409" and real["unknown_run"] == "404"
    assert real["batch_is_cross_product"] == sorted(DAGS)
    assert simulated == real

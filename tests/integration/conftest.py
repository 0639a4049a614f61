"""Shared by the real-Airflow tests: the server fixture of either version, the cluster
entry, how often they poll a real Airflow, and the daemon's parts wired to it (spec
sync, run sync, action executor) for the tests that carry out actions."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from peewee import Database

from daemon.actions import enqueue
from daemon.actions.context import ExecContext
from daemon.actions.executor import ActionExecutor
from daemon.airflow import AirflowClient
from daemon.core.config import ClusterConfig, parse_config
from daemon.run_sync import RunSync
from daemon.spec_store import LocalSpecStore
from daemon.spec_sync import SpecSync
from daemon.store.clusters import upsert_clusters
from daemon.store.models import Action
from tests.airflow_server import TEST_TEAM as TEAM
from tests.airflow_server import AirflowServer, wait_for_dag

POLL = 1.0
"""Seconds between two looks at a real Airflow (each may run a sync against it)."""


@pytest.fixture(params=[
    pytest.param("airflow3", marks=pytest.mark.airflow),
    pytest.param("airflow2", marks=pytest.mark.airflow2),
])
def airflow(request) -> AirflowServer:
    """Airflow 3.3 (marker ``airflow``) and Airflow 2.10 (marker ``airflow2``)."""
    return request.getfixturevalue(request.param)


def cluster_for(airflow: AirflowServer) -> ClusterConfig:
    """The cluster entry for a test server, team ``@data-engineering`` and prefix ``bc``
    (the factory's settings in tests/airflow_server.py); its password comes from
    $IT_AIRFLOW_PASSWORD, which the caller sets."""
    return ClusterConfig(
        name=f"it-{airflow.api_version}", team=TEAM, url=airflow.url, dag_name_prefix="bc",
        api_version="auto", auth="jwt" if airflow.api_version == "v2" else "basic",
        username=airflow.username, password_env="IT_AIRFLOW_PASSWORD", timeout_seconds=10,
    )


def operated(store: Database, airflow: AirflowServer, monkeypatch: pytest.MonkeyPatch,
             dag_ids: list[str]) -> dict[str, Any]:
    """The daemon's parts on ``airflow``, once the specs the caller wrote into its spec
    folder are synced and their DAGs (``dag_ids``) are parsed: ``client``, ``run_sync``,
    ``executor``, ``cluster``, ``airflow``. The caller closes ``client``."""
    monkeypatch.setenv("IT_AIRFLOW_PASSWORD", airflow.password)
    cluster = cluster_for(airflow)
    upsert_clusters([cluster])
    specs = LocalSpecStore(airflow.spec_dir)
    spec_sync = SpecSync(store, specs, max_spec_bytes=1 << 20, max_delete_fraction=1)
    assert spec_sync.run().ok
    client = AirflowClient(cluster)
    run_sync = RunSync(store, cluster, client, lookback_hours=1, stale_threshold_hours=1)
    config = dataclasses.replace(parse_config("", None), clusters=(cluster,))
    ctx = ExecContext(config=config, clients={cluster.name: client}, spec_store=specs,
                      sync_specs=spec_sync.run, sync_runs=lambda _c: [run_sync.run()],
                      poll_seconds=1.0)
    for dag_id in dag_ids:
        wait_for_dag(airflow, dag_id, timeout=180)
    return {"client": client, "run_sync": run_sync, "executor": ActionExecutor(ctx, "it"),
            "cluster": cluster, "airflow": airflow}


def carry_out(world: dict[str, Any], kind: str, target: str, **kwargs: Any) -> Action:
    """Queue an action and carry it out with the world's executor; the action as it
    ended (done, or failed with its message)."""
    action = enqueue(kind, target, **kwargs)
    executor: ActionExecutor = world["executor"]
    executor.execute(executor.claim(action.id))
    return Action.get_by_id(action.id)


def carried_out(world: dict[str, Any], kind: str, target: str, **kwargs: Any) -> Action:
    """:func:`carry_out`, and the action must be done."""
    done = carry_out(world, kind, target, **kwargs)
    assert done.state == "done", done.message
    return done

"""Shared by the real-Airflow tests: the server fixture of either version, the cluster
entry, and how often they poll a real Airflow."""

from __future__ import annotations

import pytest

from daemon.core.config import ClusterConfig
from tests.airflow_server import TEST_TEAM as TEAM
from tests.airflow_server import AirflowServer

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

"""Shared by the real-Airflow tests: the server fixture of either version, and a wait."""

from __future__ import annotations

import time
from typing import Callable

import pytest

from daemon.core.config import ClusterConfig
from tests.airflow_server import TEST_TEAM as TEAM
from tests.airflow_server import AirflowServer


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


def wait_until(condition: Callable[[], object], timeout: float, what: str,
               step: Callable[[], object] = lambda: None,
               show: Callable[[], object] = lambda: None) -> None:
    """Run ``step`` (e.g. a run sync) then test ``condition``, once a second; the
    failure names what was awaited, the last step's result and ``show()``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = step()
        if condition():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; "
                         f"last step: {last!r}; {show()!r}")

"""A real Apache Airflow for tests, on the code ``basecamp demo`` uses
(``basecamp_cli/demo/airflow.py``): installed from its committed lock into a cached venv,
``airflow standalone`` on loopback, stopped with everything it started.

- ``ensure_airflow_venv(version)``: the venv under
  ``${BASECAMP_TEST_CACHE:-~/.cache/basecamp-tests}``, installed on first use.
- ``start_airflow(version, dags_dir, env_extra)``: a running :class:`AirflowServer`.
- ``restart_airflow(server)``: the same port, home and database again.
- ``wait_for_dag(server, dag_id, timeout)``: until the DAG is parsed and usable.

Session fixtures ``airflow3`` (3.3.2, ``/api/v2`` with a JWT) and ``airflow2`` (2.11.2,
``/api/v1`` with basic auth) run the DAG factory with ``BASECAMP_DAG_PREFIX=bc`` and
``BASECAMP_TEAM=@data-engineering``; tests write specs into ``server.spec_dir``. Mark the
tests that use them ``@pytest.mark.airflow`` / ``@pytest.mark.airflow2``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from basecamp_cli.demo.airflow import (
    FACTORY_FILE,
    AirflowInstallError,
    AirflowStartError,
    LocalAirflow,
    airflow_env,
    install_airflow,
)
from basecamp_cli.demo.airflow import start_airflow as start_local_airflow

AIRFLOW3_VERSION = "3.3.2"
AIRFLOW2_VERSION = "2.11.2"
TEST_TEAM = "@data-engineering"
TEST_PREFIX = "bc"

__all__ = ["AIRFLOW2_VERSION", "AIRFLOW3_VERSION", "FACTORY_FILE", "AirflowServer",
           "airflow_env", "ensure_airflow_venv", "restart_airflow", "start_airflow",
           "wait_for_dag"]


def cache_dir() -> Path:
    root = os.environ.get("BASECAMP_TEST_CACHE") or str(Path.home() / ".cache" / "basecamp-tests")
    return Path(root).expanduser()


def _log(message: str) -> None:
    print(f"[airflow-tests] {message}", file=sys.stderr, flush=True)


def ensure_airflow_venv(version: str) -> Path:
    """The cached venv of ``apache-airflow==version`` (installed from its lock once)."""
    started = time.monotonic()
    venv = install_airflow(cache_dir(), version, progress=_log)
    _log(f"Airflow {version} ready in {venv} ({time.monotonic() - started:.0f} s)")
    return venv


@dataclass
class AirflowServer(LocalAirflow):
    """A running test Airflow, with an authenticated client for the tests' own calls."""

    token: str | None = None
    token_expires: float = 0.0

    @property
    def api(self) -> str:
        return f"/api/{self.api_version}"

    def auth_headers(self) -> dict[str, str]:
        if self.api_version == "v1":
            return {}
        if self.token is None or time.time() > self.token_expires - 60:
            response = httpx.post(f"{self.url}/auth/token", timeout=30,
                                  json={"username": self.username, "password": self.password})
            response.raise_for_status()
            self.token, self.token_expires = response.json()["access_token"], time.time() + 600
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """An httpx client on the server with credentials (bearer JWT or basic auth)."""
        auth = (self.username, self.password) if self.api_version == "v1" else None
        return httpx.Client(base_url=self.url, headers=self.auth_headers(), auth=auth,
                            timeout=timeout)


def start_airflow(version: str, dags_dir: Path, env_extra: dict[str, str] | None = None
                  ) -> AirflowServer:
    """``airflow standalone`` of ``version`` on a free loopback port, serving ``dags_dir``
    (its spec store is ``dags_dir/specs``); ``env_extra`` goes into its environment."""
    venv = ensure_airflow_venv(version)
    home = Path(dags_dir).parent / f"airflow-home-{version}"
    started = time.monotonic()
    local = start_local_airflow(venv, version, Path(dags_dir), home, env_extra=env_extra,
                                progress=_log)
    _log(f"Airflow {version} is up on {local.url} in {time.monotonic() - started:.0f} s")
    return AirflowServer(**{name: getattr(local, name) for name in LocalAirflow.__dataclass_fields__})


def restart_airflow(server: AirflowServer) -> AirflowServer:
    """Start a stopped ``server`` again: same port, home, database and environment."""
    server.token = None
    _log(f"restarting Airflow {server.version} on {server.url}")
    server.restart()
    return server


def wait_for_dag(server: AirflowServer, dag_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """Poll the REST API until the DAG is registered and usable; return its JSON."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        with server.client() as client:
            response = client.get(f"{server.api}/dags/{dag_id}")
            if response.status_code == 200:
                dag = response.json()
                usable = dag.get("is_active", True) is not False and not dag.get("is_stale")
                if usable and not dag.get("has_import_errors"):
                    details = client.get(f"{server.api}/dags/{dag_id}/details")
                    if details.status_code == 200:
                        return dag
                    last = f"details -> {details.status_code}"
                else:
                    last = f"dag listed but not usable: {dag}"
            else:
                last = f"{response.status_code}: {response.text[:200]}"
        time.sleep(1)
    raise AssertionError(f"DAG {dag_id} not registered on {server.url} within {timeout:.0f} s "
                         f"({last}); log tail:\n{server.log_tail()}")


def _server_fixture(version: str, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[AirflowServer]:
    base = tmp_path_factory.mktemp(f"airflow-{version}")
    try:
        server = start_airflow(version, base / "dags",
                               {"BASECAMP_DAG_PREFIX": TEST_PREFIX, "BASECAMP_TEAM": TEST_TEAM})
    except (AirflowInstallError, AirflowStartError) as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def airflow3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """A running Airflow 3.3.2 (REST /api/v2, JWT) serving the DAG factory."""
    yield from _server_fixture(AIRFLOW3_VERSION, tmp_path_factory)


@pytest.fixture(scope="session")
def airflow2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    """A running Airflow 2.11.2 (REST /api/v1, basic auth) serving the DAG factory."""
    yield from _server_fixture(AIRFLOW2_VERSION, tmp_path_factory)


if __name__ == "__main__":  # python -m tests.airflow_server 3.3.2 2.11.2: pre-install
    for arg in sys.argv[1:] or [AIRFLOW3_VERSION, AIRFLOW2_VERSION]:
        print(ensure_airflow_venv(arg))

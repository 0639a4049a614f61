"""Three daemons on one PostgreSQL store and a real Airflow 3.3: kill -9 the cluster's
owner while a slow run is being synced, and right after it claimed a ``run`` action.
Another daemon takes the cluster within 30 s, each queued run action makes exactly one
DAG run, the runs reach their end in the store (none missed), and the failure is
notified exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from basecamp_cli.main import main
from daemon.store.db import open_store
from daemon.store.models import Action, Cluster, DaemonLease, Run, SyncState, Workflow
from tests.airflow_server import wait_for_dag
from tests.daemon.runtime.test_daemon_process import COMMAND
from tests.integration.conftest import TEAM, cluster_for
from tests.pgserver import create_database
from tests.waiting import wait_until

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]
TAKEOVER_SECONDS = 30
NAME = "shared.failover"
SPEC = """\
name: {name}
type: Dataset
owner: engineer@example.com
team: "{team}"
parameters:
  - {{name: demo_seconds, type: int, required: false, default: 0}}
  - {{name: fail_tries, type: int, required: false, default: 0}}
schedule:
  enabled: false
  cron: "0 9 * * *"
  timezone: "UTC"
  notifications:
    on_failure: [{{type: webhook, url: "https://hooks.example/failover"}}]
"""


class Hook:
    """A generic webhook receiver on loopback: the notifications it got."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def shared(tmp_path: Path, airflow3, postgres_url: str, monkeypatch) -> Iterator[dict]:
    name = NAME
    (airflow3.spec_dir / "code").mkdir(parents=True, exist_ok=True)
    (airflow3.spec_dir / "code" / f"{name}.yaml").write_text(SPEC.format(name=name, team=TEAM))
    url = create_database(postgres_url)
    open_store(url)
    hook = Hook()
    cluster = cluster_for(airflow3)
    config = tmp_path / "basecamp.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[storage]\npath = "{airflow3.spec_dir}"\n'
        "[sync]\nrun_interval_seconds = 2\nhealth_interval_seconds = 5\nspec_interval_seconds = 5\n"
        "max_delete_fraction = 1.0\n"
        "[daemon]\nheartbeat_seconds = 1\nstale_after_seconds = 10\n"
        '[notifications]\nwebhook_url_env = "IT_HOOK_URL"\n'
        f'[[clusters]]\nname = "{cluster.name}"\nteam = "{TEAM}"\nurl = "{cluster.url}"\n'
        f'dag_name_prefix = "bc"\napi_version = "v2"\nauth = "jwt"\nusername = "{cluster.username}"\n'
        'password_env = "IT_AIRFLOW_PASSWORD"\ntimeout_seconds = 10\n')
    monkeypatch.setenv("IT_AIRFLOW_PASSWORD", airflow3.password)
    monkeypatch.setenv("IT_HOOK_URL", hook.url)
    monkeypatch.setenv("BASECAMP_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    processes: list[subprocess.Popen] = []
    wait_for_dag(airflow3, f"bc__{name}", timeout=180)
    try:
        yield {"name": name, "cluster": cluster.name, "airflow": airflow3, "hook": hook,
               "processes": processes, "tmp": tmp_path}
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        hook.close()


def start(shared: dict) -> subprocess.Popen:
    log = shared["tmp"] / f"daemon-{len(shared['processes'])}.log"
    process = subprocess.Popen([*COMMAND, "daemon"], env=dict(os.environ), stderr=log.open("w"))
    shared["processes"].append(process)
    return process


def holder_pid(holder: str | None) -> int | None:
    row = DaemonLease.get_or_none(DaemonLease.key == f"daemon:{holder}")
    return None if row is None else row.pid


def owner(shared: dict) -> str | None:
    row = Cluster.get_or_none(Cluster.name == shared["cluster"])
    return None if row is None else row.owner


def owner_process(shared: dict) -> subprocess.Popen:
    pid = holder_pid(owner(shared))
    [process] = [p for p in shared["processes"] if p.pid == pid]
    return process


def synced_since(shared: dict, moment: datetime) -> bool:
    state = SyncState.get_or_none(SyncState.key == f"runs:{shared['cluster']}")
    return state is not None and state.last_ok_at is not None and state.last_ok_at > moment


def dag_runs(shared: dict) -> list[dict]:
    with shared["airflow"].client() as client:
        response = client.get(f"/api/v2/dags/bc__{shared['name']}/dagRuns", params={"limit": 100})
        response.raise_for_status()
        return response.json()["dag_runs"]


def ours():
    """This test's runs (the session's Airflow also has other tests' DAGs)."""
    return Run.select().where(Run.dataset_name == NAME)


def queue_run(*params: str) -> int:
    assert main(["workflow", "run", NAME, *params, "--no-wait"]) == 0
    return Action.select().order_by(Action.id.desc()).get().id


def take_over_after_killing_the_owner(shared: dict) -> float:
    """kill -9 the owner; the seconds until another daemon owns the cluster and synced it."""
    victim, before = owner_process(shared), owner(shared)
    killed_at = datetime.now(timezone.utc)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    started = time.monotonic()
    wait_until(lambda: owner(shared) not in (None, before) and synced_since(shared, killed_at),
               timeout=TAKEOVER_SECONDS + 5, interval=0.2, what="another daemon taking the cluster")
    return time.monotonic() - started


def test_a_killed_owner_loses_no_run_makes_no_second_run_and_notifies_once(shared):
    for _ in range(3):
        start(shared)
    wait_until(lambda: owner(shared) is not None, timeout=60, what="an owner for the cluster")
    wait_until(lambda: holder_pid(owner(shared)) is not None, what="the owner's row")
    wait_until(lambda: Workflow.select().where(Workflow.dataset_name == NAME).exists(), timeout=30,
               what="the spec synced")

    # A slow run that fails at its end; its owner is killed while it syncs it every second.
    slow = queue_run("-p", "demo_seconds=25", "-p", "fail_tries=1")
    wait_until(lambda: Action.get_by_id(slow).state == "done", timeout=60, interval=0.2,
               what="the slow run started")
    wait_until(lambda: ours().where(Run.status == "RUNNING").exists(), timeout=90,
               interval=0.2, what="the slow run running in the store")
    took = take_over_after_killing_the_owner(shared)
    assert took <= TAKEOVER_SECONDS
    start(shared)  # systemd would restart it

    # A run action whose owner is killed the moment it claims it.
    quick = queue_run()
    wait_until(lambda: Action.get_by_id(quick).state != "pending", timeout=30, interval=0.005,
               what="the run action claimed")
    take_over_after_killing_the_owner(shared)
    wait_until(lambda: Action.get_by_id(quick).state == "done", timeout=TAKEOVER_SECONDS + 30,
               interval=0.2, what="the run action carried out")

    runs = dag_runs(shared)
    assert len(runs) == 2  # one DAG run per queued run action
    wait_until(lambda: sorted(run.status for run in ours()) == ["FAILED", "SUCCESS"],
               timeout=120, interval=0.5, what="both runs at their end in the store")
    hook = shared["hook"]
    wait_until(lambda: hook.received, timeout=30, interval=0.5, what="the failure notification")
    time.sleep(6)  # a second notifier round (every 5 s) would have sent a duplicate by now
    about = [body for body in hook.received if NAME in json.dumps(body)]
    assert len(about) == 1, hook.received

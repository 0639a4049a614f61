"""A user's whole journey against a real Airflow, through the product's own entry points:
specs in the spec store → DAGs built by the DAG factory → the daemon (a real process)
syncs them → ``workflow run`` with parameters → progress and SUCCESS through ``workflow
status`` → stop a slow run → pause and unpause → register a manual spec and see its DAG
appear → delete a code spec and see its manual twin take over → the dashboard shows the run.

Airflow 3.3 under the ``airflow`` marker, Airflow 2.11 under ``airflow2``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from basecamp_cli.demo.airflow import stop_process_tree
from basecamp_cli.main import main
from tests.airflow_server import AirflowServer, wait_for_dag
from tests.integration.conftest import POLL, TEAM
from tests.specs import spec_yaml
from tests.waiting import pilot_until, wait_until

PARAMS = (
    "parameters:\n"
    "  - {name: execution_date, type: string, required: true}\n"
    "  - {name: demo_seconds, type: int, required: false, default: 0}\n"
)


@pytest.fixture
def journey(airflow: AirflowServer, tmp_path: Path, monkeypatch, capsys):
    """Two code specs and a manual twin in the server's spec store, a config naming the
    server, and the daemon running on it as its own process."""
    tag = airflow.api_version
    names = {"main": f"journey.clicks_{tag}", "twin": f"journey.twin_{tag}",
             "new": f"journey.registered_{tag}"}
    for key in ("main", "twin"):
        (airflow.spec_dir / "code" / f"{names[key]}.yaml").write_bytes(
            spec_yaml(names[key], team=TEAM, parameters=PARAMS))
    (airflow.spec_dir / "manual" / f"{names['twin']}.yaml").write_bytes(
        spec_yaml(names["twin"], team=TEAM, cron="0 7 * * *", parameters=PARAMS))
    config = tmp_path / "basecamp.toml"
    config.write_text(f"""\
[database]
url = "sqlite:///{tmp_path / 'store.db'}"
[storage]
path = "{airflow.spec_dir}"
[sync]
spec_interval_seconds = 2
run_interval_seconds = 1
health_interval_seconds = 5
[daemon]
heartbeat_seconds = 1
[[clusters]]
name = "journey"
team = "{TEAM}"
url = "{airflow.url}"
dag_name_prefix = "bc"
api_version = "{airflow.api_version}"
auth = "{'jwt' if airflow.api_version == 'v2' else 'basic'}"
username = "{airflow.username}"
password_env = "JOURNEY_PASSWORD"
""")
    monkeypatch.setenv("BASECAMP_CONFIG", str(config))
    monkeypatch.setenv("JOURNEY_PASSWORD", airflow.password)
    daemon = subprocess.Popen(
        [sys.executable, "-m", "basecamp_cli.main", "daemon"], start_new_session=True,
        stdout=open(tmp_path / "daemon.log", "wb"), stderr=subprocess.STDOUT)
    try:
        for key in ("main", "twin"):
            wait_for_dag(airflow, f"bc__{names[key]}", timeout=180)
        wait_until(lambda: cli_json(capsys, "workflow", "list", "-d", "journey.") is not None
                   and len(cli_json(capsys, "workflow", "list", "-d", "journey.")) >= 3, 60,
                   "the daemon to sync the specs")
        yield {"names": names, "config": config, "airflow": airflow, "log": tmp_path / "daemon.log"}
    finally:
        stop_process_tree(daemon, timeout=15)


def cli(capsys, *argv: str, code: int = 0) -> str:
    capsys.readouterr()
    assert main(list(argv)) == code, capsys.readouterr()
    return capsys.readouterr().out


def cli_json(capsys, *argv: str) -> object:
    capsys.readouterr()
    if main([*argv, "--format", "json"]) != 0:
        return None
    return json.loads(capsys.readouterr().out)


def status(capsys, run_id: str) -> dict:
    return cli_json(capsys, "workflow", "status", run_id)  # type: ignore[return-value]


def test_a_users_journey(journey, capsys):
    names, airflow = journey["names"], journey["airflow"]
    main_name = names["main"]

    # run with parameters, then follow it to SUCCESS with its progress
    out = cli(capsys, "workflow", "run", main_name, "-p", "execution_date=2026-11-30")
    run_id = f"{main_name}/" + re.search(r"Run started: \S+/(\S+)", out).group(1)
    wait_until(lambda: (status(capsys, run_id) or {}).get("status") == "SUCCESS", 240,
               f"{run_id} to succeed", interval=POLL)
    done = status(capsys, run_id)
    assert done["progress"]["total"] == done["progress"]["succeeded"] == 3
    assert {t["task_id"]: t["state"] for t in done["tasks"]} == {
        "prepare": "success", "run_query": "success", "publish": "success"}

    # a slow run, stopped
    out = cli(capsys, "workflow", "run", main_name, "-p", "execution_date=2026-11-30",
              "-p", "demo_seconds=300")
    slow = f"{main_name}/" + re.search(r"Run started: \S+/(\S+)", out).group(1)
    wait_until(lambda: (status(capsys, slow) or {}).get("status") == "RUNNING", 180,
               f"{slow} to run", interval=POLL)
    cli(capsys, "workflow", "stop", slow, "--reason", "journey test")
    assert status(capsys, slow)["status"] == "STOPPED"

    # pause and unpause
    assert cli(capsys, "workflow", "pause", main_name).startswith(f"Paused {main_name}")
    [row] = [r for r in cli_json(capsys, "workflow", "list", "-d", main_name)
             if r["source_type"] == "code"]
    assert row["status"] == "paused"
    cli(capsys, "workflow", "unpause", main_name)

    # register a manual spec: its DAG appears in Airflow
    new = journey["config"].parent / "new.yaml"
    new.write_bytes(spec_yaml(names["new"], team=TEAM))
    cli(capsys, "workflow", "register", str(new), "--yes")
    wait_for_dag(airflow, f"bc__{names['new']}", timeout=180)

    # delete a code spec: the manual twin takes over
    (airflow.spec_dir / "code" / f"{names['twin']}.yaml").unlink()

    def twin_sources() -> dict[str, str]:
        rows = cli_json(capsys, "workflow", "list", "-d", names["twin"], "--all") or []
        return {r["source_type"]: r["status"] for r in rows}

    wait_until(lambda: twin_sources() == {"code": "removed", "manual": "active"}, 60,
               "the manual twin to take over", show=twin_sources)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_dashboard_shows_the_run(journey, capsys):
    from basecamp_tui.app import BasecampApp
    from daemon.core.config import load_config
    from daemon.store.db import open_for_reading

    name = journey["names"]["main"]
    out = cli(capsys, "workflow", "run", name, "-p", "execution_date=2026-11-29")
    run_id = f"{name}/" + re.search(r"Run started: \S+/(\S+)", out).group(1)
    config = load_config(str(journey["config"]))
    open_for_reading(config.database.url)
    app = BasecampApp(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot_until(pilot, lambda: app.first_load_done, 30)
        await pilot.press("2")
        await pilot_until(pilot, lambda: run_id in app.main.runs.model, 30)
        await pilot_until(pilot, lambda: app.main.runs.model[run_id].status == "SUCCESS", 240)

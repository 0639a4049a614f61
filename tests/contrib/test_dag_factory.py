"""contrib/airflow/basecamp_dag_factory.py inside real Airflow installs.

(a) DagBag level: a small script runs in the Airflow venv (basecamp is never installed
there) and loads the factory over a spec dir holding every awkward case; it prints what
the DAGs look like as JSON. (b) Live: a spec dropped into a running Airflow 3 becomes an
unpaused DAG whose triggered runs succeed, or fail on request.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from daemon.core.naming import dag_id_for
from daemon.specs import parse_spec
from tests.airflow_server import (
    AIRFLOW2_VERSION,
    AIRFLOW3_VERSION,
    FACTORY_FILE,
    AirflowServer,
    airflow_env,
    ensure_airflow_venv,
    wait_for_dag,
)

TEAM = "@data-engineering"
PREFIX = "bc"

DAGBAG_SCRIPT = r"""
import json, logging, sys
records = []
class Collect(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("basecamp_dag_factory").addHandler(Collect())
try:
    from airflow.dag_processing.dagbag import DagBag  # Airflow 3
except ImportError:
    from airflow.models.dagbag import DagBag  # Airflow 2
bag = DagBag(dag_folder=sys.argv[1], include_examples=False) if "include_examples" in \
    DagBag.__init__.__code__.co_varnames else DagBag(dag_folder=sys.argv[1])
out = {}
for dag_id, dag in bag.dags.items():
    tt = dag.timetable
    params = {}
    for key in dag.params.keys():
        p = dag.params.get_param(key)
        notset = type(p.value).__name__ == "ArgNotSet" or "NOTSET" in repr(p.value)
        params[key] = {"has_default": not notset, "default": None if notset else p.value,
                       "schema": p.schema, "description": p.description}
    tz = getattr(tt, "timezone", None) or getattr(tt, "_timezone", None)
    out[dag_id] = {
        "schedule": getattr(tt, "expression", None) or getattr(tt, "_expression", None),
        "timetable": type(tt).__name__,
        "timezone": None if tz is None else getattr(tz, "name", str(tz)),
        "start_date_tz": getattr(dag.timezone, "name", str(dag.timezone)),
        "tags": sorted(dag.tags),
        "params": params,
        "retries": {t.task_id: t.retries for t in dag.tasks},
        "retry_delay": {t.task_id: t.retry_delay.total_seconds() for t in dag.tasks},
        "owner": dag.owner,
        "catchup": dag.catchup,
        "paused_upon_creation": dag.is_paused_upon_creation,
        "description": dag.description,
        "task_ids": sorted(t.task_id for t in dag.tasks),
        "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
        "operators": {t.task_id: type(t).__name__ for t in dag.tasks},
    }
print(json.dumps({"dags": out, "import_errors": {str(k): v for k, v in bag.import_errors.items()},
                  "warnings": records}, default=str))
"""


def spec(name: str, *, team: str = TEAM, cron: str = "0 9 * * *", tz: str = "UTC",
         enabled: bool = True, extra: str = "", desc: str = "", attempts: int = 3) -> str:
    return (
        f"name: {name}\ntype: Dataset\nowner: engineer@example.com\nteam: \"{team}\"\n"
        f"description: {desc or name}\n{extra}"
        f"schedule:\n  enabled: {str(enabled).lower()}\n  cron: \"{cron}\"\n  timezone: {tz}\n"
        f"  retry: {{max_attempts: {attempts}, delay_seconds: 60}}\n"
    )


CLICKS = "iceberg.analytics.daily_clicks"
PARAMS = (
    "parameters:\n"
    "  - {name: execution_date, type: date, required: true}\n"
    "  - {name: limit, type: int, required: false, default: 100}\n"
    "  - {name: ratio, type: float}\n"
    "  - {name: dry, type: bool, default: false}\n"
    "  - {name: region, type: string, required: true}\n"
)


def write_awkward_specs(spec_dir: Path) -> None:
    files = {
        # code spec: wins over manual/clicks.yaml and over the later duplicate code/z_dup.yaml
        "code/a/clicks.yaml": spec(CLICKS, tz="Asia/Seoul", extra=PARAMS, desc="from code"),
        "code/z_dup.yml": spec(CLICKS, cron="5 5 * * *", desc="duplicate"),
        "manual/clicks.yaml": spec(CLICKS, cron="1 1 * * *", desc="from manual"),
        "manual/manual_only.yaml": spec(
            "manual.only", enabled=False, tz="Europe/Berlin", desc="manual only",
            extra="parameters:\n  - {name: day, type: date, required: true}\n"
                  "  - {name: n, type: int, required: true}\n"),
        "code/other_team.yaml": spec("other.team", team="@marketing"),
        "code/broken.yaml": "name: [unclosed\n  owner: x: y\n",
        "code/not_a_mapping.yaml": "- just\n- a list\n",
        "code/missing_owner.yaml": "name: no.owner\nteam: \"@data-engineering\"\n",
        "code/bad_cron.yaml": spec("bad.cron", cron="61 * * * *"),
        # a code spec that is invalid does not shadow its valid manual counterpart
        "code/fallback.yaml": spec("fallback.ds", cron="not a cron"),
        "manual/fallback.yaml": spec("fallback.ds", cron="*/15 * * * *", desc="manual fallback"),
        "code/sql/sql.yaml": spec("sql.ds", extra="connection_id: my_db\nquery_file: q.sql\n"),
        "code/sql/q.sql": "SELECT {{ params.limit }}",
        "manual/bad_tz.yaml": spec("bad.tz", tz="Mars/Olympus"),
        # a code spec that parses but cannot be built also leaves the manual one in force
        "code/build_fail.yaml": spec(
            "buildfail.ds", extra="connection_id: db\nquery_file: gone.sql\n"),
        "manual/build_fail.yaml": spec("buildfail.ds", desc="manual after build failure"),
        # the effective (code) spec belongs to another team: no DAG here, not even the manual one
        "code/shadow.yaml": spec("shadow.ds", team="@marketing"),
        "manual/shadow.yaml": spec("shadow.ds"),
        # a person approves before publish (Airflow >= 3.1); a bad approval is no DAG
        "code/approve.yaml": spec("approve.ds", extra=(
            'approval: {before: publish, subject: "Publish {{ ds }}?", body: "Check it"}\n')),
        "code/approve_bad.yaml": spec("approve.bad", extra="approval: {before: nowhere}\n"),
    }
    for rel, text in files.items():
        path = spec_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def run_dagbag(version: str, tmp_path: Path,
               write_specs: Callable[[Path], None] = write_awkward_specs) -> dict[str, Any]:
    venv = ensure_airflow_venv(version)
    dags_dir = tmp_path / "dags"
    dags_dir.mkdir()
    shutil.copy(FACTORY_FILE, dags_dir / FACTORY_FILE.name)
    write_specs(dags_dir / "specs")
    home = tmp_path / "airflow_home"
    home.mkdir()
    env = airflow_env(venv, home, dags_dir, 0, version,  # no server: the port is unused
                      {"BASECAMP_TEAM": TEAM, "BASECAMP_DAG_PREFIX": PREFIX})
    script = tmp_path / "dagbag_probe.py"
    script.write_text(DAGBAG_SCRIPT)
    result = subprocess.run(
        [str(venv / "bin" / "python"), str(script), str(dags_dir)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def check_dagbag(report: dict[str, Any], *, hitl: bool) -> None:
    dags = report["dags"]
    assert report["import_errors"] == {}
    ids = {name: dag_id_for(PREFIX, name) for name in
           (CLICKS, "manual.only", "fallback.ds", "sql.ds", "buildfail.ds", "approve.ds")}
    # team filter, broken specs skipped, every good one built
    assert set(dags) == set(ids.values()), sorted(dags)
    assert ids[CLICKS] == "bc__iceberg.analytics.daily_clicks"

    clicks = dags[ids[CLICKS]]
    assert clicks["description"] == "from code"  # code beats manual and the later duplicate
    assert clicks["tags"] == sorted([TEAM, "source:code", "engineer@example.com"])
    assert clicks["schedule"] == "0 9 * * *"
    assert clicks["timetable"] == "CronTriggerTimetable"
    assert clicks["timezone"] == "Asia/Seoul" and clicks["start_date_tz"] == "Asia/Seoul"
    assert clicks["catchup"] is False and clicks["paused_upon_creation"] is False
    assert clicks["owner"] == "engineer@example.com"
    assert set(clicks["retries"].values()) == {2}
    assert set(clicks["retry_delay"].values()) == {60.0}
    assert clicks["task_ids"] == ["prepare", "publish", "run_query"]
    assert clicks["upstream"] == {"prepare": [], "run_query": ["prepare"], "publish": ["run_query"]}
    params = clicks["params"]
    assert params["limit"]["default"] == 100 and params["limit"]["schema"]["type"] == "integer"
    assert params["dry"]["default"] is False and params["dry"]["schema"]["type"] == "boolean"
    assert params["ratio"]["default"] is None and params["ratio"]["schema"]["type"] == [
        "number", "null"]
    assert params["execution_date"]["schema"]["format"] == "date"
    # scheduled DAG: Airflow forbids required params without default; they default to null
    # and `prepare` fails a run that lacks them
    assert params["execution_date"]["default"] is None
    assert params["region"]["schema"]["type"] == ["string", "null"]

    manual = dags[ids["manual.only"]]
    assert manual["schedule"] is None  # enabled: false
    assert "source:manual" in manual["tags"]
    assert manual["start_date_tz"] == "Europe/Berlin"
    assert manual["params"]["day"] == {
        "has_default": False, "default": None,
        "schema": {"type": "string", "format": "date"},
        "description": "date, required (scheduled runs and backfills: the logical date)"}
    assert manual["params"]["n"]["has_default"] is False
    assert manual["params"]["n"]["schema"]["type"] == "integer"

    fallback = dags[ids["fallback.ds"]]
    assert fallback["description"] == "manual fallback" and "source:manual" in fallback["tags"]
    assert fallback["schedule"] == "*/15 * * * *"

    buildfail = dags[ids["buildfail.ds"]]
    assert buildfail["description"] == "manual after build failure"
    assert "source:manual" in buildfail["tags"]

    sql = dags[ids["sql.ds"]]
    assert sql["operators"]["run_query"] == "SQLExecuteQueryOperator"
    assert sql["upstream"]["publish"] == ["run_query"]

    warnings = "\n".join(report["warnings"])
    for needle in ("broken.yaml", "not_a_mapping.yaml", "missing_owner.yaml", "bad_cron.yaml",
                   "code/fallback.yaml", "z_dup.yml", "bad_tz.yaml", "code/build_fail.yaml",
                   "approve_bad.yaml"):
        assert needle in warnings, warnings

    approve = dags[ids["approve.ds"]]
    if hitl:
        assert approve["operators"]["approve"] == "ApprovalOperator"
        assert approve["upstream"] == {"prepare": [], "run_query": ["prepare"],
                                       "approve": ["run_query"], "publish": ["approve"]}
    else:
        assert approve["task_ids"] == ["prepare", "publish", "run_query"]
        assert "approve.ds: approval ignored: it needs Airflow 3.1 or later" in warnings


def test_factory_imports_nothing_from_basecamp() -> None:
    allowed = {"__future__", "datetime", "logging", "os", "re", "time", "pathlib", "typing",
               "zlib", "pendulum", "yaml", "airflow", "croniter"}
    tree = ast.parse(FACTORY_FILE.read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert {m.split(".")[0] for m in modules} <= allowed, modules


@pytest.mark.airflow
def test_dagbag_airflow3(tmp_path: Path) -> None:
    check_dagbag(run_dagbag(AIRFLOW3_VERSION, tmp_path), hitl=True)


@pytest.mark.airflow2
def test_dagbag_airflow2(tmp_path: Path) -> None:
    check_dagbag(run_dagbag(AIRFLOW2_VERSION, tmp_path), hitl=False)


# The parameter rule (which required parameters take the logical date, which ones a
# scheduled run cannot supply), over the same specs in basecamp's parser and the factory.
PARAMETER_RULE_SPECS = {
    "rule.seed": (True, "  - {name: execution_date, type: string, required: true}\n"
                        "  - {name: limit, type: int, required: false, default: 100}\n"),
    "rule.date": (True, "  - {name: day, type: date, required: true}\n"),
    "rule.names": (True, "  - {name: ds, type: string, required: true}\n"
                         "  - {name: logical_date, type: string, required: true}\n"),
    "rule.other": (True, "  - {name: region, type: string, required: true}\n"
                         "  - {name: n, type: int, required: true}\n"
                         "  - {name: execution_date, type: date, required: true}\n"),
    "rule.defaults": (True, "  - {name: day, type: date, required: false, default: 2024-01-01}\n"
                            "  - {name: execution_date, type: string}\n"),
    "rule.unscheduled": (False, "  - {name: day, type: date, required: true}\n"
                                "  - {name: region, type: string, required: true}\n"),
}


def write_rule_specs(spec_dir: Path) -> None:
    for name, (enabled, parameters) in PARAMETER_RULE_SPECS.items():
        path = spec_dir / "code" / f"{name}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(spec(name, enabled=enabled, extra="parameters:\n" + parameters))


def basecamp_parameter_rule() -> tuple[set[tuple[str, str]], set[str]]:
    """(dataset, parameter) pairs that take the logical date, and the warnings."""
    dated, warnings = set(), set()
    for name, (enabled, parameters) in PARAMETER_RULE_SPECS.items():
        parsed = parse_spec(spec(name, enabled=enabled, extra="parameters:\n" + parameters)
                            .encode(), f"{name}.yaml", 1 << 20)
        dated |= {(name, p.name) for p in parsed.spec.parameters if p.takes_logical_date}
        warnings |= {f"{name}: {w.message}" for w in parsed.warnings}
    return dated, warnings


@pytest.mark.parametrize("version", [
    pytest.param(AIRFLOW3_VERSION, marks=pytest.mark.airflow),
    pytest.param(AIRFLOW2_VERSION, marks=pytest.mark.airflow2),
])
def test_the_factory_and_basecamp_agree_on_the_parameter_rule(version: str, tmp_path: Path):
    report = run_dagbag(version, tmp_path, write_rule_specs)
    assert report["import_errors"] == {}
    factory_dated = {
        (dag_id.removeprefix(f"{PREFIX}__"), key)
        for dag_id, dag in report["dags"].items() for key, param in dag["params"].items()
        if "scheduled runs and backfills: the logical date" in (param["description"] or "")
    }
    factory_warnings = {line.removeprefix("basecamp: ") for line in report["warnings"]}
    dated, warnings = basecamp_parameter_rule()
    assert factory_dated == dated
    assert factory_warnings == warnings
    assert dated == {("rule.seed", "execution_date"), ("rule.date", "day"),
                     ("rule.names", "ds"), ("rule.names", "logical_date"),
                     ("rule.other", "execution_date"), ("rule.unscheduled", "day")}
    assert warnings == {
        f"rule.other: parameter {p} is required but a scheduled run cannot supply it: give "
        "it a default or make it optional" for p in ("region", "n")}


# --- live Airflow 3 ------------------------------------------------------------------


def wait_for_run_state(
    server: AirflowServer, dag_id: str, run_id: str, timeout: float = 180.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    with server.client() as client:
        while time.monotonic() < deadline:
            response = client.get(f"{server.api}/dags/{dag_id}/dagRuns/{run_id}")
            response.raise_for_status()
            run = response.json()
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(1)
    raise AssertionError(f"run {dag_id}/{run_id} not finished in {timeout} s: {run}")


def task_states(server: AirflowServer, dag_id: str, run_id: str) -> dict[str, str]:
    with server.client() as client:
        response = client.get(f"{server.api}/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
    response.raise_for_status()
    return {ti["task_id"]: ti["state"] for ti in response.json()["task_instances"]}


def trigger(server: AirflowServer, dag_id: str, run_id: str, conf: dict) -> httpx.Response:
    """POST a run; Airflow on SQLite answers 500 while its database is locked (the run is
    not created then), so a 500 is tried again."""
    body: dict[str, Any] = {"dag_run_id": run_id, "conf": conf}
    if server.api_version == "v2":
        body["logical_date"] = None  # required in Airflow 3 (null: no logical date)
    with server.client() as client:
        for _ in range(5):
            response = client.post(f"{server.api}/dags/{dag_id}/dagRuns", json=body)
            if response.status_code != 500:
                break
            time.sleep(2)
        return response


def write_spec(server: AirflowServer, rel: str, text: str) -> None:
    path = server.spec_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.airflow
def test_live_airflow3_runs(airflow3: AirflowServer) -> None:
    name = "live.daily_clicks"
    write_spec(airflow3, "code/live.yaml", spec(
        name, tz="Asia/Seoul", attempts=1,
        extra="parameters:\n  - {name: limit, type: int, default: 5}\n"
        "  - {name: fail, type: bool, default: false}\n"
        "  - {name: region, type: string, required: true}\n"))
    write_spec(airflow3, "manual/req.yaml", spec(
        "live.required", enabled=False, attempts=1,
        extra="parameters:\n  - {name: day, type: date, required: true}\n"))
    dag_id = dag_id_for(PREFIX, name)
    dag = wait_for_dag(airflow3, dag_id, timeout=120)
    assert dag["is_paused"] is False
    assert {t["name"] for t in dag["tags"]} == {TEAM, "source:code", "engineer@example.com"}
    assert dag["timetable_summary"] == "0 9 * * *"
    assert dag["next_dagrun_run_after"].endswith("T00:00:00Z")  # 09:00 in Asia/Seoul

    assert trigger(airflow3, dag_id, "ok_run", {"limit": 7, "region": "eu"}).status_code == 200
    assert trigger(airflow3, dag_id, "ok_run", {"region": "eu"}).status_code == 409  # run id taken
    assert trigger(airflow3, dag_id, "fail_run", {"fail": True, "region": "eu"}).status_code == 200
    # a scheduled DAG cannot make Airflow enforce a required param: `prepare` fails the run
    assert trigger(airflow3, dag_id, "no_region", {}).status_code == 200
    assert wait_for_run_state(airflow3, dag_id, "ok_run")["state"] == "success"
    assert wait_for_run_state(airflow3, dag_id, "fail_run")["state"] == "failed"
    assert wait_for_run_state(airflow3, dag_id, "no_region")["state"] == "failed"
    assert task_states(airflow3, dag_id, "fail_run") == {
        "prepare": "success", "run_query": "failed", "publish": "upstream_failed"}
    assert task_states(airflow3, dag_id, "no_region")["prepare"] == "failed"

    # a required param without default is enforced when the run is triggered
    req_id = dag_id_for(PREFIX, "live.required")
    wait_for_dag(airflow3, req_id, timeout=120)
    missing = trigger(airflow3, req_id, "missing_param", {})
    assert missing.status_code == 400, missing.text
    bad = trigger(airflow3, req_id, "bad_param", {"day": "not-a-date"})
    assert bad.status_code == 400, bad.text
    assert trigger(airflow3, req_id, "good_param", {"day": "2024-05-01"}).status_code == 200
    assert wait_for_run_state(airflow3, req_id, "good_param")["state"] == "success"


@pytest.mark.airflow2
def test_live_airflow2_runs(airflow2: AirflowServer) -> None:
    name = "live2.clicks"
    write_spec(airflow2, "code/live2.yaml", spec(
        name, attempts=1, extra="parameters:\n  - {name: limit, type: int, default: 5}\n"))
    write_spec(airflow2, "code/other.yaml", spec("live2.other", team="@marketing"))
    dag_id = dag_id_for(PREFIX, name)
    dag = wait_for_dag(airflow2, dag_id, timeout=120)
    assert dag["is_paused"] is False
    assert {t["name"] for t in dag["tags"]} == {TEAM, "source:code", "engineer@example.com"}
    with airflow2.client() as client:
        assert client.get(f"/api/v1/dags/{dag_id_for(PREFIX, 'live2.other')}").status_code == 404
    assert trigger(airflow2, dag_id, "ok_run", {"limit": 7}).status_code == 200
    assert trigger(airflow2, dag_id, "ok_run", {}).status_code == 409
    assert trigger(airflow2, dag_id, "bad_limit", {"limit": "x"}).status_code == 400
    assert trigger(airflow2, dag_id, "fail_run", {"fail": True}).status_code == 200
    assert wait_for_run_state(airflow2, dag_id, "ok_run")["state"] == "success"
    assert wait_for_run_state(airflow2, dag_id, "fail_run")["state"] == "failed"
    assert task_states(airflow2, dag_id, "fail_run")["run_query"] == "failed"

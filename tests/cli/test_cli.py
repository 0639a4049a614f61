"""The CLI end to end: config file → daemon --once → read commands, exit codes, JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from basecamp_cli.main import main
from daemon.store.db import connect
from daemon.store.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    SchemaMigration,
    current_version,
)
from daemon.store.models import Cluster, Workflow
from tests.specs import spec_yaml

PARAMS = (
    "parameters:\n"
    "  - {name: execution_date, type: date, required: true}\n"
    "  - {name: limit, type: int, default: 100}\n"
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config in ./basecamp.toml with a local spec folder holding a few specs."""
    specs = tmp_path / "specs"
    (specs / "code").mkdir(parents=True)
    (specs / "manual").mkdir()
    (specs / "code" / "clicks.yaml").write_bytes(spec_yaml("ds.clicks", parameters=PARAMS))
    (specs / "manual" / "ds.clicks.yaml").write_bytes(spec_yaml("ds.clicks", cron="0 8 * * *"))
    (specs / "manual" / "ds.adhoc.yaml").write_bytes(spec_yaml("ds.adhoc", team="@data-platform"))
    (tmp_path / "basecamp.toml").write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/store.db"\n'
        f'[storage]\npath = "{specs}"\n'
    )
    monkeypatch.chdir(tmp_path)
    assert main(["daemon", "--once"]) == 0
    return tmp_path


def add_unreachable_cluster(project: Path) -> None:
    """A cluster for @data-platform in the config; the daemon (which owns the cluster
    rows) takes it up on its next cycle."""
    with open(project / "basecamp.toml", "a") as config:
        config.write(
            '[[clusters]]\nname = "dp-airflow"\nteam = "@data-platform"\n'
            'url = "http://127.0.0.1:9"\ndag_name_prefix = "dp"\nauth = "none"\n'
            "timeout_seconds = 1\n"
        )
    main(["daemon", "--once"])  # exits 1: the cluster cannot be reached


def run_json(capsys, *argv: str) -> object:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def fails(capsys, code: int, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == code
    return capsys.readouterr().err


def test_list_json_has_the_spec_shape_and_global_options_go_anywhere(project, capsys):
    add_unreachable_cluster(project)
    before = run_json(capsys, "--format", "json", "workflow", "list")
    after = run_json(capsys, "workflow", "list", "--format", "json", "--config", "basecamp.toml")
    assert before == after
    assert [(r["dataset_name"], r["source_type"], r["status"]) for r in before] == [
        ("ds.adhoc", "manual", "active"),
        ("ds.clicks", "code", "active"),
        ("ds.clicks", "manual", "overridden"),
    ]
    assert set(before[0]) == {
        "dataset_name", "source_type", "status", "overridden_by", "cron", "timezone",
        "next_run", "team", "cluster", "dag_id", "owner", "spec_path", "spec_error", "last_run",
        "cluster_error",
    }
    adhoc = before[0]
    assert (adhoc["cluster"], adhoc["dag_id"]) == ("dp-airflow", "dp__ds.adhoc")
    assert adhoc["next_run"].endswith("Z")
    assert before[2]["overridden_by"] == "code" and before[2]["next_run"] is None


def test_list_filters(project, capsys):
    assert [r["source_type"] for r in run_json(capsys, "workflow", "list", "--source", "manual", "--format", "json")] == ["manual", "manual"]
    assert [r["dataset_name"] for r in run_json(capsys, "workflow", "list", "--team", "@data-platform", "--format", "json")] == ["ds.adhoc"]
    assert len(run_json(capsys, "workflow", "list", "--status", "overridden", "--format", "json")) == 1
    assert len(run_json(capsys, "workflow", "list", "-d", "click", "--limit", "1", "--format", "json")) == 1


def test_removed_workflows_only_with_all(project, capsys):
    (project / "specs" / "manual" / "ds.adhoc.yaml").unlink()
    assert main(["daemon", "--once"]) == 0
    names = [r["dataset_name"] for r in run_json(capsys, "workflow", "list", "--format", "json")]
    assert "ds.adhoc" not in names
    rows = run_json(capsys, "workflow", "list", "--all", "--format", "json")
    assert ("ds.adhoc", "removed") in [(r["dataset_name"], r["status"]) for r in rows]
    events = run_json(capsys, "events", "--kind", "workflow_removed", "--format", "json")
    assert [e["subject"] for e in events] == ["ds.adhoc"]
    assert set(events[0]) == {"id", "at", "kind", "severity", "subject", "message"}


def test_specs_errors_and_literal_rendering(project, capsys):
    bad = project / "specs" / "code" / "broken.yaml"
    bad.write_bytes(spec_yaml("ds.broken", cron="[red]oops[/red]"))
    assert main(["daemon", "--once"]) == 0
    rows = run_json(capsys, "specs", "--errors", "--format", "json")
    assert [r["path"] for r in rows] == ["code/broken.yaml"]
    assert set(rows[0]) == {"path", "source_type", "dataset_name", "state", "error", "warnings",
                            "size", "last_modified"}
    assert rows[0]["state"] == "invalid" and "cron" in rows[0]["error"]
    capsys.readouterr()
    assert main(["specs", "--errors"]) == 0
    assert "[red]oops[/red]" in capsys.readouterr().out  # shown literally, not as markup
    events = run_json(capsys, "events", "--since", "1h", "--format", "json")
    assert [e["kind"] for e in events] == ["spec_error"]


def test_action_validation_messages_and_exit_codes(project, capsys):
    assert "Dataset not found: nope" in fails(capsys, 4, "workflow", "run", "nope")
    assert "Dataset not found" in fails(capsys, 4, "workflow", "pause", "nope")
    assert ("Unknown parameter 'x'. Allowed parameters: execution_date (required), limit (optional)"
            in fails(capsys, 1, "workflow", "run", "ds.clicks", "-p", "execution_date=2024-01-01", "-p", "x=1"))
    assert "Missing required parameter: execution_date" in fails(capsys, 1, "workflow", "run", "ds.clicks")
    assert "Parameter 'limit' must be an int" in fails(
        capsys, 1, "workflow", "run", "ds.clicks", "-p", "execution_date=2024-01-01", "-p", "limit=x")
    # An overridden manual spec may be unregistered: valid, but no daemon is running.
    assert main(["workflow", "unregister", "ds.clicks", "--yes"]) == 3
    code_only = project / "specs" / "code" / "only.yaml"
    code_only.write_bytes(spec_yaml("ds.codeonly"))
    assert main(["daemon", "--once"]) == 0
    assert "This dataset is managed by Code (GitOps)." in fails(
        capsys, 1, "workflow", "unregister", "ds.codeonly", "--yes")


def test_run_dry_run_and_paused_refusal(project, capsys):
    assert "No cluster serves team @data-engineering" in fails(
        capsys, 1, "workflow", "run", "ds.clicks", "-p", "execution_date=2024-01-01", "--dry-run")
    assert main(["workflow", "run", "ds.adhoc", "--dry-run"]) == 1
    add_unreachable_cluster(project)
    capsys.readouterr()
    assert main(["workflow", "run", "ds.adhoc", "--dry-run"]) == 0
    assert "Dry run: would run ds.adhoc (manual spec) with parameters {}" in capsys.readouterr().out
    Workflow.update(is_paused=True, status="paused").where(Workflow.dataset_name == "ds.adhoc").execute()
    assert ("Workflow is paused. Unpause it first: basecamp workflow unpause ds.adhoc"
            in fails(capsys, 1, "workflow", "run", "ds.adhoc"))
    assert re.search(r"daemon not running \(last seen \d+ s ago\)\. Nothing was queued\.",
                     fails(capsys, 3, "workflow", "run", "ds.adhoc", "--force"))


def test_no_wait_queues_for_the_next_daemon_start(project, capsys, tmp_path):
    """SPEC §4: `daemon --once` from cron is supported, so --no-wait queues with no daemon
    running and says so; the next `daemon --once` carries the action out."""
    new = tmp_path / "new.yaml"
    new.write_bytes(spec_yaml("ds.new"))
    capsys.readouterr()
    assert main(["workflow", "register", str(new), "--yes", "--no-wait"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Queued action ") and "register ds.new" in out
    assert err.strip() == (
        "Note: daemon not running (last seen 0 s ago); the action runs when a daemon next "
        "starts (`basecamp daemon`, or `basecamp daemon --once`).")
    assert main(["daemon", "--once"]) == 0
    assert (project / "specs" / "manual" / "ds.new.yaml").exists()
    [row] = run_json(capsys, "workflow", "list", "-d", "ds.new", "--format", "json")
    assert (row["source_type"], row["status"]) == ("manual", "active")
    # A command that waits still refuses and queues nothing.
    other = tmp_path / "other.yaml"
    other.write_bytes(spec_yaml("ds.other"))
    assert "Nothing was queued." in fails(capsys, 3, "workflow", "register", str(other), "--yes")
    assert main(["daemon", "--once"]) == 0
    assert not (project / "specs" / "manual" / "ds.other.yaml").exists()


def test_register_checks_name_and_code_conflict(project, capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(spec_yaml("bad name!"))
    assert "name" in fails(capsys, 1, "workflow", "register", str(bad))
    shadowed = tmp_path / "shadowed.yaml"
    shadowed.write_bytes(spec_yaml("ds.codeonly"))
    (project / "specs" / "code" / "only.yaml").write_bytes(spec_yaml("ds.codeonly"))
    assert main(["daemon", "--once"]) == 0
    err = fails(capsys, 3, "workflow", "register", str(shadowed), "--yes")
    assert "Your Manual registration will be overridden by Code." in err
    existing = tmp_path / "existing.yaml"
    existing.write_bytes(spec_yaml("ds.adhoc"))
    assert "Use --force" in fails(capsys, 1, "workflow", "register", str(existing))
    assert main(["workflow", "register", str(existing), "--force"]) == 3


def test_failed_spec_store_and_bad_config_exit_1_with_a_message(project, capsys):
    (project / "specs").rename(project / "elsewhere")
    assert "does not exist" in fails(capsys, 1, "daemon", "--once")
    (project / "basecamp.toml").write_text('[sync]\nspec_interval_seconds = "soon"\n')
    assert "basecamp.toml:2" in fails(capsys, 1, "workflow", "list")


def test_usage_error_exits_2(project, capsys):
    assert main(["workflow", "list", "--bogus"]) == 2
    assert main(["workflow", "backfill", "ds.clicks", "-s", "2024-13-01", "-e", "2024-01-02"]) == 2


def test_mass_removal_needs_the_flag(project, capsys):
    for path in (project / "specs").rglob("*.yaml"):
        path.unlink()
    assert "Refused to remove 3 of 3" in fails(capsys, 1, "daemon", "--once")
    assert main(["daemon", "--once", "--allow-mass-removal"]) == 0
    assert run_json(capsys, "workflow", "list", "--format", "json") == []


def test_db_upgrade_reports_the_version(project, capsys):
    capsys.readouterr()
    assert main(["db", "upgrade"]) == 0
    assert f"up to date (version {LATEST_VERSION})" in capsys.readouterr().out


def test_unknown_keys_are_kept_but_warned_about(project, capsys):
    path = project / "specs" / "manual" / "ds.adhoc.yaml"
    path.write_bytes(path.read_bytes() + b"colour: blue\n")
    assert main(["daemon", "--once"]) == 0
    rows = run_json(capsys, "specs", "--format", "json")
    adhoc = next(r for r in rows if r["dataset_name"] == "ds.adhoc")
    assert adhoc["state"] == "valid" and any("colour" in w for w in adhoc["warnings"])
    capsys.readouterr()
    assert main(["specs"]) == 0
    assert "colour" in capsys.readouterr().out


def _add_run(dataset: str, dag_run_id: str, status: str, minutes_ago: int) -> None:
    from datetime import datetime, timedelta, timezone

    from daemon.store.models import Run, TaskInstance

    start = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    row = Run.create(
        cluster="dp-airflow", dag_id=f"dp__{dataset}", dag_run_id=dag_run_id, dataset_name=dataset,
        status=status, airflow_state=status.lower(), run_type="manual", triggered_by="rest_api",
        started_at=start, ended_at=start + timedelta(seconds=90) if status != "RUNNING" else None,
        total=3, succeeded=3 if status == "SUCCESS" else 1, running=1 if status == "RUNNING" else 0,
        current_task="run_query" if status == "RUNNING" else None,
    )
    TaskInstance.create(run_id=row.id, task_id="prepare", state="success", try_number=1,
                        started_at=start, ended_at=start + timedelta(seconds=5), duration_seconds=5.0)


def test_history_status_and_running(project, capsys):
    _add_run("ds.adhoc", "scheduled__1", "SUCCESS", 60)
    _add_run("ds.adhoc", "manual__2", "RUNNING", 5)
    runs = run_json(capsys, "workflow", "history", "--format", "json")
    assert [r["run_id"] for r in runs] == ["ds.adhoc/manual__2", "ds.adhoc/scheduled__1"]
    assert {"run_id", "dataset_name", "cluster", "dag_id", "dag_run_id", "status", "airflow_state",
            "run_type", "triggered_by", "started_at", "ended_at", "duration_seconds", "progress"} <= set(runs[0])
    assert runs[1]["duration_seconds"] == 90.0 and runs[1]["progress"]["succeeded"] == 3
    assert [r["status"] for r in run_json(capsys, "workflow", "history", "-s", "success", "--format", "json")] == ["SUCCESS"]
    detail = run_json(capsys, "workflow", "status", "manual__2", "--format", "json")
    assert detail["run_id"] == "ds.adhoc/manual__2"
    task = detail["tasks"][0]
    assert task == {"task_id": "prepare", "state": "success", "try_number": 1,
                    "started_at": task["started_at"], "ended_at": task["ended_at"],
                    "duration_seconds": 5.0, "queued_at": None,
                    "tries": [{"try_number": 1, "state": "success", "queued_at": None,
                               "started_at": task["started_at"],
                               "ended_at": task["ended_at"], "duration_seconds": 5.0}]}
    assert "Run not found" in fails(capsys, 4, "workflow", "status", "ds.adhoc/nope")
    listed = run_json(capsys, "workflow", "list", "--running", "--format", "json")
    assert [r["dataset_name"] for r in listed] == ["ds.adhoc"]
    assert listed[0]["last_run"]["run_id"] == "ds.adhoc/manual__2"


def test_history_marks_a_slow_run(project, capsys):
    from daemon.store.models import Run

    _add_run("ds.adhoc", "scheduled__1", "SUCCESS", 60)
    _add_run("ds.adhoc", "manual__2", "RUNNING", 5)
    _add_run("ds.adhoc", "manual__3", "SUCCESS", 30)
    Run.update(slow=True).where(Run.dag_run_id.in_(["scheduled__1", "manual__2"])).execute()
    capsys.readouterr()
    assert main(["workflow", "history"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "1m 30s (slow)" in lines["ds.adhoc/scheduled__1"]
    assert "(slow)" in lines["ds.adhoc/manual__2"]
    assert "1m 30s" in lines["ds.adhoc/manual__3"] and "slow" not in lines["ds.adhoc/manual__3"]
    runs = run_json(capsys, "workflow", "history", "--format", "json")
    assert {r["run_id"]: r["slow"] for r in runs} == {
        "ds.adhoc/scheduled__1": True, "ds.adhoc/manual__2": True, "ds.adhoc/manual__3": False}


def test_clusters_and_a_team_without_cluster(project, capsys):
    add_unreachable_cluster(project)
    assert "dp-airflow" in fails(capsys, 1, "daemon", "--once")
    rows = run_json(capsys, "clusters", "--format", "json")
    assert [r["name"] for r in rows] == ["dp-airflow"]
    assert {"name", "team", "url", "api_version", "airflow_version", "healthy", "last_ok_at",
            "last_error", "latency_ms"} <= set(rows[0])
    assert rows[0]["healthy"] is False and "dp-airflow" in rows[0]["last_error"]
    clicks = [r for r in run_json(capsys, "workflow", "list", "--format", "json") if r["dataset_name"] == "ds.clicks"]
    assert "No cluster serves team @data-engineering" in clicks[0]["cluster_error"]
    capsys.readouterr()
    assert main(["workflow", "list"]) == 0
    assert capsys.readouterr().out.count("! No cluster serves team @data-engineering") == 1


def test_config_check_reaches_everything_and_names_what_failed(project, capsys):
    checks = {r["check"]: r for r in run_json(capsys, "config", "check", "--format", "json")}
    assert checks["store"]["ok"] and "schema version" in checks["store"]["detail"]
    assert checks["spec store"]["detail"] == "3 spec files listed"
    add_unreachable_cluster(project)
    capsys.readouterr()
    assert main(["config", "check"]) == 1
    out, err = capsys.readouterr()
    assert "cluster dp-airflow  FAILED" in out and "127.0.0.1:9" in out
    assert "1 check(s) failed: cluster dp-airflow" in err
    (project / "basecamp.toml").write_text("[sync]\nbogus = 1\n")
    assert "basecamp.toml:2: [sync] unknown key 'bogus'" in fails(capsys, 1, "config", "check")


def test_daemon_logs_json_lines(project, capsys):
    import logging

    from basecamp_cli.main import configure_logging

    configure_logging(0, "json")
    try:
        logging.getLogger("daemon.test").warning("hello %s", "[red]x")
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (line["level"], line["logger"], line["message"]) == ("warning", "daemon.test", "hello [red]x")
        assert line["ts"].endswith("Z")
    finally:
        configure_logging(0, "text")


def test_a_cli_whose_config_holds_only_the_database_queues_actions(project, capsys):
    """Readers never write: a laptop's config with nothing but [database] (a shared
    store) leaves the daemon's clusters configured, so its actions are accepted."""
    add_unreachable_cluster(project)  # the daemon's config: it configures clusters
    laptop = project / "laptop.toml"
    laptop.write_text(f'[database]\nurl = "sqlite:///{project}/store.db"\n')
    capsys.readouterr()
    assert main(["--config", str(laptop), "workflow", "pause", "ds.adhoc", "--no-wait"]) == 0
    assert "Queued action" in capsys.readouterr().out
    assert main(["--config", str(laptop), "clusters"]) == 0
    assert "dp-airflow" in capsys.readouterr().out
    assert [(c.name, c.configured) for c in Cluster.select()] == [("dp-airflow", True)]


def test_readers_do_not_create_or_upgrade_a_schema(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/store.db"
    (tmp_path / "basecamp.toml").write_text(f'[database]\nurl = "{url}"\n')
    assert "has no schema yet: start the daemon" in fails(capsys, 1, "workflow", "list")
    db = connect(url)
    with db.bind_ctx([SchemaMigration]):
        db.create_tables([SchemaMigration])
        for version, migration in enumerate(MIGRATIONS[:-1], start=1):
            migration.up(db)
            SchemaMigration.create(version=version)
    behind = LATEST_VERSION - 1
    assert (f"is at schema version {behind}, this basecamp needs {LATEST_VERSION}: run "
            "`basecamp db upgrade`") in fails(capsys, 1, "workflow", "list")
    assert current_version(db) == behind
    assert main(["db", "upgrade"]) == 0
    assert main(["workflow", "list"]) == 0


def test_empty_tables_say_why_and_what_to_do_next(project, capsys):
    capsys.readouterr()
    assert main(["clusters"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("No Airflow cluster is configured.")
    assert 'url = "https://airflow.example.com"' in out and "`basecamp demo`" in out
    assert main(["workflow", "history"]) == 0
    assert capsys.readouterr().out.startswith("No Airflow cluster is configured.")
    assert main(["workflow", "history", "-d", "ds.none"]) == 0
    assert capsys.readouterr().out.strip() == "No runs match."
    add_unreachable_cluster(project)
    capsys.readouterr()
    assert main(["workflow", "history"]) == 0
    assert re.search(r"^No runs synced:\ndp-airflow: never reached: cannot reach Airflow cluster "
                     "dp-airflow", capsys.readouterr().out)


def test_a_task_waiting_for_input_shows_in_status_and_is_answered(project, capsys):
    from daemon.store.models import Action, HitlRequest

    add_unreachable_cluster(project)
    _add_run("ds.adhoc", "manual__2", "RUNNING", 5)
    HitlRequest.create(cluster="dp-airflow", dag_id="dp__ds.adhoc", dag_run_id="manual__2",
                       task_id="publish", subject="Publish [b]now[/b]?",
                       body="rows: 12\x1b[31m red\x1b[0m", options=["Approve", "Reject"],
                       params={"reason": {"value": "", "schema": {"type": "string"}}})
    capsys.readouterr()
    assert main(["workflow", "status", "ds.adhoc/manual__2"]) == 0
    out = capsys.readouterr().out
    assert "waiting for input" in out
    assert "Task publish waits for input: Publish [b]now[/b]?" in out
    assert "  rows: 12 red" in out and "\x1b" not in out
    assert "basecamp workflow respond ds.adhoc/manual__2 publish --option Approve" in out
    detail = run_json(capsys, "workflow", "status", "manual__2", "--format", "json")
    assert detail["waiting_for_input"] is True
    assert detail["input_requests"][0]["options"] == ["Approve", "Reject"]
    assert detail["input_requests"][0]["params"] == {"reason": ""}

    assert "offers Approve, Reject, not Ship" in fails(
        capsys, 1, "workflow", "respond", "ds.adhoc/manual__2", "publish", "--option", "Ship")
    assert "Give the answer with --option (Approve, Reject)" in fails(
        capsys, 1, "workflow", "respond", "ds.adhoc/manual__2", "publish", "--no-wait")
    assert main(["workflow", "respond", "ds.adhoc/manual__2", "publish", "--option", "approve",
                 "-p", "reason=looks fine", "--no-wait"]) == 0
    queued = Action.get(Action.kind == "respond")
    assert (queued.target, queued.params) == ("ds.adhoc/manual__2", {
        "task_id": "publish", "map_index": -1, "options": ["Approve"],
        "params": {"reason": "looks fine"}})


def test_clear_and_mark_take_several_runs(project, capsys):
    from daemon.store.models import Action

    add_unreachable_cluster(project)
    _add_run("ds.adhoc", "manual__1", "FAILED", 9)
    _add_run("ds.adhoc", "manual__2", "FAILED", 5)
    assert "--no-wait needs --yes" in fails(capsys, 1, "workflow", "clear", "manual__1", "--no-wait")
    assert main(["workflow", "clear", "manual__1", "manual__2", "--yes", "--no-wait"]) == 0
    assert main(["workflow", "mark", "manual__1", "manual__2", "success", "--task", "prepare",
                 "--yes", "--no-wait"]) == 0
    queued = [(a.kind, a.target, a.params) for a in Action.select().order_by(Action.id)]
    assert queued == [
        ("clear", f"ds.adhoc/manual__{n}", {"task_ids": None, "failed_only": True,
                                             "downstream": True, "dry_run": False}) for n in (1, 2)
    ] + [("mark", f"ds.adhoc/manual__{n}", {"state": "success", "task_id": "prepare",
                                            "map_index": -1}) for n in (1, 2)]
    assert "give one or more RUN_IDs, then success or failed" in fails(
        capsys, 2, "workflow", "mark", "manual__1", "done")
    assert "has no task nope" in fails(
        capsys, 1, "workflow", "mark", "manual__1", "failed", "--task", "nope", "--yes")

"""The action queue: validation at enqueue (SPEC §2 rules and messages), execution
against the simulated Airflow 3 API, idempotency and crash recovery."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest

from daemon.actions import enqueue
from daemon.actions.context import ExecContext
from daemon.actions.executor import ActionExecutor
from daemon.actions.permissions import GITOPS, OVERRIDDEN_RUN
from daemon.airflow import AirflowClient
from daemon.core.config import ClusterConfig, parse_config
from daemon.core.errors import NotFoundError, UserError
from daemon.spec_store import LocalSpecStore
from daemon.spec_sync import SpecSync
from daemon.store.clusters import upsert_clusters
from daemon.store.models import Action, Event, Run, Workflow
from tests.sim_airflow import SimAirflow
from tests.specs import spec_yaml

PARAMS = (
    "parameters:\n"
    "  - {name: execution_date, type: date, required: true}\n"
    "  - {name: limit, type: int, required: false, default: 100}\n"
)
CLUSTER = ClusterConfig(name="sim", team="@t", url="http://sim.test", dag_name_prefix="bc",
                        api_version="v2", auth="jwt", username="admin", password_env="SIM_PASSWORD")


@pytest.fixture
def specs(tmp_path: Path) -> LocalSpecStore:
    root = tmp_path / "specs"
    for folder in ("code", "manual"):
        (root / folder).mkdir(parents=True)
    files = {
        "code/both.yaml": spec_yaml("ds.both", team="@t"),
        "manual/ds.both.yaml": spec_yaml("ds.both", team="@t", cron="0 8 * * *"),
        "code/code_only.yaml": spec_yaml("ds.code", team="@t", parameters=PARAMS),
        "manual/ds.manual.yaml": spec_yaml("ds.manual", team="@t"),
    }
    for key, data in files.items():
        (root / key).write_bytes(data)
    return LocalSpecStore(root)


@pytest.fixture
def env(store, specs, monkeypatch):
    """(sim, context, executor): a store synced from ``specs`` and a simulated cluster."""
    monkeypatch.setenv("SIM_PASSWORD", "admin")
    upsert_clusters([CLUSTER])
    sync = SpecSync(store, specs, max_spec_bytes=65536, max_delete_fraction=1.0)
    assert sync.run().ok
    sim = SimAirflow()
    for name in ("ds.both", "ds.code", "ds.manual"):
        sim.add_dag(f"bc__{name}")
    client = AirflowClient(CLUSTER, transport=sim.transport(), sleep=lambda s: None)
    config = dataclasses.replace(parse_config("", None), clusters=(CLUSTER,))
    ctx = ExecContext(config=config, clients={"sim": client}, spec_store=specs,
                      sync_specs=sync.run, sync_runs=lambda cluster: [], poll_seconds=0.01)
    yield sim, ctx, ActionExecutor(ctx, "test-daemon")
    client.close()


def carry_out(executor: ActionExecutor, action: Action) -> Action:
    claimed = executor.claim(action.id)
    assert claimed is not None
    executor.execute(claimed)
    return Action.get_by_id(action.id)


# --- permissions and validation at enqueue (SPEC §2) -------------------------------------


def test_overridden_manual_may_not_run_or_pause(env):
    with pytest.raises(UserError, match=OVERRIDDEN_RUN):
        enqueue("run", "ds.both", source_type="manual")
    with pytest.raises(UserError, match="This dataset is overridden by Code. Pause/unpause acts on the "
                                        "Code version; to re-activate the Manual version, delete the "
                                        r"Code spec \(code/both.yaml\) in Git."):
        enqueue("pause", "ds.both", source_type="manual")
    with pytest.raises(UserError, match=OVERRIDDEN_RUN):
        enqueue("backfill", "ds.both", source_type="manual", params={"start": "2024-01-01", "end": "2024-01-02"})


def test_code_spec_may_be_paused_but_not_unregistered(env):
    assert enqueue("pause", "ds.code").state == "pending"
    with pytest.raises(UserError) as info:
        enqueue("unregister", "ds.code")
    assert str(info.value) == GITOPS


def test_overridden_manual_may_be_unregistered(env):
    action = enqueue("unregister", "ds.both")
    assert (action.kind, action.target) == ("unregister", "ds.both")


def test_unknown_dataset_is_not_found(env):
    with pytest.raises(NotFoundError, match="Dataset not found: nope. Register first"):
        enqueue("pause", "nope")


@pytest.mark.parametrize(("given", "message"), [
    ({"x": "1", "execution_date": "2024-01-01"},
     "Unknown parameter 'x'. Allowed parameters: execution_date (required), limit (optional)"),
    ({}, "Missing required parameter: execution_date"),
    ({"execution_date": "2024-01-01", "limit": "ten"}, "limit"),
    ({"execution_date": "01/02/2024"}, "execution_date"),
])
def test_parameters_are_strict(env, given, message):
    with pytest.raises(UserError) as info:
        enqueue("run", "ds.code", params={"parameters": given})
    assert message in str(info.value)
    assert Action.select().count() == 0


def test_paused_workflow_runs_only_with_force(env):
    Workflow.update(is_paused=True, status="paused").where(Workflow.dataset_name == "ds.manual").execute()
    with pytest.raises(UserError, match="Workflow is paused. Unpause it first: basecamp workflow unpause ds.manual"):
        enqueue("run", "ds.manual")
    assert enqueue("run", "ds.manual", params={"force": True}).state == "pending"


def test_a_team_without_cluster_is_refused_at_enqueue(env):
    upsert_clusters([])
    with pytest.raises(UserError, match="No cluster serves team @t"):
        enqueue("pause", "ds.code")


def test_backfill_dates_are_checked(env):
    with pytest.raises(UserError, match="is after end"):
        enqueue("backfill", "ds.manual", params={"start": "2024-01-05", "end": "2024-01-01"})
    with pytest.raises(UserError, match="YYYY-MM-DD"):
        enqueue("backfill", "ds.manual", params={"start": "yesterday", "end": "2024-01-01"})


# --- execution ---------------------------------------------------------------------------


def test_pause_and_unpause_show_in_the_store_at_once(env):
    sim, _, executor = env
    done = carry_out(executor, enqueue("pause", "ds.code", reason="bad data upstream"))
    assert (done.state, done.message) == ("done", "Paused ds.code (bc__ds.code on sim).")
    assert sim.dags["bc__ds.code"] is True
    row = Workflow.get(Workflow.dataset_name == "ds.code")
    assert (row.status, row.is_paused, row.next_run) == ("paused", True, None)
    again = carry_out(executor, enqueue("pause", "ds.code"))
    assert (again.state, again.message) == ("done", "ds.code is already paused; nothing to do.")
    assert again.result["changed"] is False
    carry_out(executor, enqueue("unpause", "ds.code"))
    row = Workflow.get(Workflow.dataset_name == "ds.code")
    assert (row.status, row.is_paused, sim.dags["bc__ds.code"]) == ("active", False, False)
    assert row.next_run is not None
    assert Event.select().where(Event.kind == "action").count() == 3


def test_run_triggers_with_typed_conf_and_a_basecamp_run_id(env):
    sim, _, executor = env
    done = carry_out(executor, enqueue("run", "ds.code", params={"parameters": {"execution_date": "2024-01-15"}}))
    assert done.state == "done", done.message
    run_id = done.result["run_id"]
    assert done.message == f"Run started: {run_id}"
    dag_run_id = run_id.split("/", 1)[1]
    assert dag_run_id.startswith("adhoc__") and len(dag_run_id) == len("adhoc__20240101T000000")
    assert sim.runs[("bc__ds.code", dag_run_id)].conf == {"execution_date": "2024-01-15", "limit": 100}
    assert Run.get(Run.dag_run_id == dag_run_id).status == "PENDING"  # in the store at once


def test_run_ids_taken_in_the_same_second_get_a_suffix(env):
    sim, ctx, executor = env
    fixed = datetime(2024, 1, 15, 9, 30, 45, tzinfo=timezone.utc)
    ctx.clock = lambda: fixed
    first = carry_out(executor, enqueue("run", "ds.manual"))
    second = carry_out(executor, enqueue("run", "ds.manual"))
    assert first.result["dag_run_id"] == "adhoc__20240115T093045"
    assert second.result["dag_run_id"] == "adhoc__20240115T093045_2"
    # Someone else's run holding the next id (not in the store yet): a 409 with another conf.
    sim.add_run("bc__ds.manual", "adhoc__20240115T093045_3", "queued", ["prepare"]).conf = {"other": 1}
    third = carry_out(executor, enqueue("run", "ds.manual"))
    assert third.result["dag_run_id"] == "adhoc__20240115T093045_4"


def test_a_claimed_run_whose_daemon_died_is_triggered_once(env):
    sim, ctx, executor = env
    action = enqueue("run", "ds.manual")
    # The first daemon claimed it, chose the id, sent the POST, and died before recording.
    dead = ActionExecutor(ctx, "dead-daemon")
    claimed = dead.claim(action.id)
    Action.update(checkpoint={"dag_run_id": "adhoc__20240101T000000"}).where(Action.id == action.id).execute()
    sim.add_run("bc__ds.manual", "adhoc__20240101T000000", "running", ["prepare"])
    assert claimed is not None and Action.get_by_id(action.id).state == "running"
    assert executor.recover() == 1
    done = carry_out(executor, Action.get_by_id(action.id))
    assert (done.state, done.attempts) == ("done", 2)
    assert done.result["dag_run_id"] == "adhoc__20240101T000000"
    assert [k for k in sim.runs if k[0] == "bc__ds.manual"] == [("bc__ds.manual", "adhoc__20240101T000000")]


def test_stop_marks_the_run_stopped_and_a_finished_run_is_a_no_op(env):
    sim, ctx, executor = env
    started = carry_out(executor, enqueue("run", "ds.manual"))
    run_id = started.result["run_id"]
    sim.touch(sim.runs[("bc__ds.manual", started.result["dag_run_id"])], state="running")
    stopped = carry_out(executor, enqueue("stop", run_id, reason="wrong date"))
    assert stopped.state == "done", stopped.message
    assert sim.runs[("bc__ds.manual", started.result["dag_run_id"])].state == "failed"
    assert Run.get(Run.dag_run_id == started.result["dag_run_id"]).status == "STOPPED"
    again = carry_out(executor, enqueue("stop", run_id))
    assert again.state == "done"
    assert again.message == f"Run {run_id} already finished (failed); nothing to stop."


def test_execution_validates_again(env, specs):
    _, ctx, executor = env
    action = enqueue("run", "ds.manual")
    # A code spec for the same name arrives before the daemon gets to the action.
    (Path(specs.root) / "code" / "m.yaml").write_bytes(spec_yaml("ds.manual", team="@t"))
    ctx.sync_specs()
    Action.update(source_type="manual").where(Action.id == action.id).execute()
    done = carry_out(executor, Action.get_by_id(action.id))
    assert (done.state, done.message) == ("rejected", OVERRIDDEN_RUN)


def test_cluster_errors_fail_the_action_with_the_cluster_named(env):
    sim, _, executor = env
    sim.down = True
    done = carry_out(executor, enqueue("pause", "ds.code"))
    assert done.state == "failed"
    assert "sim" in done.message and Workflow.get(Workflow.dataset_name == "ds.code").is_paused is None


def test_register_writes_the_manual_file_and_syncs_it(env, specs):
    _, _, executor = env
    text = spec_yaml("ds.new", team="@t").decode()
    done = carry_out(executor, enqueue("register", "ds.new", params={"spec_yaml": text}))
    assert done.state == "done", done.message
    assert done.message == "Registered ds.new (manual/ds.new.yaml); status active."
    assert (Path(specs.root) / "manual" / "ds.new.yaml").read_text() == text
    assert Workflow.get(Workflow.dataset_name == "ds.new").status == "active"
    with pytest.raises(UserError, match="already registered .* Use --force"):
        enqueue("register", "ds.new", params={"spec_yaml": text})
    updated = carry_out(executor, enqueue("register", "ds.new", params={"spec_yaml": text.replace("0 9", "0 7"), "force": True}))
    assert updated.message.startswith("Updated ds.new") and Workflow.get(Workflow.dataset_name == "ds.new").cron == "0 7 * * *"


def test_register_rejects_an_invalid_spec_with_its_line(env):
    with pytest.raises(UserError, match=r"Invalid spec:\n  x.yaml: owner is required"):
        enqueue("register", "", params={"spec_yaml": "name: ok\ntype: Dataset\n", "file": "x.yaml"})


def test_unregister_pauses_the_dag_and_deletes_the_file(env, specs):
    sim, _, executor = env
    done = carry_out(executor, enqueue("unregister", "ds.manual"))
    assert done.state == "done", done.message
    assert done.message == "Unregistered ds.manual: deleted manual/ds.manual.yaml, paused bc__ds.manual on sim."
    assert sim.dags["bc__ds.manual"] is True
    assert not (Path(specs.root) / "manual" / "ds.manual.yaml").exists()
    assert Workflow.get(Workflow.dataset_name == "ds.manual").status == "removed"


def test_unregister_keeps_the_file_when_the_dag_cannot_be_paused(env, specs):
    sim, _, executor = env
    sim.down = True
    done = carry_out(executor, enqueue("unregister", "ds.manual"))
    assert done.state == "failed" and "Nothing was deleted" in done.message
    assert (Path(specs.root) / "manual" / "ds.manual.yaml").exists()
    forced = carry_out(executor, enqueue("unregister", "ds.manual", params={"force": True}))
    assert forced.state == "done" and "could not pause" in forced.message


def test_unregister_of_an_overridden_manual_spec_leaves_the_code_dag_alone(env, specs):
    sim, _, executor = env
    done = carry_out(executor, enqueue("unregister", "ds.both"))
    assert done.state == "done" and sim.dags["bc__ds.both"] is False
    assert Workflow.get((Workflow.dataset_name == "ds.both") & (Workflow.source_type == "code")).status == "active"


def test_backfill_dry_run_lists_the_logical_dates(env):
    sim, _, executor = env
    done = carry_out(executor, enqueue("backfill", "ds.manual", params={
        "start": "2024-01-01", "end": "2024-01-03", "dry_run": True}))
    assert done.state == "done", done.message
    assert done.result["logical_dates"] == ["2024-01-01T09:00:00Z", "2024-01-02T09:00:00Z", "2024-01-03T09:00:00Z"]
    assert not [k for k in sim.runs if k[0] == "bc__ds.manual"]


def test_a_released_action_goes_back_to_the_queue(env):
    _, ctx, executor = env
    action = enqueue("backfill", "ds.manual", params={"start": "2024-01-01", "end": "2024-01-02"})
    ctx.stop.set()
    carry_out(executor, action)
    assert Action.get_by_id(action.id).state in ("pending", "failed")


def test_two_executors_never_claim_the_same_action(env):
    _, ctx, executor = env
    action = enqueue("pause", "ds.code")
    other = ActionExecutor(ctx, "other")
    results = []
    threads = [threading.Thread(target=lambda e=e: results.append(e.claim(action.id))) for e in (executor, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results) == 1

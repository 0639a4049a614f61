"""``fetch_log`` against the simulated Airflow 3 log endpoint: the whole tail first, then
(``follow``) only the new part through Airflow's continuation token, appended within
``daemon.log_tail_bytes``; a stale token, a finished try and a lost race."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

import pytest

from daemon.actions import enqueue
from daemon.actions.context import ExecContext
from daemon.actions.executor import ActionExecutor
from daemon.airflow import AirflowClient
from daemon.core.config import ClusterConfig, parse_config
from daemon.read.runs import log_fetch_open
from daemon.spec_store import LocalSpecStore
from daemon.store.clusters import upsert_clusters
from daemon.store.models import Action, Event, Run, TaskInstance, TaskLog
from tests.sim_airflow import SimAirflow

CLUSTER = ClusterConfig(name="sim", team="@t", url="http://sim.test", dag_name_prefix="bc",
                        api_version="v2", auth="none")
DAG, RUN = "bc__ds.a", "scheduled__2024-01-01"
RUN_ID = f"ds.a/{RUN}"
NOW = datetime(2024, 1, 1, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def env(store, tmp_path: Path):
    """(sim, carry_out): a running run whose task ``work`` runs its second try."""
    upsert_clusters([CLUSTER])
    sim = SimAirflow(clock=lambda: NOW)
    sim.add_dag(DAG)
    sim.add_run(DAG, RUN, "running", ["work"], task_state="running")
    sim.tasks[(DAG, RUN)][0].try_number = 2
    run = Run.create(cluster="sim", dag_id=DAG, dag_run_id=RUN, dataset_name="ds.a",
                     status="RUNNING", started_at=NOW)
    TaskInstance.create(run_id=run.id, task_id="work", state="running", try_number=2,
                        started_at=NOW)
    client = AirflowClient(CLUSTER, transport=sim.transport(), sleep=lambda s: None)
    base = parse_config("", None)
    config = dataclasses.replace(base, clusters=(CLUSTER,),
                                 daemon=dataclasses.replace(base.daemon, log_tail_bytes=200))
    ctx = ExecContext(config=config, clients={"sim": client}, spec_store=LocalSpecStore(tmp_path),
                      sync_specs=lambda: None, sync_runs=lambda cluster: [], clock=lambda: NOW)
    executor = ActionExecutor(ctx, "test-daemon")

    def carry_out(**params: object) -> Action:
        action = enqueue("fetch_log", RUN_ID, params={"task_id": "work", "try_number": 2,
                                                      **params})
        claimed = executor.claim(action.id)
        assert claimed is not None
        executor.execute(claimed)
        done = Action.get_by_id(action.id)
        assert done.state == "done", done.error or done.message
        return done

    yield sim, carry_out
    client.close()


def stored() -> TaskLog:
    return TaskLog.get(TaskLog.task_id == "work", TaskLog.try_number == 2)


def log_requests(sim: SimAirflow) -> int:
    return sum(n for route, n in sim.requests.items() if "/logs/" in route)


def test_follow_appends_only_the_new_part(env):
    sim, carry_out = env
    sim.write_log(DAG, RUN, "work", 2, "one", "two")
    carry_out()  # `l`: the whole log, and the token to go on from
    assert (stored().content, stored().continuation_token) == ("INFO - one\nINFO - two",
                                                               "sim-log:2")
    sim.write_log(DAG, RUN, "work", 2, "three")
    done = carry_out(follow=True)
    assert stored().content == "INFO - one\nINFO - two\nINFO - three"
    assert stored().continuation_token == "sim-log:3"
    assert done.result["appended"] is True and done.result["chars"] == len("INFO - three")
    nothing = carry_out(follow=True)  # nothing new: the same text, fetched again
    assert stored().content.count("three") == 1 and nothing.result["chars"] == 0
    # The try ends: its last lines come with no token (the log is complete).
    sim.write_log(DAG, RUN, "work", 2, "done")
    sim.tasks[(DAG, RUN)][0].state = "success"
    carry_out(follow=True)
    assert stored().content.endswith("INFO - three\nINFO - done")
    assert stored().continuation_token is None
    carry_out(follow=True)  # no token: the whole log again, not a duplicate
    assert stored().content == "INFO - one\nINFO - two\nINFO - three\nINFO - done"
    assert log_requests(sim) == 5
    assert Event.select().count() == 1  # follow fetches are routine reads, not events


def test_a_follow_without_a_stored_log_fetches_it_whole(env):
    sim, carry_out = env
    sim.write_log(DAG, RUN, "work", 2, "one")
    carry_out(follow=True)
    assert (stored().content, stored().continuation_token) == ("INFO - one", "sim-log:1")


def test_appended_text_stays_within_the_tail_limit(env):
    sim, carry_out = env
    sim.write_log(DAG, RUN, "work", 2, *(f"early line {i:02}" for i in range(5)))
    carry_out()
    assert stored().truncated is False
    sim.write_log(DAG, RUN, "work", 2, *(f"later line {i:02}" for i in range(20)))
    carry_out(follow=True)
    row = stored()
    assert len(row.content.encode()) <= 200 and row.truncated is True
    assert row.content.endswith("INFO - later line 19") and "early" not in row.content
    assert row.content.startswith("INFO - later line")  # cut at a line start


def test_a_token_the_server_refuses_falls_back_to_the_whole_log(env):
    sim, carry_out = env
    sim.write_log(DAG, RUN, "work", 2, "one", "two")
    carry_out()
    TaskLog.update(continuation_token="signed-by-another-key").execute()
    carry_out(follow=True)
    assert (stored().content, stored().continuation_token) == ("INFO - one\nINFO - two",
                                                               "sim-log:2")


def test_a_fetch_that_lost_the_race_appends_nothing(env, monkeypatch):
    """Two fetches of the same try with the same token: the second finds the token
    changed (the compare-and-set) and leaves the text alone."""
    sim, carry_out = env
    sim.write_log(DAG, RUN, "work", 2, "one")
    carry_out()
    sim.write_log(DAG, RUN, "work", 2, "two")
    real = AirflowClient.task_log_chunk

    def racing(self, *args, **kwargs):
        chunk = real(self, *args, **kwargs)
        TaskLog.update(continuation_token="sim-log:2",
                       content="INFO - one\nINFO - two").execute()  # the other fetch won
        return chunk

    monkeypatch.setattr(AirflowClient, "task_log_chunk", racing)
    done = carry_out(follow=True)
    assert done.result["appended"] is False
    assert stored().content == "INFO - one\nINFO - two"


def test_an_open_fetch_of_the_task_is_seen(env):
    _, _ = env
    assert not log_fetch_open(RUN_ID, "work", -1)
    enqueue("fetch_log", RUN_ID, params={"task_id": "work", "try_number": 2, "map_index": -1,
                                         "follow": True})
    assert log_fetch_open(RUN_ID, "work", -1)
    assert not log_fetch_open(RUN_ID, "work", 0)
    assert not log_fetch_open(RUN_ID, "other", -1)

"""A person approves a run, through basecamp, on a real Airflow 3.3: the spec's
``approval`` becomes an approval task (DAG factory), the run sync shows the run waiting
for input (and raises one event), a ``respond`` action answers it; Approve lets the run
finish, Reject fails it. An import error on the cluster shows with the health check.
"""

from __future__ import annotations

import time

import pytest

from daemon.actions import enqueue
from daemon.core.errors import UserError
from daemon.core.timefmt import utcnow
from daemon.read.clusters import list_clusters
from daemon.read.runs import run_detail
from daemon.run_sync.health import check_cluster
from daemon.store.models import Event, Run
from tests.airflow_server import AirflowServer
from tests.integration.conftest import POLL, TEAM, carry_out, operated
from tests.specs import spec_yaml
from tests.waiting import wait_until

NAME = "approve.daily_publish"
APPROVAL = b'approval: {before: publish, subject: "Publish {{ run_id }}?", body: "12 rows"}\n'


@pytest.fixture
def world(store, airflow3: AirflowServer, monkeypatch):
    (airflow3.spec_dir / "code").mkdir(parents=True, exist_ok=True)
    (airflow3.spec_dir / "code" / f"{NAME}.yaml").write_bytes(
        spec_yaml(NAME, team=TEAM, enabled=False) + APPROVAL)
    world = operated(store, airflow3, monkeypatch, [f"bc__{NAME}"])
    yield world
    world["client"].close()


def waiting_run(world) -> str:
    """Start a run and sync until it waits for input; its public id."""
    started = carry_out(world, "run", NAME)
    assert started.state == "done", started.message
    run_id = started.result["run_id"]
    wait_until(lambda: run_detail(run_id).run.waiting_for_input, 180,
               f"{run_id} to wait for input", step=world["run_sync"].run, interval=POLL)
    # a person answers after seconds: Airflow 3.3 fails a task answered within a few
    # hundred milliseconds of its request (tests/AIRFLOW_FACTS.md)
    time.sleep(3)
    return run_id


@pytest.mark.airflow
def test_an_approved_run_finishes_and_a_rejected_one_fails(world):
    approved = waiting_run(world)
    [request] = run_detail(approved).inputs
    dag_run_id = approved.split("/", 1)[1]
    assert (request.label, request.subject, request.body, request.options) == (
        "approve", f"Publish {dag_run_id}?", "12 rows", ("Approve", "Reject"))
    events = [e.subject for e in Event.select().where(Event.kind == "input_waiting")]
    assert events == [approved]

    answer = carry_out(world, "respond", approved,
                       params={"task_id": "approve", "options": ["Approve"]})
    assert (answer.state, answer.message) == (
        "done", f"Answered task approve of {approved}: Approve.")
    assert not run_detail(approved).run.waiting_for_input  # at once, before a sync
    with pytest.raises(UserError, match=f"Task approve of {approved} was answered already "
                                        r"by admin \(Approve\)\."):
        enqueue("respond", approved, params={"task_id": "approve", "options": ["Reject"]})

    wait_until(lambda: Run.get(Run.dag_run_id == dag_run_id).status == "SUCCESS", 180,
               f"{approved} to succeed", step=world["run_sync"].run, interval=POLL)
    tasks = {t.task_id: t.state for t in run_detail(approved).tasks}
    assert tasks == {"prepare": "success", "run_query": "success", "approve": "success",
                     "publish": "success"}

    rejected = waiting_run(world)
    answer = carry_out(world, "respond", rejected,
                       params={"task_id": "approve", "options": ["reject"]})
    assert answer.state == "done", answer.message
    wait_until(lambda: run_detail(rejected).run.status == "FAILED", 180,
               f"{rejected} to fail", step=world["run_sync"].run, interval=POLL)
    tasks = {t.task_id: t.state for t in run_detail(rejected).tasks}
    assert tasks["approve"] == "failed" and tasks["publish"] == "upstream_failed"


@pytest.mark.airflow
def test_an_import_error_shows_on_the_cluster(world):
    airflow, cluster = world["airflow"], world["cluster"]
    broken = airflow.dags_dir / "broken_by_a_colleague.py"
    broken.write_text("from airflow import DAG\ndef broken(:\n")
    try:
        def shown() -> list[str]:
            check_cluster(cluster.name, world["client"], utcnow())
            [row] = [c for c in list_clusters() if c.name == cluster.name]
            return [e.filename for e in row.import_errors if "broken_by" in e.filename]

        wait_until(shown, 120, "the import error on the cluster", interval=POLL)
    finally:
        broken.unlink()
    [row] = [c for c in list_clusters() if c.name == cluster.name]
    [error] = [e for e in row.import_errors if "broken_by" in e.filename]
    assert "SyntaxError" in error.stack_trace

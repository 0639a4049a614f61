"""Earlier tries and queued times: the run sync asks for a retried task's tries once per
retry, keeps the latest try only when Airflow will not say, and the read side shows every
try (the simulated Airflow 3 through the real client)."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from daemon.airflow import AirflowClient
from daemon.read.runs import run_detail, run_status_json
from daemon.run_sync import tries as tries_module
from daemon.store.models import TaskInstance, TaskTry
from tests.daemon.run_sync import test_run_sync
from tests.daemon.run_sync.test_run_sync import (
    CLUSTER,
    TASKS,
    Clock,
    make_sync,
    simulated,
)
from tests.sim_airflow import _TRIES_PATH, SimAirflow

password = test_run_sync.password  # the fixture, shared

TRIES_ROUTE = f"GET {_TRIES_PATH}"
RUN = ("bc__ds.a", "manual__1")


def tries_asked(sim: SimAirflow) -> int:
    return sim.requests[TRIES_ROUTE]


def stored_tries(task_id: str = "prepare") -> list[tuple[int, str | None]]:
    return [(row.try_number, row.state) for row in
            TaskTry.select().where(TaskTry.task_id == task_id).order_by(TaskTry.try_number)]


@pytest.fixture
def clock() -> Clock:
    """The cluster's clock: a retry is queued after the try before it ended."""
    return Clock(datetime.now(timezone.utc))


@pytest.fixture
def sim(store, clock: Clock) -> SimAirflow:
    return simulated(store, clock)


def prepare_row() -> TaskInstance:
    return TaskInstance.get(TaskInstance.task_id == "prepare")


def started_and_failed_once(store, sim: SimAirflow, clock: Clock):
    """A run whose first task failed its first try and runs its second, synced."""
    sim.add_run(*RUN, "running", TASKS)
    sim.advance(*RUN)  # prepare runs, try 1
    sync = make_sync(store, sim)
    assert sync.run().ok
    clock.tick(60)
    sim.fail_try(*RUN, "prepare")
    clock.tick(2)
    assert sync.run().ok
    assert (prepare_row().state, prepare_row().try_number, tries_asked(sim)) == (
        "up_for_retry", 1, 0)  # the first try is the latest: nothing to ask
    clock.tick(300)  # the retry delay
    sim.retry(*RUN, "prepare", queued_for=30)
    clock.tick(2)
    return sync


def test_a_retried_task_gets_its_earlier_tries_and_queued_time_once(store, sim, clock):
    sync = started_and_failed_once(store, sim, clock)
    report = sync.run()
    assert report.ok and report.tries_written == 1
    assert tries_asked(sim) == 1
    row = prepare_row()
    assert (row.try_number, row.tries_synced, row.state) == (2, 2, "running")
    assert (row.started_at - row.queued_at).total_seconds() == 30
    assert stored_tries() == [(1, "failed")]
    first = TaskTry.get()
    assert first.started_at < first.ended_at <= row.queued_at

    for _ in range(3):  # idle cycles: no more tries requests
        clock.tick(2)
        assert sync.run().ok
    assert tries_asked(sim) == 1

    clock.tick(60)
    sim.fail_try(*RUN, "prepare")
    clock.tick(60)
    sim.retry(*RUN, "prepare")
    clock.tick(2)
    assert sync.run().ok
    assert tries_asked(sim) == 2
    assert stored_tries() == [(1, "failed"), (2, "failed")]


def test_the_read_side_shows_every_try_oldest_first(store, sim, clock):
    sync = started_and_failed_once(store, sim, clock)
    assert sync.run().ok
    detail = run_detail("ds.a/manual__1")
    prepare = next(t for t in detail.tasks if t.task_id == "prepare")
    assert [(t.try_number, t.state) for t in prepare.tries] == [(1, "failed"), (2, "running")]
    assert prepare.try_numbers == [1, 2]
    assert prepare.tries[-1].queued_at == prepare.queued_at is not None
    status = run_status_json("ds.a/manual__1")
    task = next(t for t in status["tasks"] if t["task_id"] == "prepare")
    assert [t["state"] for t in task["tries"]] == ["failed", "running"]
    assert task["queued_at"] == prepare.queued_at


@pytest.mark.parametrize("status", [404, 403])
def test_no_tries_from_airflow_keeps_the_latest_try_and_the_sync_goes_on(store, sim, clock,
                                                                        status):
    sync = started_and_failed_once(store, sim, clock)
    transport = sim.transport()
    asked = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tries"):
            asked.append(request.url.path)
            return httpx.Response(status, json={"detail": "no"})
        return transport.handle_request(request)

    sync.client = AirflowClient(CLUSTER, transport=httpx.MockTransport(handler),
                                sleep=lambda s: None)
    report = sync.run()
    assert report.ok and report.tries_written == 1
    asked_once = len(asked)  # a 403 is asked again once with a fresh token
    assert (prepare_row().tries_synced, stored_tries()) == (2, [])
    [prepare] = [t for t in run_detail("ds.a/manual__1").tasks if t.task_id == "prepare"]
    assert [(t.try_number, t.state) for t in prepare.tries] == [(2, "running")]
    assert prepare.try_numbers == [1, 2]  # the logs of both can still be asked for
    assert sync.run().ok and len(asked) == asked_once  # not again until retried again


def test_a_server_error_on_the_tries_is_asked_again_next_cycle(store, sim, clock):
    sync = started_and_failed_once(store, sim, clock)
    transport = sim.transport()
    failing = [True]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tries") and failing[0]:
            return httpx.Response(500, json={"detail": "database is locked"})
        return transport.handle_request(request)

    sync.client = AirflowClient(CLUSTER, transport=httpx.MockTransport(handler),
                                sleep=lambda s: None)
    report = sync.run()
    assert report.ok and report.tries_written == 0
    assert prepare_row().state == "running"  # the cycle's own write went through
    assert prepare_row().tries_synced is None
    failing[0] = False
    assert sync.run().ok
    assert stored_tries() == [(1, "failed")]


def test_many_retried_tasks_are_spread_over_cycles(store, sim, monkeypatch):
    monkeypatch.setattr(tries_module, "MAX_PER_CYCLE", 1)
    sim.add_run(*RUN, "running", TASKS)
    sim.advance(*RUN)
    sync = make_sync(store, sim)
    sync.run()
    for task_id in ("prepare", "run_query"):
        task = next(t for t in sim.tasks[RUN] if t.task_id == task_id)
        task.state, task.try_number, task.start_date = "running", 1, sim.clock()
        sim.fail_try(*RUN, task_id)
        sim.retry(*RUN, task_id)
    assert sync.run().tries_written == 1
    assert sync.run().tries_written == 1
    assert sync.run().tries_written == 0
    assert (stored_tries("prepare"), stored_tries("run_query")) == ([(1, "failed")],
                                                                    [(1, "failed")])
    assert tries_asked(sim) == 2

"""Tasks waiting for a person (Airflow ≥ 3.1 human-in-the-loop): the run sync stores
them, the read side shows the run waiting, one ``input_waiting`` event per question, and
an answer given anywhere (basecamp, Airflow's UI) ends the wait."""

from __future__ import annotations

import dataclasses

import httpx

from daemon.airflow import AirflowClient
from daemon.read.changes import load_runs
from daemon.read.runs import RunFilter, list_runs, run_detail, run_status_json
from daemon.store.models import Event, HitlRequest
from tests.daemon.run_sync import test_run_sync
from tests.daemon.run_sync.test_run_sync import CLUSTER, TASKS, make_sync
from tests.sim_airflow import SimAirflow

password, sim = test_run_sync.password, test_run_sync.sim  # the fixtures, shared

HITL_ROUTE = "GET /api/v2/dags/~/dagRuns/~/hitlDetails"


def waiting_events() -> list[Event]:
    return list(Event.select().where(Event.kind == "input_waiting"))


def test_a_waiting_task_is_stored_shown_and_announced_once(store, sim: SimAirflow):
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS, task_state="success")
    sim.ask("bc__ds.a", "manual__1", "publish", "Publish daily clicks?", body="**rows**: 12",
            params={"reason": {"value": "", "description": "why", "schema": {"type": "string"}}})
    sim.add_run("other_dag", "manual__9", "running", TASKS)
    sim.ask("other_dag", "manual__9", "publish", "not ours")
    sync = make_sync(store, sim)
    assert sync.run().ok

    [row] = HitlRequest.select()
    assert (row.dag_id, row.task_id, row.subject, row.body, row.options) == (
        "bc__ds.a", "publish", "Publish daily clicks?", "**rows**: 12", ["Approve", "Reject"])
    [event] = waiting_events()
    assert (event.subject, event.severity) == ("ds.a/manual__1", "warning")
    assert "Task publish of ds.a/manual__1 waits for input on sim: Publish daily clicks?" == event.message

    [view] = list_runs(RunFilter(dataset="ds.a"))
    assert view.waiting_for_input and view.as_json()["waiting_for_input"] is True
    assert [r.waiting_for_input for r in load_runs() if r.dataset_name == "ds.a"] == [True]
    [request] = run_detail("ds.a/manual__1").inputs
    assert (request.label, request.params["reason"]["description"]) == ("publish", "why")
    status = run_status_json("ds.a/manual__1")
    assert status["input_requests"][0]["subject"] == "Publish daily clicks?"
    assert status["input_requests"][0]["params"] == {"reason": ""}

    assert sync.run().ok and sync.run().ok  # still waiting: no second event
    assert len(waiting_events()) == 1


def test_an_answer_given_in_airflow_ends_the_wait_and_keeps_who(store, sim: SimAirflow):
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS, task_state="success")
    sim.ask("bc__ds.a", "manual__1", "publish", "Ship?")
    sync = make_sync(store, sim)
    sync.run()
    sim.answer("bc__ds.a", "manual__1", "publish", ["Reject"], by="kim")
    sim.touch(sim.runs[("bc__ds.a", "manual__1")])
    assert sync.run().ok
    row = HitlRequest.get()
    assert (row.response_received, row.chosen_options, row.responded_by) == (True, ["Reject"], "kim")
    assert not run_detail("ds.a/manual__1").run.waiting_for_input
    assert run_status_json("ds.a/manual__1")["input_requests"] == []


def test_a_question_that_ends_unanswered_is_dropped(store, sim: SimAirflow):
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS, task_state="success")
    sim.ask("bc__ds.a", "manual__1", "publish", "Ship?")
    sync = make_sync(store, sim)
    sync.run()
    del sim.hitl[("bc__ds.a", "manual__1", "publish")]  # e.g. the run was cleared
    assert sync.run().ok
    assert HitlRequest.select().count() == 0


def test_a_finished_run_is_not_waiting_and_an_idle_cluster_is_not_asked(store, sim: SimAirflow):
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS, task_state="success")
    sim.ask("bc__ds.a", "manual__1", "publish", "Ship?")
    sync = make_sync(store, sim)
    sync.run()
    sim.touch(sim.runs[("bc__ds.a", "manual__1")], state="failed")  # stopped meanwhile
    sync.run()
    assert not run_detail("ds.a/manual__1").run.waiting_for_input
    asked = sim.requests[HITL_ROUTE]
    sync.run()  # nothing active any more: no question asked
    assert sim.requests[HITL_ROUTE] == asked


def test_a_cluster_before_3_1_is_never_asked(store, sim: SimAirflow):
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    transport = sim.transport()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v2/version":
            return httpx.Response(200, json={"version": "3.0.6", "git_version": None})
        return transport.handle_request(request)

    sync = make_sync(store, sim)
    sync.client = AirflowClient(CLUSTER, transport=httpx.MockTransport(handler), sleep=lambda s: None)
    assert sync.run().ok
    assert sim.requests[HITL_ROUTE] == 0


def test_a_user_without_the_hitl_permission_still_gets_runs(store, sim: SimAirflow):
    sim.add_run("bc__ds.a", "manual__1", "running", TASKS)
    transport = sim.transport()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/hitlDetails"):
            return httpx.Response(403, json={"detail": "Forbidden"})
        return transport.handle_request(request)

    sync = make_sync(store, sim)
    sync.client = AirflowClient(dataclasses.replace(CLUSTER), transport=httpx.MockTransport(handler),
                                sleep=lambda s: None)
    report = sync.run()
    assert report.ok and report.runs_written == 1

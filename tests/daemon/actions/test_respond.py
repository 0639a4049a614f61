"""Answering a task that waits for a person (respond): checked against the stored
question at enqueue, carried out through Airflow's HITL endpoint, a second answer refused
with Airflow's reason, and the same answer after a daemon restart carried out once."""

from __future__ import annotations

import pytest

from daemon.actions import enqueue
from daemon.core.errors import UserError
from daemon.read.runs import run_detail
from daemon.run_sync import RunSync
from daemon.store.models import Action, HitlRequest
from tests.daemon.actions import test_actions
from tests.daemon.actions.test_actions import CLUSTER, carry_out
from tests.sim_airflow import SimAirflow

env, specs = test_actions.env, test_actions.specs  # the fixtures, shared

RUN = "ds.code/manual__1"
FORM = {"reason": {"value": "", "description": "why", "schema": {"type": "string"}},
        "rows": {"value": 0, "description": None, "schema": {"type": "integer"}}}


@pytest.fixture
def asking(env, store):
    """A running run of ds.code whose ``publish`` task waits, synced into the store."""
    sim, ctx, executor = env
    sim: SimAirflow
    sim.add_run("bc__ds.code", "manual__1", "running", ["prepare", "publish"], task_state="success")
    sim.ask("bc__ds.code", "manual__1", "publish", "Publish?", params=FORM)
    sim.add_run("bc__ds.code", "manual__2", "running", ["prepare", "publish"])
    sync = RunSync(store, CLUSTER, ctx.clients["sim"], lookback_hours=24, stale_threshold_hours=1)
    assert sync.run().ok
    return sim, executor, sync


@pytest.mark.parametrize(("params", "message"), [
    ({}, "respond needs the task that waits for input"),
    ({"task_id": "prepare", "options": ["Approve"]},
     "Task prepare of ds.code/manual__1 is not waiting for input; waiting: publish"),
    ({"task_id": "publish"}, "Choose an option: Approve, Reject"),
    ({"task_id": "publish", "options": ["Ship"]}, "Task publish offers Approve, Reject, not Ship"),
    ({"task_id": "publish", "options": ["Approve", "Reject"]}, "Task publish takes one option, not 2"),
    ({"task_id": "publish", "options": ["approve"], "params": {"colour": "red"}},
     "Task publish has no parameter colour; its parameters: reason, rows"),
    ({"task_id": "publish", "options": ["approve"], "params": {"rows": "many"}},
     "Parameter rows of task publish must be integer, not 'many'"),
])
def test_an_answer_is_checked_against_the_question(asking, params, message):
    with pytest.raises(UserError) as info:
        enqueue("respond", RUN, params=params)
    assert str(info.value) == message


def test_a_run_without_a_question_says_why(asking):
    with pytest.raises(UserError, match=r"^No task of ds.code/manual__2 is waiting for input "
                                        r"\(as of the last run sync; tasks that wait"):
        enqueue("respond", "ds.code/manual__2", params={"task_id": "publish", "options": ["Approve"]})


def test_an_answer_resumes_the_task_and_shows_at_once(asking):
    sim, executor, _sync = asking
    action = enqueue("respond", RUN, params={"task_id": "publish", "options": ["approve"],
                                             "params": {"reason": "numbers ok", "rows": "12"}})
    done = carry_out(executor, action)
    assert done.state == "done", done.message
    assert done.message == "Answered task publish of ds.code/manual__1: Approve."
    detail = sim.hitl[("bc__ds.code", "manual__1", "publish")]
    assert (detail["chosen_options"], detail["params_input"]) == (
        ["Approve"], {"reason": "numbers ok", "rows": 12})
    row = HitlRequest.get()
    assert (row.response_received, row.chosen_options, row.responded_by) == (True, ["Approve"], "admin")
    assert not run_detail(RUN).run.waiting_for_input  # before the next run sync


def test_a_second_answer_is_refused_with_airflows_reason(asking):
    sim, executor, _sync = asking
    first = enqueue("respond", RUN, params={"task_id": "publish", "options": ["Reject"]})
    second = enqueue("respond", RUN, params={"task_id": "publish", "options": ["Approve"]})
    sim.answer("bc__ds.code", "manual__1", "publish", ["Reject"], by="kim")  # in Airflow's UI
    done = carry_out(executor, first)
    assert done.state == "rejected"
    assert done.message.startswith("Task publish of ds.code/manual__1 was answered already "
                                   "by kim (Reject): ")
    assert "already been updated" in done.message
    refused = carry_out(executor, second)  # the store knows by now: refused before Airflow
    assert (refused.state, refused.message) == (
        "rejected", "Task publish of ds.code/manual__1 was answered already by kim (Reject).")


def test_the_same_answer_after_a_restart_is_done_once(asking):
    sim, executor, _sync = asking
    action = enqueue("respond", RUN, params={"task_id": "publish", "options": ["Approve"]})
    assert executor.claim(action.id) is not None
    # the daemon died after Airflow took the answer, before it finished the action
    sim.answer("bc__ds.code", "manual__1", "publish", ["Approve"], by="admin")
    Action.update(checkpoint={"sent": True}).where(Action.id == action.id).execute()
    claimed = Action.get_by_id(action.id)
    executor.execute(claimed)
    done = Action.get_by_id(action.id)
    assert (done.state, done.message) == ("done", "Answered task publish of ds.code/manual__1: Approve.")

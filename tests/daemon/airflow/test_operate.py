"""Clear, mark, human-in-the-loop and import errors on both dialects (v2 = Airflow 3,
v1 = Airflow 2), with bodies and answers as Airflow 3.3.2 and 2.11.2 send them."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
import pytest

from daemon.airflow import (
    AirflowBadRequest,
    AirflowConflict,
    AirflowNotFound,
    AirflowServerError,
    AirflowUnsupported,
    HitlRequest,
    ImportErrorInfo,
    TaskInstanceInfo,
)
from tests.daemon.airflow.conftest import ti_json

BOTH = pytest.mark.parametrize("api", ["v2", "v1"])
UTC = timezone.utc
RUN = "manual__2025-01-01T00:00:00+00:00"
RUN_PATH = "manual__2025-01-01T00%3A00%3A00%2B00%3A00"


def body_of(route) -> dict:
    return json.loads(route.calls.last.request.content)


# --- clear ---------------------------------------------------------------------------


def test_clear_v2_sends_the_body_and_returns_the_task_instances(router, make_client):
    route = router.post("/api/v2/dags/dp.sales/clearTaskInstances").respond(200, json={
        "task_instances": [ti_json("dp.sales", RUN, "run_query", "failed"),
                           ti_json("dp.sales", RUN, "publish", "upstream_failed",
                                   try_number=0, start_date=None, end_date=None,
                                   duration=None)],
        "total_entries": 2})
    tis = make_client().clear_task_instances("dp.sales", RUN, task_ids=["run_query"],
                                             only_failed=True, include_downstream=True,
                                             dry_run=True)
    assert body_of(route) == {"dag_run_id": RUN, "dry_run": True, "only_failed": True,
                              "task_ids": ["run_query"], "include_downstream": True,
                              "reset_dag_runs": True}
    assert [(t.task_id, t.state, t.try_number) for t in tis] == [
        ("run_query", "failed", 1), ("publish", "upstream_failed", 0)]
    assert all(isinstance(t, TaskInstanceInfo) and t.dag_run_id == RUN for t in tis)


@BOTH
def test_clear_omits_task_ids_when_none_and_sends_dry_run_false(router, make_client, api):
    route = router.post(f"/api/{api}/dags/d/clearTaskInstances").respond(
        200, json={"task_instances": [], "total_entries": 0})
    assert make_client(api_version=api).clear_task_instances(
        "d", "r", task_ids=None, only_failed=False, include_downstream=False,
        dry_run=False) == []
    assert body_of(route) == {"dag_run_id": "r", "dry_run": False, "only_failed": False,
                              "include_downstream": False, "reset_dag_runs": True}


def test_clear_v1_completes_references_with_one_batch_read(router, make_client):
    ref = {"dag_id": "d", "dag_run_id": "r", "execution_date": "2025-01-01T00:00:00+00:00"}
    router.post("/api/v1/dags/d/clearTaskInstances").respond(200, json={"task_instances": [
        {**ref, "task_id": "run_query"}, {**ref, "task_id": "mapped"},
        {**ref, "task_id": "mapped"}, {**ref, "task_id": "publish"}]})
    batch = router.post("/api/v1/dags/~/dagRuns/~/taskInstances/list").respond(200, json={
        "task_instances": [ti_json("d", "r", "prepare"),
                           ti_json("d", "r", "run_query", "failed", try_number=2),
                           ti_json("d", "r", "mapped", "failed", map_index=1),
                           ti_json("d", "r", "mapped", "failed", map_index=0),
                           ti_json("d", "r", "publish", "upstream_failed", try_number=0)],
        "total_entries": 5})
    tis = make_client(api_version="v1").clear_task_instances(
        "d", "r", task_ids=["run_query", "mapped"], only_failed=True,
        include_downstream=True, dry_run=True)
    assert [(t.task_id, t.map_index, t.state, t.try_number) for t in tis] == [
        ("run_query", -1, "failed", 2), ("mapped", 0, "failed", 1),
        ("mapped", 1, "failed", 1), ("publish", -1, "upstream_failed", 0)]
    assert body_of(batch)["dag_ids"] == ["d"] and body_of(batch)["dag_run_ids"] == ["r"]


def test_clear_v1_returns_bare_references_when_the_read_back_fails(router, make_client):
    router.post("/api/v1/dags/d/clearTaskInstances").respond(200, json={"task_instances": [
        {"dag_id": "d", "dag_run_id": "r", "task_id": "run_query",
         "execution_date": "2025-01-01T00:00:00+00:00"}]})
    router.post("/api/v1/dags/~/dagRuns/~/taskInstances/list").respond(503)
    tis = make_client(api_version="v1").clear_task_instances(
        "d", "r", task_ids=None, only_failed=True, include_downstream=False, dry_run=False)
    assert tis == [TaskInstanceInfo("d", "r", "run_query", map_index=-1, state=None,
                                    try_number=0)]


@BOTH
def test_clear_of_an_unknown_run_is_not_found(router, make_client, api):
    router.post(f"/api/{api}/dags/d/clearTaskInstances").respond(
        404, json={"detail": "Dag Run id r not found in dag d"})
    with pytest.raises(AirflowNotFound):
        make_client(api_version=api).clear_task_instances(
            "d", "r", task_ids=None, only_failed=True, include_downstream=False, dry_run=True)


def test_clear_is_retried_like_a_read(router, make_client):
    route = router.post("/api/v2/dags/d/clearTaskInstances").mock(side_effect=[
        httpx.Response(500, text="database is locked"),
        httpx.Response(200, json={"task_instances": [], "total_entries": 0})])
    make_client().clear_task_instances("d", "r", task_ids=None, only_failed=True,
                                       include_downstream=False, dry_run=False)
    assert route.call_count == 2


# --- mark a task instance --------------------------------------------------------------


@pytest.mark.parametrize("api,body", [("v2", {"new_state": "success"}),
                                      ("v1", {"dry_run": False, "new_state": "success"})])
def test_set_task_instance_state(router, make_client, api, body):
    route = router.patch(f"/api/{api}/dags/d/dagRuns/{RUN_PATH}/taskInstances/run_query").respond(
        200, json={"task_instances": [], "total_entries": 0})
    assert make_client(api_version=api).set_task_instance_state(
        "d", RUN, "run_query", "success") is None
    assert body_of(route) == body


@BOTH
def test_set_task_instance_state_of_a_mapped_task_puts_the_index_in_the_path(
        router, make_client, api):
    route = router.patch(f"/api/{api}/dags/d/dagRuns/r/taskInstances/t/3").respond(200, json={})
    make_client(api_version=api).set_task_instance_state("d", "r", "t", "failed", map_index=3)
    assert route.called and body_of(route)["new_state"] == "failed"


def test_set_task_instance_state_already_in_that_state_is_done(router, make_client):
    route = router.patch("/api/v2/dags/d/dagRuns/r/taskInstances/t").respond(
        409, json={"detail": "Task id t is already in success state"})
    make_client().set_task_instance_state("d", "r", "t", "success")
    assert route.call_count == 1


@BOTH
def test_set_task_instance_state_of_an_unknown_task_is_not_found(router, make_client, api):
    router.patch(f"/api/{api}/dags/d/dagRuns/r/taskInstances/t").respond(
        404, json={"detail": "Task 't' not found in Dag 'd'"})
    with pytest.raises(AirflowNotFound):
        make_client(api_version=api).set_task_instance_state("d", "r", "t", "success")


# --- human in the loop -----------------------------------------------------------------


def hitl_json(dag_id="dp__approve", run_id="manual__1", task_id="approve", *,
              answered=False, state="awaiting_input", **extra):
    data = {
        "task_instance": ti_json(dag_id, run_id, task_id, state, map_index=-1),
        "options": ["Approve", "Reject"], "subject": "Ship it?", "body": "Numbers look fine",
        "defaults": None, "multiple": False,
        "params": {"reason": {"value": "", "description": None, "schema": {}}},
        "assigned_users": [], "created_at": "2025-01-02T03:04:05.123456Z",
        "responded_by_user": {"id": "1", "name": "admin"} if answered else None,
        "responded_at": "2025-01-02T03:05:00Z" if answered else None,
        "chosen_options": ["Approve"] if answered else None,
        "params_input": {}, "response_received": answered}
    data.update(extra)
    return data


@pytest.fixture
def v33(router):
    return router.get("/api/v2/version").respond(200, json={"version": "3.3.2"})


@pytest.mark.parametrize("version,api,supported", [
    ("3.3.2", "v2", True), ("3.1.0", "v2", True), ("3.1.0rc1", "v2", True),
    ("4.0.0", "v2", True), ("3.0.6", "v2", False), ("2.11.2", "v1", False),
    ("2.10.5", "v1", False)])
def test_supports_hitl(router, make_client, version, api, supported):
    router.get(f"/api/{api}/version").respond(200, json={"version": version})
    assert make_client(api_version=api).supports_hitl() is supported


@pytest.mark.parametrize("version,api", [("3.0.6", "v2"), ("2.11.2", "v1")])
def test_hitl_on_an_older_airflow_is_unsupported_and_sends_nothing(router, make_client,
                                                                   version, api):
    router.get(f"/api/{api}/version").respond(200, json={"version": version})
    hitl = router.route(path__regex=r".*hitlDetails.*").respond(404)
    client = make_client(api_version=api)
    for call in (lambda: client.list_hitl_requests(),
                 lambda: client.respond_hitl("d", "r", "t", chosen_options=["Approve"])):
        with pytest.raises(AirflowUnsupported, match=rf"Airflow {version}.*3\.1") as info:
            call()
        assert "dp-airflow" in str(info.value) and not info.value.transient
    assert not hitl.called


def test_list_hitl_requests_waiting_pages_and_parses(router, make_client, v33):
    route = router.get("/api/v2/dags/~/dagRuns/~/hitlDetails").mock(side_effect=[
        httpx.Response(200, json={"hitl_details": [hitl_json(run_id="a"),
                                                   hitl_json(dag_id="xdp__approve")],
                                  "total_entries": 3}),
        httpx.Response(200, json={"hitl_details": [hitl_json(run_id="b", state="failed")],
                                  "total_entries": 3})])
    found = make_client().list_hitl_requests(dag_id_prefix="dp__", page_size=2)
    params = [dict(call.request.url.params) for call in route.calls]
    assert params == [{"limit": "2", "offset": "0", "response_received": "false",
                       "dag_id_pattern": "dp__"},
                      {"limit": "2", "offset": "2", "response_received": "false",
                       "dag_id_pattern": "dp__"}]
    # another DAG matching the LIKE pattern, and a request whose task failed, drop out
    assert found == [HitlRequest(
        dag_id="dp__approve", dag_run_id="a", task_id="approve", map_index=-1,
        subject="Ship it?", body="Numbers look fine", options=("Approve", "Reject"),
        multiple=False, defaults=None,
        params={"reason": {"value": "", "description": None, "schema": {}}},
        created_at=datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        response_received=False, chosen_options=None, responded_by=None, responded_at=None,
        params_input={}, task_state="awaiting_input")]


def test_list_hitl_requests_all_includes_answered(router, make_client, v33):
    route = router.get("/api/v2/dags/~/dagRuns/~/hitlDetails").respond(200, json={
        "hitl_details": [hitl_json(answered=True, state="success", defaults=["Reject"])],
        "total_entries": 1})
    [request] = make_client().list_hitl_requests(waiting_only=False)
    assert "response_received" not in route.calls.last.request.url.params
    assert (request.response_received, request.chosen_options, request.responded_by,
            request.defaults) == (True, ("Approve",), "admin", ("Reject",))
    assert request.responded_at == datetime(2025, 1, 2, 3, 5, tzinfo=UTC)


def test_respond_hitl_sends_the_answer_with_the_map_index_in_the_path(router, make_client,
                                                                      v33):
    path = f"/api/v2/dags/dp__approve/dagRuns/{RUN_PATH}/taskInstances/approve/-1/hitlDetails"
    get = router.get(path).respond(200, json=hitl_json(run_id=RUN))
    patch = router.patch(path).respond(200, json={
        "responded_by": {"id": "1", "name": "admin"},
        "responded_at": "2025-01-02T03:05:00Z", "chosen_options": ["Approve"],
        "params_input": {"reason": "ok"}})
    answered = make_client().respond_hitl("dp__approve", RUN, "approve",
                                          chosen_options=["Approve"],
                                          params_input={"reason": "ok"})
    assert body_of(patch) == {"chosen_options": ["Approve"], "params_input": {"reason": "ok"}}
    assert get.call_count == 1
    assert (answered.subject, answered.options, answered.response_received,
            answered.chosen_options, answered.responded_by, answered.params_input) == (
        "Ship it?", ("Approve", "Reject"), True, ("Approve",), "admin", {"reason": "ok"})
    assert answered.responded_at == datetime(2025, 1, 2, 3, 5, tzinfo=UTC)


def test_respond_hitl_to_a_mapped_task(router, make_client, v33):
    path = "/api/v2/dags/d/dagRuns/r/taskInstances/t/2/hitlDetails"
    router.get(path).respond(200, json=hitl_json("d", "r", "t", task_instance=ti_json(
        "d", "r", "t", "awaiting_input", map_index=2)))
    patch = router.patch(path).respond(200, json={
        "responded_by": {"id": "1", "name": "admin"}, "responded_at": "2025-01-02T03:05:00Z",
        "chosen_options": ["Reject"], "params_input": {}})
    answered = make_client().respond_hitl("d", "r", "t", map_index=2, chosen_options=["Reject"])
    assert body_of(patch) == {"chosen_options": ["Reject"], "params_input": {}}
    assert answered.map_index == 2 and answered.chosen_options == ("Reject",)


def test_a_second_answer_is_a_conflict_with_airflows_reason(router, make_client, v33):
    path = "/api/v2/dags/d/dagRuns/r/taskInstances/t/-1/hitlDetails"
    router.get(path).respond(200, json=hitl_json("d", "r", "t", answered=True))
    reason = ("Human-in-the-loop detail has already been updated for Task Instance with id "
              "0199-abc and is not allowed to write again.")
    patch = router.patch(path).respond(409, json={"detail": reason})
    with pytest.raises(AirflowConflict) as info:
        make_client().respond_hitl("d", "r", "t", chosen_options=["Approve"])
    assert reason in str(info.value) and "dp-airflow" in str(info.value)
    assert info.value.status == 409 and patch.call_count == 1


def test_respond_hitl_is_not_retried_once_sent(router, make_client, v33):
    path = "/api/v2/dags/d/dagRuns/r/taskInstances/t/-1/hitlDetails"
    router.get(path).respond(200, json=hitl_json("d", "r", "t"))
    patch = router.patch(path).respond(502)
    with pytest.raises(AirflowServerError):
        make_client().respond_hitl("d", "r", "t", chosen_options=["Approve"])
    assert patch.call_count == 1


def test_respond_hitl_with_an_option_not_offered_is_a_bad_request(router, make_client, v33):
    path = "/api/v2/dags/d/dagRuns/r/taskInstances/t/-1/hitlDetails"
    router.get(path).respond(200, json=hitl_json("d", "r", "t"))
    router.patch(path).respond(400, json={
        "detail": "Invalid options ['Maybe']; allowed options are ['Approve', 'Reject']."})
    with pytest.raises(AirflowBadRequest, match="Invalid options"):
        make_client().respond_hitl("d", "r", "t", chosen_options=["Maybe"])


def test_respond_hitl_to_a_task_without_a_request_is_not_found(router, make_client, v33):
    path = "/api/v2/dags/d/dagRuns/r/taskInstances/t/-1/hitlDetails"
    router.get(path).respond(404, json={
        "detail": "Human-in-the-loop detail does not exist for Task Instance with id x"})
    patch = router.patch(path).respond(200, json={})
    with pytest.raises(AirflowNotFound):
        make_client().respond_hitl("d", "r", "t", chosen_options=["Approve"])
    assert not patch.called


# --- import errors ---------------------------------------------------------------------


@BOTH
def test_list_import_errors_pages(router, make_client, api):
    def error(i, **extra):
        return {"import_error_id": i, "timestamp": "2025-01-02T03:04:05.5+00:00",
                "filename": f"broken_{i}.py", "stack_trace": f"SyntaxError {i}", **extra}

    bundle = {"bundle_name": "dags-folder"} if api == "v2" else {}
    route = router.get(f"/api/{api}/importErrors").mock(side_effect=[
        httpx.Response(200, json={"import_errors": [error(1, **bundle), error(2, **bundle)],
                                  "total_entries": 3}),
        httpx.Response(200, json={"import_errors": [error(3, **bundle)], "total_entries": 3})])
    found = make_client(api_version=api).list_import_errors(page_size=2)
    assert [dict(call.request.url.params) for call in route.calls] == [
        {"limit": "2", "offset": "0"}, {"limit": "2", "offset": "2"}]
    assert found[0] == ImportErrorInfo(
        filename="broken_1.py", stack_trace="SyntaxError 1",
        timestamp=datetime(2025, 1, 2, 3, 4, 5, 500000, tzinfo=UTC),
        bundle_name="dags-folder" if api == "v2" else None)
    assert [e.filename for e in found] == ["broken_1.py", "broken_2.py", "broken_3.py"]


def test_list_import_errors_none(router, make_client):
    router.get("/api/v2/importErrors").respond(200, json={"import_errors": [],
                                                          "total_entries": 0})
    assert make_client().list_import_errors() == []


# --- 409 messages ------------------------------------------------------------------------


@pytest.mark.parametrize("body,reason", [
    ({"detail": {"reason": "Unique constraint violation", "statement": "INSERT ..."}},
     "Unique constraint violation"),
    ({"detail": "DAGRun with DAG ID: 'd' and DAGRun ID: 'r' already exists",
      "status": 409, "title": "Conflict", "type": "..."}, "already exists"),
])
def test_a_409_quotes_airflows_reason(router, make_client, body, reason):
    router.post("/api/v2/dags/d/dagRuns").respond(409, json=body)
    with pytest.raises(AirflowConflict, match=reason) as info:
        make_client().trigger_dag_run("d", "r", {})
    assert "INSERT" not in str(info.value)


@BOTH
def test_clear_of_no_task_ids_sends_nothing(router, make_client, api):
    route = router.post(f"/api/{api}/dags/d/clearTaskInstances").respond(422)
    assert make_client(api_version=api).clear_task_instances(
        "d", "r", task_ids=[], only_failed=True, include_downstream=True, dry_run=False) == []
    assert not route.called

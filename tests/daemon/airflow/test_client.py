"""The client's operations on both dialects (v2 = Airflow 3, v1 = Airflow 2)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
import pytest

from daemon.airflow import (
    AirflowConflict,
    AirflowNotFound,
    AirflowProtocolError,
    DagRunInfo,
    TaskInstanceInfo,
    VersionInfo,
)
from daemon.core.errors import NotFoundError
from tests.daemon.airflow.conftest import dag_run_json, ti_json

BOTH = pytest.mark.parametrize("api", ["v2", "v1"])
UTC = timezone.utc


# --- version detection ---------------------------------------------------------------


def test_auto_detects_v2_and_caches_it(router, make_client):
    route = router.get("/api/v2/version").respond(200, json={"version": "3.3.2",
                                                             "git_version": None})
    client = make_client(api_version="auto")
    assert client.api_version == "v2"
    assert client.airflow_version == "3.3.2"
    assert client.version() == VersionInfo("v2", "3.3.2")
    assert route.call_count == 1


def test_auto_falls_back_to_v1_when_v2_is_404(router, make_client):
    router.get("/api/v2/version").respond(404, json={"detail": "Not Found"})
    router.get("/api/v1/version").respond(200, json={"version": "2.10.5"})
    runs = router.get("/api/v1/dags/~/dagRuns").respond(200, json={"dag_runs": [],
                                                                    "total_entries": 0})
    client = make_client(api_version="auto")
    client.list_dag_runs(updated_at_gte=None)
    assert client.version() == VersionInfo("v1", "2.10.5")
    assert runs.called


def test_auto_treats_a_200_html_page_as_no_api(router, make_client):
    router.get("/api/v2/version").respond(200, text="<html>login</html>")
    router.get("/api/v1/version").respond(200, json={"version": "2.9.0"})
    assert make_client(api_version="auto").api_version == "v1"


def test_auto_without_any_api_is_not_found_and_names_the_cluster(router, make_client):
    router.get("/api/v2/version").respond(404)
    router.get("/api/v1/version").respond(404)
    with pytest.raises(AirflowNotFound, match="dp-airflow") as info:
        make_client(api_version="auto").version()
    assert "check url" in str(info.value)


def test_version_is_asked_without_credentials_first(router, make_client):
    route = router.get("/api/v2/version").respond(200, json={"version": "3.3.2"})
    make_client(auth="basic", username="svc", password_env="AF_PASSWORD").version()
    assert "authorization" not in route.calls.last.request.headers


def test_version_retries_with_credentials_when_a_proxy_asks(router, make_client):
    route = router.get("/api/v2/version").mock(side_effect=[
        httpx.Response(401), httpx.Response(200, json={"version": "3.3.2"})])
    info = make_client(auth="basic", username="svc", password_env="AF_PASSWORD").version()
    assert info.airflow_version == "3.3.2"
    assert route.calls.last.request.headers["authorization"].startswith("Basic ")


def test_version_refresh_asks_again(router, make_client):
    route = router.get("/api/v2/version").respond(200, json={"version": "3.3.2"})
    client = make_client()
    client.version()
    client.version(refresh=True)
    assert route.call_count == 2


@pytest.mark.parametrize("api,path", [("v2", "/api/v2/monitor/health"),
                                      ("v1", "/api/v1/health")])
def test_health(router, make_client, api, path):
    body = {"metadatabase": {"status": "healthy"}, "scheduler": {"status": "healthy"}}
    router.get(path).respond(200, json=body)
    assert make_client(api_version=api).health() == body


# --- dag runs ------------------------------------------------------------------------


@BOTH
def test_list_dag_runs_pages_until_a_short_page_and_returns_the_date_cursor(
        router, make_client, api):
    pages = [[dag_run_json(run_id=f"r{i}") for i in range(start, min(start + 2, 5))]
             for start in (0, 2, 4)]
    dates = ["Wed, 01 Jan 2025 10:00:00 GMT", "Wed, 01 Jan 2025 10:00:05 GMT",
             "Wed, 01 Jan 2025 10:00:09 GMT"]
    route = router.get(f"/api/{api}/dags/~/dagRuns").mock(side_effect=[
        httpx.Response(200, json={"dag_runs": page, "total_entries": 5}, headers={"Date": d})
        for page, d in zip(pages, dates)])
    since = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
    runs, cursor = make_client(api_version=api).list_dag_runs(updated_at_gte=since,
                                                              page_size=2)
    assert [r.dag_run_id for r in runs] == ["r0", "r1", "r2", "r3", "r4"]
    assert cursor == datetime(2025, 1, 1, 10, 0, tzinfo=UTC)  # the FIRST response's Date
    params = [dict(call.request.url.params) for call in route.calls]
    assert [p["offset"] for p in params] == ["0", "2", "4"]
    assert params[0] == {"updated_at_gte": "2025-01-01T09:00:00Z", "order_by": "updated_at",
                         "limit": "2", "offset": "0"}


def test_list_dag_runs_stops_at_total_entries(router, make_client):
    route = router.get("/api/v2/dags/~/dagRuns").respond(
        200, json={"dag_runs": [dag_run_json(run_id="a"), dag_run_json(run_id="b")],
                   "total_entries": 2})
    runs, cursor = make_client().list_dag_runs(updated_at_gte=None, page_size=2)
    assert len(runs) == 2 and route.call_count == 1
    assert cursor is None  # no Date header
    assert "updated_at_gte" not in route.calls.last.request.url.params


def test_list_dag_runs_drops_repeats_from_shifting_pages(router, make_client):
    router.get("/api/v2/dags/~/dagRuns").mock(side_effect=[
        httpx.Response(200, json={"dag_runs": [dag_run_json(run_id="a"),
                                               dag_run_json(run_id="b")]}),
        httpx.Response(200, json={"dag_runs": [dag_run_json(run_id="b", state="success")]}),
    ])
    runs, _ = make_client().list_dag_runs(updated_at_gte=None, page_size=2)
    assert [(r.dag_run_id, r.state) for r in runs] == [("a", "running"), ("b", "success")]


def test_dag_run_fields_are_parsed_to_aware_utc(router, make_client):
    router.get("/api/v2/dags/dp__sales/dagRuns/manual__1").respond(
        200, json=dag_run_json(start_date="2025-01-02T05:04:07+02:00", note="hi"))
    run = make_client().get_dag_run("dp__sales", "manual__1")
    assert run == DagRunInfo(
        dag_id="dp__sales", dag_run_id="manual__1", state="running", run_type="manual",
        triggered_by="rest_api", logical_date=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        queued_at=datetime(2025, 1, 2, 3, 4, 6, 500000, tzinfo=UTC),
        start_date=datetime(2025, 1, 2, 3, 4, 7, tzinfo=UTC), end_date=None,
        conf={"a": 1}, note="hi")


def test_v1_dag_run_with_execution_date_and_no_v2_fields(router, make_client):
    body = {"dag_id": "d", "dag_run_id": "r", "state": "queued",
            "execution_date": "2024-05-01T00:00:00+00:00", "external_trigger": True,
            "conf": None}
    router.get("/api/v1/dags/d/dagRuns/r").respond(200, json=body)
    run = make_client(api_version="v1").get_dag_run("d", "r")
    assert run.logical_date == datetime(2024, 5, 1, tzinfo=UTC)
    assert (run.queued_at, run.triggered_by, run.conf) == (None, None, {})


@BOTH
def test_get_dag_run_404_is_not_found(router, make_client, api):
    router.get(f"/api/{api}/dags/d/dagRuns/r").respond(404, json={"detail": "nope"})
    with pytest.raises(AirflowNotFound) as info:
        make_client(api_version=api).get_dag_run("d", "r")
    assert isinstance(info.value, NotFoundError) and info.value.exit_code == 4
    assert "dp-airflow" in str(info.value)


def test_ids_are_url_encoded_in_paths(router, make_client):
    route = router.get(path__regex=r"^/api/v2/dags/.*").respond(200, json=dag_run_json())
    make_client().get_dag_run("team.dp__sales", "manual__2025-01-01T00:00:00+00:00")
    assert route.calls.last.request.url.raw_path == (
        b"/api/v2/dags/team.dp__sales/dagRuns/manual__2025-01-01T00%3A00%3A00%2B00%3A00")


def test_a_response_that_is_not_json_is_a_protocol_error(router, make_client):
    router.get("/api/v2/dags/d/dagRuns/r").respond(200, text="<html/>")
    with pytest.raises(AirflowProtocolError, match="dp-airflow"):
        make_client().get_dag_run("d", "r")


# --- trigger and state ----------------------------------------------------------------


def test_trigger_v2_sends_logical_date_null_and_note(router, make_client):
    route = router.post("/api/v2/dags/dp.sales/dagRuns").respond(
        200, json=dag_run_json(dag_id="dp.sales", run_id="adhoc__20250101T000000",
                               state="queued"))
    run = make_client().trigger_dag_run("dp.sales", "adhoc__20250101T000000", {"x": 1},
                                        note="by ann")
    assert json.loads(route.calls.last.request.content) == {
        "dag_run_id": "adhoc__20250101T000000", "conf": {"x": 1}, "logical_date": None,
        "note": "by ann"}
    assert run.state == "queued"


def test_trigger_v2_with_a_logical_date_sends_z(router, make_client):
    route = router.post("/api/v2/dags/d/dagRuns").respond(200, json=dag_run_json(dag_id="d"))
    make_client().trigger_dag_run("d", "r", {}, logical_date=datetime(2025, 3, 1, tzinfo=UTC))
    assert json.loads(route.calls.last.request.content)["logical_date"] == "2025-03-01T00:00:00Z"


def test_trigger_v1_omits_a_missing_logical_date(router, make_client):
    route = router.post("/api/v1/dags/d/dagRuns").respond(200, json=dag_run_json(dag_id="d"))
    make_client(api_version="v1").trigger_dag_run("d", "r", {"x": 1})
    assert json.loads(route.calls.last.request.content) == {"dag_run_id": "r",
                                                            "conf": {"x": 1}}


@BOTH
def test_trigger_409_is_a_conflict_and_not_retried(router, make_client, api):
    route = router.post(f"/api/{api}/dags/d/dagRuns").respond(409, json={"detail": "exists"})
    with pytest.raises(AirflowConflict):
        make_client(api_version=api).trigger_dag_run("d", "r", {})
    assert route.call_count == 1


@BOTH
def test_set_dag_run_state(router, make_client, api):
    route = router.patch(f"/api/{api}/dags/d/dagRuns/r%3A1").respond(
        200, json=dag_run_json(dag_id="d", run_id="r:1", state="failed"))
    run = make_client(api_version=api).set_dag_run_state("d", "r:1", "failed")
    assert json.loads(route.calls.last.request.content) == {"state": "failed"}
    assert run.state == "failed"


# --- DAGs ------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("paused", [True, False])
def test_set_dag_paused(router, make_client, api, paused):
    route = router.patch(f"/api/{api}/dags/dp.sales").respond(
        200, json={"dag_id": "dp.sales", "is_paused": paused})
    make_client(api_version=api).set_dag_paused("dp.sales", paused)
    request = route.calls.last.request
    assert request.url.params["update_mask"] == "is_paused"
    assert json.loads(request.content) == {"is_paused": paused}


@BOTH
def test_list_paused_dag_ids_pages_and_filters_by_prefix(router, make_client, api):
    def dag(dag_id, paused=True):
        return {"dag_id": dag_id, "is_paused": paused}

    route = router.get(f"/api/{api}/dags").mock(side_effect=[
        httpx.Response(200, json={"dags": [dag("dp__a"), dag("xdp__b")], "total_entries": 4}),
        httpx.Response(200, json={"dags": [dag("dp__c"), dag("dpx_d")], "total_entries": 4}),
    ])
    paused = make_client(api_version=api).list_paused_dag_ids(dag_id_prefix="dp__",
                                                              page_size=2)
    assert paused == {"dp__a", "dp__c"}
    params = [dict(call.request.url.params) for call in route.calls]
    assert params[0] == {"paused": "true", "limit": "2", "offset": "0",
                         "dag_id_pattern": "dp__"}
    assert params[1]["offset"] == "2"


def test_list_paused_ignores_unpaused_dags_from_old_servers(router, make_client):
    router.get("/api/v1/dags").respond(200, json={"dags": [
        {"dag_id": "a", "is_paused": False}, {"dag_id": "b", "is_paused": True}],
        "total_entries": 2})
    assert make_client(api_version="v1").list_paused_dag_ids() == {"b"}


# --- task instances --------------------------------------------------------------------


@BOTH
def test_list_task_instances_batches_pages_and_filters_pairs(router, make_client, api):
    route = router.post(f"/api/{api}/dags/~/dagRuns/~/taskInstances/list").mock(side_effect=[
        httpx.Response(200, json={"task_instances": [
            ti_json("a", "r1", "t1"), ti_json("a", "r2", "t1")], "total_entries": 3}),
        httpx.Response(200, json={"task_instances": [
            ti_json("b", "r2", "t1", state="running", map_index=3, try_number=2,
                    duration=None, end_date=None)], "total_entries": 3}),
    ])
    tis = make_client(api_version=api).list_task_instances([("a", "r1"), ("b", "r2")],
                                                           page_size=2)
    # ("a", "r2") is in the cross product dag_ids x dag_run_ids but was not asked for.
    assert [(t.dag_id, t.dag_run_id) for t in tis] == [("a", "r1"), ("b", "r2")]
    assert tis[1] == TaskInstanceInfo(
        dag_id="b", dag_run_id="r2", task_id="t1", map_index=3, state="running",
        try_number=2, start_date=datetime(2025, 1, 2, 3, 4, 7, tzinfo=UTC), end_date=None,
        duration=None)
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert bodies[0] == {"dag_ids": ["a", "b"], "dag_run_ids": ["r1", "r2"],
                         "page_limit": 2, "page_offset": 0}
    assert bodies[1]["page_offset"] == 2


@BOTH
def test_list_changed_task_instances_pages_by_updated_at(router, make_client, api):
    route = router.get(f"/api/{api}/dags/~/dagRuns/~/taskInstances").mock(side_effect=[
        httpx.Response(200, json={"task_instances": [
            ti_json("a", "r1", "t1"), ti_json("a", "r1", "t2")], "total_entries": 3}),
        httpx.Response(200, json={"task_instances": [ti_json("b", "r2", "t1")], "total_entries": 3}),
    ])
    since = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    tis = make_client(api_version=api).list_changed_task_instances(updated_at_gte=since, page_size=2)
    assert [(t.dag_id, t.dag_run_id, t.task_id) for t in tis] == [
        ("a", "r1", "t1"), ("a", "r1", "t2"), ("b", "r2", "t1")]
    params = [dict(call.request.url.params) for call in route.calls]
    ordering = {"order_by": "id"} if api == "v2" else {}
    assert params[0] == {"updated_at_gte": "2025-01-02T03:04:05Z", "limit": "2", "offset": "0", **ordering}
    assert params[1]["offset"] == "2"


def test_list_task_instances_chunks_many_runs(router, make_client):
    route = router.post("/api/v2/dags/~/dagRuns/~/taskInstances/list").respond(
        200, json={"task_instances": [], "total_entries": 0})
    runs = [("d", f"r{i:03}") for i in range(120)]
    assert make_client().list_task_instances(runs) == []
    sizes = [len(json.loads(call.request.content)["dag_run_ids"]) for call in route.calls]
    assert sizes == [50, 50, 20]


def test_list_task_instances_of_no_runs_sends_nothing(router, make_client):
    route = router.post("/api/v2/dags/~/dagRuns/~/taskInstances/list")
    assert make_client().list_task_instances([]) == []
    assert not route.called


def test_list_task_instances_post_is_retried(router, make_client, fake_time):
    route = router.post("/api/v2/dags/~/dagRuns/~/taskInstances/list").mock(side_effect=[
        httpx.Response(503), httpx.Response(200, json={"task_instances": [
            ti_json("d", "r", "t")], "total_entries": 1})])
    assert len(make_client().list_task_instances([("d", "r")])) == 1
    assert route.call_count == 2


# --- logs --------------------------------------------------------------------------------


def test_task_log_v1_plain_text_tail(router, make_client):
    text = "".join(f"line {i}\n" for i in range(1000))
    route = router.get("/api/v1/dags/d/dagRuns/r%2B1/taskInstances/t/logs/2").respond(
        200, text=text, headers={"Content-Type": "text/plain"})
    log = make_client(api_version="v1").task_log("d", "r+1", "t", 2, max_bytes=100)
    assert log.endswith("line 999\n") and len(log.encode()) <= 100
    assert log.startswith("line ")  # cut at a line start
    request = route.calls.last.request
    assert request.headers["accept"] == "text/plain"
    assert dict(request.url.params) == {"full_content": "true"}


def test_task_log_v2_json_structured_content(router, make_client):
    content = [{"timestamp": "2025-01-01T00:00:00Z", "event": "hello", "level": "info",
                "logger": "task"},
               {"event": "boom", "level": "error",
                "error_detail": [{"exc_type": "ValueError", "exc_value": "bad"}]},
               "plain string"]
    route = router.get("/api/v2/dags/d/dagRuns/r/taskInstances/t/logs/1").respond(
        200, json={"content": content, "continuation_token": None})
    log = make_client().task_log("d", "r", "t", 1, map_index=4)
    assert log.splitlines() == ["[2025-01-01T00:00:00Z] {task} INFO - hello",
                                "ERROR - boom", "ValueError: bad", "plain string"]
    request = route.calls.last.request
    assert request.url.params["map_index"] == "4"
    assert request.headers["accept"] == "application/json"  # 3.3 refuses text/plain (406)


def test_task_log_v2_ndjson(router, make_client):
    body = "\n".join(json.dumps(m) for m in [
        {"timestamp": "2025-01-01T00:00:00Z", "event": "one", "level": "info"},
        {"timestamp": "2025-01-01T00:00:01Z", "event": "two", "level": "warning"}]) + "\n"
    router.get("/api/v2/dags/d/dagRuns/r/taskInstances/t/logs/1").respond(
        200, text=body, headers={"Content-Type": "application/x-ndjson"})
    assert make_client().task_log("d", "r", "t", 1) == (
        "[2025-01-01T00:00:00Z] INFO - one\n[2025-01-01T00:00:01Z] WARNING - two")


def test_task_log_v1_json_string_content(router, make_client):
    router.get("/api/v1/dags/d/dagRuns/r/taskInstances/t/logs/1").respond(
        200, json={"content": "all the text", "continuation_token": "x"})
    assert make_client(api_version="v1").task_log("d", "r", "t", 1) == "all the text"


def test_task_log_chunk_v2_follows_with_the_continuation_token(router, make_client):
    route = router.get("/api/v2/dags/d/dagRuns/r/taskInstances/t/logs/2").mock(side_effect=[
        httpx.Response(200, json={"content": [{"event": "one", "level": "info"}],
                                  "continuation_token": "tok-1"}),
        httpx.Response(200, json={"content": [{"event": "two"}, {"event": "three"}],
                                  "continuation_token": None})])  # the try has ended
    client = make_client()
    first = client.task_log_chunk("d", "r", "t", 2, map_index=3)
    assert (first.text, first.continuation_token) == ("INFO - one", "tok-1")
    assert dict(route.calls[0].request.url.params) == {"full_content": "true", "map_index": "3"}
    second = client.task_log_chunk("d", "r", "t", 2, map_index=3, token="tok-1")
    assert (second.text, second.continuation_token) == ("two\nthree", None)
    assert dict(route.calls[1].request.url.params) == {"token": "tok-1", "map_index": "3"}
    assert route.calls[1].request.headers["accept"] == "application/json"
    assert second.after(first.text) == "INFO - one\ntwo\nthree"  # whole lines: a newline


def test_task_log_chunk_v2_ndjson_token_from_the_header(router, make_client):
    router.get("/api/v2/dags/d/dagRuns/r/taskInstances/t/logs/1").respond(
        200, text=json.dumps({"event": "one"}) + "\n",
        headers={"Content-Type": "application/x-ndjson", "Airflow-Continuation-Token": "h"})
    chunk = make_client().task_log_chunk("d", "r", "t", 1)
    assert (chunk.text, chunk.continuation_token) == ("one", "h")


def test_task_log_chunk_v1_reads_the_python_list_of_host_and_text(router, make_client):
    """Airflow 2 carries the token only in JSON, whose content is ``str()`` of a list of
    (host, text) tuples; its parts are raw text, appended as they come."""
    route = router.get("/api/v1/dags/d/dagRuns/r/taskInstances/t/logs/1").mock(side_effect=[
        httpx.Response(200, json={"content": str([("worker-1", "line 1\nline [2] 'q'\n")]),
                                  "continuation_token": "v1-tok"}),
        httpx.Response(200, json={"content": str([("worker-1", "line 3\n")]),
                                  "continuation_token": "v1-tok-2"})])
    client = make_client(api_version="v1")
    first = client.task_log_chunk("d", "r", "t", 1, want_token=True)
    assert (first.text, first.continuation_token) == ("line 1\nline [2] 'q'\n", "v1-tok")
    assert route.calls[0].request.headers["accept"] == "application/json"
    second = client.task_log_chunk("d", "r", "t", 1, token="v1-tok")
    assert second.after(first.text) == "line 1\nline [2] 'q'\nline 3\n"


def test_task_log_chunk_v1_without_a_token_wanted_is_plain_text(router, make_client):
    route = router.get("/api/v1/dags/d/dagRuns/r/taskInstances/t/logs/1").respond(
        200, text="plain\n", headers={"Content-Type": "text/plain"})
    chunk = make_client(api_version="v1").task_log_chunk("d", "r", "t", 1, want_token=False)
    assert (chunk.text, chunk.continuation_token) == ("plain\n", None)
    assert route.calls.last.request.headers["accept"] == "text/plain"


def test_task_log_chunk_keeps_the_tail(router, make_client):
    content = [{"event": f"line {i}"} for i in range(1000)]
    router.get("/api/v2/dags/d/dagRuns/r/taskInstances/t/logs/1").respond(
        200, json={"content": content, "continuation_token": "x"})
    chunk = make_client().task_log_chunk("d", "r", "t", 1, max_bytes=100)
    assert chunk.text.endswith("line 999") and len(chunk.text.encode()) <= 100


def test_close_and_repr(make_client):
    client = make_client(auth="basic", username="svc", password_env="AF_PASSWORD")
    assert "dp-airflow" in repr(client) and "s3cr3t" not in repr(client)
    client.close()


def test_pagination_follows_total_entries_when_the_server_caps_the_page(router, make_client):
    route = router.get("/api/v2/dags/~/dagRuns").mock(side_effect=[
        httpx.Response(200, json={"dag_runs": [dag_run_json(run_id=f"r{i}") for i in ids],
                                  "total_entries": 5}) for ids in ([0, 1], [2, 3], [4])])
    runs, _ = make_client().list_dag_runs(updated_at_gte=None, page_size=100)
    assert len(runs) == 5 and route.call_count == 3


def test_pagination_stops_when_the_server_ignores_the_offset(router, make_client):
    page = {"task_instances": [ti_json("d", "r", "t1"), ti_json("d", "r", "t2")],
            "total_entries": 6}
    route = router.post("/api/v1/dags/~/dagRuns/~/taskInstances/list").respond(200, json=page)
    tis = make_client(api_version="v1").list_task_instances([("d", "r")], page_size=2)
    assert [t.task_id for t in tis] == ["t1", "t2"] and route.call_count == 2

"""The tries of one task instance, and its queued time, on both dialects (v2 = Airflow 3,
v1 = Airflow 2 from 2.10)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from daemon.airflow import AirflowNotFound, AirflowPermissionError, TaskInstanceInfo
from tests.daemon.airflow.conftest import ti_json

BOTH = pytest.mark.parametrize("api", ["v2", "v1"])
UTC = timezone.utc
TRIES = "/dags/dp__sales/dagRuns/manual__1%3A2/taskInstances/run_query"


def history_json(try_number: int, state: str | None, queued: str | None, start: str | None,
                 end: str | None, **extra: object) -> dict[str, object]:
    """A ``TaskInstanceHistoryResponse`` (v2) / ``TaskInstanceHistory`` (v1) as Airflow
    sends it (the fields basecamp reads, and a few it does not)."""
    return ti_json("dp__sales", "manual__1:2", "run_query", state=state, try_number=try_number,
                   queued_when=queued, start_date=start, end_date=end, duration=None,
                   max_tries=3, pool="default_pool", hostname="worker-1", **extra)


@BOTH
def test_tries_are_listed_oldest_first_with_their_queued_times(router, make_client, api):
    route = router.get(f"/api/{api}{TRIES}/tries").respond(200, json={"task_instances": [
        history_json(2, "failed", "2025-01-02T03:10:00Z", "2025-01-02T03:10:02Z",
                     "2025-01-02T03:11:00Z"),
        history_json(1, "failed", "2025-01-02T03:04:00Z", "2025-01-02T03:04:07Z",
                     "2025-01-02T03:05:00Z", scheduled_when="2025-01-02T03:03:59Z"),
        history_json(3, "running", "2025-01-02T03:20:00.5Z", "2025-01-02T03:20:01Z", None),
    ], "total_entries": 3})
    tries = make_client(api_version=api).task_instance_tries("dp__sales", "manual__1:2",
                                                             "run_query")
    assert [(t.try_number, t.state) for t in tries] == [(1, "failed"), (2, "failed"),
                                                         (3, "running")]
    assert tries[0] == TaskInstanceInfo(
        "dp__sales", "manual__1:2", "run_query", -1, "failed", 1,
        start_date=datetime(2025, 1, 2, 3, 4, 7, tzinfo=UTC),
        end_date=datetime(2025, 1, 2, 3, 5, tzinfo=UTC),
        queued_when=datetime(2025, 1, 2, 3, 4, tzinfo=UTC))
    assert tries[2].queued_when == datetime(2025, 1, 2, 3, 20, 0, 500000, tzinfo=UTC)
    assert route.calls.last.request.url.query == b""  # Airflow 2 refuses unknown parameters


@BOTH
def test_a_mapped_task_instance_names_its_index_in_the_path(router, make_client, api):
    route = router.get(f"/api/{api}{TRIES}/3/tries").respond(200, json={
        "task_instances": [history_json(1, "success", None, None, None, map_index=3)],
        "total_entries": 1})
    [one] = make_client(api_version=api).task_instance_tries("dp__sales", "manual__1:2",
                                                             "run_query", 3)
    assert (one.map_index, one.queued_when) == (3, None)
    assert route.called


def test_a_cleared_instance_listed_again_under_its_last_try_is_that_try(router, make_client):
    """Cleared but not scheduled yet: the history row and the instance (no state yet)
    share a try number; the history row is what happened."""
    router.get(f"/api/v2{TRIES}/tries").respond(200, json={"task_instances": [
        history_json(1, "success", "2025-01-02T03:04:00Z", "2025-01-02T03:04:07Z",
                     "2025-01-02T03:05:00Z"),
        history_json(1, None, "2025-01-02T03:04:00Z", "2025-01-02T03:04:07Z",
                     "2025-01-02T03:05:00Z"),
    ], "total_entries": 2})
    [one] = make_client().task_instance_tries("dp__sales", "manual__1:2", "run_query")
    assert one.state == "success"


@pytest.mark.parametrize(("status", "error"), [(404, AirflowNotFound),
                                               (403, AirflowPermissionError)])
def test_no_tries_endpoint_or_no_permission_is_an_error_of_its_kind(router, make_client,
                                                                    status, error):
    router.get(f"/api/v1{TRIES}/tries").respond(status, json={"detail": "no"})
    with pytest.raises(error):
        make_client(api_version="v1").task_instance_tries("dp__sales", "manual__1:2",
                                                          "run_query")


@pytest.mark.parametrize(("api", "version", "supported"), [
    ("v2", "3.3.2", True), ("v1", "2.11.2", True), ("v1", "2.10.0", True),
    ("v1", "2.9.3", False), ("v1", "nightly", True)])
def test_tries_need_airflow_2_10(router, make_client, api, version, supported):
    router.get(f"/api/{api}/version").respond(200, json={"version": version})
    assert make_client(api_version=api).supports_tries() is supported


@BOTH
def test_task_instances_carry_their_queued_time(router, make_client, api):
    router.get(f"/api/{api}/dags/~/dagRuns/~/taskInstances").respond(200, json={
        "task_instances": [ti_json("a", "r1", "t1", queued_when="2025-01-02T03:04:06Z"),
                           ti_json("a", "r1", "t2", state="scheduled", queued_when=None)],
        "total_entries": 2})
    found = make_client(api_version=api).list_changed_task_instances(
        updated_at_gte=datetime(2025, 1, 1, tzinfo=UTC))
    assert [t.queued_when for t in found] == [datetime(2025, 1, 2, 3, 4, 6, tzinfo=UTC), None]

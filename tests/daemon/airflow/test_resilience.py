"""Error mapping, retries with backoff, Retry-After, timeouts and the circuit breaker.
The fake clock makes every wait instant; ``fake_time.sleeps`` records them."""

from __future__ import annotations

import httpx
import pytest

from daemon.airflow import (
    AirflowBadRequest,
    AirflowCircuitOpen,
    AirflowConflict,
    AirflowConnectionError,
    AirflowError,
    AirflowNotFound,
    AirflowPermissionError,
    AirflowRateLimited,
    AirflowServerError,
    AirflowTimeout,
)
from daemon.core.errors import TransientError
from daemon.core.retry_after import retry_after_seconds

RUN = "/api/v2/dags/d/dagRuns/r"
RUN_JSON = {"dag_id": "d", "dag_run_id": "r", "state": "running"}
TRIGGER = "/api/v2/dags/d/dagRuns"


@pytest.mark.parametrize("status,cls,transient,phrase", [
    (403, AirflowPermissionError, False, "permission denied"),
    (404, AirflowNotFound, False, "not found"),
    (422, AirflowBadRequest, False, "HTTP 422"),
    (429, AirflowRateLimited, True, "rate limiting"),
    (500, AirflowServerError, True, "HTTP 500"),
    (503, AirflowServerError, True, "HTTP 503"),
])
def test_status_mapping(router, make_client, status, cls, transient, phrase):
    router.get(RUN).respond(status, text="upstream said no")
    with pytest.raises(cls) as info:
        make_client().get_dag_run("d", "r")
    error = info.value
    assert isinstance(error, AirflowError) and error.cluster == "dp-airflow"
    assert isinstance(error, TransientError) is transient
    assert phrase in str(error) and "dp-airflow" in str(error)


def test_server_error_quotes_a_short_body_excerpt(router, make_client):
    router.get(RUN).respond(502, text="Bad gateway " + "x" * 5000)
    with pytest.raises(AirflowServerError) as info:
        make_client().get_dag_run("d", "r")
    assert "Bad gateway" in str(info.value) and len(str(info.value)) < 500
    assert info.value.status == 502


@pytest.mark.parametrize("status", [500, 503])
def test_get_is_retried_three_times_with_jittered_backoff(router, make_client, fake_time,
                                                          status):
    route = router.get(RUN).respond(status)
    with pytest.raises(AirflowServerError):
        make_client().get_dag_run("d", "r")
    assert route.call_count == 3
    assert fake_time.sleeps == [0.25, 0.5]  # rng 0.5 x (0.5, 1.0)


def test_get_recovers_after_a_transient_failure(router, make_client, fake_time):
    route = router.get(RUN).mock(side_effect=[httpx.Response(503),
                                              httpx.Response(200, json=RUN_JSON)])
    client = make_client()
    assert client.get_dag_run("d", "r").state == "running"
    assert route.call_count == 2 and client.consecutive_failures == 0


def test_backoff_is_capped(make_client):
    session = make_client()._session
    error = AirflowServerError("c", "x")
    session._rng = lambda: 1.0
    assert [session._delay(error, n) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 8]


@pytest.mark.parametrize("status", [404, 403, 400])
def test_client_errors_are_not_retried(router, make_client, status):
    route = router.get(RUN).respond(status)
    with pytest.raises(AirflowError):
        make_client().get_dag_run("d", "r")
    assert route.call_count == 1


def test_429_waits_for_retry_after_seconds(router, make_client, fake_time):
    route = router.get(RUN).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(200, json=RUN_JSON)])
    make_client().get_dag_run("d", "r")
    assert route.call_count == 2 and fake_time.sleeps == [7.0]


def test_retry_after_is_capped_at_60_seconds(router, make_client, fake_time):
    router.get(RUN).respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(AirflowRateLimited) as info:
        make_client().get_dag_run("d", "r")
    assert fake_time.sleeps == [60.0, 60.0]
    assert info.value.retry_after == 3600


def test_retry_after_as_http_date():
    assert retry_after_seconds("Wed, 01 Jan 2025 00:00:30 GMT", 1735689600.0) == 30.0
    assert retry_after_seconds("Wed, 01 Jan 2020 00:00:30 GMT", 1735689600.0) == 0.0
    assert retry_after_seconds("soon", 0.0) is None
    assert retry_after_seconds(None, 0.0) is None


@pytest.mark.parametrize("exc,cls", [(httpx.ReadTimeout, AirflowTimeout),
                                     (httpx.ConnectTimeout, AirflowTimeout),
                                     (httpx.ConnectError, AirflowConnectionError)])
def test_transport_failures_are_mapped_and_retried_for_gets(router, make_client, exc, cls):
    route = router.get(RUN).mock(side_effect=exc)
    with pytest.raises(cls) as info:
        make_client().get_dag_run("d", "r")
    assert route.call_count == 3 and isinstance(info.value, TransientError)
    assert "dp-airflow" in str(info.value) and "https://airflow.test" in str(info.value)


def test_connection_error_says_what_to_do(router, make_client):
    router.get(RUN).mock(side_effect=httpx.ConnectError)
    with pytest.raises(AirflowConnectionError, match="is Airflow up\\? check url"):
        make_client().get_dag_run("d", "r")


def test_timeouts_come_from_the_cluster_config(router, make_client):
    route = router.get(RUN).respond(200, json=RUN_JSON)
    make_client(timeout_seconds=12).get_dag_run("d", "r")
    timeouts = route.calls.last.request.extensions["timeout"]
    assert timeouts == {"connect": 5.0, "read": 12, "write": 12, "pool": 12}
    make_client(timeout_seconds=2).get_dag_run("d", "r")
    assert route.calls.last.request.extensions["timeout"]["connect"] == 2


@pytest.mark.parametrize("failure", [httpx.Response(500), httpx.Response(503),
                                     httpx.ReadTimeout, httpx.RemoteProtocolError,
                                     httpx.ConnectError, httpx.ConnectTimeout])
def test_trigger_is_retried_since_our_run_id_makes_it_idempotent(router, make_client, failure):
    route = router.post(TRIGGER).mock(side_effect=[failure, httpx.Response(200, json=RUN_JSON)])
    assert make_client().trigger_dag_run("d", "r", {}).dag_run_id == "r"
    assert route.call_count == 2


def test_a_retried_trigger_whose_first_attempt_went_through_is_a_conflict(router, make_client):
    """The caller learns that a run with its id exists (and checks it is its own)."""
    route = router.post(TRIGGER).mock(side_effect=[httpx.ReadTimeout,
                                                   httpx.Response(409, json={})])
    with pytest.raises(AirflowConflict):
        make_client().trigger_dag_run("d", "r", {})
    assert route.call_count == 2


def test_patch_of_a_state_is_retried(router, make_client):
    route = router.patch(RUN).mock(side_effect=[httpx.Response(502),
                                                httpx.Response(200, json=RUN_JSON)])
    make_client().set_dag_run_state("d", "r", "failed")
    assert route.call_count == 2


# --- circuit breaker --------------------------------------------------------------------


def test_circuit_opens_fails_fast_probes_and_closes(router, make_client, fake_time):
    route = router.get(RUN).respond(503)
    client = make_client()
    for expected in range(1, 6):
        with pytest.raises(AirflowServerError):
            client.get_dag_run("d", "r")
        assert client.consecutive_failures == expected
    assert client.breaker_state == "open" and route.call_count == 15

    with pytest.raises(AirflowCircuitOpen) as info:
        client.get_dag_run("d", "r")
    assert route.call_count == 15  # failed fast
    assert str(info.value) == "cluster dp-airflow failed 5 times in a row; next probe in 5 s"
    assert isinstance(info.value, TransientError)

    fake_time.now += 5  # cool-down over: one probe, a single attempt
    with pytest.raises(AirflowServerError):
        client.get_dag_run("d", "r")
    assert route.call_count == 16 and client.breaker_state == "open"

    fake_time.now += 5  # cool-down doubled to 10 s
    with pytest.raises(AirflowCircuitOpen, match="next probe in 5 s"):
        client.get_dag_run("d", "r")

    fake_time.now += 5
    route.respond(200, json=RUN_JSON)
    assert client.get_dag_run("d", "r").dag_id == "d"
    assert client.breaker_state == "closed" and client.consecutive_failures == 0


def test_cool_down_doubles_up_to_300_seconds(router, make_client, fake_time):
    router.get(RUN).respond(503)
    client = make_client()
    for _ in range(5):
        with pytest.raises(AirflowServerError):
            client.get_dag_run("d", "r")
    waits = []
    for _ in range(8):
        with pytest.raises(AirflowCircuitOpen) as info:
            client.get_dag_run("d", "r")
        waits.append(info.value.retry_in)
        fake_time.now += info.value.retry_in
        with pytest.raises(AirflowServerError):  # the probe fails
            client.get_dag_run("d", "r")
    assert waits == [5, 10, 20, 40, 80, 160, 300, 300]


def test_half_open_lets_only_one_probe_through(make_client, fake_time):
    breaker = make_client()._session.breaker
    for _ in range(5):
        breaker.record_failure()
    fake_time.now += 5
    assert breaker.before_call() is True
    assert breaker.state == "half_open"
    with pytest.raises(AirflowCircuitOpen):
        breaker.before_call()  # a second caller while the probe is out


def test_non_transient_answers_keep_the_circuit_closed(router, make_client):
    router.get(RUN).respond(404)
    client = make_client()
    for _ in range(8):
        with pytest.raises(AirflowNotFound):
            client.get_dag_run("d", "r")
    assert client.breaker_state == "closed" and client.consecutive_failures == 0


def test_a_success_resets_the_failure_count(router, make_client):
    route = router.get(RUN).respond(503)
    client = make_client()
    for _ in range(4):
        with pytest.raises(AirflowServerError):
            client.get_dag_run("d", "r")
    route.respond(200, json=RUN_JSON)
    client.get_dag_run("d", "r")
    route.respond(503)
    with pytest.raises(AirflowServerError):
        client.get_dag_run("d", "r")
    assert client.breaker_state == "closed" and client.consecutive_failures == 1

"""Authentication: JWT (fetch, refresh before expiry, refresh on 401), basic, static
token from env, token_command; secrets never in messages, reprs or logs."""

from __future__ import annotations

import base64
import logging
import shlex
import sys

import httpx
import pytest

from daemon.airflow import AirflowAuthError, AirflowPermissionError, AirflowServerError
from daemon.airflow.auth import jwt_exp
from tests.daemon.airflow.conftest import PASSWORD, jwt_valid_for, make_jwt, token_route

JWT = {"auth": "jwt", "username": "svc", "password_env": "AF_PASSWORD"}
RUN = "/api/v2/dags/d/dagRuns/r"
RUN_JSON = {"dag_id": "d", "dag_run_id": "r", "state": "running"}


def test_jwt_exp_reads_the_claim_and_ignores_non_jwts():
    assert jwt_exp(make_jwt(1234567890)) == 1234567890
    assert jwt_exp(make_jwt(None)) is None
    assert jwt_exp("opaque-token") is None
    assert jwt_exp("a.!!!.c") is None


def test_jwt_is_fetched_once_and_reused(router, make_client):
    token = jwt_valid_for(3600)
    tokens = token_route(router, token)
    runs = router.get(RUN).respond(200, json=RUN_JSON)
    client = make_client(**JWT)
    client.get_dag_run("d", "r")
    client.get_dag_run("d", "r")
    assert tokens.call_count == 1
    assert tokens.calls.last.request.content == (
        b'{"username":"svc","password":"' + PASSWORD.encode() + b'"}')
    assert all(c.request.headers["authorization"] == f"Bearer {token}" for c in runs.calls)


def test_jwt_is_refreshed_a_minute_before_it_expires(router, make_client, fake_time):
    first, second = jwt_valid_for(3600), jwt_valid_for(7200)
    tokens = token_route(router, first, second)
    runs = router.get(RUN).respond(200, json=RUN_JSON)
    client = make_client(**JWT)
    client.get_dag_run("d", "r")
    fake_time.now += 3600 - 90  # 90 s before exp: still good
    client.get_dag_run("d", "r")
    fake_time.now += 45  # 45 s before exp: renew
    client.get_dag_run("d", "r")
    assert tokens.call_count == 2
    assert [c.request.headers["authorization"] for c in runs.calls] == [
        f"Bearer {first}", f"Bearer {first}", f"Bearer {second}"]


def test_jwt_is_refreshed_once_on_401(router, make_client):
    stale, fresh = jwt_valid_for(3600), jwt_valid_for(3600)
    tokens = token_route(router, stale, fresh)
    runs = router.get(RUN).mock(side_effect=[httpx.Response(401),
                                             httpx.Response(200, json=RUN_JSON)])
    assert make_client(**JWT).get_dag_run("d", "r").dag_id == "d"
    assert tokens.call_count == 2
    assert runs.calls.last.request.headers["authorization"] == f"Bearer {fresh}"


def test_a_second_401_is_an_auth_error_that_says_what_to_check(router, make_client):
    token_route(router, jwt_valid_for(3600), jwt_valid_for(3600))
    runs = router.get(RUN).respond(401)
    with pytest.raises(AirflowAuthError) as info:
        make_client(**JWT).get_dag_run("d", "r")
    assert "check username/password_env or token for cluster dp-airflow" in str(info.value)
    assert runs.call_count == 2


def test_a_403_on_a_stale_jwt_gets_one_fresh_login(router, make_client):
    """Airflow 3 answers 403 to a token it cannot verify (e.g. after a restart)."""
    stale, fresh = jwt_valid_for(3600), jwt_valid_for(3600)
    tokens = token_route(router, stale, fresh)
    router.get(RUN).mock(side_effect=[httpx.Response(403), httpx.Response(200, json=RUN_JSON)])
    assert make_client(**JWT).get_dag_run("d", "r").dag_id == "d"
    assert tokens.call_count == 2


def test_a_403_that_stays_is_permission_denied(router, make_client):
    token_route(router, jwt_valid_for(3600), jwt_valid_for(3600))
    runs = router.get(RUN).respond(403)
    with pytest.raises(AirflowPermissionError):
        make_client(**JWT).get_dag_run("d", "r")
    assert runs.call_count == 2


def test_jwt_token_endpoint_refusing_is_an_auth_error(router, make_client):
    router.post("/auth/token").respond(401, json={"detail": "Invalid credentials"})
    with pytest.raises(AirflowAuthError, match="check username/password_env") as info:
        make_client(**JWT).get_dag_run("d", "r")
    assert info.value.cluster == "dp-airflow" and info.value.kind == "auth"


def test_missing_password_env_names_the_variable_not_a_value(router, make_client,
                                                             monkeypatch):
    monkeypatch.delenv("AF_PASSWORD")
    route = router.get(RUN).respond(200, json=RUN_JSON)
    with pytest.raises(AirflowAuthError, match="AF_PASSWORD"):
        make_client(auth="basic", username="svc", password_env="AF_PASSWORD").get_dag_run(
            "d", "r")
    assert not route.called


def test_basic_auth_header_reads_the_password_at_request_time(router, make_client,
                                                             monkeypatch):
    route = router.get("/api/v1/dags/d/dagRuns/r").respond(200, json=RUN_JSON)
    client = make_client(api_version="v1", auth="basic", username="svc",
                         password_env="AF_PASSWORD")
    client.get_dag_run("d", "r")
    monkeypatch.setenv("AF_PASSWORD", "rotated")
    client.get_dag_run("d", "r")
    headers = [c.request.headers["authorization"] for c in route.calls]
    assert headers == ["Basic " + base64.b64encode(f"svc:{pw}".encode()).decode()
                       for pw in (PASSWORD, "rotated")]


def test_basic_auth_401_is_not_retried(router, make_client):
    route = router.get("/api/v1/dags/d/dagRuns/r").respond(401)
    with pytest.raises(AirflowAuthError):
        make_client(api_version="v1", auth="basic", username="svc",
                    password_env="AF_PASSWORD").get_dag_run("d", "r")
    assert route.call_count == 1


def test_static_token_from_env(router, make_client, monkeypatch):
    monkeypatch.setenv("AF_TOKEN", "static-token-value")
    route = router.get(RUN).respond(200, json=RUN_JSON)
    make_client(auth="token", token_env="AF_TOKEN").get_dag_run("d", "r")
    assert route.calls.last.request.headers["authorization"] == "Bearer static-token-value"


def _command(printing: str, counter=None) -> str:
    code = f"print({printing!r})"
    if counter is not None:
        code = (f"import pathlib; p = pathlib.Path({str(counter)!r}); "
                f"p.write_text(str(int(p.read_text() or 0) + 1) if p.exists() else '1'); "
                + code)
    return shlex.join([sys.executable, "-c", code])


def test_token_command_runs_once_and_is_reused(router, make_client, tmp_path):
    counter = tmp_path / "runs"
    route = router.get(RUN).respond(200, json=RUN_JSON)
    client = make_client(auth="token", token_command=_command("cmd-token", counter))
    client.get_dag_run("d", "r")
    client.get_dag_run("d", "r")
    assert route.calls.last.request.headers["authorization"] == "Bearer cmd-token"
    assert counter.read_text() == "1"


def test_token_command_is_rerun_on_401_and_when_its_jwt_expires(router, make_client,
                                                               tmp_path, fake_time):
    counter = tmp_path / "runs"
    token = jwt_valid_for(600)
    route = router.get(RUN).mock(side_effect=[
        httpx.Response(401), httpx.Response(200, json=RUN_JSON),
        httpx.Response(200, json=RUN_JSON)])
    client = make_client(auth="token", token_command=_command(token, counter))
    client.get_dag_run("d", "r")  # 401 → re-run → ok
    assert counter.read_text() == "2"
    fake_time.now += 600
    client.get_dag_run("d", "r")
    assert counter.read_text() == "3"
    assert route.call_count == 3


def test_token_command_failure_is_an_auth_error_with_its_stderr(router, make_client):
    command = shlex.join([sys.executable, "-c",
                          "import sys; sys.stderr.write('not logged in\\n'); sys.exit(3)"])
    with pytest.raises(AirflowAuthError, match="status 3: not logged in"):
        make_client(auth="token", token_command=command).get_dag_run("d", "r")


def test_token_command_not_found(router, make_client):
    with pytest.raises(AirflowAuthError, match="token_command of cluster dp-airflow"):
        make_client(auth="token", token_command="/nonexistent/get-token").get_dag_run("d", "r")


def test_secrets_never_reach_messages_reprs_or_logs(router, make_client, caplog):
    """A server echoing the password and token back in a 500 page is quoted redacted,
    and nothing logged at any level contains either."""
    caplog.set_level(logging.DEBUG)
    token = jwt_valid_for(3600)
    token_route(router, token)
    router.get(RUN).respond(500, text=f"error for {PASSWORD} with Bearer {token} ...")
    client = make_client(**JWT)
    with pytest.raises(AirflowServerError) as info:
        client.get_dag_run("d", "r")
    message = str(info.value)
    assert "HTTP 500" in message and "***" in message
    for secret in (PASSWORD, token):
        assert secret not in message
        assert secret not in caplog.text
        assert secret not in repr(client) and secret not in repr(client._session.auth)


def test_jwt_against_airflow_2_suggests_basic(router, make_client):
    router.post("/auth/token").respond(404)
    with pytest.raises(AirflowAuthError, match='use "basic" for Airflow 2'):
        make_client(**JWT).get_dag_run("d", "r")
